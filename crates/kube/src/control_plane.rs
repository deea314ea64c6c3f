//! The engine's control-plane port over the Kubernetes API. Reads go to the API server (never a
//! stale cache); writes are JSON merge patches of exactly what a reconciler changed, with the
//! resourceVersion it read as a precondition, so a conflict is detected by the server and fields
//! Waybill does not model are never dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use waybill_core::{Kind, ObjectRef, Resource};
use waybill_engine::port::CONFLICT_RETRIES;
use waybill_engine::{ControlPlane, CpError, Event, EventType, Written};

use crate::cache::Cache;
use crate::error::cp_error;
use crate::patch::merge_patch;
use crate::resources::{api_resource, dynamic, json_of, json_of_typed, typed};

/// The controller name events are reported under.
pub const REPORTING_CONTROLLER: &str = "waybill.io/controller";

/// The port over a Kubernetes client. Gets and writes go to the API server; lists are served from
/// the controllers' watch cache once it holds the kind (as controller-runtime's cached client does),
/// since the reconcilers list for every object they reconcile.
#[derive(Clone)]
pub struct KubeControlPlane {
    client: Client,
    /// This replica's name in events (`reportingInstance`).
    instance: String,
    cache: Arc<Cache>,
    /// What each placement's directory got when last written, in memory only: a resync of this
    /// replica checks unchanged placements by their directory's id; after a restart or a change of
    /// leader every placement sends its files once.
    written: Arc<Mutex<HashMap<ObjectRef, Written>>>,
}

/// Which part of an object a write touches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Metadata and spec (everything but status).
    Main,
    Status,
}

fn part_of(value: &Value, part: Part) -> Value {
    match part {
        Part::Main => {
            let mut v = value.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("status");
            }
            v
        }
        Part::Status => json!({ "status": value.get("status").cloned().unwrap_or(Value::Null) }),
    }
}

fn events_resource() -> ApiResource {
    ApiResource {
        group: "events.k8s.io".into(),
        version: "v1".into(),
        api_version: "events.k8s.io/v1".into(),
        kind: "Event".into(),
        plural: "events".into(),
    }
}

impl KubeControlPlane {
    pub fn new(client: Client, instance: impl Into<String>) -> Self {
        KubeControlPlane { client, instance: instance.into(), cache: Arc::default(), written: Arc::default() }
    }

    /// Whether the controllers' watches have listed every kind (lists are then served from the cache).
    pub fn synced(&self) -> bool {
        self.cache.synced_all(&Kind::ALL)
    }

    /// The watch cache the controllers keep and lists are served from.
    pub(crate) fn cache(&self) -> Arc<Cache> {
        self.cache.clone()
    }

    fn api(&self, kind: Kind, namespace: Option<&str>) -> Api<DynamicObject> {
        let ar = api_resource(kind);
        match namespace {
            Some(ns) if kind.namespaced() => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        }
    }

    async fn fetch<K: Resource>(&self, r: &ObjectRef) -> Result<Option<K>, CpError> {
        let found = self.api(K::KIND, Some(&r.namespace)).get_opt(&r.name).await.map_err(|e| cp_error(r, e))?;
        match found {
            Some(obj) => Ok(Some(typed(r, json_of(&obj)?)?)),
            None => Ok(None),
        }
    }

    /// Sends what changed between `before` and `after` in `part`, conditional on `resource_version`.
    /// Returns `after` as stored (`None` when nothing changed).
    async fn write_change<K: Resource>(
        &self,
        r: &ObjectRef,
        before: &Value,
        after: &K,
        part: Part,
    ) -> Result<Option<K>, CpError> {
        let after_json = json_of_typed(after)?;
        let Some(mut patch) = merge_patch(&part_of(before, part), &part_of(&after_json, part)) else {
            return Ok(None);
        };
        if let Some(rv) = &after.meta().resource_version {
            patch["metadata"]["resourceVersion"] = json!(rv);
        }
        let api = self.api(K::KIND, Some(&r.namespace));
        let params = PatchParams::default();
        let stored = match part {
            Part::Main => api.patch(&r.name, &params, &Patch::Merge(&patch)).await,
            Part::Status => api.patch_status(&r.name, &params, &Patch::Merge(&patch)).await,
        }
        .map_err(|e| cp_error(r, e))?;
        Ok(Some(typed(r, json_of(&stored)?)?))
    }

    /// Writes `obj`'s `part` over the stored object, changing only what differs.
    async fn replace_part<K: Resource>(&self, obj: K, part: Part) -> Result<K, CpError> {
        let r = obj.object_ref();
        let current: K = self.fetch(&r).await?.ok_or_else(|| CpError::NotFound(r.clone()))?;
        let before = json_of_typed(&current)?;
        match self.write_change(&r, &before, &obj, part).await? {
            Some(stored) => Ok(stored),
            // Nothing to write; a stale copy must still conflict, as a replace would.
            None if obj.meta().resource_version.is_some()
                && obj.meta().resource_version != current.meta().resource_version =>
            {
                Err(CpError::Conflict(r))
            }
            None => Ok(current),
        }
    }

    async fn modify_part<K: Resource, F: FnMut(&mut K) -> bool + Send>(
        &self,
        namespace: &str,
        name: &str,
        mut change: F,
        part: Part,
    ) -> Result<(Option<K>, bool), CpError> {
        let r = ObjectRef::new(K::KIND, if K::KIND.namespaced() { namespace } else { "" }, name);
        for _ in 0..CONFLICT_RETRIES {
            let Some(mut obj) = self.fetch::<K>(&r).await? else { return Ok((None, false)) };
            let before = json_of_typed(&obj)?;
            if !change(&mut obj) {
                return Ok((Some(obj), false));
            }
            match self.write_change(&r, &before, &obj, part).await {
                Ok(Some(stored)) => return Ok((Some(stored), true)),
                Ok(None) => return Ok((Some(obj), false)),
                Err(CpError::Conflict(_)) => continue,
                Err(CpError::NotFound(_)) => return Ok((None, false)),
                Err(e) => return Err(e),
            }
        }
        Err(CpError::Conflict(r))
    }
}

fn selector(labels: &[(&str, &str)]) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

#[async_trait]
impl ControlPlane for KubeControlPlane {
    async fn get<K: Resource>(&self, namespace: &str, name: &str) -> Result<Option<K>, CpError> {
        let ns = if K::KIND.namespaced() { namespace } else { "" };
        self.fetch(&ObjectRef::new(K::KIND, ns, name)).await
    }

    async fn list<K: Resource>(&self, namespace: Option<&str>, labels: &[(&str, &str)]) -> Result<Vec<K>, CpError> {
        if let Some(cached) = self.cache.list(K::KIND, namespace, labels) {
            return Ok(cached.iter().filter_map(|o| K::from_any_ref(o).cloned()).collect());
        }
        let about = ObjectRef::new(K::KIND, namespace.unwrap_or(""), "");
        let params = ListParams::default().labels(&selector(labels));
        let list = self.api(K::KIND, namespace).list(&params).await.map_err(|e| cp_error(&about, e))?;
        let mut out = Vec::with_capacity(list.items.len());
        for obj in &list.items {
            let r = ObjectRef::new(
                K::KIND,
                obj.metadata.namespace.as_deref().unwrap_or(""),
                obj.metadata.name.as_deref().unwrap_or(""),
            );
            // One object that does not fit Waybill's types must not hide the others.
            match json_of(obj).and_then(|v| typed::<K>(&r, v)) {
                Ok(k) => out.push(k),
                Err(e) => tracing::warn!(object = %r, "skipped an object that cannot be read: {e}"),
            }
        }
        Ok(out)
    }

    async fn create<K: Resource>(&self, obj: K) -> Result<K, CpError> {
        let r = obj.object_ref();
        let mut value = json_of_typed(&obj)?;
        if let Some(o) = value.as_object_mut() {
            o.remove("status");
        }
        let created = self
            .api(K::KIND, Some(&r.namespace))
            .create(&PostParams::default(), &dynamic(value)?)
            .await
            .map_err(|e| cp_error(&r, e))?;
        typed(&r, json_of(&created)?)
    }

    async fn update<K: Resource>(&self, obj: K) -> Result<K, CpError> {
        self.replace_part(obj, Part::Main).await
    }

    async fn update_status<K: Resource>(&self, obj: K) -> Result<K, CpError> {
        self.replace_part(obj, Part::Status).await
    }

    async fn modify<K: Resource, F: FnMut(&mut K) -> bool + Send>(
        &self,
        namespace: &str,
        name: &str,
        change: F,
    ) -> Result<Option<K>, CpError> {
        Ok(self.modify_part(namespace, name, change, Part::Main).await?.0)
    }

    async fn modify_status<K: Resource, F: FnMut(&mut K) -> bool + Send>(
        &self,
        namespace: &str,
        name: &str,
        change: F,
    ) -> Result<(Option<K>, bool), CpError> {
        self.modify_part(namespace, name, change, Part::Status).await
    }

    async fn delete<K: Resource>(&self, namespace: &str, name: &str) -> Result<(), CpError> {
        let r = ObjectRef::new(K::KIND, if K::KIND.namespaced() { namespace } else { "" }, name);
        self.api(K::KIND, Some(namespace))
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ())
            .map_err(|e| cp_error(&r, e))
    }

    async fn event(&self, about: &ObjectRef, event: Event) {
        // Events about cluster-scoped objects live in `default`, as Kubernetes' recorders put them.
        let ns = if about.namespace.is_empty() { "default" } else { about.namespace.as_str() };
        let now = chrono::Utc::now();
        let mut regarding =
            json!({ "apiVersion": about.kind.api_version(), "kind": about.kind.as_str(), "name": about.name });
        if !about.namespace.is_empty() {
            regarding["namespace"] = json!(about.namespace);
        }
        let body = json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": { "name": format!("{}.{:x}", about.name, now.timestamp_nanos_opt().unwrap_or_default()), "namespace": ns },
            "eventTime": now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            "reportingController": REPORTING_CONTROLLER,
            "reportingInstance": self.instance,
            "action": event.reason,
            "reason": event.reason,
            "note": event.message,
            "type": match event.type_ { EventType::Normal => "Normal", EventType::Warning => "Warning" },
            "regarding": regarding,
        });
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &events_resource());
        let created = match dynamic(body) {
            Ok(obj) => api.create(&PostParams::default(), &obj).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = created {
            tracing::warn!(object = %about, reason = %event.reason, "failed to record an event: {e}");
        }
    }

    fn written(&self, placement: &ObjectRef) -> Option<Written> {
        // A poisoned map is still a valid map.
        self.written.lock().unwrap_or_else(|e| e.into_inner()).get(placement).cloned()
    }

    fn record_written(&self, placement: &ObjectRef, written: Option<Written>) {
        let mut map = self.written.lock().unwrap_or_else(|e| e.into_inner());
        match written {
            Some(w) => map.insert(placement.clone(), w),
            None => map.remove(placement),
        };
    }

    async fn sync(&self) -> Result<(), CpError> {
        // What the API server acknowledged is durable (etcd).
        Ok(())
    }
}
