//! Progress of a long run: a bar with totals, rate and ETA on a terminal (log lines are printed above
//! it, never through it), plain lines every 5 s otherwise.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use waybill_engine::Engine;
use waybill_local::objects::ObjectStore;
use waybill_local::runner::RunStats;

use crate::term::errln;

/// The bar on screen, if any: log lines are written while it is hidden.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Prints progress until dropped.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
}

/// What the counters say at one moment.
struct Snapshot {
    done: u64,
    queued: u64,
    running: u64,
    changes: u64,
    commits: u64,
}

impl Snapshot {
    fn take(stats: &RunStats, engine: &Engine<ObjectStore>) -> Snapshot {
        let writers = engine.stores.all();
        Snapshot {
            done: stats.reconciles.load(Ordering::Relaxed),
            queued: stats.queued.load(Ordering::Relaxed) as u64,
            running: stats.running.load(Ordering::Relaxed) as u64,
            changes: writers.iter().map(|(_, w)| w.stats().change_sets()).sum(),
            commits: writers.iter().map(|(_, w)| w.stats().revisions()).sum(),
        }
    }

    fn total(&self) -> u64 {
        self.done + self.queued + self.running
    }
}

/// One plain line: counts, rate and the time the queue needs at that rate.
fn plain_line(s: &Snapshot, started: Instant) -> String {
    let elapsed = started.elapsed().as_secs_f64();
    let rate = if elapsed > 0.0 { s.done as f64 / elapsed } else { 0.0 };
    let left = s.queued + s.running;
    let eta = if rate > 0.0 && left > 0 { format!("  ETA {:.0}s", left as f64 / rate) } else { String::new() };
    format!(
        "{elapsed:.1}s  reconciled {}/{}  {rate:.0}/s{eta}  running {}  changes {}  commits {}",
        s.done,
        s.total(),
        s.running,
        s.changes,
        s.commits
    )
}

impl Progress {
    /// Starts reporting on stderr: a bar redrawn every 100 ms on a terminal, a line every 5 s
    /// otherwise (only while busy).
    pub fn start(stats: Arc<RunStats>, engine: Arc<Engine<ObjectStore>>) -> Progress {
        let started = Instant::now();
        if !std::io::stderr().is_terminal() {
            let task = tokio::spawn(async move {
                let mut last = 0;
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    let s = Snapshot::take(&stats, &engine);
                    if s.running > 0 || s.queued > 0 || s.done != last {
                        errln!("progress: {}", plain_line(&s, started));
                    }
                    last = s.done;
                }
            });
            return Progress { task, bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10));
        // The template is a constant: it always parses.
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed:>3} [{bar:16}] {pos}/{len} reconciled {rate:>6} ETA {eta:>3} {msg}")
        {
            let rate = |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            };
            bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
        }
        *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            loop {
                let s = Snapshot::take(&stats, &engine);
                shown.set_length(s.total());
                shown.set_position(s.done);
                shown.set_message(format!("changes {} commits {}", s.changes, s.commits));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Progress { task, bar: Some(bar) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Where log lines go: standard error, above the progress bar when one is shown.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_has_totals_rate_and_eta() {
        let s = Snapshot { done: 100, queued: 300, running: 0, changes: 90, commits: 1 };
        let line = plain_line(&s, Instant::now() - Duration::from_secs(10));
        assert!(line.contains("reconciled 100/400"), "{line}");
        assert!(line.contains(" 10/s"), "{line}");
        assert!(line.contains("ETA 30s"), "{line}");
        assert!(line.contains("changes 90  commits 1"), "{line}");
        let idle = plain_line(&Snapshot { queued: 0, ..s }, Instant::now() - Duration::from_secs(10));
        assert!(!idle.contains("ETA"), "nothing left, no ETA: {idle}");
    }
}
