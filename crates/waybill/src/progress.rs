//! Progress of a long run: a line redrawn in place on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use waybill_engine::Engine;
use waybill_local::objects::ObjectStore;
use waybill_local::runner::RunStats;

use crate::term::{err, errln};

/// Prints progress until dropped.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
    tty: bool,
}

fn line(stats: &RunStats, engine: &Engine<ObjectStore>, started: Instant) -> String {
    let commits: u64 = engine.stores.all().iter().map(|(_, w)| w.stats().revisions()).sum();
    let changes: u64 = engine.stores.all().iter().map(|(_, w)| w.stats().change_sets()).sum();
    format!(
        "{:>6.1}s  reconciled {}  queued {}  running {}  changes {}  commits {}",
        started.elapsed().as_secs_f64(),
        stats.reconciles.load(Ordering::Relaxed),
        stats.queued.load(Ordering::Relaxed),
        stats.running.load(Ordering::Relaxed),
        changes,
        commits,
    )
}

impl Progress {
    /// Starts reporting on stderr: every 100 ms on a terminal, every 5 s otherwise (only while busy).
    pub fn start(stats: Arc<RunStats>, engine: Arc<Engine<ObjectStore>>) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let period = if tty { Duration::from_millis(100) } else { Duration::from_secs(5) };
            let mut last_reconciles = 0;
            loop {
                tokio::time::sleep(period).await;
                let now = stats.reconciles.load(Ordering::Relaxed);
                let busy = stats.running.load(Ordering::Relaxed) > 0 || stats.queued.load(Ordering::Relaxed) > 0;
                if tty {
                    err!("\r\x1b[2K{}", line(&stats, &engine, started));
                } else if busy || now != last_reconciles {
                    errln!("progress: {}", line(&stats, &engine, started).trim_start());
                }
                last_reconciles = now;
            }
        });
        Progress { task, tty }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        if self.tty {
            err!("\r\x1b[2K");
        }
    }
}
