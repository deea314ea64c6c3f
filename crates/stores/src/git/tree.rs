//! An in-memory editor over a Git tree: reads, puts and removes by path, then writes only the trees that
//! changed. No working tree is involved; unchanged subtrees keep their object ids, and entries the
//! editor never touches (including names that are not UTF-8) are carried over untouched.

use std::collections::BTreeSet;

use git2::{ObjectType, Oid, Repository};
use waybill_core::small_map::SmallMap;

const MODE_TREE: i32 = 0o040000;
const MODE_BLOB: i32 = 0o100644;

/// Boxed directories keep an entry as small as a file's: a burst puts tens of thousands of small
/// directories in memory, each holding its entries in a [`SmallMap`] sized to them.
enum Entry {
    File { oid: Oid, mode: i32, dirty: bool },
    Dir(Box<Dir>),
}

#[derive(Default)]
struct Dir {
    base: Option<Oid>,
    entries: Option<SmallMap<String, Entry>>,
    removed: BTreeSet<String>,
    dirty: bool,
}

/// Edits one tree of `repo`; see the module documentation.
pub struct TreeEditor<'r> {
    repo: &'r Repository,
    root: Dir,
    /// Trees written so far, in the order written.
    written: Vec<Oid>,
}

impl Dir {
    fn loaded(&mut self, repo: &Repository) -> Result<&mut SmallMap<String, Entry>, git2::Error> {
        if self.entries.is_none() {
            let mut map = SmallMap::new();
            if let Some(base) = self.base {
                let tree = repo.find_tree(base)?;
                for e in tree.iter() {
                    let Ok(name) = e.name() else { continue };
                    let entry = if e.kind() == Some(ObjectType::Tree) {
                        Entry::Dir(Box::new(Dir { base: Some(e.id()), ..Dir::default() }))
                    } else {
                        Entry::File { oid: e.id(), mode: e.filemode(), dirty: false }
                    };
                    map.insert(name.to_string(), entry);
                }
            }
            self.entries = Some(map);
        }
        // Just filled above when it was empty.
        Ok(self.entries.get_or_insert_with(SmallMap::new))
    }
}

fn split(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

impl<'r> TreeEditor<'r> {
    /// An editor starting from `base` (an empty tree when `None`).
    pub fn new(repo: &'r Repository, base: Option<Oid>) -> Self {
        TreeEditor { repo, root: Dir { base, ..Dir::default() }, written: Vec::new() }
    }

    /// The blob id at `path`, if a file is there.
    pub fn read(&mut self, path: &str) -> Result<Option<Oid>, git2::Error> {
        let parts = split(path);
        let Some((leaf, dirs)) = parts.split_last() else {
            return Ok(None);
        };
        let mut dir = &mut self.root;
        for name in dirs {
            match dir.loaded(self.repo)?.get_mut(*name) {
                Some(Entry::Dir(d)) => dir = d,
                _ => return Ok(None),
            }
        }
        Ok(match dir.loaded(self.repo)?.get(*leaf) {
            Some(Entry::File { oid, .. }) => Some(*oid),
            _ => None,
        })
    }

    /// The id of the directory at `path` as the base tree has it, when nothing at or below it was
    /// edited yet (an edit below a directory marks it changed, so its base id is still its content).
    pub fn untouched_dir(&mut self, path: &str) -> Result<Option<Oid>, git2::Error> {
        let mut dir = &mut self.root;
        for name in split(path) {
            match dir.loaded(self.repo)?.get_mut(name) {
                Some(Entry::Dir(d)) => dir = d,
                _ => return Ok(None),
            }
        }
        Ok(if dir.dirty { None } else { dir.base })
    }

    /// Writes blob `oid` at `path`, creating directories and replacing whatever stood in the way.
    pub fn put(&mut self, path: &str, oid: Oid) -> Result<(), git2::Error> {
        // Already there: nothing on the way becomes dirty, so an unchanged batch writes no tree.
        if self.read(path)? == Some(oid) {
            return Ok(());
        }
        let parts = split(path);
        let Some((leaf, dirs)) = parts.split_last() else {
            return Ok(());
        };
        let repo = self.repo;
        let mut dir = &mut self.root;
        for name in dirs {
            dir.dirty = true;
            let entries = dir.loaded(repo)?;
            if !matches!(entries.get(*name), Some(Entry::Dir(_))) {
                entries.insert(
                    name.to_string(),
                    Entry::Dir(Box::new(Dir { entries: Some(SmallMap::new()), dirty: true, ..Dir::default() })),
                );
            }
            dir.removed.remove(*name);
            match entries_get_dir(dir, name) {
                Some(d) => dir = d,
                None => return Ok(()),
            }
        }
        dir.dirty = true;
        dir.removed.remove(*leaf);
        let entries = dir.loaded(repo)?;
        let mode = match entries.get(*leaf) {
            Some(Entry::File { oid: old, mode, .. }) => {
                if *old == oid {
                    return Ok(());
                }
                *mode
            }
            _ => MODE_BLOB,
        };
        entries.insert(leaf.to_string(), Entry::File { oid, mode, dirty: true });
        Ok(())
    }

    /// Removes the file or directory at `path`; reports whether something was there.
    pub fn remove(&mut self, path: &str) -> Result<bool, git2::Error> {
        let parts = split(path);
        // The root itself is never removed: a change set can only name paths below it.
        let Some((leaf, dirs)) = parts.split_last() else {
            return Ok(false);
        };
        let repo = self.repo;
        let mut dir = &mut self.root;
        for name in dirs {
            if !matches!(dir.loaded(repo)?.get(*name), Some(Entry::Dir(_))) {
                return Ok(false);
            }
            dir.dirty = true;
            match entries_get_dir(dir, name) {
                Some(d) => dir = d,
                None => return Ok(false),
            }
        }
        if dir.loaded(repo)?.remove(*leaf).is_some() {
            dir.removed.insert(leaf.to_string());
            dir.dirty = true;
            return Ok(true);
        }
        Ok(false)
    }

    /// Every file below `path` (a file path yields itself), as full paths.
    pub fn list_files(&mut self, path: &str) -> Result<Vec<String>, git2::Error> {
        let parts = split(path);
        let repo = self.repo;
        let mut dir = &mut self.root;
        for (i, name) in parts.iter().enumerate() {
            match dir.loaded(repo)?.get_mut(*name) {
                Some(Entry::Dir(d)) => dir = d,
                Some(Entry::File { .. }) if i + 1 == parts.len() => {
                    return Ok(vec![parts.join("/")]);
                }
                _ => return Ok(Vec::new()),
            }
        }
        let mut out = Vec::new();
        collect(repo, dir, &parts.join("/"), &mut out)?;
        Ok(out)
    }

    /// Writes every changed tree and returns the root tree's id.
    pub fn write(&mut self) -> Result<Oid, git2::Error> {
        match write_dir(self.repo, &mut self.root, &mut self.written)? {
            Some(oid) => Ok(oid),
            None => {
                let empty = self.repo.treebuilder(None)?.write()?;
                self.written.push(empty);
                Ok(empty)
            }
        }
    }

    /// The trees [`TreeEditor::write`] wrote (some may have been in the repository already).
    pub fn written_trees(&self) -> &[Oid] {
        &self.written
    }
}

fn entries_get_dir<'a>(dir: &'a mut Dir, name: &str) -> Option<&'a mut Dir> {
    match dir.entries.as_mut()?.get_mut(name) {
        Some(Entry::Dir(d)) => Some(d),
        _ => None,
    }
}

fn collect(repo: &Repository, dir: &mut Dir, prefix: &str, out: &mut Vec<String>) -> Result<(), git2::Error> {
    for (name, entry) in dir.loaded(repo)?.iter_mut() {
        let full = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        match entry {
            Entry::File { .. } => out.push(full),
            Entry::Dir(d) => collect(repo, d, &full, out)?,
        }
    }
    Ok(())
}

/// Writes `dir` if it changed; `None` when it ended up empty (Git has no empty directories).
fn write_dir(repo: &Repository, dir: &mut Dir, written: &mut Vec<Oid>) -> Result<Option<Oid>, git2::Error> {
    if !dir.dirty {
        return Ok(dir.base);
    }
    let base_tree = match dir.base {
        Some(b) => Some(repo.find_tree(b)?),
        None => None,
    };
    let mut builder = repo.treebuilder(base_tree.as_ref())?;
    for name in &dir.removed {
        if builder.get(name)?.is_some() {
            builder.remove(name)?;
        }
    }
    let entries = dir.entries.get_or_insert_with(SmallMap::new);
    let mut emptied = Vec::new();
    for (name, entry) in entries.iter_mut() {
        match entry {
            Entry::File { oid, mode, dirty } if *dirty => {
                builder.insert(name, *oid, *mode)?;
                *dirty = false;
            }
            Entry::File { .. } => {}
            Entry::Dir(sub) if sub.dirty => match write_dir(repo, sub, written)? {
                Some(oid) => {
                    builder.insert(name, oid, MODE_TREE)?;
                }
                None => {
                    if builder.get(name)?.is_some() {
                        builder.remove(name)?;
                    }
                    emptied.push(name.clone());
                }
            },
            Entry::Dir(_) => {}
        }
    }
    for name in emptied {
        entries.remove(&name);
    }
    dir.dirty = false;
    dir.removed.clear();
    if builder.is_empty() {
        dir.base = None;
        return Ok(None);
    }
    let oid = builder.write()?;
    written.push(oid);
    dir.base = Some(oid);
    Ok(Some(oid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        (dir, repo)
    }

    fn files(repo: &Repository, tree: Oid) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let tree = repo.find_tree(tree).unwrap();
        tree.walk(git2::TreeWalkMode::PreOrder, |root, e| {
            if e.kind() == Some(ObjectType::Blob) {
                let blob = repo.find_blob(e.id()).unwrap();
                out.push((
                    format!("{root}{}", e.name().unwrap()),
                    String::from_utf8_lossy(blob.content()).into_owned(),
                ));
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        out
    }

    #[test]
    fn puts_and_removes_rewrite_only_what_changed() {
        let (_d, repo) = repo();
        let a = repo.blob(b"a").unwrap();
        let b = repo.blob(b"b").unwrap();
        let mut ed = TreeEditor::new(&repo, None);
        ed.put("x/one.yaml", a).unwrap();
        ed.put("x/sub/two.yaml", b).unwrap();
        ed.put("y/three.yaml", a).unwrap();
        let t1 = ed.write().unwrap();
        assert_eq!(
            files(&repo, t1),
            vec![
                ("x/one.yaml".into(), "a".into()),
                ("x/sub/two.yaml".into(), "b".into()),
                ("y/three.yaml".into(), "a".into())
            ]
        );

        let mut ed = TreeEditor::new(&repo, Some(t1));
        assert_eq!(ed.read("x/sub/two.yaml").unwrap(), Some(b));
        assert!(ed.remove("x/sub").unwrap());
        assert!(!ed.remove("nope/x").unwrap());
        ed.put("x/sub/again.yaml", a).unwrap();
        let t2 = ed.write().unwrap();
        assert_eq!(
            files(&repo, t2),
            vec![
                ("x/one.yaml".into(), "a".into()),
                ("x/sub/again.yaml".into(), "a".into()),
                ("y/three.yaml".into(), "a".into())
            ]
        );
        let y1 = repo.find_tree(t1).unwrap().get_path(std::path::Path::new("y")).unwrap().id();
        let y2 = repo.find_tree(t2).unwrap().get_path(std::path::Path::new("y")).unwrap().id();
        assert_eq!(y1, y2, "untouched subtree keeps its id");
    }

    #[test]
    fn putting_what_is_already_there_writes_no_tree() {
        let (_d, repo) = repo();
        let (a, b) = (repo.blob(b"a").unwrap(), repo.blob(b"b").unwrap());
        let mut ed = TreeEditor::new(&repo, None);
        ed.put("x/sub/one.yaml", a).unwrap();
        ed.put("y/two.yaml", b).unwrap();
        let base = ed.write().unwrap();
        let mut ed = TreeEditor::new(&repo, Some(base));
        ed.put("x/sub/one.yaml", a).unwrap();
        ed.put("y/two.yaml", b).unwrap();
        assert_eq!(ed.write().unwrap(), base);
        assert!(ed.written_trees().is_empty(), "rewrote {:?}", ed.written_trees());
        // A changed file rewrites its own directories only.
        let mut ed = TreeEditor::new(&repo, Some(base));
        ed.put("y/two.yaml", a).unwrap();
        ed.put("x/sub/one.yaml", a).unwrap();
        assert_ne!(ed.write().unwrap(), base);
        assert_eq!(ed.written_trees().len(), 2, "y and the root");
    }

    #[test]
    fn emptied_directories_disappear_and_no_op_edits_keep_the_tree() {
        let (_d, repo) = repo();
        let a = repo.blob(b"a").unwrap();
        let mut ed = TreeEditor::new(&repo, None);
        ed.put("d/e/f.yaml", a).unwrap();
        ed.put("g.yaml", a).unwrap();
        let t1 = ed.write().unwrap();
        let mut ed = TreeEditor::new(&repo, Some(t1));
        ed.put("g.yaml", a).unwrap();
        assert_eq!(ed.write().unwrap(), t1, "rewriting identical content changes nothing");
        let mut ed = TreeEditor::new(&repo, Some(t1));
        ed.remove("d/e/f.yaml").unwrap();
        let t2 = ed.write().unwrap();
        assert_eq!(files(&repo, t2), vec![("g.yaml".into(), "a".into())]);
        assert!(repo.find_tree(t2).unwrap().get_name("d").is_none());
    }

    #[test]
    fn a_file_can_replace_a_directory_and_back() {
        let (_d, repo) = repo();
        let a = repo.blob(b"a").unwrap();
        let mut ed = TreeEditor::new(&repo, None);
        ed.put("p/q.yaml", a).unwrap();
        ed.put("p", a).unwrap();
        let t = ed.write().unwrap();
        assert_eq!(files(&repo, t), vec![("p".into(), "a".into())]);
        let mut ed = TreeEditor::new(&repo, Some(t));
        ed.put("p/r.yaml", a).unwrap();
        let t = ed.write().unwrap();
        assert_eq!(files(&repo, t), vec![("p/r.yaml".into(), "a".into())]);
        let mut ed = TreeEditor::new(&repo, Some(t));
        assert_eq!(ed.list_files("").unwrap(), vec!["p/r.yaml"]);
    }
}
