//! Embedded mode end to end: a platform directory, its state directory, and the operations the CLI
//! offers on them (run, status, plan).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use waybill_stores::BeforeAfter;

use tokio::sync::mpsc;
use waybill_engine::{ControlPlane, Engine, EngineConfig};
use waybill_stores::FileChange;

use crate::admission::{self, AdmissionReport};
use crate::error::{LocalError, Result};
use crate::loader::Loader;
use crate::objects::ObjectStore;
use crate::persist::{self, DB_FILE};
use crate::runner::{RunOptions, Runner, Signal};
use crate::settle::{DEFAULT_SETTLE, Settler};
use crate::view::{self, StatusView};
use crate::watch::{Links, WatchHooks};

/// Default name of the state directory inside the platform directory.
pub const STATE_DIR: &str = ".waybill";

/// Where a platform's manifests and state live.
#[derive(Debug, Clone)]
pub struct PlatformPaths {
    pub platform: PathBuf,
    pub state_dir: PathBuf,
}

impl PlatformPaths {
    /// Resolves both directories (the state directory defaults to `<platform>/.waybill`).
    pub fn new(platform: &Path, state_dir: Option<&Path>) -> Result<PlatformPaths> {
        let platform = std::fs::canonicalize(platform).map_err(|_| LocalError::NoPlatform(platform.to_path_buf()))?;
        if !platform.is_dir() {
            return Err(LocalError::NoPlatform(platform));
        }
        let state_dir = match state_dir {
            Some(s) if s.is_absolute() => s.to_path_buf(),
            Some(s) => std::env::current_dir().map(|c| c.join(s)).unwrap_or_else(|_| s.to_path_buf()),
            None => platform.join(STATE_DIR),
        };
        Ok(PlatformPaths { platform, state_dir })
    }

    pub fn db(&self) -> PathBuf {
        self.state_dir.join(DB_FILE)
    }
}

/// A running embedded control plane over a platform directory.
pub struct Platform {
    pub paths: PlatformPaths,
    pub engine: Arc<Engine<ObjectStore>>,
    loader: Loader,
    settler: Settler,
    hooks: WatchHooks,
    /// When the last load asked to look again (held deletions).
    next_check: Option<Duration>,
    _lock: Option<File>,
}

impl Platform {
    /// Opens the platform for `run`: takes the state directory's lock and loads its durable state.
    pub fn open(paths: PlatformPaths, config: EngineConfig) -> Result<Platform> {
        std::fs::create_dir_all(&paths.state_dir)
            .map_err(|cause| LocalError::Io { path: paths.state_dir.clone(), cause })?;
        let lock_path = paths.state_dir.join("lock");
        let lock = File::create(&lock_path).map_err(|cause| LocalError::Io { path: lock_path.clone(), cause })?;
        if lock.try_lock().is_err() {
            return Err(LocalError::Locked(paths.state_dir.clone()));
        }
        let (snapshot, persister) = persist::open_for_writing(&paths.db())?;
        let store = Arc::new(ObjectStore::new(snapshot.objects, Some(persister)));
        store.load_written(
            snapshot.written.into_iter().filter_map(|(key, w)| Some((crate::persist::ref_of(&key)?, w))).collect(),
        );
        let mut config = config;
        config.cache_dir.get_or_insert_with(|| waybill_stores::from_spec::cache_dir_in(&paths.state_dir));
        let mut platform = Self::assemble(paths, store, config, Some(lock));
        let known = snapshot.files.into_iter().collect();
        platform.loader =
            Loader::new(&platform.paths.platform, vec![platform.paths.state_dir.clone()]).with_known(known);
        Ok(platform)
    }

    /// Opens the platform for `plan`: state is read, never written, and stores only record changes.
    pub fn open_dry_run(paths: PlatformPaths, mut config: EngineConfig) -> Result<Platform> {
        let objects = match persist::read_only(&paths.db()) {
            Ok(snapshot) => snapshot.objects,
            Err(LocalError::NoState(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        config.dry_run = true;
        config.cache_dir = None;
        let store = Arc::new(ObjectStore::new(objects, None));
        Ok(Self::assemble(paths, store, config, None))
    }

    fn assemble(
        paths: PlatformPaths,
        store: Arc<ObjectStore>,
        mut config: EngineConfig,
        lock: Option<File>,
    ) -> Platform {
        config.base_dir = paths.platform.clone();
        let engine = Arc::new(Engine::new(store, config));
        let loader = Loader::new(&paths.platform, vec![paths.state_dir.clone()]);
        let hooks = WatchHooks::default();
        let settler = Settler::new(&paths.platform, DEFAULT_SETTLE, hooks.renamed.clone());
        Platform { paths, engine, loader, settler, hooks, next_check: None, _lock: lock }
    }

    /// How long a manifest's change must have been stable before the objects it removed are deleted
    /// ([`crate::settle`]); zero deletes at once.
    pub fn set_settle_period(&mut self, period: Duration) {
        self.settler = Settler::new(&self.paths.platform, period, self.hooks.renamed.clone());
    }

    /// What the watcher of the platform directory shares with it (see [`crate::watch::watch`]).
    pub fn watch_hooks(&self) -> WatchHooks {
        self.hooks.clone()
    }

    /// How many manifest files were parsed so far (unchanged files are not parsed again).
    pub fn files_parsed(&self) -> usize {
        self.loader.parsed()
    }

    /// Reads the manifests and admits them.
    pub fn load(&mut self) -> AdmissionReport {
        let report = load_and_admit(&mut self.loader, &self.settler, &self.hooks.links, &self.engine.cp);
        self.next_check = report.next_check;
        report
    }

    /// A runner over this platform's engine.
    pub fn runner(&self) -> Runner {
        Runner::new(self.engine.clone())
    }

    /// Runs with `runner` (from [`Platform::runner`]); reloads manifests on [`Signal::Reload`].
    pub async fn run(
        &mut self,
        runner: &mut Runner,
        opts: RunOptions,
        signals: mpsc::UnboundedReceiver<Signal>,
    ) -> Result<()> {
        runner.enqueue_all();
        runner.reload_after(self.next_check);
        let (loader, settler, links) = (&mut self.loader, &self.settler, &self.hooks.links);
        let store = self.engine.cp.clone();
        runner
            .run(opts, signals, || {
                let started = std::time::Instant::now();
                let report = load_and_admit(loader, settler, links, &store);
                tracing::info!(
                    took = ?started.elapsed(),
                    applied = report.applied,
                    deleted = report.deleted,
                    held = report.held.len(),
                    problems = report.problems.len(),
                    "manifests reloaded"
                );
                report.next_check
            })
            .await;
        // Files read at the start may have been too fresh to trust their stamps then (racily clean).
        if let Some(files) = self.loader.reusable_if_changed() {
            self.engine.cp.record_manifest_files(files);
        }
        self.engine.cp.sync().await.map_err(|e| LocalError::Engine(e.into()))?;
        Ok(())
    }

    /// Deletes a WorkPlacement, as `kubectl delete workplacement` does: its finalizers then run on the
    /// next reconcile (files removed if its Destination still exists), and its Work is scheduled afresh.
    /// The way to move a Work off a misplaced placement in embedded mode (README: Misplaced Works).
    pub async fn delete_placement(&self, namespace: &str, name: &str) -> Result<()> {
        use waybill_engine::ControlPlane;
        match self.engine.cp.delete::<waybill_core::api::WorkPlacement>(namespace, name).await {
            Ok(()) => Ok(()),
            Err(waybill_engine::CpError::NotFound(_)) => Err(LocalError::NoPlacement(format!("{namespace}/{name}"))),
            Err(e) => Err(LocalError::Engine(e.into())),
        }
    }

    /// The status view of what this process holds.
    pub fn status(&self) -> StatusView {
        self.engine.cp.view()
    }

    /// Per state store, the files a dry run changed (only meaningful after [`Platform::open_dry_run`]).
    pub async fn planned_changes(&self) -> Vec<(String, Vec<FileChange>)> {
        let mut out = Vec::new();
        for (key, writer) in self.engine.stores.all() {
            match writer.pending_changes().await {
                Ok(changes) => out.push((key.to_string(), changes)),
                Err(e) => tracing::warn!(store = %key, "failed to compute planned changes: {e}"),
            }
        }
        out
    }

    /// A planned file's content before and after, in the store named `store` as
    /// [`Platform::planned_changes`] names it (`None`: absent, or no such store).
    pub async fn planned_contents(&self, store: &str, path: &str) -> BeforeAfter {
        let Some((_, writer)) = self.engine.stores.all().into_iter().find(|(k, _)| k.to_string() == store) else {
            return (None, None);
        };
        match writer.planned_contents(path).await {
            Ok(contents) => contents,
            Err(e) => {
                tracing::warn!(store, path, "failed to read a planned file: {e}");
                (None, None)
            }
        }
    }

    /// Revisions (commits) made by every store writer of this process.
    pub fn revisions(&self) -> u64 {
        self.engine.stores.all().iter().map(|(_, w)| w.stats().revisions()).sum()
    }
}

/// One load: read what changed, admit it, and say which deletions wait for their change to settle.
fn load_and_admit(loader: &mut Loader, settler: &Settler, links: &Links, store: &ObjectStore) -> AdmissionReport {
    let mut by_source: Option<std::collections::HashMap<String, Vec<waybill_core::ObjectRef>>> = None;
    let loaded = loader.load(&mut |source| {
        // Built once, and only when a file may be taken from the state database unparsed.
        by_source.get_or_insert_with(|| store.refs_by_source()).remove(source).unwrap_or_default()
    });
    links.set(loaded.links.iter().cloned());
    let report = admission::admit(store, &loaded, settler.root(), &|source| settler.wait(source));
    loader.forget(&report.refused_files);
    if let Some(files) = loader.reusable_if_changed() {
        store.record_manifest_files(files);
    }
    if !report.held.is_empty() {
        let held: Vec<String> = report.held.iter().take(5).map(|(id, file)| format!("{id} ({file})")).collect();
        let more = report.held.len().saturating_sub(held.len());
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        let wait = report.next_check.unwrap_or_default();
        tracing::warn!(
            "{} object(s) are missing from their manifests: {}{more}; they are deleted once the change has been \
             stable for {:.1}s more (--settle)",
            report.held.len(),
            held.join(", "),
            wait.as_secs_f64()
        );
    }
    report
}

/// The status view stored in a state directory, read without disturbing a running `waybill run`.
pub fn stored_status(paths: &PlatformPaths) -> Result<StatusView> {
    let state = crate::inspect::Inspection::read(paths)?;
    Ok(view::build(state.objects.iter().map(|(o, _)| o), &state.rejections, &state.problems, true))
}
