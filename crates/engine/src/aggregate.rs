//! Serialising `aggregatedYAML` writes per Destination without losing coalescing.
//!
//! Each write of an aggregate lists every placement of the Destination, so one write can stand for all
//! requests made before its listing began. A request takes a ticket, waits for the gate, and skips its
//! own write when a write that listed after its ticket already succeeded.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use waybill_stores::{Activity, StoreError};

#[derive(Default)]
struct Gate {
    issued: AtomicU64,
    /// Ticket covered by the last successful write, and that write's version.
    done: tokio::sync::Mutex<(u64, Option<String>)>,
}

/// One gate per Destination.
#[derive(Default)]
pub(crate) struct AggregateGates {
    gates: Mutex<HashMap<String, Arc<Gate>>>,
}

impl AggregateGates {
    /// Runs `write` unless a write that started after this call already succeeded; returns that
    /// write's version either way.
    pub(crate) async fn write<F, Fut>(
        &self,
        activity: &Activity,
        destination: &str,
        write: F,
    ) -> Result<Option<String>, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<String>, StoreError>>,
    {
        let gate = {
            // A poisoned map is still a valid map.
            let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
            gates.entry(destination.to_string()).or_default().clone()
        };
        let ticket = gate.issued.fetch_add(1, Ordering::SeqCst) + 1;
        // Waiting for a gate someone holds is waiting on a writer: it must not hold a batch open. An
        // uncontended gate is taken without ever looking idle.
        let mut done = match gate.done.try_lock() {
            Ok(done) => done,
            Err(_) => activity.parked(gate.done.lock()).await,
        };
        if done.0 >= ticket {
            return Ok(done.1.clone());
        }
        let covers = gate.issued.load(Ordering::SeqCst);
        let version = write().await?;
        *done = (covers, version.clone());
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_writes_that_started_after_them() {
        let gates = Arc::new(AggregateGates::default());
        let writes = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (gates, writes) = (gates.clone(), writes.clone());
            tasks.push(tokio::spawn(async move {
                gates
                    .write(&Activity::default(), "d", || async {
                        writes.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        Ok(Some("v".to_string()))
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), Some("v".to_string()));
        }
        let n = writes.load(Ordering::SeqCst);
        assert!((1..=3).contains(&n), "50 requests should need at most a few writes, made {n}");
    }
}
