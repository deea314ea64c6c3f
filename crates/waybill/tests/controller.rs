//! `waybill controller` as a process against the API server stand-in: it makes a Destination Ready,
//! and a SIGTERM in the middle of a burst stops it cleanly (exit 0, the repository intact), after
//! which a new controller finishes the burst.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use waybill_testsupport::kubeapi::KubeApi;
use waybill_testsupport::{git, http_get};

fn controller(kubeconfig: &Path, cache: &Path) -> Child {
    controller_with(kubeconfig, cache, &["--metrics-addr", ""])
}

fn controller_on(kubeconfig: &Path, cache: &Path, metrics_addr: &str) -> Child {
    controller_with(kubeconfig, cache, &["--metrics-addr", metrics_addr])
}

fn elected(kubeconfig: &Path, cache: &Path, instance: &str) -> Child {
    let lease = ["--leader-elect", "--leader-elect-namespace", "default", "--instance", instance];
    let timings = ["--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s"];
    let rest = ["--leader-elect-retry-period", "300ms", "--metrics-addr", ""];
    controller_with(kubeconfig, cache, &[&lease[..], &timings[..], &rest[..]].concat())
}

/// `waybill controller` against the stand-in, with its own Git cache and `extra` arguments.
fn controller_with(kubeconfig: &Path, cache: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_waybill"))
        .arg("controller")
        .args(extra)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start waybill controller")
}

fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success(), "kill -TERM");
}

async fn exit_within(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return (status.code(), err);
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the controller did not stop within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ready(obj: Option<Value>) -> bool {
    obj.and_then(|o| o["status"]["conditions"].as_array().cloned())
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn files(repo: &Path) -> Vec<String> {
    let out = Command::new("git").args(["ls-tree", "-r", "--name-only", "main"]).current_dir(repo).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect()).unwrap_or_default()
}

fn work(i: usize) -> Value {
    json!({
        "apiVersion": "platform.kratix.io/v1alpha1", "kind": "Work",
        "metadata": {"name": format!("w{i}"), "namespace": "default"},
        "spec": {"promiseName": "p", "resourceName": format!("w{i}"), "workloadGroups": [{
            "directory": ".", "id": "5058f1af8388633f609cadb75a75dc9d",
            "workloads": [{"filepath": format!("w{i}.yaml"), "content": format!("kind: ConfigMap\nmetadata: {{name: w{i}}}\n")}],
            "destinationSelectors": [{"matchLabels": {"env": "dev"}}],
        }]},
    })
}

fn platform(api: &KubeApi, repo: &Path) {
    waybill_testsupport::bare_repo(repo, "main");
    api.create(json!({
        "apiVersion": "platform.kratix.io/v1alpha1", "kind": "GitStateStore", "metadata": {"name": "default"},
        "spec": {"url": repo.display().to_string()},
    }));
    api.create(json!({
        "apiVersion": "platform.kratix.io/v1alpha1", "kind": "Destination",
        "metadata": {"name": "worker-1", "labels": {"env": "dev"}},
        "spec": {"path": "worker-1", "stateStoreRef": {"kind": "GitStateStore", "name": "default"}},
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_elected_controllers_only_the_leader_writes_and_the_follower_takes_over_when_it_dies() {
    let api = KubeApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let repo = dir.path().join("state.git");
    platform(&api, &repo);
    let mut a = Some(elected(&kubeconfig, &dir.path().join("cache-a"), "a"));
    let mut b = Some(elected(&kubeconfig, &dir.path().join("cache-b"), "b"));
    eventually("the Destination is Ready", Duration::from_secs(60), || ready(api.get("Destination", "", "worker-1")))
        .await;
    let holder =
        || api.get("Lease", "default", "waybill-controller-leader").map(|l| l["spec"]["holderIdentity"].clone());
    let leader = holder().and_then(|h| h.as_str().map(str::to_string)).expect("someone leads");
    let (dead, follower) = if leader == "a" { (a.take(), b.take()) } else { (b.take(), a.take()) };
    let (mut dead, follower) = (dead.expect("the leader"), follower.expect("the follower"));
    dead.kill().expect("SIGKILL the leader");
    let _ = dead.wait();
    let killed = tokio::time::Instant::now();

    api.create(work(0));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    if killed.elapsed() < Duration::from_millis(2900) {
        assert!(
            api.list("WorkPlacement").is_empty(),
            "the follower writes nothing while the dead leader's lease holds"
        );
    }
    eventually("the follower places the Work", Duration::from_secs(15), || {
        files(&repo).iter().any(|f| f.starts_with("worker-1/resources/default/"))
    })
    .await;
    assert_ne!(holder(), Some(json!(leader)), "the follower holds the lease");
    sigterm(&follower);
    let (code, stderr) = exit_within(follower, Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{stderr}");
    let released = holder();
    assert!(released.is_none() || released == Some(Value::Null), "a clean stop releases the lease: {released:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_the_middle_of_a_burst_stops_cleanly_and_a_new_controller_finishes_it() {
    let api = KubeApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let repo = dir.path().join("state.git");
    platform(&api, &repo);
    let first = controller(&kubeconfig, &dir.path().join("cache"));
    eventually("the Destination is Ready", Duration::from_secs(60), || ready(api.get("Destination", "", "worker-1")))
        .await;

    for i in 0..300 {
        api.create(work(i));
    }
    eventually("the first placement exists", Duration::from_secs(60), || !api.list("WorkPlacement").is_empty()).await;
    sigterm(&first);
    let (code, stderr) = exit_within(first, Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "a SIGTERM is a clean stop: {stderr}");
    assert!(stderr.contains("stopping"), "the controller says it is stopping: {stderr}");
    git(&repo, &["fsck", "--full", "--strict"]);

    let metrics_addr = format!("127.0.0.1:{}", waybill_testsupport::free_port());
    let second = controller_on(&kubeconfig, &dir.path().join("cache"), &metrics_addr);
    let written = || files(&repo).iter().filter(|f| f.starts_with("worker-1/resources/default/")).count();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while written() < 300 {
        if tokio::time::Instant::now() > deadline {
            let placements = api.list("WorkPlacement");
            let unwritten: Vec<&Value> = placements
                .iter()
                .filter(|p| {
                    !p["status"]["conditions"]
                        .as_array()
                        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
                })
                .take(3)
                .collect();
            let _ = Command::new("kill").args(["-KILL", &second.id().to_string()]).status();
            panic!("{} of 300 Works written, {} placements; not Ready: {unwritten:#?}", written(), placements.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually("the metrics answer", Duration::from_secs(10), || http_get(&metrics_addr, "/healthz").is_some()).await;
    assert_eq!(http_get(&metrics_addr, "/healthz").map(|r| r.0), Some(200));
    assert_eq!(http_get(&metrics_addr, "/readyz").map(|r| r.0), Some(200));
    let expected = [
        r#"kratix_workplacement_writes_total{result="success",promise="p",resource="w299",destination="worker-1"} 1"#,
        r#"kratix_workplacement_outcomes_total{result="scheduled",promise="p",resource="w299",namespace="default",destination="worker-1"}"#,
        r#"waybill_reconciles_total{kind="WorkPlacement"}"#,
        r#"waybill_reconcile_duration_seconds_count{kind="Work"}"#,
        r#"waybill_store_commits_total{kind="GitStateStore",name="default"}"#,
        "waybill_leader 1",
        "# EOF",
    ];
    // Files land before the reconciles that wrote them return and are counted: scrape until they are.
    let scrape = || http_get(&metrics_addr, "/metrics").filter(|(code, _)| *code == 200).map(|(_, body)| body);
    let complete = |m: &str| expected.iter().all(|e| m.contains(e));
    eventually("the scrape shows the burst", Duration::from_secs(10), || scrape().is_some_and(|m| complete(&m))).await;
    let metrics = scrape().expect("a scrape");
    for expected in expected {
        assert!(metrics.contains(expected), "the scrape has {expected}:\n{metrics}");
    }
    sigterm(&second);
    let (code, stderr) = exit_within(second, Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{stderr}");
    git(&repo, &["fsck", "--full", "--strict"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_lease_is_taken_stops_within_the_lease_duration_and_exits_1() {
    let api = KubeApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    platform(&api, &dir.path().join("state.git"));
    let leader = elected(&kubeconfig, &dir.path().join("cache"), "a");
    eventually("the Destination is Ready", Duration::from_secs(60), || ready(api.get("Destination", "", "worker-1")))
        .await;
    api.modify("Lease", "default", "waybill-controller-leader", |l| l["spec"]["holderIdentity"] = json!("intruder"));
    // The intruder could start writing 3 s (the lease duration) after the leader's last renewal.
    let (code, stderr) = exit_within(leader, Duration::from_secs(3)).await;
    assert_eq!(code, Some(1), "losing the lease is an error exit: {stderr}");
    assert!(stderr.contains("lost the leader lease"), "{stderr}");
}
