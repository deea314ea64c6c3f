//! The one thread a Git backend's libgit2 work runs on. On the runtime's blocking pool a batch can
//! run on any of its threads, and the allocator keeps memory a thread freed for that thread, so the
//! next batch, on another thread, may not reuse it. With the pool, 10,000 Works peaked anywhere from
//! 177 to 198 MiB from run to run with the same heap; on one thread, 180 to 182 MiB (the README's
//! scale table). Which thread each batch ran on was not traced: the pool limited to one thread gave
//! the same narrow range.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::error::StoreError;

type Job = Box<dyn FnOnce() + Send>;

/// A backend's thread; it ends when the handle is dropped.
pub(super) struct GitThread {
    jobs: mpsc::Sender<Job>,
}

impl GitThread {
    pub(super) fn spawn(name: &str) -> Result<GitThread, StoreError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                for job in rx {
                    // A panicking job drops its reply, which its caller reports; the thread goes on.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                }
            })
            .map_err(|e| StoreError::Other(format!("failed to start the git writer's thread: {e}")))?;
        Ok(GitThread { jobs })
    }

    /// Runs `f` on the thread and waits for it without blocking the runtime.
    pub(super) async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(f());
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Other("failed to run a git operation: the writer's thread has stopped".into()))?;
        rx.await.map_err(|_| StoreError::Other("failed to run a git operation: it panicked".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_job_runs_on_the_same_thread_and_a_panic_stops_only_its_own_job() {
        let t = GitThread::spawn("waybill-git-test").unwrap();
        let first = t.run(|| std::thread::current().id()).await.unwrap();
        let panicked = t.run(|| -> u32 { panic!("boom") }).await;
        assert!(matches!(&panicked, Err(StoreError::Other(m)) if m.contains("panicked")), "{panicked:?}");
        let after = t.run(|| std::thread::current().id()).await.unwrap();
        assert_eq!(first, after, "one thread, still running after a panic");
        assert_ne!(first, std::thread::current().id());
        assert_eq!(
            t.run(|| std::thread::current().name().map(String::from)).await.unwrap().as_deref(),
            Some("waybill-git-test")
        );
    }
}
