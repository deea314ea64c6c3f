//! The embedded control plane honours the control-plane contract the reconcilers rely on.

use waybill_engine::conformance::control_plane_conformance;
use waybill_local::objects::ObjectStore;

#[tokio::test]
async fn the_embedded_control_plane_passes_the_conformance_suite() {
    let store = ObjectStore::new(Vec::new(), None);
    control_plane_conformance(&store).await;
}
