//! Shared pieces of the benchmark programs: generating a platform directory, running embedded mode
//! in process, and reading figures (peak memory, commit counts).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use waybill_core::content;
use waybill_engine::EngineConfig;
use waybill_local::{Platform, PlatformPaths, RunOptions};

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
}

/// Runs embedded mode once over `platform`, as `waybill run --once` does.
pub async fn run_once(platform: &Path) -> anyhow::Result<RunFigures> {
    let started = Instant::now();
    let paths = PlatformPaths::new(platform, None)?;
    let mut p = Platform::open(paths, EngineConfig::default())?;
    p.load();
    let mut runner = p.runner();
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    p.run(&mut runner, RunOptions { once: true, concurrency: 4096 }, rx).await?;
    let view = p.status();
    for row in view.not_ready().take(5) {
        if let Some(c) = row.ready() {
            eprintln!("  not ready: {} ({}: {})", row.object, c.reason, c.message);
        }
    }
    for problem in view.problems.iter().take(5) {
        eprintln!("  problem: {problem}");
    }
    Ok(RunFigures { wall: started.elapsed(), commits: p.revisions(), all_ready: view.all_ready() })
}
