//! Reading manifests from disk: every `.yaml`/`.yml` file below a directory, multi-document, with
//! problems that name the file, the document, the object and the field.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use waybill_core::manifest::{self, Problem};
use waybill_core::validation::FieldError;
use waybill_core::{AnyObject, ObjectRef};

/// What a directory of manifests holds.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Valid objects with the file (as displayed) they came from.
    pub objects: Vec<(AnyObject, String)>,
    /// Objects whose document was refused, by identity: they keep their last accepted state.
    pub rejected: Vec<(ObjectRef, Problem)>,
    /// Every problem, in file order.
    pub problems: Vec<Problem>,
    /// Files with a problem no object can carry (unreadable, malformed YAML, unknown kind): every
    /// object that came from them is kept as it was.
    pub failed_files: BTreeSet<String>,
    /// Directories that could not be read (as displayed; empty for the platform directory itself):
    /// every object that came from a file below them is kept as it was.
    pub failed_dirs: BTreeSet<String>,
    /// Targets of manifests that are symbolic links (canonical paths), for the watcher to follow.
    pub links: BTreeSet<PathBuf>,
    /// Objects of files that did not change since they were admitted: present, and not applied again.
    pub unchanged: Vec<(ObjectRef, String)>,
}

impl Loaded {
    /// The same without objects: problems, refusals and failures only.
    pub fn clone_problems(&self) -> Loaded {
        Loaded {
            objects: Vec::new(),
            rejected: self.rejected.clone(),
            problems: self.problems.clone(),
            failed_files: self.failed_files.clone(),
            failed_dirs: self.failed_dirs.clone(),
            links: self.links.clone(),
            unchanged: self.unchanged.clone(),
        }
    }

    /// The same, objects by identity only (they are in the store already).
    pub fn clone_view(&self) -> Loaded {
        let mut view = self.clone_problems();
        view.unchanged.extend(self.objects.iter().map(|(o, f)| (o.object_ref(), f.clone())));
        view
    }

    /// Whether objects that came from `source` must be kept although they were not read this time:
    /// their file or a directory above it could not be read.
    pub fn retains(&self, source: &str) -> bool {
        self.failed_files.contains(source)
            || self
                .failed_dirs
                .iter()
                .any(|d| d.is_empty() || source.strip_prefix(d.as_str()).is_some_and(|r| r.starts_with('/')))
    }

    /// Adds what a walk could not read, and the links it followed.
    pub fn add_walk_failures(&mut self, walk: &Walk, base: &Path) {
        self.links.extend(walk.links.iter().cloned());
        for (path, reason) in &walk.failed_dirs {
            let shown = display_path(path, base);
            self.problems.push(whole_file_problem(if shown.is_empty() { ".".into() } else { shown.clone() }, reason));
            self.failed_dirs.insert(shown);
        }
        for (path, reason) in &walk.failed_files {
            let shown = display_path(path, base);
            self.problems.push(whole_file_problem(shown.clone(), reason));
            self.failed_files.insert(shown);
        }
    }
}

fn whole_file_problem(file: String, reason: &str) -> Problem {
    Problem { file, position: String::new(), identity: None, error: FieldError::new("", reason.to_string()) }
}

/// The manifest files below a directory, and what could not be read on the way.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<PathBuf>,
    /// What each file in `files` looked like when it was found (its target's, for a link), so a
    /// caller comparing stamps needs no second look.
    pub metadata: std::collections::HashMap<PathBuf, std::fs::Metadata>,
    /// Directories that could not be listed, with why.
    pub failed_dirs: Vec<(PathBuf, String)>,
    /// Entries named like manifests that cannot be read as files (broken links, FIFOs, sockets,
    /// entries whose type cannot be read), with why.
    pub failed_files: Vec<(PathBuf, String)>,
    /// Where manifests that are symbolic links point (canonical paths).
    pub links: Vec<PathBuf>,
}

/// Whether `dir` is a Git repository (bare or not) that must not be walked into.
fn is_git_repo(dir: &Path) -> bool {
    dir.join("HEAD").is_file() && dir.join("objects").is_dir() && dir.join("refs").is_dir()
}

fn is_manifest(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Every manifest file below `dir` in a stable order, skipping hidden entries, Git repositories,
/// `skip` and what `dir/.waybillignore` lists. What cannot be read is listed, never silently left out: a file missing from a walk would
/// delete its objects.
pub fn walk_dir(dir: &Path, skip: &[PathBuf]) -> Walk {
    let mut out = Walk::default();
    let ignored = ignore_file(dir, &mut out);
    walk(dir, skip, ignored.as_ref(), &mut out);
    out.files.sort();
    out
}

/// The name of the file listing what the walk skips, in gitignore syntax, at the platform's root.
pub const IGNORE_FILE: &str = ".waybillignore";

/// The patterns of `dir/.waybillignore`, if there is one. One that cannot be read or holds an invalid
/// pattern is reported (as a file problem) and nothing is skipped by it.
fn ignore_file(dir: &Path, out: &mut Walk) -> Option<ignore::gitignore::Gitignore> {
    let path = dir.join(IGNORE_FILE);
    if !path.exists() {
        return None;
    }
    let mut builder = ignore::gitignore::GitignoreBuilder::new(dir);
    if let Some(e) = builder.add(&path) {
        out.failed_files.push((path, format!("failed to read the ignore file: {e}")));
        return None;
    }
    match builder.build() {
        Ok(patterns) => Some(patterns),
        Err(e) => {
            out.failed_files.push((path, format!("failed to read the ignore file: {e}")));
            None
        }
    }
}

/// Every manifest file below `dir` that could be found (see [`walk_dir`] for what could not).
pub fn manifest_files(dir: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
    walk_dir(dir, skip).files
}

fn walk(dir: &Path, skip: &[PathBuf], ignored: Option<&ignore::gitignore::Gitignore>, out: &mut Walk) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            out.failed_dirs.push((dir.to_path_buf(), format!("failed to read directory: {e}")));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                out.failed_dirs.push((dir.to_path_buf(), format!("failed to read directory: {e}")));
                return;
            }
        };
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden || skip.iter().any(|s| s == &path) {
            continue;
        }
        // The directory entry's own type: no system call where the file system reports it.
        let file_type = match entry.file_type() {
            Ok(file_type) => file_type,
            Err(e) => {
                out.failed_dirs.push((path, format!("failed to read: {e}")));
                continue;
            }
        };
        if ignored.is_some_and(|i| i.matched(&path, file_type.is_dir()).is_ignore()) {
            continue;
        }
        if file_type.is_dir() {
            if !is_git_repo(&path) {
                walk(&path, skip, ignored, out);
            }
            continue;
        }
        if !is_manifest(&path) {
            continue;
        }
        // A regular file's entry describes the file itself (and is read relative to the open
        // directory, without resolving the whole path again); a link's target needs a lookup.
        let meta = if file_type.is_symlink() { std::fs::metadata(&path) } else { entry.metadata() };
        match meta {
            Ok(m) if m.is_file() => {
                if file_type.is_symlink()
                    && let Ok(target) = std::fs::canonicalize(&path)
                {
                    out.links.push(target);
                }
                out.metadata.insert(path.clone(), m);
                out.files.push(path)
            }
            // A link to a directory named like a manifest is not one.
            Ok(m) if m.is_dir() => {}
            Ok(_) => out.failed_files.push((path, "is not a regular file (a FIFO, socket or device); not read".into())),
            Err(e) if file_type.is_symlink() => {
                out.failed_files.push((path, format!("is a symbolic link whose target cannot be read: {e}")))
            }
            Err(e) => out.failed_files.push((path, format!("failed to read: {e}"))),
        }
    }
}

/// How a file is named in messages: relative to `base` when below it.
pub fn display_path(path: &Path, base: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).display().to_string()
}

/// Loads the given files, naming them relative to `base`.
pub fn load_files(files: &[PathBuf], base: &Path) -> Loaded {
    let mut loaded = Loaded::default();
    for path in files {
        let file = display_path(path, base);
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                loaded.failed_files.insert(file.clone());
                loaded.problems.push(whole_file_problem(file, &format!("failed to read: {e}")));
                continue;
            }
        };
        for doc in manifest::parse(&text) {
            if let Some(kind) = &doc.skipped {
                tracing::info!("skipped {file}: {}: {kind} is not a kind Waybill handles", doc.position());
                continue;
            }
            match doc.result {
                Ok(obj) => loaded.objects.push((obj, file.clone())),
                Err(errors) => {
                    if doc.identity.is_none() {
                        loaded.failed_files.insert(file.clone());
                    }
                    for error in errors {
                        let problem = Problem {
                            file: file.clone(),
                            position: doc_position(doc.index, doc.line),
                            identity: doc.identity.clone(),
                            error,
                        };
                        if let Some(id) = &doc.identity {
                            loaded.rejected.push((id.clone(), problem.clone()));
                        }
                        loaded.problems.push(problem);
                    }
                }
            }
        }
    }
    loaded
}

fn doc_position(index: usize, line: usize) -> String {
    format!("document {index} (line {line})")
}

/// Loads every manifest below `dir`.
pub fn load_dir(dir: &Path, skip: &[PathBuf]) -> Loaded {
    let walk = walk_dir(dir, skip);
    let mut loaded = load_files(&walk.files, dir);
    loaded.add_walk_failures(&walk, dir);
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_skips_hidden_entries_repositories_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("a/b")).unwrap();
        std::fs::create_dir_all(p.join(".waybill")).unwrap();
        std::fs::create_dir_all(p.join("repo.git/objects")).unwrap();
        std::fs::create_dir_all(p.join("repo.git/refs")).unwrap();
        std::fs::write(p.join("repo.git/HEAD"), "ref: refs/heads/main\n").unwrap();
        for f in [
            "x.yaml",
            "a/y.yml",
            "a/b/z.yaml",
            "a/readme.md",
            ".hidden.yaml",
            ".waybill/s.yaml",
            "repo.git/config.yaml",
        ] {
            std::fs::write(p.join(f), "").unwrap();
        }
        let files: Vec<String> = manifest_files(p, &[]).iter().map(|f| display_path(f, p)).collect();
        assert_eq!(files, vec!["a/b/z.yaml", "a/y.yml", "x.yaml"]);
    }

    #[test]
    fn the_walk_skips_what_the_ignore_file_lists_in_gitignore_syntax() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for f in ["keep.yaml", "charts/values.yaml", "flux/app.yaml", "flux/kept.yaml", "a/b/secret.local.yaml"] {
            std::fs::create_dir_all(p.join(f).parent().unwrap()).unwrap();
            std::fs::write(p.join(f), "").unwrap();
        }
        std::fs::write(p.join(IGNORE_FILE), "# other tools' files\ncharts/\nflux/*\n!flux/kept.yaml\n*.local.yaml\n")
            .unwrap();
        let walk = walk_dir(p, &[]);
        let files: Vec<String> = walk.files.iter().map(|f| display_path(f, p)).collect();
        assert_eq!(files, vec!["flux/kept.yaml", "keep.yaml"]);
        assert!(walk.failed_files.is_empty(), "{:?}", walk.failed_files);
    }

    #[test]
    fn an_unreadable_ignore_file_is_reported_and_skips_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("keep.yaml"), "").unwrap();
        std::fs::create_dir(p.join(IGNORE_FILE)).unwrap();
        let walk = walk_dir(p, &[]);
        assert_eq!(walk.files.len(), 1);
        assert_eq!(walk.failed_files.len(), 1, "the ignore file is reported");
        assert!(walk.failed_files[0].1.starts_with("failed to read the ignore file"), "{:?}", walk.failed_files);
    }
}
