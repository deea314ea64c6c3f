//! The Kubernetes control plane honours the same contract as the embedded one: the conformance suite
//! run through kube's client against the in-process API server stand-in.

use waybill_engine::conformance::control_plane_conformance;
use waybill_kube::KubeControlPlane;
use waybill_testsupport::kubeapi::KubeApi;

async fn client(api: &KubeApi) -> kube::Client {
    let config = kube::Config::new(api.url().parse().expect("a URL"));
    kube::Client::try_from(config).expect("a client")
}

#[tokio::test]
async fn the_kubernetes_control_plane_passes_the_conformance_suite() {
    let api = KubeApi::start().await;
    let cp = KubeControlPlane::new(client(&api).await, "test");
    control_plane_conformance(&cp).await;
}
