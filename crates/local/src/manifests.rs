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
}

/// Whether `dir` is a Git repository (bare or not) that must not be walked into.
fn is_git_repo(dir: &Path) -> bool {
    dir.join("HEAD").is_file() && dir.join("objects").is_dir() && dir.join("refs").is_dir()
}

fn is_manifest(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Every manifest file below `dir` in a stable order, skipping hidden entries, Git repositories and `skip`.
pub fn manifest_files(dir: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, skip, &mut out);
    out.sort();
    out
}

fn walk(dir: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden || skip.iter().any(|s| s == &path) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            if !is_git_repo(&path) {
                walk(&path, skip, out);
            }
        } else if is_manifest(&path) && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            out.push(path);
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
                loaded.problems.push(Problem {
                    file,
                    position: String::new(),
                    identity: None,
                    error: FieldError::new("", format!("failed to read: {e}")),
                });
                continue;
            }
        };
        for doc in manifest::parse(&text) {
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
    load_files(&manifest_files(dir, skip), dir)
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
}
