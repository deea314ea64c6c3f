//! Re-reading a platform directory cheaply: a file whose size, modification time and inode did not
//! change is not parsed again, within a run (its last result is kept) and across runs (its objects are
//! the ones the state database holds from it), so a rerun over unchanged manifests parses nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use waybill_core::{Kind, ObjectRef};

use crate::manifests::{self, Loaded};

/// What a file looked like, to tell whether it changed since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub len: u64,
    pub modified: Option<SystemTime>,
    pub inode: u64,
}

impl FileStamp {
    pub fn of(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path).ok().as_ref().map(FileStamp::from_metadata)
    }

    /// The stamp of metadata already read.
    pub fn from_metadata(m: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp { len: m.len(), modified: m.modified().ok(), inode: m.ino() }
    }

    /// Whether the stamp was taken so soon after the file's change that a second change within the
    /// same clock tick could hide behind it (Git's "racily clean" case): such a file is parsed again.
    fn is_racy(&self, taken: SystemTime) -> bool {
        self.modified.is_none_or(|m| taken.duration_since(m).unwrap_or_default() < Duration::from_secs(2))
    }
}

struct Cached {
    stamp: FileStamp,
    /// The file's displayed path (relative to the platform directory).
    display: String,
    /// What the file held when it was read: its objects by identity only once they were admitted (the
    /// store holds them), so a large platform is not held twice in memory.
    loaded: Loaded,
    /// Loaded without any problem and without Secrets (which the state database never holds).
    reusable: bool,
}

impl Cached {
    /// The file as unchanged: its objects by identity, its problems as they were.
    fn as_unchanged(&self) -> Loaded {
        self.loaded.clone_view()
    }
}

/// Loads a platform directory, remembering what each file held.
pub struct Loader {
    dir: PathBuf,
    skip: Vec<PathBuf>,
    cache: HashMap<PathBuf, Cached>,
    /// Files a previous run read cleanly, by their displayed path.
    known: HashMap<String, FileStamp>,
    parsed: usize,
    /// What [`Loader::reusable_if_changed`] returned last.
    recorded: Vec<(String, FileStamp)>,
}

impl Loader {
    pub fn new(dir: &Path, skip: Vec<PathBuf>) -> Loader {
        Loader {
            dir: dir.to_path_buf(),
            skip,
            cache: HashMap::new(),
            known: HashMap::new(),
            parsed: 0,
            recorded: Vec::new(),
        }
    }

    /// Files a previous run read cleanly: unchanged, their objects come from `stored` instead of a parse.
    pub fn with_known(mut self, known: HashMap<String, FileStamp>) -> Loader {
        self.known = known;
        self
    }

    /// How many files were parsed so far.
    pub fn parsed(&self) -> usize {
        self.parsed
    }

    /// Everything the directory holds now. `stored` gives the identities of the objects the state
    /// database holds from a file (by displayed path). Secrets are always read: they are never stored.
    pub fn load(&mut self, stored: &mut dyn FnMut(&str) -> Vec<ObjectRef>) -> Loaded {
        let walk = manifests::walk_dir(&self.dir, &self.skip);
        let mut out = Loaded::default();
        out.add_walk_failures(&walk, &self.dir);
        let mut seen = HashMap::new();
        for path in walk.files {
            let stamp = walk.metadata.get(&path).map(FileStamp::from_metadata);
            let cached = match (&stamp, self.cache.remove(&path)) {
                (Some(s), Some(c)) if *s == c.stamp => Some(c),
                _ => None,
            };
            if let Some(c) = cached {
                merge(&mut out, c.as_unchanged());
                seen.insert(path, c);
                continue;
            }
            let display = manifests::display_path(&path, &self.dir);
            let mut from_state = || {
                let stamp = stamp?;
                if self.known.get(&display) != Some(&stamp) {
                    return None;
                }
                let ids: Vec<(ObjectRef, String)> =
                    stored(&display).into_iter().map(|r| (r, display.clone())).collect();
                (!ids.is_empty()).then(|| {
                    let loaded = Loaded { unchanged: ids, ..Loaded::default() };
                    (loaded.clone_view(), Cached { stamp, display: display.clone(), loaded, reusable: true })
                })
            };
            let (view, cached) = match from_state() {
                Some(c) => c,
                None => {
                    self.parsed += 1;
                    let loaded = manifests::load_files(std::slice::from_ref(&path), &self.dir);
                    let reusable = loaded.problems.is_empty()
                        && loaded.failed_files.is_empty()
                        && loaded.objects.iter().all(|(o, _)| o.kind() != Kind::Secret);
                    let stamp = stamp.unwrap_or(FileStamp { len: 0, modified: None, inode: 0 });
                    let mut cached = Cached { stamp, display: display.clone(), loaded, reusable };
                    let view = std::mem::take(&mut cached.loaded);
                    // Kept by identity: once admitted, the objects live in the store.
                    cached.loaded = Loaded { objects: Vec::new(), ..view.clone_problems() };
                    cached.loaded.unchanged = view.objects.iter().map(|(o, f)| (o.object_ref(), f.clone())).collect();
                    (view, cached)
                }
            };
            merge(&mut out, view);
            seen.insert(path, cached);
        }
        self.cache = seen;
        self.known.clear();
        out
    }

    /// Parses `files` again at the next load (admission refused objects of theirs).
    pub fn forget(&mut self, files: &std::collections::BTreeSet<String>) {
        if !files.is_empty() {
            self.cache.retain(|_, c| !files.contains(&c.display));
        }
    }

    /// [`Loader::reusable`], when it differs from what this returned last (so it is recorded once).
    pub fn reusable_if_changed(&mut self) -> Option<Vec<(String, FileStamp)>> {
        let now = self.reusable();
        (now != self.recorded).then(|| {
            self.recorded = now.clone();
            now
        })
    }

    /// The files of the last load that a later run may take from the state database unparsed.
    pub fn reusable(&self) -> Vec<(String, FileStamp)> {
        let now = SystemTime::now();
        let mut out: Vec<(String, FileStamp)> = self
            .cache
            .iter()
            .filter(|(_, c)| c.reusable && !c.stamp.is_racy(now))
            .map(|(_, c)| (c.display.clone(), c.stamp))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn merge(into: &mut Loaded, from: Loaded) {
    into.objects.extend(from.objects);
    into.rejected.extend(from.rejected);
    into.problems.extend(from.problems);
    into.failed_files.extend(from.failed_files);
    into.failed_dirs.extend(from.failed_dirs);
    into.links.extend(from.links);
    into.unchanged.extend(from.unchanged);
}
