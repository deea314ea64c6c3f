//! Watching a platform directory: any change to a manifest (or a directory that may hold some) asks
//! the runner to reload, debounced so a burst of edits is one reload.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{Notify, mpsc};

use crate::error::{LocalError, Result};
use crate::runner::Signal;
use crate::settle::Renamed;

/// Quiet time after a change before the reload is requested.
const DEBOUNCE: Duration = Duration::from_millis(25);

/// Keeps the watch alive; dropping it stops watching.
pub struct DirWatch {
    _watcher: RecommendedWatcher,
    _task: tokio::task::JoinHandle<()>,
}

/// Whether a changed path can matter to the manifests under `root`.
fn relevant(path: &Path, root: &Path, skip: &[PathBuf], repos: &Mutex<HashMap<PathBuf, bool>>) -> bool {
    if skip.iter().any(|s| path.starts_with(s)) {
        return false;
    }
    let Ok(rel) = path.strip_prefix(root) else { return false };
    if rel.components().any(|c| c.as_os_str().to_string_lossy().starts_with('.')) {
        return false;
    }
    // Nothing inside a Git repository (the local state store, say) is a manifest.
    let mut cache = repos.lock().unwrap_or_else(|e| e.into_inner());
    for ancestor in path.ancestors().skip(1) {
        if ancestor == root || !ancestor.starts_with(root) {
            break;
        }
        let is_repo = *cache
            .entry(ancestor.to_path_buf())
            .or_insert_with(|| ancestor.join("HEAD").is_file() && ancestor.join("objects").is_dir());
        if is_repo {
            return false;
        }
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => true,
        Some(_) => false,
        None => true,
    }
}

/// Starts watching `root` (recursively); reload requests go to `signals`, and files renamed into place
/// (written whole, the atomic way) are noted in `renamed` ([`crate::settle`]).
pub fn watch(
    root: &Path,
    skip: Vec<PathBuf>,
    signals: mpsc::UnboundedSender<Signal>,
    renamed: Renamed,
) -> Result<DirWatch> {
    let notify = Arc::new(Notify::new());
    let repos = Arc::new(Mutex::new(HashMap::new()));
    let (root_buf, n) = (root.to_path_buf(), notify.clone());
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Reading a manifest (as every reload does) is an access event: reacting to it would reload forever.
        if let Ok(event) = res
            && !matches!(event.kind, notify::EventKind::Access(_))
            && event.paths.iter().any(|p| relevant(p, &root_buf, &skip, &repos))
        {
            use notify::event::{ModifyKind, RenameMode};
            if let notify::EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) = event.kind
                && let Some(to) = event.paths.last()
            {
                renamed.note(to);
            }
            n.notify_one();
        }
    })
    .map_err(|e| LocalError::Watch { path: root.to_path_buf(), reason: e.to_string() })?;
    watcher
        .watch(root, RecursiveMode::Recursive)
        .map_err(|e| LocalError::Watch { path: root.to_path_buf(), reason: e.to_string() })?;
    let task = tokio::spawn(async move {
        loop {
            notify.notified().await;
            tokio::time::sleep(DEBOUNCE).await;
            if signals.send(Signal::Reload).is_err() {
                return;
            }
        }
    });
    Ok(DirWatch { _watcher: watcher, _task: task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reading_a_manifest_is_not_a_change_and_writing_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let file = root.join("w.yaml");
        std::fs::write(&file, "a: 1\n").unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _watch = watch(&root, vec![root.join(".waybill")], tx, Renamed::default()).unwrap();
        for _ in 0..5 {
            let _ = std::fs::read_to_string(&file).unwrap();
        }
        let quiet = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
        assert!(quiet.is_err(), "reads must not ask for a reload");
        std::fs::write(&file, "a: 2\n").unwrap();
        let signal = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a write asks for a reload");
        assert_eq!(signal, Some(Signal::Reload));
    }
}
