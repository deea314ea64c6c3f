//! Test harness: the embedded control plane in memory, the real engine, and a real bare Git repository
//! per state store on the local disk.
#![allow(dead_code)]

use std::sync::Arc;

use waybill_core::{AnyObject, Kind, ObjectRef, Resource};
use waybill_engine::{ControlPlane, Engine, EngineConfig, Event};
use waybill_local::objects::ObjectStore;
use waybill_local::{RunOptions, Runner};

mod helpers;
pub use helpers::*;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub store: Arc<ObjectStore>,
    pub engine: Arc<Engine<ObjectStore>>,
    runner: Runner,
    started: bool,
}

impl Repositories for Harness {
    fn root(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Harness {
    pub fn new() -> Harness {
        waybill_stores::init();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("TEST_LOG"))
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(ObjectStore::new(Vec::new(), None));
        let config =
            EngineConfig { base_dir: dir.path().to_path_buf(), resync_interval: None, ..EngineConfig::default() };
        let engine = Arc::new(Engine::new(store.clone(), config));
        let runner = Runner::new(engine.clone());
        Harness { dir, store, engine, runner, started: false }
    }

    /// Admits an object as if it came from a manifest.
    pub fn apply(&self, obj: impl Resource) {
        self.store.apply_manifest(obj.into_any(), "test.yaml");
    }

    /// Deletes an object as if its manifest disappeared.
    pub fn remove<K: Resource>(&self, namespace: &str, name: &str) {
        self.store.delete_ref(&ObjectRef::new(K::KIND, namespace, name)).expect("object to delete");
    }

    /// Runs every reconcile there is to run (the first call starts with all objects, like a controller).
    pub async fn converge(&mut self) {
        self.converge_with(256).await;
    }

    /// Like [`Harness::converge`], with at most `concurrency` reconciles doing work at once.
    pub async fn converge_with(&mut self, concurrency: usize) {
        if !self.started {
            self.runner.enqueue_all();
            self.started = true;
        }
        let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.runner.run(RunOptions { once: true, concurrency }, rx, || None).await;
    }

    pub async fn get<K: Resource>(&self, namespace: &str, name: &str) -> Option<K> {
        self.store.get::<K>(namespace, name).await.expect("get")
    }

    pub async fn list<K: Resource>(&self) -> Vec<K> {
        self.store.list::<K>(None, &[]).await.expect("list")
    }

    pub fn events(&self, kind: Kind, namespace: &str, name: &str) -> Vec<Event> {
        self.store.events_of(&ObjectRef::new(kind, namespace, name))
    }

    pub fn event_messages(&self, kind: Kind, namespace: &str, name: &str) -> Vec<String> {
        self.events(kind, namespace, name).into_iter().map(|e| e.message).collect()
    }

    pub fn snapshot(&self) -> Vec<AnyObject> {
        self.store.snapshot()
    }
}

/// Works `w{from}` to `w{to - 1}` in `default`, each one ConfigMap for the Destinations labelled
/// `env: dev`: the many small objects of the scale and memory tests.
pub fn configmap_works(h: &Harness, from: usize, to: usize) {
    for i in from..to {
        let content = waybill_core::content::encode(
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n").as_bytes(),
        );
        h.apply(work(
            "default",
            &format!("w{i}"),
            &format!("r{i}"),
            vec![(".", vec![("env", "dev")], vec![workload("cm.yaml", &content)])],
        ));
    }
}
