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

/// Manifests whose files did not change since the last run are not parsed again: their objects are the
/// ones the state database holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_over_unchanged_manifests_parses_nothing() {
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
    for i in 0..50 {
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
    // Written a while ago: a file changed within two seconds is always read again (racily clean).
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for entry in std::fs::read_dir(platform.join("works")).unwrap().chain(std::fs::read_dir(&platform).unwrap()) {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::File::options().write(true).open(&path).unwrap().set_modified(then).unwrap();
        }
    }
    let run = |expect_parsed: Option<usize>| {
        let platform = platform.clone();
        async move {
            let mut p = Platform::open(PlatformPaths::new(&platform, None).unwrap(), EngineConfig::default()).unwrap();
            p.load();
            let mut runner = p.runner();
            let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
            p.run(&mut runner, RunOptions { once: true, concurrency: 64 }, rx).await.unwrap();
            if let Some(n) = expect_parsed {
                assert_eq!(p.files_parsed(), n);
            }
            assert!(p.status().all_ready(), "{}", p.status().to_table());
            p.revisions()
        }
    };
    assert!(run(Some(51)).await > 0, "the first run parses and writes everything");
    assert_eq!(run(Some(0)).await, 0, "the rerun parses nothing and writes nothing");
    // One file changed: that one is parsed, and only its change is written.
    std::fs::write(
        platform.join("works/w7.yaml"),
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {name: w7, namespace: default}\nspec:\n  promiseName: p\n  \
         resourceName: r7\n  workloadGroups:\n  - destinationSelectors: [{matchLabels: {env: dev}}]\n    workloads: [{filepath: cm.yaml, content: \"i: changed\"}]\n",
    )
    .unwrap();
    assert_eq!(run(Some(1)).await, 1);
}
