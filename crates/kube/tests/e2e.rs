//! End to end against a real cluster, when `WAYBILL_E2E_KUBECONFIG` names a kubeconfig (skipped with
//! a message otherwise, in CI too: no cluster can run on CI machines). It installs the CRDs, runs the
//! controllers in this process against the cluster, applies the quickstart's objects (a GitStateStore
//! on a repository on this machine, a Destination, a Work), waits for Ready and checks the repository.
//! It creates cluster-scoped objects named `waybill-e2e*` and removes them at the end.
//!
//! Run: `WAYBILL_E2E_KUBECONFIG=~/.kube/config cargo test -p waybill-kube --test e2e -- --nocapture`

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use waybill_engine::{Engine, EngineConfig};
use waybill_kube::{ControllerOptions, KubeControlPlane};

fn crd_resource() -> ApiResource {
    ApiResource {
        group: "apiextensions.k8s.io".into(),
        version: "v1".into(),
        api_version: "apiextensions.k8s.io/v1".into(),
        kind: "CustomResourceDefinition".into(),
        plural: "customresourcedefinitions".into(),
    }
}

async fn apply(client: &kube::Client, ar: &ApiResource, namespace: Option<&str>, obj: Value) {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    let name = obj["metadata"]["name"].as_str().expect("a name").to_string();
    let params = PatchParams::apply("waybill-e2e").force();
    api.patch(&name, &params, &Patch::Apply(&obj)).await.unwrap_or_else(|e| panic!("apply {name}: {e}"));
}

fn kratix(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "platform.kratix.io".into(),
        version: "v1alpha1".into(),
        api_version: "platform.kratix.io/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_becomes_ready_on_a_real_cluster() {
    let Some(path) = std::env::var_os("WAYBILL_E2E_KUBECONFIG") else {
        eprintln!(
            "SKIPPED: set WAYBILL_E2E_KUBECONFIG to a kubeconfig to run the end-to-end test against a real cluster"
        );
        return;
    };
    quickstart(std::path::Path::new(&path)).await;
}

/// The end-to-end test's own code, run against the stand-in so that it is known to work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_to_end_test_passes_against_the_stand_in() {
    let api = waybill_testsupport::kubeapi::KubeApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    quickstart(&kubeconfig).await;
    assert_eq!(api.list("CustomResourceDefinition").len(), 5, "the CRDs were installed");
}

async fn quickstart(path: &std::path::Path) {
    waybill_stores::init();
    let client = waybill_kube::client(Some(path)).await.expect("a client for the cluster");
    for crd in waybill_core::crd::crds() {
        apply(&client, &crd_resource(), None, crd).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await; // the API server starts serving the new kinds

    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("state.git");
    let cp = Arc::new(KubeControlPlane::new(client.clone(), "e2e"));
    let config = EngineConfig {
        base_dir: dir.path().to_path_buf(),
        resync_interval: None,
        coalescing: waybill_kube::coalescing(),
        ..EngineConfig::default()
    };
    let engine = Arc::new(Engine::new(cp, config));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(waybill_kube::run(client.clone(), engine, ControllerOptions::default(), async move {
        let _ = stopped.await;
    }));

    let stores = kratix("GitStateStore", "gitstatestores");
    let destinations = kratix("Destination", "destinations");
    let works = kratix("Work", "works");
    apply(
        &client,
        &stores,
        None,
        json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "GitStateStore",
        "metadata": {"name": "waybill-e2e"}, "spec": {"url": repo.display().to_string(), "branch": "main"}}),
    )
    .await;
    apply(
        &client,
        &destinations,
        None,
        json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Destination",
        "metadata": {"name": "waybill-e2e", "labels": {"waybill-e2e": "yes"}},
        "spec": {"path": "waybill-e2e", "stateStoreRef": {"kind": "GitStateStore", "name": "waybill-e2e"}}}),
    )
    .await;
    apply(&client, &works, Some("default"), json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Work",
        "metadata": {"name": "waybill-e2e", "namespace": "default"},
        "spec": {"promiseName": "e2e", "resourceName": "waybill-e2e", "workloadGroups": [{"directory": ".",
            "id": "5058f1af8388633f609cadb75a75dc9d", "workloads": [{"filepath": "e2e.yaml", "content": "kind: ConfigMap"}],
            "destinationSelectors": [{"matchLabels": {"waybill-e2e": "yes"}}]}]}})).await;

    let dest_api: Api<DynamicObject> = Api::all_with(client.clone(), &destinations);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let d = dest_api.get("waybill-e2e").await.expect("the Destination");
        let ready = d.data["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        let files = std::process::Command::new("git")
            .args(["ls-tree", "-r", "--name-only", "main"])
            .current_dir(&repo)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if ready && files.contains("waybill-e2e/resources/default/e2e/waybill-e2e/") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the quickstart did not become Ready and written: {files}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let works_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &works);
    let _ = works_api.delete("waybill-e2e", &DeleteParams::default()).await;
    let _ = dest_api.delete("waybill-e2e", &DeleteParams::default()).await;
    let stores_api: Api<DynamicObject> = Api::all_with(client.clone(), &stores);
    let _ = stores_api.delete("waybill-e2e", &DeleteParams::default()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop.send(());
    let _ = task.await;
}
