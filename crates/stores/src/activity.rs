//! How many tasks could still submit a change set. A writer applies its batch as soon as this drops to
//! zero: every reconcile that could add to the batch has either submitted (and waits) or finished, so
//! a burst lands in as few commits as possible and a lone change lands without waiting for a timer.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use tokio::sync::Notify;

#[derive(Default)]
struct Inner {
    count: AtomicIsize,
    idle: Notify,
    /// Notified whenever a task leaves (finishes or parks).
    left: Notify,
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
        self.inner.left.notify_waiters();
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
    /// hears that a task parked on a writer).
    pub async fn wait_at_most(&self, n: usize) {
        loop {
            let left = self.inner.left.notified();
            tokio::pin!(left);
            left.as_mut().enable();
            if self.busy_count() <= n {
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
