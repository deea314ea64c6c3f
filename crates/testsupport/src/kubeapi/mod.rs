//! An in-process Kubernetes API server stand-in, served over HTTP on loopback, for the controller
//! tests (no real API server can run on these machines). It implements what Waybill's controller and
//! `kubectl get` use: discovery, list and watch with resource versions (a watch that ends, `410 Gone`
//! after [`KubeApi::expire_history`]), get, create, replace, merge and JSON patches, the status
//! subresource, finalizers and deletion timestamps, owner-reference garbage collection, Leases and
//! Events. Every request is recorded (verb and resource) so tests can check what a client used.

mod objects;
mod serve;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{broadcast, watch};

pub use objects::{RESOURCES, Refusal, ResourceType};

/// A running stand-in; stops when dropped.
pub struct KubeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

pub(crate) struct Shared {
    pub(crate) objects: Mutex<objects::Objects>,
    /// The latest resource version; open watches wake when it moves.
    pub(crate) changes: watch::Sender<u64>,
    /// Sent to make every open watch end (as the API server does on its own timeout).
    pub(crate) end_watches: broadcast::Sender<()>,
    pub(crate) requests: Mutex<Vec<(String, String)>>,
    /// Status codes to answer the next requests with, instead of serving them.
    pub(crate) faults: Mutex<Vec<u16>>,
}

impl Shared {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, objects::Objects> {
        // A panic while holding the lock is a bug in a test; carry on with what is there.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl KubeApi {
    /// Starts a stand-in on a free loopback port.
    pub async fn start() -> KubeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("a local address");
        let shared = Arc::new(Shared {
            objects: Mutex::new(objects::Objects::default()),
            changes: watch::channel(0).0,
            end_watches: broadcast::channel(16).0,
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
        });
        let task = tokio::spawn(serve::serve(listener, shared.clone()));
        let api = KubeApi { addr, shared, task };
        for ns in ["default", "kratix-platform-system"] {
            api.create(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
        api
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a kubeconfig pointing at the stand-in (for `kubectl --kubeconfig`).
    pub fn write_kubeconfig(&self, path: &Path) {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: {}\ncontexts:\n- name: standin\n  context:\n    cluster: standin\n    user: standin\n    namespace: default\ncurrent-context: standin\nusers:\n- name: standin\n  user: {{}}\n",
            self.url()
        );
        std::fs::write(path, text).expect("write the kubeconfig");
    }

    fn resource_of(obj: &Value) -> &'static ResourceType {
        let (api_version, kind) = (obj["apiVersion"].as_str().unwrap_or(""), obj["kind"].as_str().unwrap_or(""));
        RESOURCES
            .iter()
            .find(|r| r.api_version() == api_version && r.kind == kind)
            .unwrap_or_else(|| panic!("the stand-in serves no {api_version} {kind}"))
    }

    /// Creates an object directly (as `kubectl create` would), returning it as stored.
    pub fn create(&self, obj: Value) -> Value {
        let r = Self::resource_of(&obj);
        let ns = if r.namespaced {
            obj["metadata"]["namespace"].as_str().unwrap_or("default").to_string()
        } else {
            String::new()
        };
        let stored = self.shared.lock().create(r, &ns, obj).expect("create in the stand-in");
        self.publish();
        stored
    }

    /// The stored object, if any.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let r = RESOURCES.iter().find(|r| r.kind == kind).expect("a served kind");
        self.shared.lock().get(r, if r.namespaced { namespace } else { "" }, name).cloned()
    }

    /// Every stored object of a kind.
    pub fn list(&self, kind: &str) -> Vec<Value> {
        let r = RESOURCES.iter().find(|r| r.kind == kind).expect("a served kind");
        self.shared.lock().list(r, None)
    }

    /// Applies `change` to a stored object and writes it as a client's replace would.
    pub fn modify(&self, kind: &str, namespace: &str, name: &str, change: impl FnOnce(&mut Value)) -> Value {
        let r = RESOURCES.iter().find(|r| r.kind == kind).expect("a served kind");
        let ns = if r.namespaced { namespace } else { "" };
        let mut obj = self.get(kind, ns, name).expect("the object exists");
        change(&mut obj);
        let stored = self.shared.lock().replace(r, ns, name, obj, false).expect("replace in the stand-in");
        self.publish();
        stored
    }

    /// Requests deletion, as `kubectl delete` does.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) {
        let r = RESOURCES.iter().find(|r| r.kind == kind).expect("a served kind");
        let ns = if r.namespaced { namespace } else { "" };
        self.shared.lock().delete(r, ns, name).expect("delete in the stand-in");
        self.publish();
    }

    pub(crate) fn publish(&self) {
        serve::publish(&self.shared);
    }

    /// The latest resource version: it moves with every write.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().resource_version()
    }

    /// Forgets the change history: every watch that resumes from before now gets `410 Gone`.
    pub fn expire_history(&self) {
        self.shared.lock().expire_history();
    }

    /// Ends every open watch, as the API server does when a watch times out.
    pub fn end_watches(&self) {
        let _ = self.shared.end_watches.send(());
    }

    /// Answers the next requests with these HTTP status codes instead of serving them.
    pub fn fail_next(&self, codes: &[u16]) {
        self.shared.faults.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(codes);
    }

    /// Every (verb, resource) pair requested so far, verbs as RBAC names them (`get`, `list`,
    /// `watch`, `create`, `update`, `patch`, `delete`), resources with their subresource
    /// (`destinations/status`) and group (`destinations.platform.kratix.io`).
    pub fn verbs_used(&self) -> BTreeSet<(String, String)> {
        self.shared.requests.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    /// How many requests of `verb` on `resource` were made.
    pub fn count(&self, verb: &str, resource: &str) -> usize {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(v, r)| v == verb && r == resource)
            .count()
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}
