//! The stand-in's object rules: what a Kubernetes API server does to an object on each write
//! (resource versions, generations, the status subresource, finalizers, deletion, owner garbage
//! collection), over JSON objects, with a bounded history of changes for watches.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};

/// One resource type the stand-in serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    /// Has a status subresource: the main endpoint ignores status, `/status` writes only status.
    pub status: bool,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }
}

const fn rt(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    status: bool,
) -> ResourceType {
    ResourceType { group, version, plural, kind, namespaced, status }
}

/// Everything the stand-in serves: the five Kratix kinds and the core kinds a controller touches.
pub static RESOURCES: &[ResourceType] = &[
    rt("", "v1", "namespaces", "Namespace", false, false),
    rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false, false),
    rt("", "v1", "secrets", "Secret", true, false),
    rt("coordination.k8s.io", "v1", "leases", "Lease", true, false),
    rt("events.k8s.io", "v1", "events", "Event", true, false),
    rt("platform.kratix.io", "v1alpha1", "bucketstatestores", "BucketStateStore", false, true),
    rt("platform.kratix.io", "v1alpha1", "destinations", "Destination", false, true),
    rt("platform.kratix.io", "v1alpha1", "gitstatestores", "GitStateStore", false, true),
    rt("platform.kratix.io", "v1alpha1", "workplacements", "WorkPlacement", true, true),
    rt("platform.kratix.io", "v1alpha1", "works", "Work", true, true),
];

pub fn resource(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// A refused request: HTTP status, Kubernetes reason, message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal(pub u16, pub &'static str, pub String);

impl Refusal {
    pub fn status_body(&self) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "message": self.2, "reason": self.1, "code": self.0,
        })
    }
}

/// A watch event as the API server streams it.
#[derive(Debug, Clone)]
pub struct Change {
    pub resource_version: u64,
    pub resource: &'static ResourceType,
    pub type_: &'static str,
    pub object: Value,
}

type Key = (&'static str, String, String);

/// The stored objects, keyed by (plural, namespace, name).
#[derive(Default)]
pub struct Objects {
    rv: u64,
    uid: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Change>,
    /// Oldest resource version a watch may resume from; older ones get `410 Gone`.
    pub oldest: u64,
}

/// How many changes are kept for resuming watches.
const HISTORY: usize = 10_000;

fn now() -> String {
    // Second precision, as the API server writes timestamps.
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = secs / 86_400;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

fn meta(obj: &Value) -> &Value {
    &obj["metadata"]
}

fn finalizers(obj: &Value) -> usize {
    meta(obj)["finalizers"].as_array().map_or(0, Vec::len)
}

fn deleting(obj: &Value) -> bool {
    meta(obj).get("deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// Everything but metadata and status: what a generation counts.
fn spec_of(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

impl Objects {
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(&mut self, resource: &'static ResourceType, type_: &'static str, object: Value) {
        let resource_version = self.rv;
        self.history.push_back(Change { resource_version, resource, type_, object });
        while self.history.len() > HISTORY {
            if let Some(c) = self.history.pop_front() {
                self.oldest = c.resource_version;
            }
        }
    }

    /// Forgets the history, so every watch resuming from before now gets `410 Gone`.
    pub fn expire_history(&mut self) {
        self.history.clear();
        self.oldest = self.rv + 1;
    }

    /// The changes after `rv` (`None` when they are no longer kept).
    pub fn changes_since(&self, rv: u64) -> Option<Vec<Change>> {
        if rv < self.oldest && rv < self.rv {
            return None;
        }
        Some(self.history.iter().filter(|c| c.resource_version > rv).cloned().collect())
    }

    pub fn get(&self, r: &'static ResourceType, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&(r.plural, ns.to_string(), name.to_string()))
    }

    /// Objects of a type, in a namespace or all.
    pub fn list(&self, r: &'static ResourceType, ns: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((plural, n, _), _)| *plural == r.plural && ns.is_none_or(|ns| ns == n))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn not_found(r: &ResourceType, name: &str) -> Refusal {
        Refusal(404, "NotFound", format!("{}.{} \"{name}\" not found", r.plural, r.group))
    }

    pub fn create(&mut self, r: &'static ResourceType, ns: &str, mut obj: Value) -> Result<Value, Refusal> {
        let name = meta(&obj)["name"].as_str().unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(Refusal(422, "Invalid", "metadata.name: Required value".into()));
        }
        let key = (r.plural, ns.to_string(), name.clone());
        if self.objects.contains_key(&key) {
            return Err(Refusal(409, "AlreadyExists", format!("{}.{} \"{name}\" already exists", r.plural, r.group)));
        }
        let rv = self.bump();
        self.uid += 1;
        let generation = if r.status { json!(1) } else { Value::Null };
        let m = obj["metadata"].as_object_mut().ok_or_else(|| Refusal(400, "BadRequest", "no metadata".into()))?;
        m.insert("resourceVersion".into(), json!(rv.to_string()));
        m.insert("uid".into(), json!(format!("00000000-0000-4000-8000-{:012}", self.uid)));
        m.insert("creationTimestamp".into(), json!(now()));
        m.remove("deletionTimestamp");
        if !generation.is_null() {
            m.insert("generation".into(), generation);
        }
        if r.namespaced {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        if r.status
            && let Some(o) = obj.as_object_mut()
        {
            o.remove("status");
        }
        obj["apiVersion"] = json!(r.api_version());
        obj["kind"] = json!(r.kind);
        self.objects.insert(key, obj.clone());
        self.record(r, "ADDED", obj.clone());
        Ok(obj)
    }

    /// A replace of the main resource (`status_only` false) or of `/status`, with Kubernetes'
    /// optimistic concurrency when the new object carries a resourceVersion.
    pub fn replace(
        &mut self,
        r: &'static ResourceType,
        ns: &str,
        name: &str,
        new: Value,
        status_only: bool,
    ) -> Result<Value, Refusal> {
        let key = (r.plural, ns.to_string(), name.to_string());
        let Some(current) = self.objects.get(&key).cloned() else { return Err(Self::not_found(r, name)) };
        if let Some(rv) = meta(&new)["resourceVersion"].as_str()
            && Some(rv) != meta(&current)["resourceVersion"].as_str()
        {
            return Err(Refusal(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {}.{} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    r.plural, r.group
                ),
            ));
        }
        let mut next = if status_only {
            let mut next = current.clone();
            next["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            next
        } else {
            let mut next = new;
            if r.status {
                match current.get("status") {
                    Some(s) => next["status"] = s.clone(),
                    None => {
                        if let Some(o) = next.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            for field in ["uid", "creationTimestamp", "deletionTimestamp", "generation", "namespace", "name"] {
                match meta(&current).get(field) {
                    Some(v) => next["metadata"][field] = v.clone(),
                    None => {
                        if let Some(m) = next["metadata"].as_object_mut() {
                            m.remove(field);
                        }
                    }
                }
            }
            if r.status && spec_of(&next) != spec_of(&current) {
                let generation = meta(&current)["generation"].as_i64().unwrap_or(0) + 1;
                next["metadata"]["generation"] = json!(generation);
            }
            next
        };
        if let Some(m) = next["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        next["apiVersion"] = json!(r.api_version());
        next["kind"] = json!(r.kind);
        let mut unchanged = current.clone();
        if let Some(m) = unchanged["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        if next == unchanged {
            return Ok(current);
        }
        if deleting(&next) && finalizers(&next) == 0 {
            self.remove(r, &key);
            return Ok(next);
        }
        let rv = self.bump();
        next["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.objects.insert(key, next.clone());
        self.record(r, "MODIFIED", next.clone());
        Ok(next)
    }

    /// A delete: at once without finalizers, otherwise the deletion timestamp is set.
    pub fn delete(&mut self, r: &'static ResourceType, ns: &str, name: &str) -> Result<Value, Refusal> {
        let key = (r.plural, ns.to_string(), name.to_string());
        let Some(current) = self.objects.get(&key).cloned() else { return Err(Self::not_found(r, name)) };
        if finalizers(&current) == 0 {
            self.remove(r, &key);
            return Ok(current);
        }
        if deleting(&current) {
            return Ok(current);
        }
        let mut next = current;
        let rv = self.bump();
        next["metadata"]["deletionTimestamp"] = json!(now());
        next["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.objects.insert(key, next.clone());
        self.record(r, "MODIFIED", next.clone());
        Ok(next)
    }

    /// Removes an object and, as the garbage collector does, deletes what it owns.
    fn remove(&mut self, r: &'static ResourceType, key: &Key) {
        let Some(mut gone) = self.objects.remove(key) else { return };
        let rv = self.bump();
        gone["metadata"]["resourceVersion"] = json!(rv.to_string());
        let uid = meta(&gone)["uid"].as_str().unwrap_or_default().to_string();
        self.record(r, "DELETED", gone);
        let owned: Vec<(&'static ResourceType, String, String)> = self
            .objects
            .iter()
            .filter(|(_, v)| {
                meta(v)["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|o| o["uid"].as_str() == Some(uid.as_str())))
            })
            .filter_map(|((plural, ns, name), _)| {
                RESOURCES.iter().find(|t| t.plural == *plural).map(|t| (t, ns.clone(), name.clone()))
            })
            .collect();
        for (t, ns, name) in owned {
            let _ = self.delete(t, &ns, &name);
        }
    }
}
