//! Watching a platform directory: any change to a manifest (or a directory that may hold some) asks
//! the runner to reload, debounced so a burst of edits is one reload.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{Notify, mpsc};

use crate::error::{LocalError, Result};
use crate::runner::Signal;
use crate::settle::Renamed;

/// Quiet time after a change before the reload is requested.
const DEBOUNCE: Duration = Duration::from_millis(2);

/// Keeps the watch alive; dropping it stops watching.
pub struct DirWatch {
    _watcher: Arc<Mutex<RecommendedWatcher>>,
    _task: tokio::task::JoinHandle<()>,
}

/// Whether a changed path can matter to the manifests under `root`.
fn relevant(path: &Path, root: &Path, skip: &[PathBuf], repos: &Mutex<HashMap<PathBuf, bool>>) -> bool {
    if skip.iter().any(|s| path.starts_with(s)) {
        return false;
    }
    let Ok(rel) = path.strip_prefix(root) else { return false };
    // An edited ignore file changes which manifests count.
    if rel == Path::new(crate::manifests::IGNORE_FILE) {
        return true;
    }
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

/// Manifest files that are symbolic links, by their targets: a change to a target (outside the
/// platform directory, say) must reload as a change to the link would. Filled after each load.
#[derive(Debug, Clone, Default)]
pub struct Links {
    targets: Arc<Mutex<BTreeSet<PathBuf>>>,
    changed: Arc<Notify>,
}

impl Links {
    /// Replaces the set of followed targets (canonical paths).
    pub fn set(&self, targets: impl IntoIterator<Item = PathBuf>) {
        let targets: BTreeSet<PathBuf> = targets.into_iter().collect();
        let mut current = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        if *current != targets {
            *current = targets;
            self.changed.notify_one();
        }
    }

    fn get(&self) -> BTreeSet<PathBuf> {
        self.targets.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What the watcher shares with the platform it watches.
#[derive(Debug, Clone, Default)]
pub struct WatchHooks {
    /// Files renamed into place, written whole ([`crate::settle`]).
    pub renamed: Renamed,
    /// Targets of symbolically linked manifests, also watched.
    pub links: Links,
}

/// Starts watching `root` (recursively) and the targets in `hooks.links`; reload requests go to
/// `signals`, and files renamed into place are noted in `hooks.renamed`.
pub fn watch(
    root: &Path,
    skip: Vec<PathBuf>,
    signals: mpsc::UnboundedSender<Signal>,
    hooks: WatchHooks,
) -> Result<DirWatch> {
    let notify = Arc::new(Notify::new());
    // Set by every relevant event, cleared by the reload request it causes: events that arrive while
    // a request is being debounced join it instead of asking for a second reload.
    let dirty = Arc::new(AtomicBool::new(false));
    let marked = dirty.clone();
    let repos = Arc::new(Mutex::new(HashMap::new()));
    let followed: Arc<Mutex<BTreeSet<PathBuf>>> = Arc::default();
    let (root_buf, n, seen) = (root.to_path_buf(), notify.clone(), followed.clone());
    let renamed = hooks.renamed.clone();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let is_followed = |p: &PathBuf| seen.lock().unwrap_or_else(|e| e.into_inner()).contains(p);
        // Reading a manifest (as every reload does) is an access event: reacting to it would reload forever.
        if let Ok(event) = res
            && !matches!(event.kind, notify::EventKind::Access(_))
            && event.paths.iter().any(|p| relevant(p, &root_buf, &skip, &repos) || is_followed(p))
        {
            use notify::event::{ModifyKind, RenameMode};
            if let notify::EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) = event.kind
                && let Some(to) = event.paths.last()
            {
                renamed.note(to);
            }
            marked.store(true, Ordering::SeqCst);
            n.notify_one();
        }
    })
    .map_err(|e| LocalError::Watch { path: root.to_path_buf(), reason: e.to_string() })?;
    let watcher = Arc::new(Mutex::new(watcher));
    watcher
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .watch(root, RecursiveMode::Recursive)
        .map_err(|e| LocalError::Watch { path: root.to_path_buf(), reason: e.to_string() })?;
    let links = hooks.links;
    let changed = links.changed.clone();
    let follower = watcher.clone();
    let follow = move || {
        for target in links.get() {
            let new = followed.lock().unwrap_or_else(|e| e.into_inner()).insert(target.clone());
            // The target's directory: editors replace files by renaming, which a watch on the file misses.
            if new && let Some(parent) = target.parent() {
                let watching =
                    follower.lock().unwrap_or_else(|e| e.into_inner()).watch(parent, RecursiveMode::NonRecursive);
                if let Err(e) = watching {
                    tracing::warn!("failed to watch {} (the target of a linked manifest): {e}", parent.display());
                }
            }
        }
    };
    let task = tokio::spawn(async move {
        follow();
        loop {
            tokio::select! {
                _ = notify.notified() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    if dirty.swap(false, Ordering::SeqCst) && signals.send(Signal::Reload).is_err() {
                        return;
                    }
                }
                _ = changed.notified() => follow(),
            }
        }
    });
    Ok(DirWatch { _watcher: watcher, _task: task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ignore_file_is_relevant_and_other_hidden_entries_are_not() {
        let root = Path::new("/p");
        let repos = Mutex::new(HashMap::new());
        let relevant = |p: &str| relevant(Path::new(p), root, &[], &repos);
        assert!(relevant("/p/.waybillignore"), "an edited ignore file changes what counts");
        assert!(!relevant("/p/.hidden.yaml"));
        assert!(!relevant("/p/.git/config"));
        assert!(relevant("/p/works/w.yaml"));
    }

    #[tokio::test]
    async fn reading_a_manifest_is_not_a_change_and_writing_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let file = root.join("w.yaml");
        std::fs::write(&file, "a: 1\n").unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _watch = watch(&root, vec![root.join(".waybill")], tx, WatchHooks::default()).unwrap();
        for _ in 0..5 {
            let _ = std::fs::read_to_string(&file).unwrap();
        }
        let quiet = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
        assert!(quiet.is_err(), "reads must not ask for a reload");
        std::fs::write(&file, "a: 2\n").unwrap();
        let signal = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a write asks for a reload");
        assert_eq!(signal, Some(Signal::Reload));
    }

    #[tokio::test]
    async fn a_burst_of_writes_asks_for_few_reloads_not_one_per_event() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let file = root.join("w.yaml");
        std::fs::write(&file, "a: 0\n").unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _watch = watch(&root, vec![], tx, WatchHooks::default()).unwrap();
        // Each write is a truncation and a write: two events, a hundred in all.
        for n in 0..50 {
            std::fs::write(&file, format!("a: {n}\n")).unwrap();
        }
        let first = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("writes ask for a reload");
        assert_eq!(first, Some(Signal::Reload));
        let mut reloads = 1;
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
            reloads += 1;
        }
        assert!(reloads <= 10, "100 events within a few milliseconds asked for {reloads} reloads");
    }
}
