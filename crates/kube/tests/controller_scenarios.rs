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

fn destination(name: &str, labels: Value, cleanup: &str) -> Value {
    json!({
        "apiVersion": "platform.kratix.io/v1alpha1", "kind": "Destination",
        "metadata": {"name": name, "labels": labels},
        "spec": {"path": name, "cleanup": cleanup, "stateStoreRef": {"kind": "GitStateStore", "name": "default"}},
    })
}

fn store(run: &Running, url: &str, secret: Option<&str>) -> Value {
    let mut s = json!({
        "apiVersion": "platform.kratix.io/v1alpha1", "kind": "GitStateStore", "metadata": {"name": "default"},
        "spec": {"url": url, "branch": "main"},
    });
    if let Some(name) = secret {
        s["spec"]["secretRef"] = json!({"name": name, "namespace": "default"});
    }
    let _ = run;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_goes_not_ready_when_its_store_breaks_and_ready_again_when_it_is_fixed() {
    let run = start().await;
    run.api.create(store(&run, "/dev/null/not-a-repository", None));
    run.api.create(destination("worker-1", json!({"environment": "dev"}), "none"));
    eventually("the Destination is not Ready", Duration::from_secs(30), || {
        ready(&run.api.get("Destination", "", "worker-1")).is_some_and(|(s, _)| s == "False")
    })
    .await;
    let url = run.repo().display().to_string();
    run.api.modify("GitStateStore", "", "default", |s| s["spec"]["url"] = json!(url));
    eventually("the Destination is Ready", Duration::from_secs(30), || {
        ready(&run.api.get("Destination", "", "worker-1")) == Some(("True".into(), "TestDocumentsWritten".into()))
    })
    .await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_all_removes_a_deleted_destinations_placements_and_files_behind_its_finalizer() {
    let run = start().await;
    run.api.create(store(&run, &run.repo().display().to_string(), None));
    run.api.create(destination("worker-1", json!({"environment": "dev"}), "all"));
    run.api.create(work("cache", "cm.yaml"));
    eventually("the file is written", Duration::from_secs(30), || run.files().iter().any(|f| f.ends_with("/cm.yaml")))
        .await;
    let dest = run.api.get("Destination", "", "worker-1").expect("destination");
    assert_eq!(
        dest["metadata"]["finalizers"],
        json!(["kratix.io/destination-cleanup"]),
        "cleanup: all holds a finalizer"
    );
    run.api.delete("Destination", "", "worker-1");
    eventually("the Destination is gone", Duration::from_secs(30), || {
        run.api.get("Destination", "", "worker-1").is_none()
    })
    .await;
    assert!(run.api.list("WorkPlacement").is_empty(), "its placements are deleted");
    assert!(!run.files().iter().any(|f| f.starts_with("worker-1/")), "its files are removed: {:?}", run.files());
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_none_leaves_the_files_and_holds_no_finalizer() {
    let run = start().await;
    run.platform();
    run.api.create(work("cache", "cm.yaml"));
    eventually("the file is written", Duration::from_secs(30), || run.files().iter().any(|f| f.ends_with("/cm.yaml")))
        .await;
    let dest = run.api.get("Destination", "", "worker-1").expect("destination");
    assert!(dest["metadata"]["finalizers"].as_array().is_none_or(|f| f.is_empty()), "no finalizer: {dest}");
    run.api.delete("Destination", "", "worker-1");
    assert!(run.api.get("Destination", "", "worker-1").is_none(), "deleted at once");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(run.files().iter().any(|f| f.ends_with("/cm.yaml")), "the files stay");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_is_marked_misplaced_when_its_destinations_labels_stop_matching() {
    let run = start().await;
    run.platform();
    run.api.create(work("cache", "cm.yaml"));
    eventually("the file is written", Duration::from_secs(30), || run.files().iter().any(|f| f.ends_with("/cm.yaml")))
        .await;
    run.api.modify("Destination", "", "worker-1", |d| d["metadata"]["labels"] = json!({"environment": "prod"}));
    eventually("the placement is misplaced", Duration::from_secs(30), || {
        run.api.list("WorkPlacement").iter().any(|p| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| c["type"] == "ScheduleSucceeded" && c["reason"] == "DestinationSelectorMismatch")
            })
        })
    })
    .await;
    assert!(run.files().iter().any(|f| f.ends_with("/cm.yaml")), "a misplaced placement's files stay");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_change_rebuilds_its_stores_writer() {
    let run = start().await;
    // A local store ignores credentials, but its writer is rebuilt when the Secret it names changes.
    run.api.create(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "git", "namespace": "default"},
        "data": {"username": "dQ==", "password": "cA=="}}));
    run.api.create(store(&run, &run.repo().display().to_string(), Some("git")));
    run.api.create(destination("worker-1", json!({"environment": "dev"}), "none"));
    eventually("the Destination is Ready", Duration::from_secs(30), || {
        ready(&run.api.get("Destination", "", "worker-1")).is_some_and(|(s, _)| s == "True")
    })
    .await;
    let gets = run.api.count("get", "secrets");
    run.api.modify("Secret", "default", "git", |s| s["data"]["password"] = json!("cTI="));
    eventually("the store re-reads its Secret", Duration::from_secs(30), || run.api.count("get", "secrets") > gets)
        .await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controllers_recover_from_a_watch_that_ends_and_from_410_gone() {
    let run = start().await;
    run.platform();
    eventually("the Destination is Ready", Duration::from_secs(30), || {
        ready(&run.api.get("Destination", "", "worker-1")).is_some_and(|(s, _)| s == "True")
    })
    .await;
    run.api.end_watches();
    run.api.create(work("after-end", "a.yaml"));
    eventually("a Work created after the watches ended is written", Duration::from_secs(30), || {
        run.files().iter().any(|f| f.ends_with("/a.yaml"))
    })
    .await;
    let lists = run.api.count("list", "works.platform.kratix.io");
    run.api.create(work("before-gone", "c.yaml"));
    run.api.expire_history();
    run.api.end_watches();
    run.api.create(work("after-gone", "b.yaml"));
    eventually("the watchers relist after 410 Gone", Duration::from_secs(30), || {
        run.api.count("list", "works.platform.kratix.io") > lists
    })
    .await;
    eventually("a Work created after 410 Gone is written", Duration::from_secs(30), || {
        run.files().iter().any(|f| f.ends_with("/b.yaml"))
    })
    .await;
    run.stop().await;
}
