//! Burst against a Git server over HTTP on loopback (lighttpd + git http-backend, basic auth), on the
//! same server and inputs:
//!   (a) Waybill converging N resource Works of F files over D Destinations (embedded mode, in process);
//!   (b) the same files written the way Kratix writes them: one `git` CLI reset/add/commit/push per
//!       placement (and per canary write) in a persistent clone, fetching at most every 5 s;
//!   (c) the floor: every file added and pushed in one commit with the `git` CLI.
//! Then, in continuous mode, the latency from changing one Work's manifest to its commit being on the
//! server, over 50 changes.
//!
//! cargo run --release -p waybill-bench --bin burst-git-http -- [WORKS] [FILES] [DESTINATIONS] [CHANGES]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use waybill_bench::{destination_manifests, peak_rss_mib, run_once, work_manifest, write_works};
use waybill_engine::EngineConfig;
use waybill_local::{Platform, PlatformPaths, RunOptions, Signal};
use waybill_testsupport::http::{GitHttp, ls_tree, show};

const USER: &str = "bench";
const PASSWORD: &str = "bench-password";

fn git(dir: &Path, args: &[&str]) -> std::io::Result<()> {
    let out = Command::new("git").args(args).current_dir(dir).output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr))));
    }
    Ok(())
}

fn authed(url: &str) -> String {
    url.replacen("http://", &format!("http://{USER}:{PASSWORD}@"), 1)
}

fn commits(repo: &Path) -> usize {
    let out = Command::new("git").args(["rev-list", "--count", "main"]).current_dir(repo).output();
    out.ok().and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(0)
}

fn tip(repo: &Path) -> Option<String> {
    std::fs::read_to_string(repo.join("refs/heads/main")).ok().map(|s| s.trim().to_string())
}

/// Files grouped by the directory a placement owns (or the canary files), as Waybill wrote them.
fn placements_of(repo: &Path) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for file in ls_tree(repo, "main") {
        let content = show(repo, "main", &file).unwrap_or_default();
        let group = if file.contains("kratix-canary") {
            file.split('/').next().unwrap_or_default().to_string() + "/canary"
        } else {
            file.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default()
        };
        out.entry(group).or_default().push((file, content));
    }
    out
}

fn kratix_way(url: &str, placements: &BTreeMap<String, Vec<(String, String)>>) -> std::io::Result<(Duration, usize)> {
    let dir = tempfile::tempdir()?;
    let clone = dir.path().join("clone");
    git(dir.path(), &["clone", "--quiet", &authed(url), "clone"])?;
    git(&clone, &["config", "user.name", "kratix"])?;
    git(&clone, &["config", "user.email", ""])?;
    let started = Instant::now();
    let mut last_fetch = Instant::now();
    let mut pushes = 0;
    for (name, files) in placements {
        if last_fetch.elapsed() >= Duration::from_secs(5) {
            git(&clone, &["fetch", "--quiet", "origin", "main"])?;
            last_fetch = Instant::now();
        }
        let _ = git(&clone, &["reset", "--quiet", "--hard", "origin/main"]);
        for (path, content) in files {
            let full = clone.join(path);
            std::fs::create_dir_all(full.parent().unwrap_or(&clone))?;
            std::fs::write(&full, content)?;
        }
        git(&clone, &["add", "-A"])?;
        git(&clone, &["commit", "--quiet", "-m", &format!("Update from: {name}")])?;
        git(&clone, &["push", "--quiet", "origin", "HEAD:main"])?;
        git(&clone, &["update-ref", "refs/remotes/origin/main", "HEAD"])?;
        pushes += 1;
    }
    Ok((started.elapsed(), pushes))
}

fn floor(url: &str, placements: &BTreeMap<String, Vec<(String, String)>>) -> std::io::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let clone = dir.path().join("clone");
    git(dir.path(), &["clone", "--quiet", &authed(url), "clone"])?;
    let started = Instant::now();
    for (path, content) in placements.values().flatten() {
        let full = clone.join(path);
        std::fs::create_dir_all(full.parent().unwrap_or(&clone))?;
        std::fs::write(&full, content)?;
    }
    git(&clone, &["add", "-A"])?;
    git(&clone, &["-c", "user.name=floor", "-c", "user.email=", "commit", "--quiet", "-m", "all at once"])?;
    git(&clone, &["push", "--quiet", "origin", "HEAD:main"])?;
    Ok(started.elapsed())
}

fn platform(dir: &Path, url: &str, dests: usize) -> anyhow::Result<std::path::PathBuf> {
    let platform = dir.join("platform");
    std::fs::create_dir_all(&platform)?;
    std::fs::write(
        platform.join("store.yaml"),
        format!(
            "apiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata:\n  name: default\nspec:\n  url: {url}\n  branch: main\n  secretRef: {{name: git, namespace: default}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: git, namespace: default}}\nstringData:\n  username: {USER}\n  password: {PASSWORD}\n"
        ),
    )?;
    std::fs::write(platform.join("destinations.yaml"), destination_manifests(dests, "GitStateStore", "default"))?;
    Ok(platform)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = waybill_bench::start();
    let (works, files, dests, changes) = (
        args.first().copied().unwrap_or(1000),
        args.get(1).copied().unwrap_or(3),
        args.get(2).copied().unwrap_or(10),
        args.get(3).copied().unwrap_or(50),
    );
    let server = GitHttp::start(&[(USER, PASSWORD)], false).ok_or_else(|| anyhow::anyhow!("lighttpd is required"))?;
    println!(
        "burst-git-http: {works} resource Works x {files} files over {dests} Destinations, Git over HTTP on 127.0.0.1:{}",
        server.port
    );

    // (a) Waybill.
    let repo_a = server.repo("waybill", "main");
    let dir = tempfile::tempdir()?;
    let platform = platform(dir.path(), &server.url("waybill"), dests)?;
    write_works(&platform, works, files, 1)?;
    let a = run_once(&platform).await?;
    let rss = peak_rss_mib();
    let commits_a = commits(&repo_a);
    println!(
        "(a) waybill:       wall {:>8.3}s  commits {:>5}  pushes {:>5}  all Ready: {}  peak RSS {rss:.1} MiB",
        a.wall.as_secs_f64(),
        commits_a,
        a.commits,
        a.all_ready
    );

    // (b) one commit and push per placement, as Kratix does (about 100 ms a placement: skipped above
    // KRATIX_WAY_MAX placements, 2,000 by default).
    let placements = placements_of(&repo_a);
    let kratix_max: usize = std::env::var("KRATIX_WAY_MAX").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let b = if placements.len() <= kratix_max {
        server.repo("kratix", "main");
        let (b, pushes_b) = kratix_way(&server.url("kratix"), &placements)?;
        println!("(b) kratix way:    wall {:>8.3}s  commits {pushes_b:>5}  pushes {pushes_b:>5}", b.as_secs_f64());
        Some(b)
    } else {
        println!("(b) kratix way:    skipped ({} placements; set KRATIX_WAY_MAX to run it)", placements.len());
        None
    };

    // (c) the floor: one commit, one push.
    server.repo("floor", "main");
    let c = floor(&server.url("floor"), &placements)?;
    println!("(c) floor:         wall {:>8.3}s  commits     1  pushes     1", c.as_secs_f64());
    match b {
        Some(b) => println!(
            "ratio (b)/(a) = {:.1}   ratio (a)/(c) = {:.2}",
            b.as_secs_f64() / a.wall.as_secs_f64(),
            a.wall.as_secs_f64() / c.as_secs_f64()
        ),
        None => println!("ratio (a)/(c) = {:.2}", a.wall.as_secs_f64() / c.as_secs_f64()),
    }

    // Continuous mode: one Work changed at a time, time until its commit is on the server.
    let paths = PlatformPaths::new(&platform, None)?;
    let mut running = Platform::open(paths.clone(), EngineConfig::default())?;
    running.load();
    let mut runner = running.runner();
    let stats = runner.stats();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let skip = vec![paths.state_dir.clone()];
    let watch = waybill_local::watch::watch(&paths.platform, skip, tx.clone(), running.watch_hooks())?;
    let task = tokio::spawn(async move {
        let result = running.run(&mut runner, RunOptions { once: false, concurrency: 4096 }, rx).await;
        drop(watch);
        result
    });
    // Measure the steady state: wait until the start-up pass over every object is over.
    let mut quiet_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let busy = stats.queued.load(std::sync::atomic::Ordering::Relaxed)
            + stats.running.load(std::sync::atomic::Ordering::Relaxed);
        if busy > 0 {
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() > Duration::from_millis(300) {
            break;
        }
    }
    let mut latencies = Vec::with_capacity(changes);
    for n in 0..changes {
        let before = tip(&repo_a);
        let started = Instant::now();
        std::fs::write(platform.join("works/work-00007.yaml"), work_manifest(7, files, 100 + n))?;
        while tip(&repo_a) == before {
            if started.elapsed() > Duration::from_secs(30) {
                anyhow::bail!("change {n} did not reach the server within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        eprintln!("latencies in order (ms): {:?}", latencies.iter().map(|d| d.as_millis()).collect::<Vec<_>>());
    }
    let _ = tx.send(Signal::Shutdown);
    task.await??;
    latencies.sort();
    println!(
        "latency of one change, manifest to commit on the server, over {changes} changes: median {:.0} ms  p99 {:.0} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0
    );
    Ok(())
}
