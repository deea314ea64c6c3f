//! Recovery from a Waybill killed while it moved a branch.
//!
//! libgit2 moves a ref by creating `<ref>.lock`, writing the new id into it and renaming it over the
//! ref. A process killed between the two leaves the lock file behind, and every later write fails with
//! "locked" until someone removes it: a SIGKILL (or an OOM kill) would stop the store for good.
//!
//! Git never removes a lock it did not create, because it cannot tell a dead writer's lock from a live
//! one's. Waybill can, for its own writers: every ref update it makes runs while it holds an advisory
//! lock on `waybill.lock` in the repository (the kernel releases it when the process dies, however it
//! dies) and while a marker file, `waybill-ref-update`, names the lock files the update may create. A
//! writer that takes the advisory lock and finds the marker knows the previous holder died mid-update,
//! and removes exactly the lock files the marker names. A lock file with no marker belongs to another
//! program (a `git push` into the repository, say) and is waited for, never removed.
//! See docs/hostile-inputs.md (row 64).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// The advisory lock's file, in the repository's git directory.
const GUARD_FILE: &str = "waybill.lock";
/// The marker naming the lock files of the update in progress.
const MARKER_FILE: &str = "waybill-ref-update";

/// Serialises this repository's ref updates across Waybill's threads and processes.
pub(super) struct RefGuard {
    gitdir: PathBuf,
}

impl RefGuard {
    pub(super) fn new(gitdir: &Path) -> RefGuard {
        RefGuard { gitdir: gitdir.to_path_buf() }
    }

    /// Runs `update`, which may create the lock files `locks` (relative to the git directory), with
    /// the advisory lock held and the marker written; first removes what a killed holder left.
    pub(super) fn run<T>(&self, locks: &[String], update: impl FnOnce() -> T) -> Result<T, StoreError> {
        let guard = self.acquire()?;
        let marker = self.gitdir.join(MARKER_FILE);
        self.recover(&marker);
        write_marker(&marker, locks).map_err(|e| {
            StoreError::PermissionDenied(format!("failed to record the ref update in {}: {e}", marker.display()))
        })?;
        let result = update();
        // The update is over (its lock files renamed or removed by libgit2): nothing to recover now.
        let _ = std::fs::remove_file(&marker);
        drop(guard);
        Ok(result)
    }

    fn acquire(&self) -> Result<File, StoreError> {
        let path = self.gitdir.join(GUARD_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::PermissionDenied(format!("failed to open {}: {e}", path.display())))?;
        // Held for one ref update (milliseconds); the kernel drops it with the process.
        file.lock().map_err(|e| StoreError::Other(format!("failed to lock {}: {e}", path.display())))?;
        Ok(file)
    }

    /// With the advisory lock held, a marker means its writer died mid-update: its lock files are stale.
    fn recover(&self, marker: &Path) {
        let Ok(text) = std::fs::read_to_string(marker) else { return };
        for name in text.lines().filter(|l| is_lock_name(l)) {
            let lock = self.gitdir.join(name);
            match std::fs::remove_file(&lock) {
                Ok(()) => tracing::warn!(lock = %lock.display(),
                    "removed the lock file a Waybill killed while moving a branch left behind"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(lock = %lock.display(), "failed to remove a stale lock file: {e}"),
            }
        }
        let _ = std::fs::remove_file(marker);
    }
}

/// Only names this module writes are acted on: relative, inside the git directory, ending in `.lock`.
fn is_lock_name(name: &str) -> bool {
    name.ends_with(".lock")
        && !name.starts_with('/')
        && name.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        && name != GUARD_FILE
}

fn write_marker(path: &Path, locks: &[String]) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    for lock in locks {
        writeln!(file, "{lock}")?;
    }
    // No fsync: a killed process's writes survive it in the page cache, in order. After a power cut
    // the marker may be lost while the lock is not; that lock is then reported, never wrongly removed.
    file.flush()
}

/// The lock file libgit2 creates to move `refname`.
pub(super) fn lock_of(refname: &str) -> String {
    format!("{refname}.lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lock_files_inside_the_git_directory_are_ever_removed() {
        for (name, removable) in [
            ("refs/heads/main.lock", true),
            ("FETCH_HEAD.lock", true),
            ("refs/heads/main", false),
            ("/etc/passwd.lock", false),
            ("../outside.lock", false),
            ("refs/../../outside.lock", false),
            ("refs//main.lock", false),
            ("waybill.lock", false),
        ] {
            assert_eq!(is_lock_name(name), removable, "{name}");
        }
    }

    #[test]
    fn a_marker_left_by_a_dead_writer_clears_its_lock_files_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("refs/heads")).unwrap();
        std::fs::write(dir.path().join("refs/heads/main.lock"), b"").unwrap();
        std::fs::write(dir.path().join("refs/heads/other.lock"), b"").unwrap();
        std::fs::write(dir.path().join(MARKER_FILE), "refs/heads/main.lock\n../escape.lock\n").unwrap();

        let guard = RefGuard::new(dir.path());
        let ran = guard.run(&[lock_of("refs/heads/main")], || 7).unwrap();

        assert_eq!(ran, 7);
        assert!(!dir.path().join("refs/heads/main.lock").exists(), "the dead writer's lock is removed");
        assert!(dir.path().join("refs/heads/other.lock").exists(), "a lock the marker does not name stays");
        assert!(!dir.path().join(MARKER_FILE).exists(), "the marker goes once the update is over");
    }

    #[test]
    fn a_lock_file_without_a_marker_is_left_to_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("refs/heads")).unwrap();
        std::fs::write(dir.path().join("refs/heads/main.lock"), b"").unwrap();

        RefGuard::new(dir.path()).run(&[lock_of("refs/heads/main")], || ()).unwrap();

        assert!(dir.path().join("refs/heads/main.lock").exists());
    }
}
