//! Hostile and unlucky inputs against the engine, in embedded mode over a real local Git repository:
//! whatever a Work's fields say, nothing outside its placement's own directory changes, and nothing is
//! Ready that is not written. The catalogue of cases is `docs/hostile-inputs.md`.

mod common;

use std::io::Write;

use common::*;
use waybill_core::api::*;
use waybill_core::content::encode;
use waybill_core::meta::find_condition;

const DOT: &str = "5058f1af8388633f609cadb75a75dc9d";

fn placement(ns: &str, name: &str, promise: &str, resource: &str, id: &str, workloads: Vec<Workload>) -> WorkPlacement {
    WorkPlacement::new(
        ns,
        name,
        WorkPlacementSpec {
            target_destination_name: "dev".into(),
            workloads,
            promise_name: promise.into(),
            resource_name: resource.into(),
            id: id.into(),
            generation: 1,
        },
    )
}

fn harness(mode: FilepathMode) -> Harness {
    let h = Harness::new();
    h.apply(h.git_store("store"));
    h.apply(with_mode(destination("dev", "store", "dev", &[]), mode, ""));
    h
}

async fn write_condition(h: &Harness, ns: &str, name: &str) -> (String, String, String) {
    let p: WorkPlacement = h.get(ns, name).await.expect("placement");
    let c = find_condition(p.conditions(), "WriteSucceeded").expect("WriteSucceeded").clone();
    (c.status.as_str().to_string(), c.reason, c.message)
}

async fn is_ready(h: &Harness, ns: &str, name: &str) -> bool {
    let p: WorkPlacement = h.get(ns, name).await.expect("placement");
    ready_of(p.conditions()).is_some_and(|(s, _, _)| s == "True")
}

/// Trust defect 1: a Work in namespace team-a naming `promiseName: ../team-b` with `id: ../..x` used to
/// write into team-b's directory and delete its files. Admission refuses such a Work; a placement that
/// reaches the engine anyway (a Kubernetes API server has no Waybill webhook) fails on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_naming_another_tenants_directory_writes_nothing_there() {
    let mut h = harness(FilepathMode::NestedByMetadata);
    h.apply(placement("team-b", "b", "redis", "db", DOT, vec![workload("db.yaml", "team-b: mine\n")]));
    h.converge().await;
    let before = h.files("store");
    assert_eq!(before.get("dev/resources/team-b/redis/db/5058f/db.yaml").map(String::as_str), Some("team-b: mine\n"));

    let evil = vec![workload("db.yaml", "evil\n")];
    for (promise, resource, id) in
        [("../team-b", "redis", "../..x"), ("redis", "..", "5058f"), ("a/../../team-b", "r", "x")]
    {
        h.apply(placement("team-a", "a", promise, resource, id, evil.clone()));
        h.converge().await;
        let (status, reason, message) = write_condition(&h, "team-a", "a").await;
        assert_eq!((status.as_str(), reason.as_str()), ("False", "InvalidWorkloadPath"), "{promise} {id}: {message}");
        assert!(message.contains("cannot be a directory name"), "{message}");
        assert_eq!(h.files("store"), before, "{promise}/{resource}/{id} changed the repository");
        assert!(is_ready(&h, "team-b", "b").await);
    }
    // Deleting it later deletes nothing of team-b's either.
    h.remove::<WorkPlacement>("team-a", "a");
    h.converge().await;
    assert_eq!(h.files("store"), before);
}

#[test]
fn admission_refuses_works_whose_fields_would_name_other_directories() {
    let text = "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {name: w, namespace: team-a}\n\
                spec:\n  promiseName: ../team-b\n  resourceName: x\n  workloadGroups:\n  - id: ../..x\n    \
                workloads: [{filepath: a.yaml, content: x}]\n";
    let docs = waybill_core::manifest::parse(text);
    let errors: Vec<String> = docs[0].result.clone().unwrap_err().into_iter().map(|e| e.to_string()).collect();
    assert!(errors.iter().any(|e| e.starts_with("spec.promiseName: \"../team-b\" must be")), "{errors:?}");
    assert!(errors.iter().any(|e| e.starts_with("spec.workloadGroups[0].id: \"../..x\" must be")), "{errors:?}");
}

/// Trust defects 4 and 5: a path Git refuses, or one that no checkout can hold, fails only its own
/// placement; the canaries and every other placement land in the same run, and the repository still
/// clones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_git_or_checkouts_refuse_fail_only_their_placement() {
    let deep = format!("{}/x.yaml", vec!["d"; 3000].join("/"));
    let long = format!("{}.yaml", "n".repeat(5000));
    for bad in [".git/config", "sub/.GIT/hooks/post-checkout", "GIT~1/config", ".git./x", &deep, &long] {
        let mut h = harness(FilepathMode::NestedByMetadata);
        h.apply(placement("default", "good", "p", "r", DOT, vec![workload("ok.yaml", "ok\n")]));
        h.apply(placement("default", "bad", "p", "s", DOT, vec![workload("fine.yaml", "f\n"), workload(bad, "evil")]));
        h.converge().await;
        let shown = &bad[..bad.len().min(30)];
        let (status, reason, message) = write_condition(&h, "default", "bad").await;
        assert_eq!((status.as_str(), reason.as_str()), ("False", "InvalidWorkloadPath"), "{shown}: {message}");
        assert!(message.len() < 400, "the message stays short: {} bytes", message.len());
        assert!(is_ready(&h, "default", "good").await, "{shown}");
        let files = h.files("store");
        assert!(files.contains_key("dev/resources/default/p/r/5058f/ok.yaml"), "{shown}: {files:?}");
        assert!(files.contains_key("dev/dependencies/kratix-canary-namespace.yaml"), "{shown}");
        assert!(files.values().all(|v| v != "evil" && v != "f\n"), "{shown}");
        let d: Destination = h.get("", "dev").await.unwrap();
        assert_eq!(ready_of(d.conditions()).unwrap().0, "True", "{shown}");
        let clone = h.dir.path().join("clone");
        let out = std::process::Command::new("git")
            .args(["clone", "-q"])
            .arg(h.repo_path("store"))
            .arg(&clone)
            .output()
            .expect("git clone");
        assert!(out.status.success(), "{shown}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Trust defect 11: in mode `none` a workload cannot overwrite the canaries or another placement's
/// state file, so removing it never deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flat_placements_cannot_overwrite_canaries_or_state_files() {
    let mut h = harness(FilepathMode::None);
    h.apply(placement("default", "other", "p", "r", DOT, vec![workload("other.yaml", "o\n")]));
    h.converge().await;
    let before = h.files("store");
    assert!(before.contains_key("dev/.kratix/default-other.yaml"));
    for bad in ["kratix-canary-namespace.yaml", "kratix-canary-configmap.yaml", ".kratix/default-other.yaml", ".kratix"]
    {
        h.apply(placement("default", "evil", "p", "s", DOT, vec![workload(bad, "files: []\n")]));
        h.converge().await;
        let (status, reason, message) = write_condition(&h, "default", "evil").await;
        assert_eq!((status.as_str(), reason.as_str()), ("False", "InvalidWorkloadPath"), "{bad}: {message}");
        assert!(message.contains("Waybill keeps for itself"), "{message}");
        assert_eq!(h.files("store"), before, "{bad}");
        h.remove::<WorkPlacement>("default", "evil");
        h.converge().await;
        assert_eq!(h.files("store"), before, "removing {bad} deleted something");
    }
}

/// Trust defect 8: a gzip bomb (1 GiB of zeros in about 1 MiB of manifest) fails its placement once the
/// decompressed size passes the limit; nothing of it is written and memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_fails_its_placement_at_the_size_limit() {
    use base64::Engine as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let mut h = harness(FilepathMode::NestedByMetadata);
    h.apply(placement("default", "bomb", "p", "r", DOT, vec![workload("a.yaml", &bomb), workload("b.yaml", &bomb)]));
    h.apply(placement("default", "fine", "p", "s", DOT, vec![workload("ok.yaml", &encode(b"ok\n"))]));
    h.converge().await;
    let (status, reason, message) = write_condition(&h, "default", "bomb").await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "InvalidWorkloadContent"), "{message}");
    assert!(message.contains("larger than 64 MiB when decompressed"), "{message}");
    assert!(is_ready(&h, "default", "fine").await);
    let files = h.files("store");
    assert!(!files.keys().any(|k| k.contains("/p/r/")), "{:?}", files.keys().collect::<Vec<_>>());
}

/// Trust defect 1: two distinct placements mapping to one directory never both report Ready while one's
/// files are missing. The first owns it; the second is refused (`PathConflict`) and reported on both;
/// deleting the refused one deletes nothing; once the owner is gone the other takes the directory over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_placements_on_one_directory_never_both_report_ready() {
    for mode in [FilepathMode::NestedByMetadata, FilepathMode::None] {
        let mut h = harness(mode);
        h.apply(placement("default", "first", "p", "r", DOT, vec![workload("cm.yaml", "first\n")]));
        h.converge().await;
        let before = h.files("store");
        h.apply(placement("default", "second", "p", "r", DOT, vec![workload("cm.yaml", "second\n")]));
        h.converge().await;
        let (status, reason, message) = write_condition(&h, "default", "second").await;
        assert_eq!((status.as_str(), reason.as_str()), ("False", "PathConflict"), "{mode:?}: {message}");
        assert!(message.contains("already written by WorkPlacement default/first"), "{message}");
        assert!(!is_ready(&h, "default", "second").await);
        assert!(is_ready(&h, "default", "first").await, "{mode:?}");
        assert_eq!(h.files("store"), before, "{mode:?}: the owner's files are untouched");
        let warned = h.event_messages(waybill_core::Kind::WorkPlacement, "default", "first");
        assert!(warned.iter().any(|m| m.contains("WorkPlacement default/second also writes")), "{warned:?}");

        // Removing the refused placement deletes nothing of the owner's.
        h.remove::<WorkPlacement>("default", "second");
        h.converge().await;
        assert_eq!(h.files("store"), before, "{mode:?}");

        // Once the owner is gone, the other one takes the path over.
        h.apply(placement("default", "second", "p", "r", DOT, vec![workload("cm.yaml", "second\n")]));
        h.converge().await;
        assert!(!is_ready(&h, "default", "second").await);
        h.remove::<WorkPlacement>("default", "first");
        h.converge().await;
        assert!(is_ready(&h, "default", "second").await, "{mode:?}");
        let files = h.files("store");
        assert!(files.values().any(|v| v == "second\n"), "{mode:?}: {files:?}");
        assert!(files.values().all(|v| v != "first\n"), "{mode:?}: {files:?}");
    }
}

/// Renaming a Work (its old placement deleted, a new one on the same directory created at once) ends
/// with the files in place and the new placement Ready: the deletion leaves what the new one owns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_work_keeps_its_files() {
    let mut h = harness(FilepathMode::NestedByMetadata);
    let w = |name: &str| work("default", name, "r", vec![(".", vec![], vec![workload("cm.yaml", "same\n")])]);
    h.apply(w("old-name"));
    h.converge().await;
    let before = h.files("store");
    let commits = h.commits("store");
    h.remove::<Work>("default", "old-name");
    h.apply(w("new-name"));
    h.converge().await;
    assert_eq!(h.files("store"), before, "the files are still there");
    assert!(is_ready(&h, "default", "new-name.dev-5058f").await);
    assert!(h.get::<WorkPlacement>("default", "old-name.dev-5058f").await.is_none());
    assert!(h.commits("store") <= commits + 1, "at most one commit for the rename");
}

/// Trust defect 9: changing a Destination's `spec.path`, or its store's, moves its files: everything it
/// wrote at the old place (workloads and canaries) is removed in the commit that writes the new place,
/// in every layout, so Flux never applies a workload twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_path_moves_the_files_in_one_commit() {
    for mode in [FilepathMode::NestedByMetadata, FilepathMode::None, FilepathMode::AggregatedYaml] {
        let mut h = harness(mode);
        h.apply(placement("default", "a", "p", "r", DOT, vec![workload("a.yaml", "a\n")]));
        h.apply(placement("default", "b", "p", "s", DOT, vec![workload("b.yaml", "b\n")]));
        h.converge().await;
        let at = |files: &std::collections::BTreeMap<String, String>, prefix: &str| {
            files.keys().filter(|k| k.starts_with(prefix)).count()
        };
        let first = h.files("store");
        let count = first.len();
        assert!(count >= 3 && at(&first, "dev/") == count, "{mode:?}: {first:?}");

        // The Destination's own path.
        let commits = h.commits("store");
        h.apply(with_mode(destination("dev", "store", "fleet/dev", &[]), mode, ""));
        h.converge().await;
        let moved = h.files("store");
        assert_eq!(at(&moved, "fleet/dev/"), count, "{mode:?}: {moved:?}");
        assert_eq!(moved.len(), count, "{mode:?}: nothing is left at the old place: {moved:?}");
        assert_eq!(h.commits("store"), commits + 1, "{mode:?}: one commit: {}", h.last_commit_message("store"));
        assert!(is_ready(&h, "default", "a").await);

        // The store's path.
        let mut store = h.git_store("store");
        store.spec.path = "clusters".into();
        h.apply(store);
        h.converge().await;
        let moved = h.files("store");
        assert_eq!(at(&moved, "clusters/fleet/dev/"), count, "{mode:?}: {moved:?}");
        assert_eq!(moved.len(), count, "{mode:?}: {moved:?}");
        let d: Destination = h.get("", "dev").await.unwrap();
        assert_eq!(ready_of(d.conditions()).unwrap().0, "True");
        let written = d.status.unwrap().written_to.unwrap();
        assert_eq!((written.store_path.as_str(), written.path.as_str()), ("clusters", "fleet/dev"));
    }
}

/// Moving a Destination to another store removes its files from the first one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_moved_to_another_store_leaves_nothing_behind() {
    let mut h = harness(FilepathMode::NestedByMetadata);
    h.apply(h.git_store("other"));
    h.apply(placement("default", "a", "p", "r", DOT, vec![workload("a.yaml", "a\n")]));
    h.converge().await;
    assert_eq!(h.files("store").len(), 3);
    h.apply(destination("dev", "other", "dev", &[]));
    h.converge().await;
    assert!(h.files("store").is_empty(), "{:?}", h.files("store"));
    assert_eq!(h.files("other").len(), 3, "{:?}", h.files("other"));
}

mod whatever_its_fields_say {
    use super::*;
    use proptest::prelude::*;
    use waybill_core::labels::PIPELINE_NAME_LABEL;
    use waybill_core::layout::{self, StorePath};

    fn name() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "redis",
            "..",
            "../team-b",
            "a/b",
            ".",
            "",
            "kratix-canary-namespace.yaml",
            ".git",
            "GIT~1",
            "Redis",
            "dependencies",
            "resources",
            "team-b",
            "x\ny",
        ])
        .prop_map(str::to_string)
    }

    fn filepath() -> impl Strategy<Value = String> {
        let segment = prop::sample::select(vec![
            "..",
            ".",
            "",
            "a.yaml",
            "sub",
            ".git",
            ".kratix",
            "kratix-canary-configmap.yaml",
            "team-b",
            "resources",
        ]);
        (any::<bool>(), prop::collection::vec(segment, 1..5))
            .prop_map(|(abs, segs)| format!("{}{}", if abs { "/" } else { "" }, segs.join("/")))
    }

    /// Whether `path` may change because of the hostile placement: it lies in what that placement
    /// owns by the layout (its directory, or its own flat files and state file).
    fn owned(mode: FilepathMode, dir: &StorePath, p: &WorkPlacement, pipeline: &str, path: &str) -> bool {
        let path = StorePath::parse(path).unwrap();
        match mode {
            FilepathMode::NestedByMetadata => layout::placement_dir(dir, p, pipeline).is_ok_and(|d| d.contains(&path)),
            _ => {
                p.spec.workloads.iter().any(|w| dir.join_file(&w.filepath).is_ok_and(|f| f == path))
                    || layout::state_file_path(dir, p).is_ok_and(|f| f == path)
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Nothing outside a placement's own directory changes because of that placement, whatever its
        /// fields say, and removing it restores the repository exactly.
        #[test]
        fn nothing_outside_a_placements_own_directory_changes(
            nested in any::<bool>(),
            promise in name(),
            resource in name(),
            id in prop::sample::select(vec!["5058f1af", "../..x", "..", "", "ab/cd", ".git", "5058f"]),
            pipeline in prop::sample::select(vec!["", "configure", "..", "a/b"]),
            namespace in prop::sample::select(vec!["team-a", "team-b"]),
            paths in prop::collection::vec(filepath(), 1..4),
        ) {
            let mode = if nested { FilepathMode::NestedByMetadata } else { FilepathMode::None };
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async {
                let mut h = harness(mode);
                h.apply(placement("team-b", "b", "redis", "db", DOT, vec![workload("db.yaml", "team-b\n")]));
                h.converge().await;
                let before = h.files("store");
                let mut evil = placement(
                    namespace,
                    "evil",
                    &promise,
                    &resource,
                    id,
                    paths.iter().map(|p| workload(p, "evil\n")).collect(),
                );
                evil.metadata.labels.insert(PIPELINE_NAME_LABEL.into(), pipeline.to_string());
                h.apply(evil.clone());
                h.converge().await;
                let after = h.files("store");
                let dir = StorePath::parse("dev").unwrap();
                for (path, content) in &after {
                    if before.get(path) != Some(content) {
                        assert!(owned(mode, &dir, &evil, pipeline, path), "{path} changed: {evil:?}");
                    }
                }
                for (path, content) in &before {
                    assert_eq!(after.get(path), Some(content), "{path} was damaged by {evil:?}");
                }
                h.remove::<WorkPlacement>(namespace, "evil");
                h.converge().await;
                assert_eq!(h.files("store"), before, "removing {evil:?} left something behind or took too much");
            });
        }
    }
}
