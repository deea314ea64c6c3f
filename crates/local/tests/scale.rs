//! The behaviour that makes large platforms fast, proved by counting (never by timing): a burst larger
//! than the concurrency still lands in a few commits, and a rerun over unchanged manifests parses
//! nothing. (The memory an object costs is measured in `memory.rs`, a test binary of its own.)

mod common;

use common::*;
use waybill_core::api::*;
use waybill_engine::EngineConfig;
use waybill_local::{Platform, PlatformPaths, RunOptions};

/// More objects than the concurrency allows at once, and still at most three commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_the_concurrency_lands_in_at_most_three_commits() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    for d in 0..4 {
        h.apply(destination(&format!("d{d}"), "store", &format!("d{d}"), &[("env", "dev")]));
    }
    configmap_works(&h, 0, 300);
    h.converge_with(8).await;
    let placements = h.list::<WorkPlacement>().await;
    assert_eq!(placements.len(), 300);
    assert!(placements.iter().all(|p| ready_of(p.conditions()).is_some_and(|r| r.0 == "True")));
    let commits = h.commits("store");
    let subjects: Vec<String> = commit_messages(&h.repo_path("store"), "main")
        .iter()
        .map(|m| m.lines().next().unwrap_or("").to_string())
        .collect();
    assert!((1..=3).contains(&commits), "300 Works at concurrency 8 took {commits} commits: {subjects:?}");
}

/// A platform of one Git store, one Destination and `works` one-file Works, its manifests written a
/// while ago (a file changed within two seconds is always read again: racily clean).
fn small_platform(works: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let platform = dir.path().join("platform");
    std::fs::create_dir_all(platform.join("works")).unwrap();
    std::fs::write(
        platform.join("store.yaml"),
        "apiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata: {name: s}\nspec: {url: state.git}\n---\n\
         apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: d, labels: {env: dev}}\n\
         spec:\n  stateStoreRef: {kind: GitStateStore, name: s}\n",
    )
    .unwrap();
    for i in 0..works {
        std::fs::write(
            platform.join(format!("works/w{i}.yaml")),
            format!(
                "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {{name: w{i}, namespace: default}}\n\
                 spec:\n  promiseName: p\n  resourceName: r{i}\n  workloadGroups:\n  - destinationSelectors: [{{matchLabels: {{env: dev}}}}]\n    \
                 workloads: [{{filepath: cm.yaml, content: \"i: {i}\"}}]\n"
            ),
        )
        .unwrap();
    }
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for entry in std::fs::read_dir(platform.join("works")).unwrap().chain(std::fs::read_dir(&platform).unwrap()) {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::File::options().write(true).open(&path).unwrap().set_modified(then).unwrap();
        }
    }
    (dir, platform)
}

/// What one `run --once` over `platform` did.
struct Ran {
    parsed: usize,
    revisions: u64,
    decoded: u64,
}

async fn run_once(platform: &std::path::Path) -> Ran {
    let mut p = Platform::open(PlatformPaths::new(platform, None).unwrap(), EngineConfig::default()).unwrap();
    p.load();
    let mut runner = p.runner();
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    p.run(&mut runner, RunOptions { once: true, concurrency: 64 }, rx).await.unwrap();
    assert!(p.status().all_ready(), "{}", p.status().to_table());
    Ran { parsed: p.files_parsed(), revisions: p.revisions(), decoded: p.engine.placements_decoded() }
}

/// Manifests whose files did not change since the last run are not parsed again: their objects are the
/// ones the state database holds. Nor are their placements' files decoded again: each placement's
/// directory is checked by the id it got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_over_unchanged_manifests_parses_and_decodes_nothing() {
    let (_dir, platform) = small_platform(50);
    let first = run_once(&platform).await;
    assert_eq!((first.parsed, first.decoded), (51, 50), "the first run parses and decodes everything");
    assert!(first.revisions > 0, "the first run writes everything");
    let again = run_once(&platform).await;
    assert_eq!((again.parsed, again.decoded, again.revisions), (0, 0, 0), "the rerun reads and writes nothing");
    // One file changed: that one is parsed and decoded, and only its change is written.
    std::fs::write(
        platform.join("works/w7.yaml"),
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {name: w7, namespace: default}\nspec:\n  promiseName: p\n  \
         resourceName: r7\n  workloadGroups:\n  - destinationSelectors: [{matchLabels: {env: dev}}]\n    workloads: [{filepath: cm.yaml, content: \"i: changed\"}]\n",
    )
    .unwrap();
    let one = run_once(&platform).await;
    assert_eq!((one.parsed, one.decoded, one.revisions), (1, 1, 1));
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").current_dir(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A placement's directory changed in the repository behind Waybill's back (a file deleted by hand):
/// its record no longer matches, so the rerun sends its files again and restores it; the others are
/// still only checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_restores_a_directory_changed_behind_its_back() {
    let (dir, platform) = small_platform(20);
    run_once(&platform).await;
    let repo = platform.join("state.git");
    let files = git(&repo, &["ls-tree", "-r", "--name-only", "main"]);
    let victim = files.lines().find(|f| f.contains("/r3/") && f.ends_with("cm.yaml")).unwrap().to_string();
    let wt = dir.path().join("wt");
    git(dir.path(), &["clone", "-q", repo.to_str().unwrap(), wt.to_str().unwrap()]);
    git(&wt, &["rm", "-q", &victim]);
    git(&wt, &["-c", "user.name=someone", "-c", "user.email=s@example.com", "commit", "-qm", "oops"]);
    git(&wt, &["push", "-q", "origin", "HEAD:main"]);
    assert!(!git(&repo, &["ls-tree", "-r", "--name-only", "main"]).contains(&victim));

    let again = run_once(&platform).await;
    assert_eq!(again.decoded, 1, "only the changed directory is decoded and sent again");
    assert_eq!(again.revisions, 1);
    assert!(git(&repo, &["ls-tree", "-r", "--name-only", "main"]).contains(&victim), "{victim} was not restored");
    assert_eq!(run_once(&platform).await.decoded, 0, "once restored, it is only checked again");
}
