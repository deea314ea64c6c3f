//! Burst against a local bare repository: N resource Works of F files over D Destinations, converged
//! by embedded mode in process. Prints wall time, commits and peak memory; then a rerun with nothing
//! changed and a one-Work change.
//!
//! cargo run --release -p waybill-bench --bin burst-local -- [WORKS] [FILES] [DESTINATIONS]

use std::time::Instant;

use waybill_bench::{commit_count, destination_manifests, peak_rss_mib, run_once, work_manifest, write_works};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    waybill_stores::init();
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let works = args.first().copied().unwrap_or(1000);
    let files = args.get(1).copied().unwrap_or(3);
    let dests = args.get(2).copied().unwrap_or(10);
    let dir = tempfile::tempdir()?;
    let platform = dir.path().join("platform");
    let repo = dir.path().join("state.git");
    std::fs::create_dir_all(&platform)?;
    std::fs::write(
        platform.join("store.yaml"),
        format!(
            "apiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata:\n  name: default\nspec:\n  url: {}\n  branch: main\n",
            repo.display()
        ),
    )?;
    std::fs::write(platform.join("destinations.yaml"), destination_manifests(dests, "GitStateStore", "default"))?;
    let t = Instant::now();
    write_works(&platform, works, files, 1)?;
    println!(
        "burst-local: {works} resource Works x {files} files over {dests} Destinations (manifests written in {:.2?})",
        t.elapsed()
    );

    let first = run_once(&platform).await?;
    let after_first = commit_count(&repo, "main");
    println!(
        "burst:     wall {:>8.3}s  commits {:>3}  all Ready: {}  peak RSS {:.1} MiB",
        first.wall.as_secs_f64(),
        after_first,
        first.all_ready,
        peak_rss_mib()
    );

    let rerun = run_once(&platform).await?;
    let after_rerun = commit_count(&repo, "main");
    println!(
        "no change: wall {:>8.3}s  commits {:>3}  all Ready: {}",
        rerun.wall.as_secs_f64(),
        after_rerun - after_first,
        rerun.all_ready
    );

    std::fs::write(platform.join("works/work-00000.yaml"), work_manifest(0, files, 2))?;
    let one = run_once(&platform).await?;
    let after_one = commit_count(&repo, "main");
    println!(
        "one Work:  wall {:>8.3}s  commits {:>3}  all Ready: {}",
        one.wall.as_secs_f64(),
        after_one - after_rerun,
        one.all_ready
    );
    println!("peak RSS over the whole program: {:.1} MiB", peak_rss_mib());
    if !(first.all_ready && rerun.all_ready && one.all_ready) {
        anyhow::bail!("not everything became Ready");
    }
    Ok(())
}
