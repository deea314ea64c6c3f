//! The id Git would give a directory holding exactly a given set of files, computed without writing
//! anything: a `nestedByMetadata` placement whose directory already has that id is in place, and its
//! change set is answered without reading, editing or rewriting the directory (a rerun of 10,000
//! unchanged placements, `docs/` benchmarks).

use std::collections::BTreeMap;

use git2::{ObjectType, Oid};
use waybill_core::layout::StorePath;

const MODE_BLOB: &[u8] = b"100644";
const MODE_TREE: &[u8] = b"40000";

enum Node {
    File(Oid),
    Dir(BTreeMap<String, Node>),
}

/// The tree id of a directory holding exactly `files` (paths relative to it, `/`-separated), every
/// file with Git's regular mode. `None` when the files do not make a plain tree: no files at all, an
/// empty path component, or a path that is both a file and a directory. The caller then takes the
/// general way, which settles such cases.
pub fn tree_id<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<Option<Oid>, git2::Error> {
    let mut root: BTreeMap<String, Node> = BTreeMap::new();
    for (path, content) in files {
        let blob = Oid::hash_object(ObjectType::Blob, content)?;
        if !insert(&mut root, path, blob) {
            return Ok(None);
        }
    }
    if root.is_empty() {
        return Ok(None);
    }
    hash_dir(&root).map(Some)
}

/// The tree id of `dir` once it holds exactly `files` (full paths below `dir`, as
/// [`waybill_core::changeset::Op::ReplaceDir`] has them); `None` as for [`tree_id`], and when a file is
/// not below `dir`.
pub fn dir_id<'a>(
    dir: &StorePath,
    files: impl IntoIterator<Item = (&'a StorePath, &'a [u8])>,
) -> Result<Option<Oid>, git2::Error> {
    let relative: Option<Vec<(&str, &[u8])>> =
        files.into_iter().map(|(path, content)| Some((path.strip_prefix(dir)?, content))).collect();
    match relative {
        Some(relative) => tree_id(relative),
        None => Ok(None),
    }
}

/// Puts `blob` at `path` below `dir`; false when the path does not fit a plain tree.
fn insert(dir: &mut BTreeMap<String, Node>, path: &str, blob: Oid) -> bool {
    let mut parts = path.split('/').peekable();
    let mut dir = dir;
    while let Some(name) = parts.next() {
        if name.is_empty() {
            return false;
        }
        if parts.peek().is_none() {
            // The same path twice: the later file wins, as it does when the files are put one by one.
            return match dir.get(name) {
                Some(Node::Dir(_)) => false,
                _ => {
                    dir.insert(name.to_string(), Node::File(blob));
                    true
                }
            };
        }
        let next = dir.entry(name.to_string()).or_insert_with(|| Node::Dir(BTreeMap::new()));
        dir = match next {
            Node::Dir(d) => d,
            Node::File(_) => return false,
        };
    }
    false
}

/// Git's tree object for `dir`: entries ordered by name, a directory's name compared as if it ended in
/// `/`, each `<mode> <name>\0<20-byte id>`.
fn hash_dir(dir: &BTreeMap<String, Node>) -> Result<Oid, git2::Error> {
    let mut entries: Vec<(Vec<u8>, &[u8], Oid)> = Vec::with_capacity(dir.len());
    for (name, node) in dir {
        let (key, mode, oid) = match node {
            Node::File(oid) => (name.as_bytes().to_vec(), MODE_BLOB, *oid),
            Node::Dir(sub) => {
                let mut key = name.as_bytes().to_vec();
                key.push(b'/');
                (key, MODE_TREE, hash_dir(sub)?)
            }
        };
        entries.push((key, mode, oid));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut body = Vec::with_capacity(entries.len() * 48);
    for (key, mode, oid) in &entries {
        let name = key.strip_suffix(b"/").unwrap_or(key);
        body.extend_from_slice(mode);
        body.push(b' ');
        body.extend_from_slice(name);
        body.push(0);
        body.extend_from_slice(oid.as_bytes());
    }
    Oid::hash_object(ObjectType::Tree, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id libgit2 gives the same files put into a tree one by one.
    fn written_by_git(files: &[(&str, &str)]) -> Oid {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init_bare(dir.path()).unwrap();
        let mut editor = super::super::tree::TreeEditor::new(&repo, None);
        for (path, content) in files {
            let blob = repo.blob(content.as_bytes()).unwrap();
            editor.put(path, blob).unwrap();
        }
        editor.write().unwrap()
    }

    fn computed(files: &[(&str, &str)]) -> Option<Oid> {
        tree_id(files.iter().map(|(p, c)| (*p, c.as_bytes()))).unwrap()
    }

    #[test]
    fn the_computed_id_is_the_one_git_writes_for_the_same_files() {
        let cases: &[&[(&str, &str)]] = &[
            &[("a.yaml", "a: 1\n")],
            &[("b.yaml", "b\n"), ("a.yaml", "a\n")],
            // A directory sorts as if its name ended in `/`: `a-b` before `a/`, `a0` after it.
            &[("a/x.yaml", "x\n"), ("a-b.yaml", "y\n"), ("a0.yaml", "z\n")],
            &[("deep/er/still/f.yaml", "f\n"), ("deep/g.yaml", "g\n"), ("top.yaml", "")],
            &[("same.yaml", "first\n"), ("same.yaml", "second\n")],
        ];
        for files in cases {
            assert_eq!(computed(files), Some(written_by_git(files)), "{files:?}");
        }
    }

    #[test]
    fn files_that_make_no_plain_tree_have_no_computed_id() {
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("a//b.yaml", "x")],
            &[("a", "file"), ("a/b", "below a file")],
            &[("a/b", "below"), ("a", "a file where a directory is")],
        ];
        for files in cases {
            assert_eq!(computed(files), None, "{files:?}");
        }
    }
}
