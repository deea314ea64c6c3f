//! Shared pieces of the benchmark programs: generating a platform directory, running embedded mode
//! in process, and reading figures (peak memory, commit counts).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use waybill_core::content;
use waybill_engine::EngineConfig;
use waybill_local::{Platform, PlatformPaths, RunOptions};

/// The allocator the `waybill` binary ships with, so the programs measure what users run. The
/// `system-allocator` feature keeps the system's, which heap profilers (heaptrack) can follow.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Frees memory back to the system after 10 ms, as the `waybill` binary does (its `main.rs` says why).
fn return_freed_memory_promptly() {
    #[cfg(not(feature = "system-allocator"))]
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one process-wide option; `mi_option_purge_delay` is 15 in mimalloc.h.
        unsafe { libmimalloc_sys::mi_option_set(15, 10) };
    }
}

/// What every benchmark program does first: initialise libgit2 (before the runtime's threads) and
/// logging ([`init_log`]); returns the program's numeric arguments, in order.
pub fn start() -> Vec<usize> {
    return_freed_memory_promptly();
    waybill_stores::init();
    init_log();
    std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect()
}

/// `BENCH_LOG=<filter>` (e.g. `waybill_stores=debug`) shows what a benchmark program does, with
/// timestamps, on standard error.
pub fn init_log() {
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
}

/// Peak resident memory of this process so far (`VmHWM`), in MiB.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU time (user and system) this process used so far.
pub fn cpu_time() -> Duration {
    // Fields 14 and 15 of /proc/self/stat, after the command name in parentheses, in clock ticks.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    // Counted by position: `after` starts at field 3 (the state), so utime and stime are its 12th and
    // 13th. (Skipping what does not parse as unsigned miscounted: `tpgid` is -1 without a terminal.)
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

/// The git CLI floor for what Waybill wrote to `repo`: the same tree, already checked out (not timed),
/// added, committed and pushed to a new bare repository in one go. Returns the time of those three.
pub fn git_cli_floor(repo: &Path, branch: &str) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let (work, bare) = (dir.path().join("work"), dir.path().join("floor.git"));
    std::fs::create_dir_all(&work)?;
    let run = |cwd: &Path, args: &[&str]| -> anyhow::Result<()> {
        let out = std::process::Command::new("git").args(args).current_dir(cwd).output()?;
        anyhow::ensure!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    };
    let git_dir = format!("--git-dir={}", repo.display());
    let work_tree = format!("--work-tree={}", work.display());
    run(dir.path(), &[&git_dir, &work_tree, "checkout", "-f", branch, "--", "."])?;
    run(dir.path(), &["init", "--quiet", "--bare", "floor.git"])?;
    run(&work, &["init", "--quiet"])?;
    let started = Instant::now();
    run(&work, &["add", "-A"])?;
    run(&work, &["-c", "user.name=floor", "-c", "user.email=", "commit", "--quiet", "-m", "all at once"])?;
    run(&work, &["push", "--quiet", bare.to_str().unwrap_or_default(), "HEAD:refs/heads/main"])?;
    Ok(started.elapsed())
}

/// Commits on `branch` of the repository at `repo` (0 when the branch does not exist).
pub fn commit_count(repo: &Path, branch: &str) -> usize {
    let Ok(repo) = git2::Repository::open(repo) else { return 0 };
    let Ok(mut walk) = repo.revwalk() else { return 0 };
    if walk.push_ref(&format!("refs/heads/{branch}")).is_err() {
        return 0;
    }
    walk.count()
}

/// One document of roughly `size` bytes for Work `i`, file `f`.
pub fn document(i: usize, f: usize, size: usize, generation: usize) -> String {
    let mut doc = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: burst-{i}-{f}\n  namespace: default\ndata:\n  generation: \"{generation}\"\n"
    );
    let mut n = 0;
    while doc.len() < size {
        let _ = writeln!(doc, "  key{n}: value-{i}-{f}-{n}");
        n += 1;
    }
    doc
}

/// The manifest of resource Work `i` with `files` files, content in Kratix's encoding.
pub fn work_manifest(i: usize, files: usize, generation: usize) -> String {
    let mut out = format!(
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata:\n  name: burst-{i}\n  namespace: default\n  labels:\n    kratix.io/pipeline-name: instance-configure\nspec:\n  promiseName: burst\n  resourceName: burst-{i}\n  workloadGroups:\n  - directory: .\n    destinationSelectors:\n    - matchLabels:\n        bench: burst\n      source: promise\n    workloads:\n"
    );
    for f in 0..files {
        let _ = write!(
            out,
            "    - filepath: file-{f}.yaml\n      content: {}\n",
            content::encode(document(i, f, 300, generation).as_bytes())
        );
    }
    out
}

/// Destinations `dest-0 … dest-{n-1}` on GitStateStore `store`, all labelled `bench: burst`.
pub fn destination_manifests(n: usize, store_kind: &str, store: &str) -> String {
    (0..n)
        .map(|d| {
            format!(
                "---\napiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata:\n  name: dest-{d}\n  labels:\n    bench: burst\nspec:\n  stateStoreRef:\n    kind: {store_kind}\n    name: {store}\n"
            )
        })
        .collect()
}

/// Writes a platform directory's store (a local bare repository at `repo`) and `dests` Destinations
/// labelled `bench: burst`.
pub fn write_local_platform(platform: &Path, repo: &Path, dests: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(platform)?;
    std::fs::write(
        platform.join("store.yaml"),
        format!(
            "apiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata:\n  name: default\nspec:\n  url: {}\n  branch: main\n",
            repo.display()
        ),
    )?;
    std::fs::write(platform.join("destinations.yaml"), destination_manifests(dests, "GitStateStore", "default"))
}

/// Writes the burst: one file per Work under `platform/works/`.
pub fn write_works(platform: &Path, works: usize, files: usize, generation: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(platform.join("works"))?;
    for i in 0..works {
        std::fs::write(platform.join(format!("works/work-{i:05}.yaml")), work_manifest(i, files, generation))?;
    }
    Ok(())
}

/// The outcome of one embedded `run --once` in process.
pub struct RunFigures {
    pub wall: Duration,
    pub commits: u64,
    pub all_ready: bool,
    /// Manifest files parsed (unchanged ones are not).
    pub parsed: usize,
    /// Placements whose files were decoded to be written (a rerun's unchanged ones are only checked).
    pub decoded: u64,
}

/// Runs embedded mode once over `platform`, as `waybill run --once` does.
pub async fn run_once(platform: &Path) -> anyhow::Result<RunFigures> {
    let started = Instant::now();
    let cpu = cpu_time();
    let paths = PlatformPaths::new(platform, None)?;
    let mut p = Platform::open(paths, EngineConfig::default())?;
    let opened = started.elapsed();
    p.load();
    let loaded = started.elapsed();
    let mut runner = p.runner();
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    p.run(&mut runner, RunOptions { once: true, concurrency: 1024 }, rx).await?;
    tracing::info!(?opened, ?loaded, ran = ?started.elapsed(), cpu = ?(cpu_time() - cpu), "run_once phases");
    let view = p.status();
    for row in view.not_ready().take(5) {
        if let Some(c) = row.ready() {
            eprintln!("  not ready: {} ({}: {})", row.object, c.reason, c.message);
        }
    }
    for problem in view.problems.iter().take(5) {
        eprintln!("  problem: {problem}");
    }
    Ok(RunFigures {
        wall: started.elapsed(),
        commits: p.revisions(),
        all_ready: view.all_ready(),
        parsed: p.files_parsed(),
        decoded: p.engine.placements_decoded(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The figure the programs print as `cpu` is this process's CPU time, over all its threads: two
    /// threads spinning for 400 ms each add far more than the 100 ms asserted, even on a loaded machine
    /// (a miscount of the fields once printed system time and children's time instead, close to zero).
    #[test]
    fn cpu_time_counts_what_every_thread_of_the_process_used() {
        let spin = || {
            let started = Instant::now();
            let mut n = 0u64;
            while started.elapsed() < Duration::from_millis(400) {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        };
        let before = cpu_time();
        std::thread::scope(|s| {
            s.spawn(spin);
            spin();
        });
        let used = cpu_time() - before;
        assert!(used >= Duration::from_millis(100), "two threads spinning 400 ms each counted {used:?}");
        assert!(used <= Duration::from_secs(5), "counted {used:?} for at most 0.8 s of spinning");
    }
}
