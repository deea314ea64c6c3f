//! Re-reading a platform directory cheaply: files whose size and modification time did not change are
//! not parsed again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::manifests::{self, Loaded};

#[derive(Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

/// Loads a platform directory, remembering what each file held.
pub struct Loader {
    dir: PathBuf,
    skip: Vec<PathBuf>,
    cache: HashMap<PathBuf, (Stamp, Loaded)>,
}

impl Loader {
    pub fn new(dir: &Path, skip: Vec<PathBuf>) -> Loader {
        Loader { dir: dir.to_path_buf(), skip, cache: HashMap::new() }
    }

    /// Everything the directory holds now.
    pub fn load(&mut self) -> Loaded {
        let walk = manifests::walk_dir(&self.dir, &self.skip);
        let mut out = Loaded::default();
        out.add_walk_failures(&walk, &self.dir);
        let mut seen = HashMap::new();
        for path in walk.files {
            let stamp = std::fs::metadata(&path).map(|m| Stamp { len: m.len(), modified: m.modified().ok() }).ok();
            let cached = match (&stamp, self.cache.remove(&path)) {
                (Some(s), Some((old, loaded))) if *s == old => Some(loaded),
                _ => None,
            };
            let loaded = cached.unwrap_or_else(|| manifests::load_files(std::slice::from_ref(&path), &self.dir));
            merge(&mut out, &loaded);
            if let Some(s) = stamp {
                seen.insert(path, (s, loaded));
            }
        }
        self.cache = seen;
        out
    }
}

fn merge(into: &mut Loaded, from: &Loaded) {
    into.objects.extend(from.objects.iter().cloned());
    into.rejected.extend(from.rejected.iter().cloned());
    into.problems.extend(from.problems.iter().cloned());
    into.failed_files.extend(from.failed_files.iter().cloned());
    into.failed_dirs.extend(from.failed_dirs.iter().cloned());
    into.links.extend(from.links.iter().cloned());
}
