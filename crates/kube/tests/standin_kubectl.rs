//! kubectl, a real Kubernetes client, against the API server stand-in: what it creates, lists,
//! patches and deletes behaves as on a real cluster, which keeps the stand-in honest.

use std::path::Path;
use std::process::Command;

use waybill_testsupport::kubeapi::KubeApi;
use waybill_testsupport::require;

async fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let (kubeconfig, args, stdin) =
        (kubeconfig.to_path_buf(), args.iter().map(|a| a.to_string()).collect::<Vec<_>>(), stdin.map(str::to_string));
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(&kubeconfig).args(&args);
        let out = match stdin {
            Some(text) => {
                let dir = tempfile::tempdir().expect("tempdir");
                let file = dir.path().join("manifest.yaml");
                std::fs::write(&file, text).expect("write manifest");
                cmd.arg("-f").arg(&file).output().expect("run kubectl")
            }
            None => cmd.output().expect("run kubectl"),
        };
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("kubectl task")
}

const DESTINATION: &str = "apiVersion: platform.kratix.io/v1alpha1
kind: Destination
metadata:
  name: worker-1
  labels:
    environment: dev
spec:
  path: worker-1
  stateStoreRef:
    kind: GitStateStore
    name: default
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_creates_lists_patches_and_deletes_through_the_stand_in() {
    if require("kubectl").is_none() {
        return;
    }
    let api = KubeApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);

    let (ok, _, err) = kubectl(&kubeconfig, &["create", "--validate=false"], Some(DESTINATION)).await;
    assert!(ok, "kubectl create failed: {err}");
    let stored = api.get("Destination", "", "worker-1").expect("created through kubectl");
    assert_eq!(stored["metadata"]["generation"], 1);
    assert_eq!(stored["spec"]["path"], "worker-1");

    let (ok, out, err) = kubectl(&kubeconfig, &["get", "destinations", "-o", "json"], None).await;
    assert!(ok, "kubectl get failed: {err}");
    let list: serde_json::Value = serde_json::from_str(&out).expect("JSON list");
    assert_eq!(list["items"][0]["metadata"]["name"], "worker-1");

    let (ok, out, err) = kubectl(&kubeconfig, &["get", "dest", "worker-1", "-o", "name"], None).await;
    assert!(ok, "kubectl get by short name failed: {err}");
    assert_eq!(out.trim(), "destination.platform.kratix.io/worker-1");

    let (ok, out, err) =
        kubectl(&kubeconfig, &["get", "destinations", "-l", "environment=prod", "-o", "name"], None).await;
    assert!(ok, "kubectl get -l failed: {err}");
    assert_eq!(out.trim(), "", "a label selector that matches nothing lists nothing");

    let patch = r#"{"spec":{"path":"moved"}}"#;
    let (ok, _, err) =
        kubectl(&kubeconfig, &["patch", "destination", "worker-1", "--type", "merge", "-p", patch], None).await;
    assert!(ok, "kubectl patch failed: {err}");
    let patched = api.get("Destination", "", "worker-1").expect("still there");
    assert_eq!(patched["spec"]["path"], "moved");
    assert_eq!(patched["metadata"]["generation"], 2, "a spec patch bumps the generation");
    assert_eq!(patched["metadata"]["labels"]["environment"], "dev", "a merge patch keeps what it does not name");

    let (ok, _, err) = kubectl(&kubeconfig, &["delete", "destination", "worker-1"], None).await;
    assert!(ok, "kubectl delete failed: {err}");
    assert!(api.get("Destination", "", "worker-1").is_none(), "deleted without finalizers");

    let (ok, _, err) = kubectl(&kubeconfig, &["get", "destination", "worker-1"], None).await;
    assert!(!ok, "getting a deleted object fails");
    assert!(err.contains("not found"), "kubectl reports NotFound: {err}");
}
