//! How many tasks could still submit a change set. A writer applies its batch as soon as this drops to
//! zero: every reconcile that could add to the batch has either submitted (and waits) or finished, so
//! a burst lands in as few commits as possible and a lone change lands without waiting for a timer.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use tokio::sync::Notify;

struct Inner {
    count: AtomicIsize,
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
        Inner { count: AtomicIsize::new(0), idle: Notify::new(), left: Notify::new(), wake_at: AtomicIsize::new(-1) }
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
    pub fn enter(&self) {
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
                self.0.enter();
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
}
