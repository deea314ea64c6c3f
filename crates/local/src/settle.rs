//! Deletions wait until a manifest's change has settled: editors and tools rewrite files in several
//! steps (truncate, then write), and a reload between the steps sees objects missing. Deleting them
//! then would remove live workloads from every Destination until the next step re-adds them, and a
//! GitOps agent prunes in between. So an object missing from the manifests is deleted only once the
//! change that removed it is older than the settle period: the file's modification time when the
//! file is still there, its directory's when it is gone. A file renamed into place was complete when
//! it appeared (the atomic way to write a file): its removals apply at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::loader::FileStamp;

/// Default settle period (`--settle`).
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(3);

/// Files the watcher saw renamed into place, with how they looked then. Shared with the watcher.
#[derive(Debug, Clone, Default)]
pub struct Renamed(Arc<Mutex<HashMap<PathBuf, Option<FileStamp>>>>);

impl Renamed {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Option<FileStamp>>> {
        // A poisoned map is still a valid map.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `path` was just renamed into place.
    pub fn note(&self, path: &Path) {
        self.map().insert(path.to_path_buf(), FileStamp::of(path));
    }

    /// Whether `path` still is, unchanged, what was renamed into place.
    fn is_whole(&self, path: &Path) -> bool {
        let mut map = self.map();
        match map.get(path) {
            Some(then) if then.is_some() && *then == FileStamp::of(path) => true,
            Some(_) => {
                map.remove(path);
                false
            }
            None => false,
        }
    }
}

/// Decides, per manifest file, how long deletions caused by its change must still wait.
#[derive(Debug, Clone)]
pub struct Settler {
    root: PathBuf,
    period: Duration,
    renamed: Renamed,
    /// When a file's change was first seen, for modification times in the future (a skewed clock).
    first_seen: Arc<Mutex<HashMap<String, SystemTime>>>,
}

impl Settler {
    pub fn new(root: &Path, period: Duration, renamed: Renamed) -> Settler {
        Settler { root: root.to_path_buf(), period, renamed, first_seen: Arc::default() }
    }

    /// The platform directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How long deletions of objects that came from `source` (a path relative to the platform
    /// directory) must still wait; `None` when they can happen now.
    pub fn wait(&self, source: &str) -> Option<Duration> {
        if self.period.is_zero() {
            return None;
        }
        let path = self.root.join(source);
        if path.is_file() && self.renamed.is_whole(&path) {
            return None;
        }
        let now = SystemTime::now();
        let changed = last_change(&self.root, &path).unwrap_or(now);
        let changed = if changed > now {
            // A time in the future cannot be trusted: count from when the change was first seen.
            let mut seen = self.first_seen.lock().unwrap_or_else(|e| e.into_inner());
            *seen.entry(source.to_string()).or_insert(now)
        } else {
            changed
        };
        let age = now.duration_since(changed).unwrap_or_default();
        (age < self.period).then(|| self.period - age)
    }
}

/// When `path` last changed: its own modification time, or that of the nearest directory above it that
/// still exists (removing a file changes its directory), never looking above `root`.
fn last_change(root: &Path, path: &Path) -> Option<SystemTime> {
    for candidate in path.ancestors() {
        if let Ok(m) = std::fs::metadata(candidate) {
            return m.modified().ok();
        }
        if candidate == root {
            break;
        }
    }
    std::fs::metadata(root).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_mtime(path: &Path, ago: Duration) {
        let f = std::fs::File::options().write(true).open(path).or_else(|_| std::fs::File::open(path)).unwrap();
        f.set_modified(SystemTime::now() - ago).unwrap();
    }

    #[test]
    fn a_change_waits_until_it_is_older_than_the_period() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let settler = Settler::new(root, Duration::from_secs(3), Renamed::default());
        std::fs::write(root.join("fresh.yaml"), "a: 1\n").unwrap();
        let left = settler.wait("fresh.yaml").expect("a fresh change waits");
        assert!(left > Duration::from_secs(2) && left <= Duration::from_secs(3), "{left:?}");
        std::fs::write(root.join("old.yaml"), "a: 1\n").unwrap();
        set_mtime(&root.join("old.yaml"), Duration::from_secs(60));
        assert_eq!(settler.wait("old.yaml"), None);

        // A removed file counts from its directory's change.
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/gone.yaml"), "a: 1\n").unwrap();
        std::fs::remove_file(root.join("sub/gone.yaml")).unwrap();
        assert!(settler.wait("sub/gone.yaml").is_some());
        std::fs::File::open(root.join("sub"))
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();
        assert_eq!(settler.wait("sub/gone.yaml"), None);

        // A time in the future counts from when it was first seen.
        set_mtime(&root.join("old.yaml"), Duration::ZERO);
        let f = std::fs::File::options().write(true).open(root.join("old.yaml")).unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(3600)).unwrap();
        assert!(settler.wait("old.yaml").unwrap() <= Duration::from_secs(3));

        assert_eq!(Settler::new(root, Duration::ZERO, Renamed::default()).wait("fresh.yaml"), None);
    }

    #[test]
    fn a_file_renamed_into_place_is_whole_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let renamed = Renamed::default();
        let settler = Settler::new(root, Duration::from_secs(3), renamed.clone());
        std::fs::write(root.join(".tmp"), "a: 1\n").unwrap();
        std::fs::rename(root.join(".tmp"), root.join("w.yaml")).unwrap();
        renamed.note(&root.join("w.yaml"));
        assert_eq!(settler.wait("w.yaml"), None);
        std::fs::write(root.join("w.yaml"), "a: 2\nb: 3\n").unwrap();
        assert!(settler.wait("w.yaml").is_some(), "rewritten in place, it waits again");
    }
}
