//! The acceptance scenarios of rows 58 and 76 of the coverage table in docs/compatibility.md (compatibility
//! C11, C12, D11), which need a control plane that fails on demand: the embedded object store behind a
//! wrapper that injects errors.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use common::*;
use waybill_core::api::*;
use waybill_core::{Kind, ObjectRef, Resource};
use waybill_engine::{ControlPlane, CpError, Engine, EngineConfig, Event};
use waybill_local::objects::ObjectStore;

#[derive(Default)]
struct Flaky {
    inner: Option<Arc<ObjectStore>>,
    fail_destination_list: AtomicBool,
    fail_placement_status: AtomicUsize,
}

impl Flaky {
    fn store(&self) -> &ObjectStore {
        self.inner.as_deref().expect("inner store")
    }
}

#[async_trait]
impl ControlPlane for Flaky {
    async fn get<K: Resource>(&self, namespace: &str, name: &str) -> Result<Option<K>, CpError> {
        self.store().get(namespace, name).await
    }
    async fn list<K: Resource>(&self, namespace: Option<&str>, labels: &[(&str, &str)]) -> Result<Vec<K>, CpError> {
        if K::KIND == Kind::Destination && self.fail_destination_list.load(Ordering::SeqCst) {
            return Err(CpError::Other("scheduling error".into()));
        }
        self.store().list(namespace, labels).await
    }
    async fn create<K: Resource>(&self, obj: K) -> Result<K, CpError> {
        self.store().create(obj).await
    }
    async fn update<K: Resource>(&self, obj: K) -> Result<K, CpError> {
        self.store().update(obj).await
    }
    async fn update_status<K: Resource>(&self, obj: K) -> Result<K, CpError> {
        if K::KIND == Kind::WorkPlacement
            && self.fail_placement_status.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
        {
            return Err(CpError::Other("status write failed".into()));
        }
        self.store().update_status(obj).await
    }
    async fn delete<K: Resource>(&self, namespace: &str, name: &str) -> Result<(), CpError> {
        self.store().delete::<K>(namespace, name).await
    }
    async fn event(&self, about: &ObjectRef, event: Event) {
        self.store().event(about, event).await
    }
    async fn sync(&self) -> Result<(), CpError> {
        self.store().sync().await
    }
}

fn flaky(h: &Harness) -> (Arc<Flaky>, Engine<Flaky>) {
    let cp = Arc::new(Flaky { inner: Some(h.store.clone()), ..Default::default() });
    let engine = Engine::new(
        cp.clone(),
        EngineConfig { base_dir: h.dir.path().to_path_buf(), resync_interval: None, ..Default::default() },
    );
    (cp, engine)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_58_a_scheduling_error_is_returned_and_reported() {
    let h = Harness::new();
    h.apply(destination("d", "store", "d", &[]));
    h.apply(work("default", "w", "r", vec![(".", vec![], vec![workload("a.yaml", "a\n")])]));
    let (cp, engine) = flaky(&h);
    cp.fail_destination_list.store(true, Ordering::SeqCst);
    let err = engine.reconcile(&ObjectRef::new(Kind::Work, "default", "w")).await.unwrap_err();
    assert!(err.to_string().contains("scheduling error"), "{err}");
    let w: Work = h.get("default", "w").await.unwrap();
    assert_eq!(
        conds(w.conditions()),
        vec![
            cond("Ready", "False", "FailedToScheduleWorkloads", "Pending"),
            cond(
                "ScheduleSucceeded",
                "False",
                "FailedToScheduleWorkloads",
                "Failed to schedule or update for workloadGroups: [5058f1af8388633f609cadb75a75dc9d]"
            ),
        ]
    );
    cp.fail_destination_list.store(false, Ordering::SeqCst);
    engine.reconcile(&ObjectRef::new(Kind::Work, "default", "w")).await.unwrap();
    let w: Work = h.get("default", "w").await.unwrap();
    assert_eq!(ready_of(w.conditions()).unwrap().2, "Ready", "the retry recovers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_76_a_version_written_before_a_failed_status_write_is_applied_later() {
    let h = Harness::new();
    h.apply(h.git_store("store"));
    h.apply(destination("test-destination", "store", "test-path", &[]));
    let p = WorkPlacement::new(
        "default",
        "p",
        WorkPlacementSpec {
            target_destination_name: "test-destination".into(),
            workloads: vec![workload("a.yaml", "a: 1\n")],
            promise_name: "x".into(),
            id: "5058f1af".into(),
            ..Default::default()
        },
    );
    h.apply(p);
    let (cp, engine) = flaky(&h);
    engine.reconcile(&ObjectRef::cluster(Kind::GitStateStore, "store")).await.unwrap();
    cp.fail_placement_status.store(1, Ordering::SeqCst);
    let wp = ObjectRef::new(Kind::WorkPlacement, "default", "p");
    assert!(engine.reconcile(&wp).await.is_err(), "the status write fails");
    let sha =
        git2::Repository::open(h.repo_path("store")).unwrap().refname_to_id("refs/heads/main").unwrap().to_string();
    engine.reconcile(&wp).await.unwrap();
    let p: WorkPlacement = h.get("default", "p").await.unwrap();
    assert_eq!(
        p.status.unwrap().version_id,
        sha,
        "the second write changed nothing, yet the first version is recorded"
    );
}
