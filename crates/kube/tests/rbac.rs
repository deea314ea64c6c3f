//! The RBAC rules in `deploy/rbac.yaml` (and the Helm chart, which must agree) grant exactly the
//! verbs the controllers use: a scenario exercising every reconciler, leader election and events runs
//! against the API server stand-in, which records each request's verb and resource.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use waybill_engine::{Engine, EngineConfig};
use waybill_kube::leader::{LeaseOptions, acquire};
use waybill_kube::{ControllerOptions, KubeControlPlane};
use waybill_testsupport::kubeapi::KubeApi;

/// The text with each Helm template action (`{{ ... }}`) replaced by a plain value.
fn untemplated(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").map_or(rest.len(), |e| start + e + 2);
        out.push_str("templated");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn granted(path: &str) -> BTreeSet<(String, String)> {
    let text = untemplated(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}")));
    let mut out = BTreeSet::new();
    for doc in text.split("\n---\n") {
        let v: Value = serde_saphyr::from_str(doc).expect("RBAC YAML");
        if !matches!(v["kind"].as_str(), Some("ClusterRole" | "Role")) {
            continue;
        }
        for rule in v["rules"].as_array().expect("rules") {
            for group in rule["apiGroups"].as_array().expect("apiGroups") {
                for resource in rule["resources"].as_array().expect("resources") {
                    for verb in rule["verbs"].as_array().expect("verbs") {
                        let (g, r) = (group.as_str().unwrap_or(""), resource.as_str().unwrap_or(""));
                        let name = if g.is_empty() { r.to_string() } else { format!("{r}.{g}") };
                        out.insert((verb.as_str().unwrap_or("").to_string(), name));
                    }
                }
            }
        }
    }
    out
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn condition(obj: Option<Value>, type_: &str) -> Option<String> {
    let cs = obj?["status"]["conditions"].as_array()?.clone();
    cs.iter().find(|c| c["type"] == type_).and_then(|c| c["status"].as_str().map(str::to_string))
}

/// Every kind of request the controllers make, recorded by the stand-in.
async fn verbs_of_a_full_scenario() -> BTreeSet<(String, String)> {
    waybill_stores::init();
    let api = KubeApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL"))).expect("client");
    let lease = LeaseOptions { retry: Duration::from_millis(100), ..LeaseOptions::new("kratix-platform-system", "a") };
    let leadership = acquire(client.clone(), lease).await;

    let cp = Arc::new(KubeControlPlane::new(client.clone(), "test"));
    let config = EngineConfig {
        base_dir: dir.path().to_path_buf(),
        cache_dir: Some(dir.path().join("cache")),
        resync_interval: None,
        coalescing: waybill_kube::coalescing(),
        ..EngineConfig::default()
    };
    let engine = Arc::new(Engine::new(cp, config));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(waybill_kube::run(client, engine, ControllerOptions::default(), async move {
        let _ = stopped.await;
    }));

    api.create(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3", "namespace": "default"},
        "data": {"accessKeyID": "YQ==", "secretAccessKey": "Yg=="}}));
    api.create(json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "BucketStateStore", "metadata": {"name": "bucket"},
        "spec": {"bucketName": "b", "endpoint": "127.0.0.1:1", "insecure": true, "secretRef": {"name": "s3", "namespace": "default"}}}));
    let repo = dir.path().join("state.git");
    api.create(
        json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "GitStateStore", "metadata": {"name": "git"},
        "spec": {"url": repo.display().to_string()}}),
    );
    api.create(json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Destination",
        "metadata": {"name": "worker-1", "labels": {"env": "dev"}},
        "spec": {"path": "worker-1", "cleanup": "all", "stateStoreRef": {"kind": "GitStateStore", "name": "git"}}}));
    api.create(json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Work", "metadata": {"name": "w", "namespace": "default"},
        "spec": {"promiseName": "p", "resourceName": "w", "workloadGroups": [{"directory": ".", "id": "5058f1af8388633f609cadb75a75dc9d",
            "workloads": [{"filepath": "a.yaml", "content": "kind: A"}], "destinationSelectors": [{"matchLabels": {"env": "dev"}}]}]}}));
    eventually("the Work is Ready", || condition(api.get("Work", "default", "w"), "Ready").as_deref() == Some("True"))
        .await;
    eventually("the bucket store is reported", || {
        condition(api.get("BucketStateStore", "", "bucket"), "Ready").is_some()
    })
    .await;

    api.delete("Work", "default", "w");
    eventually("the Work is gone", || api.get("Work", "default", "w").is_none()).await;
    api.delete("Destination", "", "worker-1");
    eventually("the Destination is gone", || api.get("Destination", "", "worker-1").is_none()).await;

    tokio::time::sleep(Duration::from_millis(300)).await; // a lease renewal
    let _ = stop.send(());
    task.await.expect("the controllers stop");
    leadership.release().await;
    api.verbs_used()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rbac_rules_grant_exactly_the_verbs_the_controllers_use() {
    let used = verbs_of_a_full_scenario().await;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for file in ["deploy/rbac.yaml", "charts/waybill/templates/rbac.yaml"] {
        let granted = granted(&format!("{root}/{file}"));
        let missing: Vec<_> = used.difference(&granted).collect();
        let unused: Vec<_> = granted.difference(&used).collect();
        assert!(missing.is_empty(), "{file} lacks verbs the controllers use: {missing:?}");
        assert!(unused.is_empty(), "{file} grants verbs the controllers never use: {unused:?}");
    }
}
