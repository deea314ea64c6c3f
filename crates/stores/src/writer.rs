//! One writer task per state store. Reconciles submit change sets and await the result; the task
//! merges everything pending into one revision (compatibility D4) and answers every waiter with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use waybill_core::changeset::ChangeSet;
use waybill_core::layout::StorePath;

use crate::activity::Activity;
use crate::error::StoreError;
use crate::port::BeforeAfter;
use crate::port::{Backend, FileChange};

/// When the writer applies a batch: as soon as no task that could add to it is busy (see
/// [`Activity`]); or once no change set came and no task started for `quiet` (the batch stopped
/// growing, though other work goes on: no global idle moment is needed); and at the latest `max_wait` after the batch's
/// first change set (a bound on staleness while change sets keep coming).
#[derive(Debug, Clone)]
pub struct Coalescing {
    pub activity: Activity,
    pub quiet: Duration,
    pub max_wait: Duration,
    /// Never put more change sets than this in one batch. A batch holds its files decoded, the tree
    /// being edited and its new objects until they are packed: the default, 6,000, bounds that at about
    /// 45 MB and still lands 10,000 Works in two commits (the canaries ride in the first; the
    /// benchmarks in the README).
    pub max_batch: usize,
    /// Once nothing is busy, how long to wait for one more change set before applying. Zero where
    /// every change is counted from the start (the embedded control plane); a Kubernetes watch hands
    /// over a burst one object at a time, with idle moments inside it.
    pub linger: Duration,
}

impl Default for Coalescing {
    fn default() -> Self {
        Coalescing {
            activity: Activity::default(),
            quiet: Duration::from_millis(250),
            max_wait: Duration::from_secs(10),
            max_batch: 6_000,
            linger: Duration::ZERO,
        }
    }
}

/// The next queued command, waiting at most `linger` for one to come.
async fn lingered<T>(rx: &mut mpsc::UnboundedReceiver<T>, linger: Duration) -> Option<T> {
    if linger.is_zero() {
        return rx.try_recv().ok();
    }
    tokio::time::timeout(linger, rx.recv()).await.ok().flatten()
}

/// Counters of one writer, for progress output and benchmarks.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub revisions: AtomicU64,
    pub change_sets: AtomicU64,
    /// Objects uploaded and removed (buckets).
    pub uploads: AtomicU64,
    pub removals: AtomicU64,
    /// Requests sent to the server, when the backend counts them.
    pub requests: Option<Arc<AtomicU64>>,
    /// Time spent applying batches, in microseconds.
    pub busy_micros: AtomicU64,
    /// Change sets queued and not applied yet.
    pub pending: AtomicU64,
}

impl WriterStats {
    pub fn revisions(&self) -> u64 {
        self.revisions.load(Ordering::Relaxed)
    }
    pub fn change_sets(&self) -> u64 {
        self.change_sets.load(Ordering::Relaxed)
    }
    pub fn uploads(&self) -> u64 {
        self.uploads.load(Ordering::Relaxed)
    }
    /// Time spent applying batches.
    pub fn busy(&self) -> Duration {
        Duration::from_micros(self.busy_micros.load(Ordering::Relaxed))
    }
    /// Requests sent so far (0 when the backend does not count them).
    pub fn requests(&self) -> u64 {
        self.requests.as_ref().map(|r| r.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Command {
    Apply(ChangeSet, Reply<Option<String>>),
    Read(StorePath, Reply<Option<Vec<u8>>>),
    List(StorePath, Reply<Vec<StorePath>>),
    CheckPermission(Reply<()>),
    Pending(Reply<Vec<FileChange>>),
    PlannedContents(String, Reply<BeforeAfter>),
}

/// A queued change set; [`PendingWrite::wait`] resolves like [`StoreWriter::submit`].
pub struct PendingWrite {
    rx: oneshot::Receiver<Result<Option<String>, StoreError>>,
    activity: Activity,
}

impl PendingWrite {
    /// Waits for the revision holding the change set (the task counts as not busy meanwhile).
    pub async fn wait(self) -> Result<Option<String>, StoreError> {
        self.activity.parked(self.rx).await.map_err(|_| StoreError::WriterGone)?
    }
}

/// Handle to a store's writer task; cheap to clone. The task ends when the last handle is dropped.
#[derive(Clone)]
pub struct StoreWriter {
    tx: mpsc::UnboundedSender<Command>,
    stats: Arc<WriterStats>,
    activity: Activity,
    /// See [`Backend::keeps_dir_ids`].
    keeps_dir_ids: bool,
}

impl std::fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreWriter").finish_non_exhaustive()
    }
}

impl StoreWriter {
    /// Starts the writer task for `backend` on the current Tokio runtime.
    pub fn spawn(backend: Box<dyn Backend>, coalescing: Coalescing) -> StoreWriter {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats { requests: backend.request_counter(), ..WriterStats::default() });
        let activity = coalescing.activity.clone();
        let keeps_dir_ids = backend.keeps_dir_ids();
        tokio::spawn(run(backend, rx, coalescing, stats.clone()));
        StoreWriter { tx, stats, activity, keeps_dir_ids }
    }

    /// The id the store gives `dir` once it holds exactly `files` (full paths below `dir`), for a later
    /// [`waybill_core::changeset::Op::Unchanged`]; `None` when the store keeps no such ids (buckets) or
    /// the files make no plain directory.
    pub fn dir_id<'a>(
        &self,
        dir: &StorePath,
        files: impl IntoIterator<Item = (&'a StorePath, &'a [u8])>,
    ) -> Option<String> {
        if !self.keeps_dir_ids {
            return None;
        }
        crate::git::tree_hash::dir_id(dir, files).ok().flatten().map(|id| id.to_string())
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| StoreError::WriterGone)?;
        self.activity.parked(rx).await.map_err(|_| StoreError::WriterGone)?
    }

    /// Submits a change set; resolves once it is part of a revision (`Some(version)`), or with `None`
    /// when it changed nothing.
    pub async fn submit(&self, changes: ChangeSet) -> Result<Option<String>, StoreError> {
        self.enqueue(changes)?.wait().await
    }

    /// Queues a change set without waiting: change sets are applied in the order they were queued, so
    /// a caller that queues while holding a lock orders its change against others taken under it.
    pub fn enqueue(&self, changes: ChangeSet) -> Result<PendingWrite, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.stats.pending.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Command::Apply(changes, reply)).is_err() {
            self.stats.pending.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::WriterGone);
        }
        Ok(PendingWrite { rx, activity: self.activity.clone() })
    }

    pub async fn read(&self, path: StorePath) -> Result<Option<Vec<u8>>, StoreError> {
        self.call(|r| Command::Read(path, r)).await
    }

    pub async fn list(&self, dir: StorePath) -> Result<Vec<StorePath>, StoreError> {
        self.call(|r| Command::List(dir, r)).await
    }

    pub async fn check_write_permission(&self) -> Result<(), StoreError> {
        self.call(Command::CheckPermission).await
    }

    /// What a dry-run backend would have changed so far.
    pub async fn pending_changes(&self) -> Result<Vec<FileChange>, StoreError> {
        self.call(Command::Pending).await
    }

    /// In plan mode, a changed file's content before and after (see [`Backend::planned_contents`]).
    pub async fn planned_contents(&self, path: &str) -> Result<BeforeAfter, StoreError> {
        let path = path.to_string();
        self.call(|reply| Command::PlannedContents(path, reply)).await
    }

    pub fn stats(&self) -> &Arc<WriterStats> {
        &self.stats
    }
}

async fn run(
    mut backend: Box<dyn Backend>,
    mut rx: mpsc::UnboundedReceiver<Command>,
    c: Coalescing,
    stats: Arc<WriterStats>,
) {
    let mut deferred: Option<Command> = None;
    loop {
        let first = match deferred.take() {
            Some(cmd) => cmd,
            None => match rx.recv().await {
                Some(cmd) => cmd,
                None => return,
            },
        };
        match first {
            Command::Apply(cs, reply) => {
                let mut batch = vec![(cs, reply)];
                let deadline = Instant::now() + c.max_wait;
                while batch.len() < c.max_batch {
                    let next = match rx.try_recv() {
                        Ok(cmd) => Some(cmd),
                        Err(mpsc::error::TryRecvError::Disconnected) => None,
                        Err(mpsc::error::TryRecvError::Empty) => {
                            // Let tasks woken by this batch's replies or by other stores run first.
                            tokio::task::yield_now().await;
                            if c.activity.is_idle() {
                                lingered(&mut rx, c.linger).await
                            } else {
                                tokio::select! {
                                    cmd = rx.recv() => cmd,
                                    _ = c.activity.wait_idle() => {
                                        tracing::debug!("applying: nothing that could add to the batch is busy");
                                        lingered(&mut rx, c.linger).await
                                    }
                                    _ = c.activity.no_start_for(c.quiet) => {
                                        tracing::debug!(activity = ?c.activity, "applying: no change set came and no task started for a while");
                                        rx.try_recv().ok()
                                    }
                                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                                        tracing::debug!("applying: the batch waited as long as it may");
                                        None
                                    }
                                }
                            }
                        }
                    };
                    match next {
                        Some(Command::Apply(cs, reply)) => batch.push((cs, reply)),
                        Some(other) => {
                            deferred = Some(other);
                            break;
                        }
                        None => break,
                    }
                }
                tracing::debug!(change_sets = batch.len(), activity = ?c.activity, "applying a batch");
                apply_batch(backend.as_mut(), batch, &stats).await;
            }
            Command::Read(path, reply) => {
                let _ = reply.send(backend.read(&path).await);
            }
            Command::List(dir, reply) => {
                let _ = reply.send(backend.list(&dir).await);
            }
            Command::CheckPermission(reply) => {
                let _ = reply.send(backend.check_write_permission().await);
            }
            Command::Pending(reply) => {
                let _ = reply.send(backend.pending_changes().await);
            }
            Command::PlannedContents(path, reply) => {
                let _ = reply.send(backend.planned_contents(&path).await);
            }
        }
    }
}

async fn apply_batch(backend: &mut dyn Backend, batch: Vec<(ChangeSet, Reply<Option<String>>)>, stats: &WriterStats) {
    let (sets, replies): (Vec<ChangeSet>, Vec<Reply<Option<String>>>) = batch.into_iter().unzip();
    stats.batches.fetch_add(1, Ordering::Relaxed);
    stats.change_sets.fetch_add(sets.len() as u64, Ordering::Relaxed);
    stats.pending.fetch_sub(sets.len() as u64, Ordering::Relaxed);
    let started = Instant::now();
    let result = backend.apply(&sets).await;
    stats.busy_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    match result {
        Ok(applied) => {
            if applied.version.is_some() {
                stats.revisions.fetch_add(1, Ordering::Relaxed);
            }
            stats.uploads.fetch_add(applied.uploads, Ordering::Relaxed);
            stats.removals.fetch_add(applied.removals, Ordering::Relaxed);
            let mut outcomes = applied.outcomes.into_iter();
            for reply in replies {
                let outcome = outcomes.next().unwrap_or(Ok(false));
                let _ = reply.send(outcome.map(|changed| if changed { applied.version.clone() } else { None }));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
