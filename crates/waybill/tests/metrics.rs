//! `waybill run --metrics-addr` serves the same /metrics, /healthz and /readyz as the controller.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use waybill_testsupport::{free_port, http_get};

#[test]
fn embedded_run_serves_metrics_and_probes_on_metrics_addr() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("platform.yaml"),
        "apiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata: {name: s}\nspec: {url: state.git}\n---\n\
         apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: d, labels: {env: dev}}\n\
         spec: {path: d, stateStoreRef: {kind: GitStateStore, name: s}}\n---\n\
         apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {name: w, namespace: default}\n\
         spec:\n  promiseName: p\n  resourceName: r\n  workloadGroups:\n  - directory: .\n    workloads: [{filepath: a.yaml, content: 'kind: A'}]\n    destinationSelectors: [{matchLabels: {env: dev}}]\n",
    )
    .expect("write manifests");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_waybill"))
        .args(["run", "--quiet", "--metrics-addr", &addr, "-p"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start waybill run");
    let expected = [
        r#"kratix_workplacement_writes_total{result="success",promise="p",resource="r",destination="d"} 1"#,
        r#"kratix_workplacement_outcomes_total{result="scheduled",promise="p",resource="r",namespace="default",destination="d"}"#,
        r#"waybill_store_commits_total{kind="GitStateStore",name="s"}"#,
        r#"waybill_reconciles_total{kind="Destination"}"#,
        r#"waybill_store_pending_changes{kind="GitStateStore",name="s"} 0"#,
    ];
    // Scrape until the run's writes and reconciles are all counted.
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        if let Some((200, body)) = http_get(&addr, "/metrics")
            && expected.iter().all(|e| body.contains(e))
        {
            break body;
        }
        assert!(Instant::now() < deadline, "the placement write did not show in /metrics within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(http_get(&addr, "/healthz").map(|r| r.0), Some(200));
    assert_eq!(http_get(&addr, "/readyz").map(|r| r.0), Some(200));
    assert_eq!(http_get(&addr, "/nope").map(|r| r.0), Some(404));
    for expected in expected {
        assert!(metrics.contains(expected), "the scrape has {expected}:\n{metrics}");
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "a SIGTERM stops run cleanly: {status:?}");
}
