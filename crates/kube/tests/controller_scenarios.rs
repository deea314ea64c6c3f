//! The controllers, run unchanged against the API server stand-in, with real Git repositories on the
//! local disk: Destinations become Ready, Works are placed with owner references and labels, events
//! are recorded once per change, a burst of Works coalesces into few commits.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use waybill_engine::{Engine, EngineConfig};
use waybill_kube::{ControllerOptions, KubeControlPlane};
use waybill_testsupport::git;
use waybill_testsupport::kubeapi::KubeApi;

struct Running {
    api: KubeApi,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start() -> Running {
    waybill_stores::init();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("TEST_LOG"))
        .with_test_writer()
        .try_init();
    let api = KubeApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL"))).expect("client");
    let cp = Arc::new(KubeControlPlane::new(client.clone(), "test"));
    let config = EngineConfig {
        base_dir: dir.path().to_path_buf(),
        cache_dir: Some(dir.path().join("cache")),
        resync_interval: None,
        coalescing: waybill_kube::coalescing(),
        ..EngineConfig::default()
    };
    let engine = Arc::new(Engine::new(cp, config));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(waybill_kube::run(client, engine, ControllerOptions::default(), async move {
        let _ = rx.await;
    }));
    Running { api, dir, stop: Some(tx), task }
}

impl Running {
    fn repo(&self) -> std::path::PathBuf {
        self.dir.path().join("state.git")
    }

    fn files(&self) -> Vec<String> {
        if !self.repo().exists() {
            return Vec::new();
        }
        let out = std::process::Command::new("git")
            .args(["ls-tree", "-r", "--name-only", "main"])
            .current_dir(self.repo())
            .output()
            .expect("git ls-tree");
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
    }

    fn commits(&self) -> usize {
        git(&self.repo(), &["rev-list", "--count", "main"]).trim().parse().expect("a count")
    }

    fn platform(&self) {
        self.api.create(json!({
            "apiVersion": "platform.kratix.io/v1alpha1", "kind": "GitStateStore",
            "metadata": {"name": "default"},
            "spec": {"url": self.repo().display().to_string(), "branch": "main"},
        }));
        self.api.create(json!({
            "apiVersion": "platform.kratix.io/v1alpha1", "kind": "Destination",
            "metadata": {"name": "worker-1", "labels": {"environment": "dev"}},
            "spec": {"path": "worker-1", "stateStoreRef": {"kind": "GitStateStore", "name": "default"}},
        }));
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("the controllers stop")
            .expect("join");
    }
}

fn work(name: &str, file: &str) -> Value {
    json!({
        "apiVersion": "platform.kratix.io/v1alpha1", "kind": "Work",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "promiseName": "redis", "resourceName": name,
            "workloadGroups": [{
                "directory": ".", "id": "5058f1af8388633f609cadb75a75dc9d",
                "workloads": [{"filepath": file, "content": format!("kind: ConfigMap\nmetadata: {{name: {name}}}\n")}],
                "destinationSelectors": [{"matchLabels": {"environment": "dev"}, "source": "promise"}],
            }],
        },
    })
}

async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ready(obj: &Option<Value>) -> Option<(String, String)> {
    let conditions = obj.as_ref()?["status"]["conditions"].as_array()?.clone();
    let c = conditions.iter().find(|c| c["type"] == "Ready")?;
    Some((c["status"].as_str()?.to_string(), c["reason"].as_str()?.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_becomes_ready_and_a_work_is_placed_and_written() {
    let run = start().await;
    run.platform();
    eventually("the Destination is Ready", Duration::from_secs(30), || {
        ready(&run.api.get("Destination", "", "worker-1")) == Some(("True".into(), "TestDocumentsWritten".into()))
    })
    .await;
    let files = run.files();
    assert!(files.contains(&"worker-1/dependencies/kratix-canary-namespace.yaml".to_string()), "{files:?}");
    assert!(files.contains(&"worker-1/resources/kratix-canary-configmap.yaml".to_string()), "{files:?}");
    let dest = run.api.get("Destination", "", "worker-1").expect("destination");
    assert_eq!(dest["status"]["observedGeneration"], json!(1), "status says which generation it describes");

    run.api.create(work("cache", "cm.yaml"));
    eventually("the WorkPlacement is written", Duration::from_secs(8), || {
        run.files().iter().any(|f| f.ends_with("/cm.yaml"))
    })
    .await;
    let placements = run.api.list("WorkPlacement");
    assert_eq!(placements.len(), 1, "one placement for one group on one Destination");
    let p = &placements[0];
    assert_eq!(p["spec"]["targetDestinationName"], "worker-1");
    assert_eq!(p["metadata"]["labels"]["kratix.io/work"], "cache");
    let work = run.api.get("Work", "default", "cache").expect("work");
    let owner = &p["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Work");
    assert_eq!(owner["uid"], work["metadata"]["uid"], "the placement is owned by its Work");
    eventually("the Work is Ready", Duration::from_secs(30), || {
        ready(&run.api.get("Work", "default", "cache")).is_some_and(|(s, _)| s == "True")
    })
    .await;

    // Events with Kratix's reasons, each once although the objects were reconciled many times.
    let events = run.api.list("Event");
    let reasons: Vec<&str> =
        events.iter().filter(|e| e["regarding"]["name"] == "worker-1").filter_map(|e| e["reason"].as_str()).collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "DestinationReady").count(),
        1,
        "one DestinationReady event: {reasons:?}"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_thousand_works_lands_in_at_most_five_commits() {
    let run = start().await;
    run.platform();
    eventually("the Destination is Ready", Duration::from_secs(30), || {
        ready(&run.api.get("Destination", "", "worker-1")).is_some_and(|(s, _)| s == "True")
    })
    .await;
    let before = run.commits();
    for i in 0..1000 {
        run.api.create(work(&format!("w{i}"), &format!("w{i}.yaml")));
    }
    eventually("all thousand files are written", Duration::from_secs(240), || {
        run.files().iter().filter(|f| f.starts_with("worker-1/resources/")).count() >= 1001
    })
    .await;
    let commits = run.commits() - before;
    eprintln!("1000 Works through the API: {commits} commits");
    assert!(commits <= 5, "1000 Works took {commits} commits");
    run.stop().await;
}
