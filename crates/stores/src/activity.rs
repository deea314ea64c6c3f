//! How many tasks could still submit a change set. A writer applies its batch as soon as this drops to
//! zero: every reconcile that could add to the batch has either submitted (and waits) or finished, so
//! a burst lands in as few commits as possible and a lone change lands without waiting for a timer.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

struct Inner {
    count: AtomicIsize,
    /// Tasks that became busy so far (a parked task resuming is not a new one).
    starts: AtomicU64,
    idle: Notify,
    /// Notified when a task leaves (finishes or parks) and at most `wake_at` tasks stay busy.
    left: Notify,
    /// The count [`Activity::wait_at_most`] waits for; negative while nobody waits. Only leaving at
    /// or below it wakes the waiter: a runner at its concurrency limit hears one wake for a group of
    /// finished reconciles, not one per reconcile (thousands of cross-thread wakes in a burst).
    wake_at: AtomicIsize,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            count: AtomicIsize::new(0),
            starts: AtomicU64::new(0),
            idle: Notify::new(),
            left: Notify::new(),
            wake_at: AtomicIsize::new(-1),
        }
    }
}

/// Shared count of busy tasks; see the module documentation. Without any counted task it is idle.
#[derive(Clone, Default)]
pub struct Activity {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activity").field("count", &self.inner.count.load(Ordering::SeqCst)).finish()
    }
}

/// Counts as one busy task until dropped.
#[must_use]
pub struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.leave();
    }
}

impl Activity {
    /// A new task is busy: it could submit a change set.
    pub fn enter(&self) {
        self.inner.starts.fetch_add(1, Ordering::SeqCst);
        self.resume();
    }

    /// A parked task is busy again: it was counted when it started.
    fn resume(&self) {
        self.inner.count.fetch_add(1, Ordering::SeqCst);
    }

    pub fn leave(&self) {
        let before = self.inner.count.fetch_sub(1, Ordering::SeqCst);
        if before - 1 <= self.inner.wake_at.load(Ordering::SeqCst) {
            self.inner.left.notify_waiters();
        }
        if before <= 1 {
            self.inner.idle.notify_waiters();
        }
    }

    /// One busy task for as long as the guard lives.
    pub fn busy(&self) -> Busy {
        self.enter();
        Busy(self.clone())
    }

    /// How many tasks are busy now (parked ones are not).
    pub fn busy_count(&self) -> usize {
        self.inner.count.load(Ordering::SeqCst).max(0) as usize
    }

    pub fn is_idle(&self) -> bool {
        self.inner.count.load(Ordering::SeqCst) <= 0
    }

    /// Runs `fut` with the current task counted as not busy: it waits on a writer (or on a task that
    /// does) and cannot add to a batch meanwhile. A task parks once at a time: two waits parked side by
    /// side would count it out twice and let a batch go before others submitted.
    pub async fn parked<F: Future>(&self, fut: F) -> F::Output {
        struct Resume(Activity);
        impl Drop for Resume {
            fn drop(&mut self) {
                self.0.resume();
            }
        }
        self.leave();
        let _resume = Resume(self.clone());
        fut.await
    }

    /// Resolves once at most `n` tasks are busy (a runner holding work back for a concurrency limit
    /// hears that tasks finished or parked on a writer). One waiter at a time.
    pub async fn wait_at_most(&self, n: usize) {
        struct Done<'a>(&'a AtomicIsize);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(-1, Ordering::SeqCst);
            }
        }
        let _done = Done(&self.inner.wake_at);
        let n = isize::try_from(n).unwrap_or(isize::MAX);
        loop {
            let left = self.inner.left.notified();
            tokio::pin!(left);
            left.as_mut().enable();
            // Published before the count is read: a task leaving after this read sees the threshold.
            self.inner.wake_at.store(n, Ordering::SeqCst);
            if self.inner.count.load(Ordering::SeqCst) <= n {
                return;
            }
            left.await;
        }
    }

    /// Resolves once no task has started for `quiet`. What is busy then was busy before: if none of it
    /// submitted meanwhile, a batch stopped growing although other work goes on. A burst keeps starting
    /// reconciles (and, under Kubernetes, watch events and the re-reconciles their status updates
    /// cause) however slowly a loaded machine lets them submit, so it does not read as stopped.
    pub async fn no_start_for(&self, quiet: Duration) {
        let mut seen = self.inner.starts.load(Ordering::SeqCst);
        loop {
            tokio::time::sleep(quiet).await;
            let now = self.inner.starts.load(Ordering::SeqCst);
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    /// Resolves once no task is busy.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_idle() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Whether `fut` resolves within a short while.
    async fn resolves<F: Future>(fut: F) -> bool {
        tokio::time::timeout(Duration::from_millis(50), fut).await.is_ok()
    }

    #[tokio::test]
    async fn a_waiter_for_at_most_n_busy_tasks_wakes_when_enough_of_them_left_and_not_before() {
        let activity = Activity::default();
        let busy: Vec<Busy> = (0..10).map(|_| activity.busy()).collect();
        let mut busy = busy.into_iter();
        let waiter = {
            let activity = activity.clone();
            tokio::spawn(async move { activity.wait_at_most(7).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Two leave: nine, then eight stay busy, above the threshold.
        drop(busy.next());
        drop(busy.next());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "woke with 8 busy, waiting for at most 7");
        drop(busy.next());
        assert!(resolves(waiter).await, "did not wake with 7 busy");
        // Nobody waits any more: leaving wakes nothing, and a new wait already met returns at once.
        assert!(resolves(activity.wait_at_most(7)).await);
        let rest: Vec<Busy> = busy.collect();
        assert_eq!(activity.busy_count(), rest.len());
    }

    #[tokio::test(start_paused = true)]
    async fn no_start_for_waits_while_tasks_keep_starting_and_resolves_once_they_stop() {
        let activity = Activity::default();
        let _long = activity.busy();
        let waiter = {
            let activity = activity.clone();
            tokio::spawn(async move {
                activity.no_start_for(Duration::from_millis(250)).await;
                tokio::time::Instant::now()
            })
        };
        let began = tokio::time::Instant::now();
        // A short task starts every 100 ms for two seconds.
        for _ in 0..20 {
            drop(activity.busy());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!waiter.is_finished(), "resolved while tasks kept starting");
        let resolved = waiter.await.unwrap();
        let after = resolved - began;
        assert!(after >= Duration::from_millis(2_000), "resolved {after:?} after the first start");
        assert!(after <= Duration::from_millis(2_600), "took {after:?}: at most two windows after the last start");
    }

    #[tokio::test(start_paused = true)]
    async fn a_parked_task_resuming_is_not_a_start() {
        let activity = Activity::default();
        let _long = activity.busy();
        let parked = {
            let activity = activity.clone();
            tokio::spawn(async move {
                let _busy = activity.busy();
                activity.parked(tokio::time::sleep(Duration::from_millis(100))).await;
                tokio::time::sleep(Duration::from_secs(10)).await;
            })
        };
        tokio::task::yield_now().await;
        let began = tokio::time::Instant::now();
        activity.no_start_for(Duration::from_millis(250)).await;
        assert!(began.elapsed() <= Duration::from_millis(300), "the resume counted as a start");
        assert_eq!(activity.busy_count(), 2, "the resumed task is busy again");
        parked.abort();
    }
}
