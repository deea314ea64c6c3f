//! Kratix's Destination controller acceptance scenarios (rows 1 to 9 of the coverage table in
//! docs/compatibility.md; compatibility C4, C9) against a real local Git repository, on each control
//! plane (the harness of the including test crate).

use crate::common::*;
use waybill_core::api::*;
use waybill_core::labels::{DESTINATION_CLEANUP_FINALIZER, TARGET_DESTINATION_LABEL};
use waybill_core::{Kind, ObjectRef};
use waybill_engine::Action;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_1_a_destination_that_does_not_exist_reconciles_without_requeue() {
    let h = Harness::new();
    let action = h.engine.reconcile(&ObjectRef::cluster(Kind::Destination, "nope")).await.unwrap();
    assert_eq!(action, Action::done());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_2_canaries_are_written_byte_exact_and_the_destination_is_ready() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    h.apply(with_mode(destination("test-destination", "store", "test-path", &[]), FilepathMode::None, ""));
    h.converge().await;
    let files = h.files("store");
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        vec!["test-path/kratix-canary-configmap.yaml", "test-path/kratix-canary-namespace.yaml"]
    );
    assert_eq!(files["test-path/kratix-canary-namespace.yaml"], NS_CANARY);
    assert_eq!(files["test-path/kratix-canary-configmap.yaml"], CM_CANARY);
    let d: Destination = h.get("", "test-destination").await.unwrap();
    assert_eq!(
        conds(d.conditions()),
        vec![cond("Ready", "True", "TestDocumentsWritten", "Test documents written to State Store")]
    );
    assert!(h.event_messages(Kind::Destination, "", "test-destination").contains(&"Destination is Ready".to_string()));
    assert_eq!(h.last_commit_message("store"), "Update from: kratix-canary\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_destinations_put_canaries_under_dependencies_and_resources() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    h.apply(destination("worker-1", "store", "worker-1", &[]));
    h.converge().await;
    let files = h.files("store");
    assert_eq!(files["worker-1/dependencies/kratix-canary-namespace.yaml"], NS_CANARY);
    assert_eq!(files["worker-1/resources/kratix-canary-configmap.yaml"], CM_CANARY);
    assert_eq!(files.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_3_with_init_workloads_disabled_no_canary_is_written() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    let mut d = destination("test-destination", "store", "test-path", &[]);
    d.spec.init_workloads.enabled = false;
    h.apply(d);
    h.converge().await;
    assert!(h.files("store").is_empty());
    assert_eq!(h.commits("store"), 0);
    let d: Destination = h.get("", "test-destination").await.unwrap();
    assert_eq!(conds(d.conditions()), vec![cond("Ready", "True", "DestinationReady", "Destination is ready")]);
    assert!(h.event_messages(Kind::Destination, "", "test-destination").contains(&"Destination is Ready".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_4_disabling_init_workloads_deletes_the_canaries() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    let d = with_mode(destination("test-destination", "store", "test-path", &[]), FilepathMode::None, "");
    h.apply(d.clone());
    h.converge().await;
    assert_eq!(h.files("store").len(), 2);
    let mut off = d;
    off.spec.init_workloads.enabled = false;
    h.apply(off);
    h.converge().await;
    assert!(h.files("store").is_empty());
    assert_eq!(h.last_commit_message("store"), "Delete from: kratix-canary\n");
    let d: Destination = h.get("", "test-destination").await.unwrap();
    assert_eq!(
        ready_of(d.conditions()),
        Some(("True".into(), "DestinationReady".into(), "Destination is ready".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_5_a_failing_canary_write_sets_state_store_write_failed() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    h.converge().await;
    // Another process holds the branch lock: every ref update fails.
    std::fs::write(h.repo_path("store").join("refs/heads/main.lock"), b"").unwrap();
    h.apply(with_mode(destination("test-destination", "store", "test-path", &[]), FilepathMode::None, ""));
    h.converge().await;
    let d: Destination = h.get("", "test-destination").await.unwrap();
    let (status, reason, message) = ready_of(d.conditions()).unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("False", "StateStoreWriteFailed"));
    assert!(message.starts_with("Failed to write test documents to State Store: "), "{message}");
    assert!(message.contains("locked"), "{message}");
    let events = h.events(Kind::Destination, "", "test-destination");
    assert!(events.iter().any(|e| e.type_ == waybill_engine::EventType::Warning && e.message == message));
    let action = h.engine.reconcile(&ObjectRef::cluster(Kind::Destination, "test-destination")).await.unwrap();
    assert_eq!(action, Action::requeue(std::time::Duration::from_secs(15)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_6_a_store_without_a_writer_makes_the_destination_not_ready() {
    let mut h = Harness::new();
    let mut store = h.git_store("store");
    // A regular file where the repository should be: the writer cannot be built.
    std::fs::write(h.dir.path().join("not-a-repo"), b"x").unwrap();
    store.spec.url = h.dir.path().join("not-a-repo").display().to_string();
    h.apply(store);
    h.apply(destination("test-destination", "store", "test-path", &[]));
    h.converge().await;
    let d: Destination = h.get("", "test-destination").await.unwrap();
    assert_eq!(
        ready_of(d.conditions()),
        Some(("False".into(), "StateStoreNotReady".into(), "GitStateStore/store: not ready".into()))
    );
    assert!(h.event_messages(Kind::Destination, "", "test-destination").iter().any(|m| m.contains("not ready")));
    let action = h.engine.reconcile(&ObjectRef::cluster(Kind::Destination, "test-destination")).await.unwrap();
    assert_eq!(action, Action::requeue(std::time::Duration::from_secs(15)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_store_makes_the_destination_report_state_store_not_found() {
    let mut h = Harness::new();
    h.apply(destination("test-destination", "missing", "test-path", &[]));
    h.converge().await;
    let d: Destination = h.get("", "test-destination").await.unwrap();
    assert_eq!(
        ready_of(d.conditions()),
        Some(("False".into(), "StateStoreNotFound".into(), "GitStateStore/missing: not found".into()))
    );
    // Once the store appears, the Destination becomes Ready without further edits.
    h.apply(h.git_store("missing"));
    h.converge().await;
    let d: Destination = h.get("", "test-destination").await.unwrap();
    assert_eq!(ready_of(d.conditions()).unwrap().1, "TestDocumentsWritten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_7_cleanup_all_adds_the_destination_finalizer() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    let mut d = destination("test-destination", "store", "test-path", &[]);
    d.spec.cleanup = Cleanup::All;
    h.apply(d);
    h.converge().await;
    let d: Destination = h.get("", "test-destination").await.unwrap();
    assert_eq!(d.metadata.finalizers, vec![DESTINATION_CLEANUP_FINALIZER]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_8_deleting_a_cleanup_all_destination_removes_its_placements_and_canaries() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    let mut d = destination("test-destination", "store", "test-path", &[("env", "dev")]);
    d.spec.cleanup = Cleanup::All;
    h.apply(d);
    h.apply(destination("other", "store", "other", &[("env", "dev")]));
    h.apply(work("default", "w", "", vec![(".", vec![], vec![workload("a.yaml", "a: 1\n")])]));
    h.converge().await;
    let wps: Vec<WorkPlacement> = h.list().await;
    assert_eq!(wps.len(), 2);
    assert!(h.files("store").keys().any(|k| k.starts_with("test-path/dependencies/promise/5058f/")));

    h.remove::<Destination>("", "test-destination");
    h.converge().await;
    assert!(h.get::<Destination>("", "test-destination").await.is_none(), "the destination is gone");
    let wps: Vec<WorkPlacement> = h.list().await;
    assert!(
        wps.iter()
            .all(|p| p.metadata.labels.get(TARGET_DESTINATION_LABEL).map(String::as_str) != Some("test-destination"))
    );
    let files = h.files("store");
    assert!(files.keys().all(|k| !k.starts_with("test-path/")), "nothing left under test-path: {files:?}");
    assert!(files.contains_key("other/dependencies/promise/5058f/a.yaml"), "other destinations keep their files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_9_deleting_a_cleanup_none_destination_leaves_everything_written() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    h.apply(destination("test-destination", "store", "test-path", &[]));
    h.apply(work("default", "w", "", vec![(".", vec![], vec![workload("a.yaml", "a: 1\n")])]));
    h.converge().await;
    let d: Destination = h.get("", "test-destination").await.unwrap();
    assert!(d.metadata.finalizers.is_empty());
    let before = h.files("store");
    let commits = h.commits("store");
    h.remove::<Destination>("", "test-destination");
    h.converge().await;
    assert!(h.get::<Destination>("", "test-destination").await.is_none());
    assert_eq!(h.list::<WorkPlacement>().await.len(), 1, "the placement still exists");
    assert_eq!(h.files("store"), before);
    assert_eq!(h.commits("store"), commits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn difference_9_a_deleted_store_drops_its_writer_and_a_changed_one_is_rebuilt() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    h.apply(destination("d", "store", "d", &[]));
    h.converge().await;
    let key = waybill_engine::registry::StoreKey::new(Kind::GitStateStore, "store");
    assert!(h.engine.stores.get(&key).is_some());

    // A spec change (another branch) rebuilds the writer: the canaries land on the new branch.
    let mut moved = h.git_store("store");
    moved.spec.branch = "release".into();
    h.apply(moved);
    h.converge().await;
    assert_eq!(files_at(&h.repo_path("store"), "release").len(), 2);

    h.remove::<GitStateStore>("", "store");
    h.converge().await;
    assert!(h.engine.stores.get(&key).is_none(), "the writer is dropped");
    let d: Destination = h.get("", "d").await.unwrap();
    assert_eq!(
        ready_of(d.conditions()),
        Some(("False".into(), "StateStoreNotFound".into(), "GitStateStore/store: not found".into()))
    );
}
