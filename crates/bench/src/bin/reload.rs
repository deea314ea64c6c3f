//! What one reload of a platform directory costs in continuous mode: N resource Works (one file
//! each) converged once, then the manifests read and admitted again with nothing changed and with
//! one Work changed, as the watcher asks for after an edit. Prints the median and the slowest of
//! the samples; a reload sits on the path of every change, so it is part of its latency.
//!
//! cargo run --release -p waybill-bench --bin reload -- [WORKS] [SAMPLES] [DESTINATIONS]

use std::time::{Duration, Instant};

use waybill_bench::{run_once, work_manifest, write_local_platform, write_works};
use waybill_engine::EngineConfig;
use waybill_local::{Platform, PlatformPaths};

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let median = samples[samples.len() / 2];
    let slowest = samples[samples.len() - 1];
    format!("median {:>7.3} ms  slowest {:>7.3} ms", median.as_secs_f64() * 1e3, slowest.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = waybill_bench::start();
    let works = args.first().copied().unwrap_or(1000);
    let samples = args.get(1).copied().unwrap_or(50).max(1);
    let dests = args.get(2).copied().unwrap_or(10).max(1);
    let dir = tempfile::tempdir()?;
    let platform = dir.path().join("platform");
    let repo = dir.path().join("state.git");
    write_local_platform(&platform, &repo, dests)?;
    write_works(&platform, works, 3, 1)?;
    run_once(&platform).await?;
    // RERUNS=N: time N more whole `run --once` passes with nothing changed instead (for profiling).
    if let Some(reruns) = std::env::var("RERUNS").ok().and_then(|n| n.parse::<usize>().ok()) {
        let mut walls = Vec::with_capacity(reruns);
        for _ in 0..reruns.max(1) {
            let figures = run_once(&platform).await?;
            anyhow::ensure!(
                figures.commits == 0 && figures.parsed == 0,
                "a rerun with nothing changed wrote or parsed"
            );
            walls.push(figures.wall);
        }
        println!("rerun (nothing changed), {works} Works: {}", summary(walls));
        return Ok(());
    }

    let mut p = Platform::open(PlatformPaths::new(&platform, None)?, EngineConfig::default())?;
    p.load();
    let mut unchanged = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let report = p.load();
        unchanged.push(started.elapsed());
        anyhow::ensure!(report.applied == 0, "nothing changed, yet {} objects were applied", report.applied);
    }
    let mut one_changed = Vec::with_capacity(samples);
    for n in 0..samples {
        std::fs::write(platform.join("works/work-00007.yaml"), work_manifest(7, 3, 100 + n))?;
        let started = Instant::now();
        let report = p.load();
        one_changed.push(started.elapsed());
        anyhow::ensure!(report.applied == 1, "one Work changed, yet {} objects were applied", report.applied);
    }
    println!("reload: {works} resource Works, one file each, {samples} samples");
    println!("nothing changed:  {}", summary(unchanged));
    println!("one Work changed: {}", summary(one_changed));
    Ok(())
}
