//! The reconcile loop of embedded mode: a work queue fed by object changes, requeues and reloads,
//! running reconciles concurrently with at most one reconcile per object at a time (as kube-runtime
//! does), until nothing is left to do (`--once`) or until told to stop.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use waybill_core::{Kind, ObjectRef};
use waybill_engine::{Action, Engine, EngineError};

use crate::objects::{Change, ObjectStore};
use waybill_engine::registry::{RegistryEvent, StoreKey};
use waybill_engine::triggers::{store_became_ready, triggers};
use waybill_stores::activity::{Activity, Busy};

/// Counters of a run, for progress output.
#[derive(Debug, Default)]
pub struct RunStats {
    pub reconciles: AtomicU64,
    pub errors: AtomicU64,
    pub queued: AtomicUsize,
    pub running: AtomicUsize,
}

/// What can interrupt a continuous run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Manifests changed on disk.
    Reload,
    Shutdown,
}

/// How a run behaves.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Stop once no reconcile is queued or running (timed requeues are not waited for).
    pub once: bool,
    /// Reconciles in flight at most.
    pub concurrency: usize,
}

/// Reconciles in flight at most, as a multiple of the concurrency: the rest of them parked on a writer.
const PARKED_FACTOR: usize = 8;
/// Reconciles in flight at most whatever the concurrency: a burst of this many joins one batch.
const MIN_IN_FLIGHT: usize = 16_384;

/// Attempts of a failing reconcile in `--once` mode before it is left failing.
const ONCE_ATTEMPTS: u32 = 3;
const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Queue {
    ready: VecDeque<ObjectRef>,
    queued: HashSet<ObjectRef>,
    running: HashSet<ObjectRef>,
    dirty: HashSet<ObjectRef>,
    timers: BTreeMap<(Instant, u64), ObjectRef>,
    seq: u64,
    failures: HashMap<ObjectRef, u32>,
}

impl Queue {
    fn push(&mut self, r: ObjectRef) {
        if r.kind == Kind::Secret {
            return;
        }
        if self.running.contains(&r) {
            self.dirty.insert(r);
        } else if self.queued.insert(r.clone()) {
            self.ready.push_back(r);
        }
    }

    fn schedule(&mut self, r: ObjectRef, after: Duration) {
        self.seq += 1;
        self.timers.insert((Instant::now() + after, self.seq), r);
    }

    fn fire_due_timers(&mut self) {
        let now = Instant::now();
        while let Some((&(at, seq), _)) = self.timers.iter().next() {
            if at > now {
                break;
            }
            if let Some(r) = self.timers.remove(&(at, seq)) {
                self.push(r);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.timers.keys().next().map(|(at, _)| *at)
    }
}

/// The runner; see the module documentation.
pub struct Runner {
    engine: Arc<Engine<ObjectStore>>,
    changes: mpsc::UnboundedReceiver<Change>,
    ready_stores: mpsc::UnboundedReceiver<RegistryEvent>,
    /// Start-up phases still held back: each is released once everything before it settled.
    deferred: VecDeque<(u8, BTreeSet<ObjectRef>)>,
    queue: Queue,
    activity: Activity,
    /// Busy while objects wait in the queue: they may still produce change sets.
    queue_busy: Option<Busy>,
    stats: Arc<RunStats>,
    /// The last failure logged as a warning, when, and how often it repeated since.
    last_warning: Option<(String, Instant, u64)>,
    /// When the manifests must be read again (deletions wait for their change to settle).
    reload_at: Option<Instant>,
}

type Done = (ObjectRef, Result<Action, EngineError>);

impl Runner {
    /// A runner over `engine`, watching its object store from now on.
    pub fn new(engine: Arc<Engine<ObjectStore>>) -> Runner {
        let activity = engine.config.coalescing.activity.clone();
        let changes = engine.cp.watch_counted(activity.clone());
        let ready_stores = engine.stores.watch();
        Runner {
            engine,
            changes,
            ready_stores,
            deferred: VecDeque::new(),
            queue: Queue::default(),
            activity,
            queue_busy: None,
            stats: Arc::new(RunStats::default()),
            last_warning: None,
            reload_at: None,
        }
    }

    pub fn stats(&self) -> Arc<RunStats> {
        self.stats.clone()
    }

    pub fn engine(&self) -> &Arc<Engine<ObjectStore>> {
        &self.engine
    }

    /// Reads the manifests again after `after` (`None`: no reload is due). A run with `once` does not
    /// end before that reload.
    pub fn reload_after(&mut self, after: Option<Duration>) {
        self.reload_at = after.map(|d| Instant::now() + d);
    }

    /// Queues every object, as controllers do when they start, in phases: state stores first (so
    /// Destinations never report a store as not ready merely because it was not reconciled yet), then
    /// Destinations and Works (scheduling, deletions), then the placements nothing touched yet (so a
    /// placement whose Work went away is deleted rather than first rewritten).
    pub fn enqueue_all(&mut self) {
        self.deferred = VecDeque::from([(1, BTreeSet::new()), (2, BTreeSet::new())]);
        for obj in self.engine.cp.snapshot() {
            self.enqueue(obj.object_ref(), false);
        }
    }

    fn drain_changes(&mut self) {
        while let Ok(change) = self.changes.try_recv() {
            self.handle_change(&change);
        }
        while let Ok(event) = self.ready_stores.try_recv() {
            self.registry_event(event);
        }
    }

    /// Queues an object. During start-up an object joins its kind's phase while that phase is held
    /// back, unless `now` (placements the scheduler just made or changed run at once, so they land in
    /// the same commit as the canaries).
    fn enqueue(&mut self, r: ObjectRef, now: bool) {
        let phase = match r.kind {
            Kind::Secret => return,
            Kind::GitStateStore | Kind::BucketStateStore => 0,
            Kind::Destination | Kind::Work => 1,
            Kind::WorkPlacement => 2,
        };
        match self.deferred.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, held)) if !now => {
                held.insert(r);
            }
            _ => self.queue.push(r),
        }
    }

    fn handle_change(&mut self, change: &Change) {
        // Placements the scheduler just made or changed run at once, even during start-up phases.
        let from_scheduling = matches!(change.object.kind(), Kind::Work | Kind::WorkPlacement);
        let triggered = triggers(&*self.engine.cp, change.kind, &change.object);
        tracing::debug!(object = %change.object.object_ref(), kind = ?change.kind, triggered = ?triggered, "change");
        for r in triggered {
            let now = from_scheduling && r.kind == Kind::WorkPlacement;
            self.enqueue(r, now);
        }
        // Count what was queued before the change stops counting, so the activity never dips to idle
        // between the two.
        self.refresh_busy();
        self.activity.leave();
    }

    fn refresh_busy(&mut self) {
        // Deferred start-up phases do not count: they wait for everything else, writers included.
        let pending = !self.queue.ready.is_empty();
        if pending && self.queue_busy.is_none() {
            self.queue_busy = Some(self.activity.busy());
        } else if !pending {
            self.queue_busy = None;
        }
    }

    fn registry_event(&mut self, event: RegistryEvent) {
        match event {
            RegistryEvent::Ready(key) => self.store_ready(&key),
            RegistryEvent::Unreachable(key) => self.queue.push(ObjectRef::cluster(key.kind, &key.name)),
        }
        self.refresh_busy();
    }

    fn store_ready(&mut self, key: &StoreKey) {
        for r in store_became_ready(&*self.engine.cp, &ObjectRef::cluster(key.kind, &key.name)) {
            self.enqueue(r, false);
        }
    }

    fn release_deferred(&mut self) -> bool {
        let Some((_, phase)) = self.deferred.pop_front() else { return false };
        for r in phase {
            self.queue.push(r);
        }
        self.refresh_busy();
        true
    }

    fn update_gauges(&self) {
        self.stats.queued.store(self.queue.ready.len(), Ordering::Relaxed);
        self.stats.running.store(self.queue.running.len(), Ordering::Relaxed);
    }

    /// Runs until quiescent (`once`) or until `signals` says [`Signal::Shutdown`] (or closes).
    /// `on_reload` re-reads the manifests and admits them; it returns when it must run again (held
    /// deletions), if it must.
    pub async fn run(
        &mut self,
        opts: RunOptions,
        mut signals: mpsc::UnboundedReceiver<Signal>,
        mut on_reload: impl FnMut() -> Option<Duration>,
    ) {
        let mut tasks: JoinSet<Done> = JoinSet::new();
        let mut signals_open = true;
        loop {
            self.drain_changes();
            if !opts.once {
                self.queue.fire_due_timers();
            }
            // Queued objects stay counted as busy until every one of them runs in a task of its own.
            self.refresh_busy();
            // The limit is on reconciles doing something: one parked on a state store's writer waits for
            // the batch it joined, and counting it would keep the rest of a burst out of that batch.
            while tasks.len() < (opts.concurrency.max(1) * PARKED_FACTOR).max(MIN_IN_FLIGHT)
                && self.activity.busy_count() <= opts.concurrency.max(1)
            {
                let Some(r) = self.queue.ready.pop_front() else { break };
                self.queue.queued.remove(&r);
                self.queue.running.insert(r.clone());
                let engine = self.engine.clone();
                let busy = self.activity.busy();
                tracing::debug!(object = %r, activity = ?self.activity, "reconciling");
                tasks.spawn(async move {
                    let result = engine.reconcile(&r).await;
                    drop(busy);
                    (r, result)
                });
            }
            self.refresh_busy();
            self.update_gauges();
            if tasks.is_empty() && self.queue.ready.is_empty() {
                self.drain_changes();
                if self.queue.ready.is_empty() && self.release_deferred() {
                    continue;
                }
                if opts.once && self.queue.ready.is_empty() && self.reload_at.is_none() {
                    break;
                }
                if !self.queue.ready.is_empty() {
                    continue;
                }
            }
            let deadline = if opts.once { None } else { self.queue.next_deadline() };
            let reload_at = self.reload_at;
            // Work held back by the concurrency limit starts as soon as a reconcile parks on a writer.
            let held_back = !self.queue.ready.is_empty();
            let activity = self.activity.clone();
            let concurrency = opts.concurrency.max(1);
            // Resumed once a quarter of the limit is free, to start reconciles in groups.
            let resume_at = concurrency - concurrency / 4;
            tokio::select! {
                _ = activity.wait_at_most(resume_at), if held_back && tasks.len() < (concurrency * PARKED_FACTOR).max(MIN_IN_FLIGHT) => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => match done {
                    Ok((r, result)) => self.finish(r, result, opts.once),
                    Err(e) => tracing::error!("a reconcile task failed: {e}"),
                },
                Some(change) = self.changes.recv() => self.handle_change(&change),
                Some(event) = self.ready_stores.recv() => self.registry_event(event),
                signal = signals.recv(), if signals_open => match signal {
                    Some(Signal::Reload) => {
                        let next = on_reload();
                        self.reload_after(next);
                    }
                    Some(Signal::Shutdown) => break,
                    None => signals_open = false,
                },
                _ = sleep_until(deadline), if deadline.is_some() => {}
                _ = sleep_until(reload_at), if reload_at.is_some() => {
                    let next = on_reload();
                    self.reload_after(next);
                }
            }
        }
        // Let reconciles in flight finish so nothing is left half-applied in memory.
        while let Some(done) = tasks.join_next().await {
            if let Ok((r, result)) = done {
                self.finish(r, result, true);
            }
        }
        self.update_gauges();
    }

    fn finish(&mut self, r: ObjectRef, result: Result<Action, EngineError>, once: bool) {
        tracing::debug!(object = %r, activity = ?self.activity, "reconciled");
        self.stats.reconciles.fetch_add(1, Ordering::Relaxed);
        self.queue.running.remove(&r);
        match result {
            Ok(action) => {
                self.queue.failures.remove(&r);
                if let Some(after) = action.requeue_after
                    && !once
                {
                    self.queue.schedule(r.clone(), after);
                }
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                let n = {
                    let n = self.queue.failures.entry(r.clone()).or_default();
                    *n += 1;
                    *n
                };
                self.warn_once(&r, n, &e.to_string());
                if once {
                    if n < ONCE_ATTEMPTS {
                        self.queue.push(r.clone());
                    }
                } else {
                    let backoff = Duration::from_millis(500 * 2u64.saturating_pow(n.min(16))).min(MAX_BACKOFF);
                    self.queue.schedule(r.clone(), backoff);
                }
            }
        }
        if self.queue.dirty.remove(&r) {
            self.queue.push(r);
        }
        self.refresh_busy();
    }
}

impl Runner {
    /// Logs a failed reconcile as a warning, unless the same failure was just logged for another object
    /// (a full disk fails every reconcile the same way): then at debug level, and counted.
    fn warn_once(&mut self, r: &ObjectRef, attempt: u32, message: &str) {
        let now = Instant::now();
        match &mut self.last_warning {
            Some((last, at, repeats)) if last == message && now.duration_since(*at) < WARNING_QUIET => {
                *repeats += 1;
                tracing::debug!(object = %r, attempt, "reconciliation failed: {message}");
            }
            _ => {
                if let Some((last, _, repeats)) = self.last_warning.take()
                    && repeats > 0
                {
                    tracing::warn!("the previous failure happened {repeats} more time(s): {last}");
                }
                tracing::warn!(object = %r, attempt, "reconciliation failed: {message}");
                self.last_warning = Some((message.to_string(), now, 0));
            }
        }
    }
}

/// How long the same failure is logged only once.
const WARNING_QUIET: Duration = Duration::from_secs(10);

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
