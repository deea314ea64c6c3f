//! What a reconcile asks of the runner afterwards.

use std::time::Duration;

/// Requeue delays shared by all reconcilers (Kratix's: compatibility C17).
pub const FAST_REQUEUE: Duration = Duration::from_secs(5);
pub const DEFAULT_REQUEUE: Duration = Duration::from_secs(15);
pub const SLOW_REQUEUE: Duration = Duration::from_secs(60);

/// The outcome of one reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Action {
    /// Reconcile again after this delay, even if nothing changes.
    pub requeue_after: Option<Duration>,
}

impl Action {
    pub fn done() -> Action {
        Action { requeue_after: None }
    }

    pub fn requeue(after: Duration) -> Action {
        Action { requeue_after: Some(after) }
    }
}
