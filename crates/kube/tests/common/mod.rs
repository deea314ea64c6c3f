//! The scenario harness on the Kubernetes control plane: the API server stand-in, the port over
//! kube's client, the real engine, and the controllers run for each `converge`. It has the embedded
//! harness's API, so the scenario files of `crates/local/tests/scenarios/` run unchanged on both.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use waybill_core::{AnyObject, Kind, Resource};
use waybill_engine::{ControlPlane, Engine, EngineConfig, Event, EventType};
use waybill_kube::{ControllerOptions, KubeControlPlane};
use waybill_testsupport::kubeapi::KubeApi;

#[path = "../../../local/tests/common/helpers.rs"]
mod helpers;
pub use helpers::*;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub api: KubeApi,
    pub client: kube::Client,
    pub store: Arc<KubeControlPlane>,
    pub engine: Arc<Engine<KubeControlPlane>>,
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
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
        let api = block_on(KubeApi::start());
        let client = kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL"))).expect("client");
        let store = Arc::new(KubeControlPlane::new(client.clone(), "scenarios"));
        let config = EngineConfig {
            base_dir: dir.path().to_path_buf(),
            resync_interval: None,
            coalescing: waybill_kube::coalescing(),
            ..EngineConfig::default()
        };
        let engine = Arc::new(Engine::new(store.clone(), config));
        Harness { dir, api, client, store, engine }
    }

    /// Applies an object as `kubectl apply` would: created if new, otherwise its labels, annotations
    /// and spec replace the stored ones (status and finalizers stay).
    pub fn apply(&self, obj: impl Resource) {
        let any = obj.into_any();
        let r = any.object_ref();
        let mut value = any.to_json();
        if let Some(o) = value.as_object_mut() {
            o.remove("status");
        }
        match self.api.get(r.kind.as_str(), &r.namespace, &r.name) {
            None => {
                if r.kind.namespaced() && value["metadata"]["namespace"].is_null() {
                    value["metadata"]["namespace"] = json!(r.namespace);
                }
                self.api.create(value);
            }
            Some(_) => {
                self.api.modify(r.kind.as_str(), &r.namespace, &r.name, |stored| {
                    for key in ["labels", "annotations"] {
                        stored["metadata"][key] = value["metadata"].get(key).cloned().unwrap_or(Value::Null);
                    }
                    if let (Some(s), Some(v)) = (stored.as_object_mut(), value.as_object()) {
                        let keep = ["apiVersion", "kind", "metadata", "status"];
                        s.retain(|k, _| keep.contains(&k.as_str()));
                        for (k, val) in v.iter().filter(|(k, _)| !keep.contains(&k.as_str())) {
                            s.insert(k.clone(), val.clone());
                        }
                    }
                });
            }
        }
    }

    /// Requests deletion, as `kubectl delete` does.
    pub fn remove<K: Resource>(&self, namespace: &str, name: &str) {
        let ns = if K::KIND.namespaced() { namespace } else { "" };
        self.api.delete(K::KIND.as_str(), ns, name);
    }

    /// Runs the controllers until nothing is left to do: their caches are synced, nothing is busy and
    /// the API server saw no write for a while.
    pub async fn converge(&mut self) {
        self.converge_with(1024).await;
    }

    pub async fn converge_with(&mut self, concurrency: usize) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let options = ControllerOptions {
            placement_concurrency: concurrency.min(u16::MAX as usize) as u16,
            ..ControllerOptions::default()
        };
        let task = tokio::spawn(waybill_kube::run(self.client.clone(), self.engine.clone(), options, async move {
            let _ = stopped.await;
        }));
        let activity = self.engine.config.coalescing.activity.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let (mut last, mut quiet) = (self.api.resource_version(), 0);
        while quiet < 8 {
            assert!(tokio::time::Instant::now() < deadline, "the controllers did not settle within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
            let rv = self.api.resource_version();
            if self.store.synced() && activity.is_idle() && rv == last {
                quiet += 1;
            } else {
                quiet = 0;
            }
            last = rv;
        }
        let _ = stop.send(());
        task.await.expect("the controllers stop");
    }

    pub async fn get<K: Resource>(&self, namespace: &str, name: &str) -> Option<K> {
        self.store.get::<K>(namespace, name).await.expect("get")
    }

    pub async fn list<K: Resource>(&self) -> Vec<K> {
        self.store.list::<K>(None, &[]).await.expect("list")
    }

    /// Events about an object, oldest first.
    pub fn events(&self, kind: Kind, namespace: &str, name: &str) -> Vec<Event> {
        let mut events: Vec<Value> = self
            .api
            .list("Event")
            .into_iter()
            .filter(|e| {
                let r = &e["regarding"];
                r["kind"] == kind.as_str() && r["name"] == name && r["namespace"].as_str().unwrap_or("") == namespace
            })
            .collect();
        events.sort_by_key(|e| e["metadata"]["resourceVersion"].as_str().and_then(|v| v.parse::<u64>().ok()));
        events
            .into_iter()
            .map(|e| Event {
                type_: if e["type"] == "Warning" { EventType::Warning } else { EventType::Normal },
                reason: e["reason"].as_str().unwrap_or_default().to_string(),
                message: e["note"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    pub fn event_messages(&self, kind: Kind, namespace: &str, name: &str) -> Vec<String> {
        self.events(kind, namespace, name).into_iter().map(|e| e.message).collect()
    }

    /// Every object the API server holds of the Waybill kinds.
    pub fn snapshot(&self) -> Vec<AnyObject> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            for v in self.api.list(kind.as_str()) {
                if let Ok(o) = AnyObject::from_json(kind, v) {
                    out.push(o);
                }
            }
        }
        out
    }
}
