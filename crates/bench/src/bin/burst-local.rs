//! Burst against a local bare repository: N resource Works of F files over D Destinations, converged
//! by embedded mode in process (the CLI's default concurrency). Prints wall and CPU time, commits and
//! peak memory; the git CLI floor for the same tree in the same run (add, commit and push of the files
//! already on disk); then a rerun with nothing changed (the median of `RERUNS` runs, 3 by default) and
//! a one-Work change. The last line is the
//! figures as `key=value` pairs, for the `scale` program.
//!
//! cargo run --release -p waybill-bench --bin burst-local -- [WORKS] [FILES] [DESTINATIONS]

use std::time::{Duration, Instant};

use waybill_bench::{
    commit_count, cpu_time, git_cli_floor, peak_rss_mib, run_once, work_manifest, write_local_platform, write_works,
};

/// Sets every manifest's modification time a minute back, as files written before a run are: a file
/// changed within the last two seconds is always parsed again (Git's "racily clean" rule).
fn age(dir: &std::path::Path) -> std::io::Result<()> {
    let then = std::time::SystemTime::now() - Duration::from_secs(60);
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            age(&path)?;
        } else {
            std::fs::File::options().write(true).open(&path)?.set_modified(then)?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = waybill_bench::start();
    let works = args.first().copied().unwrap_or(1000);
    let files = args.get(1).copied().unwrap_or(3);
    let dests = args.get(2).copied().unwrap_or(10);
    let dir = tempfile::tempdir()?;
    let platform = dir.path().join("platform");
    let repo = dir.path().join("state.git");
    write_local_platform(&platform, &repo, dests)?;
    let t = Instant::now();
    write_works(&platform, works, files, 1)?;
    age(&platform)?;
    println!(
        "burst-local: {works} resource Works x {files} files over {dests} Destinations (manifests written in {:.2?})",
        t.elapsed()
    );

    let cpu = cpu_time();
    let first = run_once(&platform).await?;
    let first_cpu = cpu_time() - cpu;
    let first_peak = peak_rss_mib();
    let after_first = commit_count(&repo, "main");
    println!(
        "burst:     wall {:>8.3}s  cpu {:>8.3}s  commits {:>3}  all Ready: {}  peak RSS {:.1} MiB",
        first.wall.as_secs_f64(),
        first_cpu.as_secs_f64(),
        after_first,
        first.all_ready,
        first_peak
    );
    // BURST_ONLY=1 stops here: a memory or CPU profile of the burst alone.
    if std::env::var_os("BURST_ONLY").is_some() {
        return Ok(());
    }
    // SKIP_FLOOR=1 leaves the floor out (its ratios print as inf): quicker while profiling reruns.
    let floor = if std::env::var_os("SKIP_FLOOR").is_some() { Duration::ZERO } else { git_cli_floor(&repo, "main")? };
    println!(
        "floor:     wall {:>8.3}s  (git add, commit and push of the same files, already on disk)  ratio waybill/floor = {:.2}",
        floor.as_secs_f64(),
        first.wall.as_secs_f64() / floor.as_secs_f64()
    );

    // The rerun is the median of RERUNS runs (3 by default): this VM's disk makes single runs noisy.
    let reruns: usize = std::env::var("RERUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let mut samples = Vec::with_capacity(reruns);
    for _ in 0..reruns {
        let cpu = cpu_time();
        let run = run_once(&platform).await?;
        samples.push((run, cpu_time() - cpu));
    }
    samples.sort_by_key(|(run, _)| run.wall);
    let (rerun, rerun_cpu) = samples.swap_remove(reruns / 2);
    let after_rerun = commit_count(&repo, "main");
    println!(
        "no change: wall {:>8.3}s  cpu {:>8.3}s  commits {:>3}  files parsed {:>5}  placements decoded {:>5}  all Ready: {}  ({:.2} of the floor; median of {reruns})",
        rerun.wall.as_secs_f64(),
        rerun_cpu.as_secs_f64(),
        after_rerun - after_first,
        rerun.parsed,
        rerun.decoded,
        rerun.all_ready,
        rerun.wall.as_secs_f64() / floor.as_secs_f64()
    );

    std::fs::write(platform.join("works/work-00000.yaml"), work_manifest(0, files, 2))?;
    let one = run_once(&platform).await?;
    let after_one = commit_count(&repo, "main");
    println!(
        "one Work:  wall {:>8.3}s  commits {:>3}  files parsed {:>5}  all Ready: {}",
        one.wall.as_secs_f64(),
        after_one - after_rerun,
        one.parsed,
        one.all_ready
    );
    println!("peak RSS over the whole program: {:.1} MiB", peak_rss_mib());
    println!(
        "figures: works={works} wall={:.3} cpu={:.3} commits={after_first} peak_mib={first_peak:.1} floor={:.3} rerun={:.3} rerun_parsed={}",
        first.wall.as_secs_f64(),
        first_cpu.as_secs_f64(),
        floor.as_secs_f64(),
        rerun.wall.as_secs_f64(),
        rerun.parsed
    );
    if !(first.all_ready && rerun.all_ready && one.all_ready) {
        anyhow::bail!("not everything became Ready");
    }
    Ok(())
}
