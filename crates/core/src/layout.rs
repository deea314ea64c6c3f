//! Where files go in a state store: destination directories, placement directories, canaries, the
//! `.kratix` state files and aggregates (compatibility C3 to C7), all built with Go `filepath.Join`
//! semantics.
//!
//! Every path handed to a store is a [`StorePath`]: relative to the store's root, clean, and never
//! escaping the directory it was built under (compatibility D3). Anything else is a [`PathProblem`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::api::{Destination, FilepathMode, WorkPlacement};
use crate::canary::{CANARY_CONFIGMAP_FILE, CANARY_NAMESPACE_FILE};
use crate::gopath;
use crate::pathrules::{self, shown};

/// A clean path relative to a state store's root; the empty path is the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StorePath(String);

/// Why a path was refused. Paths are held as shown in messages ([`pathrules::shown`]): quoted, and
/// shortened when long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathProblem {
    #[error("path is empty")]
    Empty,
    #[error("path {0} is absolute")]
    Absolute(String),
    #[error("path {0} contains a NUL byte")]
    Nul(String),
    #[error("path {0} contains a backslash")]
    Backslash(String),
    #[error("path {0} contains a control character")]
    ControlCharacter(String),
    #[error("path {path} leaves the directory {base:?} it is written into")]
    Escapes { path: String, base: String },
    #[error("path {0} names a directory, not a file")]
    NotAFile(String),
    #[error("path {path} is refused: {why}")]
    Reserved { path: String, why: String },
    #[error("path {path} is too long: {why}")]
    TooLong { path: String, why: String },
    #[error("{field} {value} cannot be a directory name")]
    InvalidSegment { field: &'static str, value: String },
}

impl StorePath {
    pub fn root() -> Self {
        StorePath(String::new())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// A root-relative path read back from storage (a state file, a listing); refused if it is not
    /// already clean and relative.
    pub fn parse(raw: &str) -> Result<StorePath, PathProblem> {
        check_chars(raw)?;
        if raw.starts_with('/') {
            return Err(PathProblem::Absolute(shown(raw)));
        }
        let cleaned = gopath::clean(raw);
        if cleaned == ".." || cleaned.starts_with("../") {
            return Err(PathProblem::Escapes { path: shown(raw), base: String::new() });
        }
        Ok(StorePath(if cleaned == "." { String::new() } else { cleaned }))
    }

    /// A state store's own `spec.path`: one leading `/` is dropped (as Kratix's Git writer does, and as
    /// compatibility D2 asks of buckets), the rest must stay inside the store.
    pub fn from_store_path(raw: &str) -> Result<StorePath, PathProblem> {
        StorePath::root().join_dir(gopath::strip_one_leading_slash(raw))
    }

    /// A Destination's directory inside its store: its `spec.path` (default: its name), where `.` and
    /// `/` mean the store's root.
    pub fn for_destination(destination: &Destination) -> Result<StorePath, PathProblem> {
        StorePath::root().join_dir(gopath::strip_one_leading_slash(destination.path()))
    }

    /// Joins a directory (possibly empty or `.`) below `self`; refused if it would leave `self`, or if a
    /// component is one Git or a checkout cannot hold ([`pathrules`]).
    pub fn join_dir(&self, rel: &str) -> Result<StorePath, PathProblem> {
        check_chars(rel)?;
        if rel.starts_with('/') {
            return Err(PathProblem::Absolute(shown(rel)));
        }
        if rel.len() > pathrules::MAX_PATH_BYTES {
            return Err(PathProblem::TooLong {
                path: shown(rel),
                why: format!("it is {} bytes long; at most {} are allowed", rel.len(), pathrules::MAX_PATH_BYTES),
            });
        }
        let cleaned = gopath::clean(rel);
        if cleaned == ".." || cleaned.starts_with("../") {
            return Err(PathProblem::Escapes { path: shown(rel), base: self.0.clone() });
        }
        pathrules::check_components(&cleaned)?;
        Ok(self.append(&cleaned))
    }

    /// Joins a workload's `filepath` below `self` with the rules of compatibility D3: not empty, not
    /// absolute, no NUL or backslash, and its normalised form must name a file inside `self`.
    pub fn join_file(&self, filepath: &str) -> Result<StorePath, PathProblem> {
        if filepath.is_empty() {
            return Err(PathProblem::Empty);
        }
        let joined = self.join_dir(filepath)?;
        if joined == *self {
            return Err(PathProblem::NotAFile(shown(filepath)));
        }
        Ok(joined)
    }

    /// Whether `other` is `self` or lies below it (component-wise, so `a` does not contain `ab`).
    pub fn contains(&self, other: &StorePath) -> bool {
        self.is_root()
            || other.0 == self.0
            || (other.0.len() > self.0.len()
                && other.0.starts_with(&self.0)
                && other.0.as_bytes()[self.0.len()] == b'/')
    }

    /// Whether one of `self` and `other` contains the other: they cannot both be owned by different
    /// writers, since writing one replaces or removes the other.
    pub fn overlaps(&self, other: &StorePath) -> bool {
        self.contains(other) || other.contains(self)
    }

    /// `self` below `root`: the path inside the repository or bucket.
    pub fn under(&self, root: &StorePath) -> StorePath {
        root.append(&self.0)
    }

    /// The part of `self` below `base`, if `self` lies below it.
    pub fn strip_prefix(&self, base: &StorePath) -> Option<&str> {
        if base.is_root() {
            return Some(&self.0);
        }
        self.0.strip_prefix(base.0.as_str()).and_then(
            |rest| {
                if rest.is_empty() { Some("") } else { rest.strip_prefix('/') }
            },
        )
    }

    fn append(&self, cleaned: &str) -> StorePath {
        match (self.0.is_empty(), cleaned) {
            (_, "." | "") => self.clone(),
            (true, rest) => StorePath(rest.to_string()),
            (false, rest) => StorePath(format!("{}/{}", self.0, rest)),
        }
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_chars(raw: &str) -> Result<(), PathProblem> {
    if raw.contains('\0') {
        return Err(PathProblem::Nul(shown(raw)));
    }
    if raw.contains('\\') {
        return Err(PathProblem::Backslash(shown(raw)));
    }
    Ok(())
}

/// The two canary paths of a Destination (compatibility C4): namespace canary first, then the configmap
/// canary.
pub fn canary_paths(destination: &Destination, dir: &StorePath) -> [StorePath; 2] {
    let (ns, cm) = match destination.spec.filepath.mode {
        FilepathMode::NestedByMetadata => {
            (format!("dependencies/{CANARY_NAMESPACE_FILE}"), format!("resources/{CANARY_CONFIGMAP_FILE}"))
        }
        FilepathMode::None | FilepathMode::AggregatedYaml => {
            (CANARY_NAMESPACE_FILE.to_string(), CANARY_CONFIGMAP_FILE.to_string())
        }
    };
    // Both are fixed, clean relative paths: appending cannot escape.
    [dir.append(&ns), dir.append(&cm)]
}

/// First five characters of a group id (the whole id when shorter, where Kratix would crash).
pub fn short_id(id: &str) -> &str {
    match id.char_indices().nth(5) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

/// The directory a `nestedByMetadata` placement owns (compatibility C5):
/// `dependencies/<promise>/<pipeline>/<id5>` or `resources/<ns>/<promise>/<resource>/<pipeline>/<id5>`.
///
/// Every segment must be one directory name: a segment holding a `/`, or being `.` or `..`, would move
/// the placement into another placement's directory (admission refuses such Works; this is the second
/// line of defence). An empty segment disappears, as Go's `Join` drops it.
pub fn placement_dir(dir: &StorePath, placement: &WorkPlacement, pipeline: &str) -> Result<StorePath, PathProblem> {
    let spec = &placement.spec;
    let (area, parts): (&str, Vec<(&'static str, &str)>) = if placement.is_resource_request() {
        (
            "resources",
            vec![
                ("metadata.namespace", placement.metadata.ns()),
                ("spec.promiseName", &spec.promise_name),
                ("spec.resourceName", &spec.resource_name),
                ("the kratix.io/pipeline-name label", pipeline),
                ("spec.id", short_id(&spec.id)),
            ],
        )
    } else {
        (
            "dependencies",
            vec![
                ("spec.promiseName", &spec.promise_name),
                ("the kratix.io/pipeline-name label", pipeline),
                ("spec.id", short_id(&spec.id)),
            ],
        )
    };
    for (field, segment) in &parts {
        if segment.contains('/') || *segment == "." || *segment == ".." {
            return Err(PathProblem::InvalidSegment { field, value: shown(segment) });
        }
    }
    let area_dir = dir.append(area);
    let rel = gopath::join(&parts.iter().map(|(_, s)| *s).collect::<Vec<_>>());
    let placed = area_dir.join_dir(&rel)?;
    if placed == area_dir {
        return Err(PathProblem::NotAFile(shown(&rel)));
    }
    Ok(placed)
}

/// Paths of a Destination's directory that belong to Waybill itself, never to a placement: the canaries
/// and, in `none` mode, the `.kratix` directory of state files.
pub fn reserved_paths(destination: &Destination, dir: &StorePath) -> Vec<StorePath> {
    let mut out = canary_paths(destination, dir).to_vec();
    if destination.spec.filepath.mode == FilepathMode::None {
        out.push(dir.append(STATE_DIR));
    }
    out
}

/// Refuses `path` when it overlaps one of `reserved` (a placement writing there would replace a canary or
/// another placement's state file, and removing it would delete them).
pub fn check_not_reserved(path: &StorePath, reserved: &[StorePath]) -> Result<(), PathProblem> {
    match reserved.iter().find(|r| r.overlaps(path)) {
        Some(r) => Err(PathProblem::Reserved {
            path: shown(path.as_str()),
            why: format!("it overlaps {}, which Waybill keeps for itself", shown(r.as_str())),
        }),
        None => Ok(()),
    }
}

/// Directory of `none`-mode state files, inside a Destination's directory.
pub const STATE_DIR: &str = ".kratix";

/// The `.kratix` state file of a `none`-mode placement (compatibility C6).
pub fn state_file_path(dir: &StorePath, placement: &WorkPlacement) -> Result<StorePath, PathProblem> {
    let name = format!("{}-{}.yaml", placement.metadata.ns(), placement.metadata.name);
    dir.append(STATE_DIR).join_file(&name)
}

/// The aggregate file of an `aggregatedYAML` Destination (compatibility C7).
pub fn aggregate_path(destination: &Destination, dir: &StorePath) -> Result<StorePath, PathProblem> {
    dir.join_file(destination.aggregate_filename())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DestinationSpec, FilepathSpec, WorkPlacementSpec};

    fn dest(path: &str, mode: FilepathMode) -> Destination {
        Destination::new(
            "worker-1",
            DestinationSpec {
                path: Some(path.to_string()),
                filepath: FilepathSpec { mode, filename: String::new() },
                ..Default::default()
            },
        )
    }

    fn redis(namespace: &str) -> WorkPlacement {
        WorkPlacement::new(
            namespace,
            "wp",
            WorkPlacementSpec {
                promise_name: "redis".into(),
                resource_name: "my-redis".into(),
                id: crate::labels::DEFAULT_GROUP_ID.into(),
                ..Default::default()
            },
        )
    }

    /// The combination table of compatibility C3, for Git (where a leading `/` is dropped) and, by
    /// compatibility D2, for buckets too.
    #[test]
    fn paths_follow_the_reference_combination_table() {
        let cases = [
            (
                "",
                "worker-1",
                "worker-1/resources/default/redis/my-redis/instance-configure/5058f/redis.yaml",
                "worker-1/redis.yaml",
                "worker-1/dependencies/kratix-canary-namespace.yaml",
            ),
            (
                "",
                "worker-1/",
                "worker-1/resources/default/redis/my-redis/instance-configure/5058f/redis.yaml",
                "worker-1/redis.yaml",
                "worker-1/dependencies/kratix-canary-namespace.yaml",
            ),
            (
                "",
                ".",
                "resources/default/redis/my-redis/instance-configure/5058f/redis.yaml",
                "redis.yaml",
                "dependencies/kratix-canary-namespace.yaml",
            ),
            (
                "",
                "/",
                "resources/default/redis/my-redis/instance-configure/5058f/redis.yaml",
                "redis.yaml",
                "dependencies/kratix-canary-namespace.yaml",
            ),
            (
                "clusters",
                "worker-1",
                "clusters/worker-1/resources/default/redis/my-redis/instance-configure/5058f/redis.yaml",
                "clusters/worker-1/redis.yaml",
                "clusters/worker-1/dependencies/kratix-canary-namespace.yaml",
            ),
            (
                "clusters",
                ".",
                "clusters/resources/default/redis/my-redis/instance-configure/5058f/redis.yaml",
                "clusters/redis.yaml",
                "clusters/dependencies/kratix-canary-namespace.yaml",
            ),
            (
                "/clusters/",
                "worker-1",
                "clusters/worker-1/resources/default/redis/my-redis/instance-configure/5058f/redis.yaml",
                "clusters/worker-1/redis.yaml",
                "clusters/worker-1/dependencies/kratix-canary-namespace.yaml",
            ),
            (
                ".",
                "nested/dir",
                "nested/dir/resources/default/redis/my-redis/instance-configure/5058f/redis.yaml",
                "nested/dir/redis.yaml",
                "nested/dir/dependencies/kratix-canary-namespace.yaml",
            ),
        ];
        for (store_path, dest_path, nested, flat, canary) in cases {
            let root = StorePath::from_store_path(store_path).unwrap();
            let d = dest(dest_path, FilepathMode::NestedByMetadata);
            let dir = StorePath::for_destination(&d).unwrap();
            let wp_dir = placement_dir(&dir, &redis("default"), "instance-configure").unwrap();
            let file = wp_dir.join_file("redis.yaml").unwrap().under(&root);
            assert_eq!(file.as_str(), nested, "nested file for store {store_path:?} dest {dest_path:?}");
            let flat_file = dir.join_file("redis.yaml").unwrap().under(&root);
            assert_eq!(flat_file.as_str(), flat, "flat file for store {store_path:?} dest {dest_path:?}");
            assert_eq!(canary_paths(&d, &dir)[0].under(&root).as_str(), canary);
        }
    }

    #[test]
    fn a_destination_path_that_leaves_the_store_is_refused() {
        for path in ["../escape", "a/../../b", "..", "a\\b"] {
            assert!(StorePath::for_destination(&dest(path, FilepathMode::None)).is_err(), "{path}");
        }
    }

    #[test]
    fn workload_paths_follow_difference_3() {
        let dir = StorePath::parse("worker-1/resources/x").unwrap();
        let ok = [
            ("a.yaml", "worker-1/resources/x/a.yaml"),
            ("sub/b.yaml", "worker-1/resources/x/sub/b.yaml"),
            ("./c.yaml", "worker-1/resources/x/c.yaml"),
            ("d/../e.yaml", "worker-1/resources/x/e.yaml"),
        ];
        for (rel, want) in ok {
            assert_eq!(dir.join_file(rel).unwrap().as_str(), want);
        }
        let bad = ["", "/etc/x", "../x", "a/../../x", "x\0y", "a\\b", ".", "a/.."];
        for rel in bad {
            assert!(dir.join_file(rel).is_err(), "{rel:?} must be refused");
        }
    }

    #[test]
    fn dependency_directories_drop_an_empty_pipeline_segment() {
        let mut wp = redis("kratix-platform-system");
        wp.spec.resource_name.clear();
        let dir = StorePath::parse("test-path").unwrap();
        assert_eq!(placement_dir(&dir, &wp, "").unwrap().as_str(), "test-path/dependencies/redis/5058f");
        assert_eq!(
            placement_dir(&dir, &wp, "promise-configure").unwrap().as_str(),
            "test-path/dependencies/redis/promise-configure/5058f"
        );
    }

    #[test]
    fn placement_names_made_of_dots_cannot_escape() {
        let mut wp = redis("default");
        wp.spec.promise_name = "../../..".into();
        wp.spec.resource_name = "..".into();
        let dir = StorePath::parse("w").unwrap();
        assert!(placement_dir(&dir, &wp, "").is_err());
    }

    /// The defect of the trust issue: `promiseName: ../team-b` with `id: ../..x` (cut to `../..`) used to
    /// land in `resources/team-b/`; every segment is now one directory name or refused.
    #[test]
    fn placement_segments_cannot_name_another_directory() {
        let dir = StorePath::parse("dev").unwrap();
        let cases = [
            ("../team-b", "x", "../..x", "", "spec.promiseName"),
            ("redis", "x", "../..x", "", "spec.id"),
            ("redis", "a/b", "5058f", "", "spec.resourceName"),
            ("redis", "x", "5058f", "..", "the kratix.io/pipeline-name label"),
            ("redis", ".", "5058f", "", "spec.resourceName"),
        ];
        for (promise, resource, id, pipeline, field) in cases {
            let mut wp = redis("team-a");
            wp.spec.promise_name = promise.into();
            wp.spec.resource_name = resource.into();
            wp.spec.id = id.into();
            match placement_dir(&dir, &wp, pipeline) {
                Err(PathProblem::InvalidSegment { field: f, .. }) => assert_eq!(f, field, "{promise} {resource} {id}"),
                other => panic!("{promise} {resource} {id} {pipeline}: {other:?}"),
            }
        }
    }

    #[test]
    fn workload_paths_git_or_checkouts_refuse_are_refused() {
        let dir = StorePath::parse("dev/resources/x").unwrap();
        for rel in [".git/config", "a/.GIT/hooks/post-checkout", "GIT~1/config", "a/.git./x", "a/b\nc.yaml"] {
            assert!(dir.join_file(rel).is_err(), "{rel:?} must be refused");
        }
        let deep = vec!["d"; 3000].join("/");
        assert!(matches!(dir.join_file(&deep), Err(PathProblem::TooLong { .. })));
        let long = "n".repeat(5000);
        let err = dir.join_file(&long).unwrap_err().to_string();
        assert!(err.contains("too long") && err.len() < 250, "{err}");
        assert!(dir.join_file(".github/workflows/ci.yaml").is_ok());
    }

    #[test]
    fn canaries_and_state_files_are_reserved() {
        let d = dest("flat", FilepathMode::None);
        let dir = StorePath::for_destination(&d).unwrap();
        let reserved = reserved_paths(&d, &dir);
        for rel in
            ["kratix-canary-namespace.yaml", "kratix-canary-configmap.yaml", ".kratix/default-wp.yaml", ".kratix"]
        {
            let p = dir.join_file(rel).unwrap();
            assert!(check_not_reserved(&p, &reserved).is_err(), "{rel}");
        }
        let ok = dir.join_file("app/kratix-canary-namespace.yaml").unwrap();
        assert!(check_not_reserved(&ok, &reserved).is_ok());
        // A promise named after a canary would put a directory where the canary file is.
        let nested = dest("n", FilepathMode::NestedByMetadata);
        let ndir = StorePath::for_destination(&nested).unwrap();
        let mut wp = redis("default");
        wp.spec.resource_name.clear();
        wp.spec.promise_name = "kratix-canary-namespace.yaml".into();
        let pdir = placement_dir(&ndir, &wp, "").unwrap();
        assert!(check_not_reserved(&pdir, &reserved_paths(&nested, &ndir)).is_err());
    }

    #[test]
    fn containment_is_component_wise() {
        let a = StorePath::parse("a").unwrap();
        assert!(a.contains(&StorePath::parse("a/b").unwrap()));
        assert!(a.contains(&a));
        assert!(!a.contains(&StorePath::parse("ab").unwrap()));
        assert!(StorePath::root().contains(&a));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("..".to_string()),
            Just(".".to_string()),
            Just(String::new()),
            "[a-z0-9_.-]{1,8}",
            "[a-z]{1,3}\\\\[a-z]{1,3}"
        ]
    }

    fn raw_path() -> impl Strategy<Value = String> {
        (any::<bool>(), prop::collection::vec(segment(), 0..8))
            .prop_map(|(abs, segs)| format!("{}{}", if abs { "/" } else { "" }, segs.join("/")))
    }

    proptest! {
        /// No workload path, whatever it says, ever lands outside the directory it is written into.
        #[test]
        fn no_workload_path_escapes_its_directory(base in "[a-z]{1,5}(/[a-z]{1,5}){0,3}", rel in raw_path()) {
            let dir = StorePath::parse(&base).unwrap();
            if let Ok(p) = dir.join_file(&rel) {
                prop_assert!(dir.contains(&p) && p != dir, "{rel:?} gave {p}");
                prop_assert!(!p.as_str().split('/').any(|s| s == ".." || s == "." || s.is_empty()));
            }
        }

        /// A Destination's directory never leaves the store, and placement directories never leave it.
        #[test]
        fn destination_and_placement_directories_stay_inside(path in raw_path(), promise in segment(), resource in segment(), ns in segment()) {
            let d = Destination::new("d", crate::api::DestinationSpec { path: Some(path.clone()), ..Default::default() });
            if let Ok(dir) = StorePath::for_destination(&d) {
                prop_assert!(!dir.as_str().split('/').any(|s| s == ".."));
                let mut wp = WorkPlacement::new(&ns, "wp", crate::api::WorkPlacementSpec {
                    promise_name: promise, resource_name: resource, id: "5058f1af".into(), ..Default::default()
                });
                wp.metadata.namespace = Some(ns);
                if let Ok(pdir) = placement_dir(&dir, &wp, "pipeline") {
                    prop_assert!(dir.contains(&pdir) && pdir != dir);
                }
            }
        }
    }
}
