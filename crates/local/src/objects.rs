//! The embedded control plane's object store: an API server in miniature. Objects live in memory,
//! every write is queued for durable storage, watchers hear about every change, and writes follow
//! Kubernetes rules (optimistic concurrency, generations, finalizers, deletion timestamps).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::sync::mpsc;
use waybill_core::meta::now_rfc3339;
use waybill_core::{AnyObject, Kind, ObjectRef, Resource};
use waybill_engine::triggers::Lookup;
use waybill_engine::{ControlPlane, CpError, Event, Written};
use waybill_stores::Activity;

use crate::index::IndexedObjects;
use crate::persist::{Persister, StoredEvent};

pub use waybill_engine::triggers::ChangeKind;

/// A notification to watchers; `object` is the new state (the last state for `Removed`).
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ChangeKind,
    /// The object as stored after the change (shared with the store, not copied).
    pub object: Arc<AnyObject>,
}

impl Lookup for ObjectStore {
    fn refs_where(&self, kind: Kind, pred: &dyn Fn(&AnyObject) -> bool) -> Vec<ObjectRef> {
        ObjectStore::refs_where(self, kind, pred)
    }

    fn is_deleting(&self, r: &ObjectRef) -> bool {
        self.lock().objects.get(r).is_some_and(|o| o.meta().is_deleting())
    }
}

struct Inner {
    objects: IndexedObjects,
    /// Manifest file an object came from; objects without one were made by reconcilers.
    sources: HashMap<ObjectRef, String>,
    events: HashMap<ObjectRef, VecDeque<Event>>,
    watchers: Vec<(mpsc::UnboundedSender<Change>, Option<Activity>)>,
    /// Identities whose manifest was refused, with the reason.
    rejections: BTreeMap<ObjectRef, String>,
    /// Every manifest problem of the last load.
    problems: Vec<String>,
    /// Lists of a whole kind handed out by `list_all`, with the kind's version they were made at.
    shared: HashMap<Kind, (u64, std::sync::Arc<dyn std::any::Any + Send + Sync>)>,
    /// What each placement's directory got when last written (see [`Written`]), dropped with it.
    written: HashMap<ObjectRef, Written>,
}

/// Events kept per object in memory.
const EVENTS_PER_OBJECT: usize = 10;

/// The object store; see the module documentation.
pub struct ObjectStore {
    inner: Mutex<Inner>,
    rv: AtomicU64,
    persister: Option<Persister>,
}

impl ObjectStore {
    /// A store holding `objects` (as loaded from disk), persisting through `persister` when given.
    pub fn new(objects: Vec<(AnyObject, Option<String>)>, persister: Option<Persister>) -> ObjectStore {
        let mut inner = Inner {
            objects: IndexedObjects::default(),
            sources: HashMap::new(),
            events: HashMap::new(),
            watchers: Vec::new(),
            rejections: BTreeMap::new(),
            problems: Vec::new(),
            shared: HashMap::new(),
            written: HashMap::new(),
        };
        let mut max_rv = 0;
        for (obj, source) in objects {
            let r = obj.object_ref();
            max_rv = max_rv.max(obj.meta().resource_version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0));
            if let Some(s) = source {
                inner.sources.insert(r.clone(), s);
            }
            inner.objects.insert(r, obj);
        }
        ObjectStore { inner: Mutex::new(inner), rv: AtomicU64::new(max_rv), persister }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every mutation leaves the maps consistent before it can panic, so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_rv(&self) -> String {
        (self.rv.fetch_add(1, Ordering::SeqCst) + 1).to_string()
    }

    /// Takes the placements' [`Written`] records as the state database kept them.
    pub fn load_written(&self, records: Vec<(ObjectRef, Written)>) {
        self.lock().written.extend(records);
    }

    /// Subscribes to every change from now on.
    pub fn watch(&self) -> mpsc::UnboundedReceiver<Change> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().watchers.push((tx, None));
        rx
    }

    /// Like [`ObjectStore::watch`], counting each change as busy in `activity` until the receiver calls
    /// [`Activity::leave`] for it: a change not yet handled may still lead to a change set.
    pub fn watch_counted(&self, activity: Activity) -> mpsc::UnboundedReceiver<Change> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().watchers.push((tx, Some(activity)));
        rx
    }

    /// A copy of one object.
    pub fn get_any(&self, r: &ObjectRef) -> Option<AnyObject> {
        self.lock().objects.get(r).cloned()
    }

    /// Copies of every object of `kind`.
    pub fn all_of(&self, kind: Kind) -> Vec<AnyObject> {
        let shared: Vec<Arc<AnyObject>> = self.lock().objects.select(kind, None, &[]).cloned().collect();
        shared.iter().map(|o| AnyObject::clone(o)).collect()
    }

    /// References of every object of `kind` matching `pred`.
    pub fn refs_where(&self, kind: Kind, pred: impl Fn(&AnyObject) -> bool) -> Vec<ObjectRef> {
        self.lock().objects.select(kind, None, &[]).filter(|o| pred(o)).map(|o| o.object_ref()).collect()
    }

    /// The status view of every object, built without copying them.
    pub fn view(&self) -> crate::view::StatusView {
        let inner = self.lock();
        crate::view::build(inner.objects.values(), &inner.rejections, &inner.problems, false)
    }

    /// Every object, sorted by kind, namespace and name.
    pub fn snapshot(&self) -> Vec<AnyObject> {
        self.lock().objects.values().cloned().collect()
    }

    /// References of every object that came from a manifest.
    pub fn manifest_objects(&self) -> Vec<(ObjectRef, String)> {
        self.lock().sources.iter().map(|(r, s)| (r.clone(), s.clone())).collect()
    }

    /// Every object that came from a manifest, by the file it came from.
    pub fn refs_by_source(&self) -> HashMap<String, Vec<ObjectRef>> {
        let inner = self.lock();
        let mut out: HashMap<String, Vec<ObjectRef>> = HashMap::new();
        for (r, source) in &inner.sources {
            if inner.objects.contains_key(r) {
                out.entry(source.clone()).or_default().push(r.clone());
            }
        }
        out
    }

    /// Records which manifest files a later run may take unparsed (see [`crate::loader`]).
    pub fn record_manifest_files(&self, files: Vec<(String, crate::loader::FileStamp)>) {
        if let Some(p) = &self.persister {
            p.files(files);
        }
    }

    /// Records the outcome of the last manifest load (kept for status views and persisted).
    pub fn record_admission(&self, rejections: BTreeMap<ObjectRef, String>, problems: Vec<String>) {
        if let Some(p) = &self.persister {
            p.rejections(rejections.iter().map(|(r, m)| (crate::persist::key_of(r), m.clone())).collect());
            p.problems(problems.clone());
        }
        let mut inner = self.lock();
        inner.rejections = rejections;
        inner.problems = problems;
    }

    /// Identities whose manifest was refused, with the reason.
    pub fn rejections(&self) -> BTreeMap<ObjectRef, String> {
        self.lock().rejections.clone()
    }

    /// Every manifest problem of the last load.
    pub fn problems(&self) -> Vec<String> {
        self.lock().problems.clone()
    }

    /// Recent events about an object, oldest first.
    pub fn events_of(&self, r: &ObjectRef) -> Vec<Event> {
        self.lock().events.get(r).map(|q| q.iter().cloned().collect()).unwrap_or_default()
    }

    fn notify(inner: &mut Inner, change: Change) {
        inner.watchers.retain(|(w, activity)| {
            if let Some(a) = activity {
                a.enter();
            }
            let sent = w.send(change.clone()).is_ok();
            if !sent && let Some(a) = activity {
                a.leave();
            }
            sent
        });
    }

    fn persist_put(&self, obj: &Arc<AnyObject>, source: Option<&str>) {
        if let Some(p) = &self.persister {
            p.put(obj, source);
        }
    }

    fn persist_status(&self, obj: &Arc<AnyObject>) {
        if let Some(p) = &self.persister {
            p.put_status(obj);
        }
    }

    fn persist_delete(&self, r: &ObjectRef) {
        if let Some(p) = &self.persister {
            p.delete(r);
        }
    }

    /// Admission of a manifest object: creates it, or replaces its labels, annotations and spec while
    /// keeping status, finalizers and server-managed fields. Returns whether anything changed.
    pub fn apply_manifest(&self, mut obj: AnyObject, source: &str) -> bool {
        let r = obj.object_ref();
        let mut inner = self.lock();
        let previous_source = inner.sources.insert(r.clone(), source.to_string());
        match inner.objects.get_shared(&r) {
            None => {
                let meta = obj.meta_mut();
                meta.generation = 1;
                meta.resource_version = Some(self.next_rv());
                meta.uid = Some(new_uid());
                meta.creation_timestamp = Some(now_rfc3339());
                meta.deletion_timestamp = None;
                meta.finalizers.clear();
                obj.clear_status();
                let obj = Arc::new(obj);
                self.persist_put(&obj, Some(source));
                inner.objects.insert(r, obj.clone());
                Self::notify(&mut inner, Change { kind: ChangeKind::Created, object: obj });
                true
            }
            Some(current) => {
                if current.meta().is_deleting() {
                    // Kubernetes cannot resurrect a deleting object; the manifest applies once it is gone.
                    return false;
                }
                let mut next = AnyObject::clone(&current);
                let spec_changed = !current.same_spec(&obj);
                {
                    let (m, new) = (next.meta_mut(), obj.meta());
                    m.labels = new.labels.clone();
                    m.annotations = new.annotations.clone();
                }
                replace_spec(&mut next, obj);
                let meta_changed = next.meta() != current.meta();
                if !spec_changed && !meta_changed {
                    // Unchanged: written again only when it moved to another manifest file.
                    if previous_source.as_deref() != Some(source) {
                        self.persist_put(&current, Some(source));
                    }
                    return false;
                }
                if spec_changed {
                    next.meta_mut().generation += 1;
                }
                next.meta_mut().resource_version = Some(self.next_rv());
                let next = Arc::new(next);
                self.persist_put(&next, Some(source));
                inner.objects.insert(r, next.clone());
                Self::notify(
                    &mut inner,
                    Change { kind: ChangeKind::Updated { spec: spec_changed, deletion_started: false }, object: next },
                );
                true
            }
        }
    }

    /// Deletion of an object whose manifest disappeared.
    pub fn delete_ref(&self, r: &ObjectRef) -> Result<(), CpError> {
        let mut inner = self.lock();
        inner.sources.remove(r);
        self.delete_locked(&mut inner, r)
    }

    fn delete_locked(&self, inner: &mut Inner, r: &ObjectRef) -> Result<(), CpError> {
        let Some(current) = inner.objects.get_shared(r) else { return Err(CpError::NotFound(r.clone())) };
        if current.meta().finalizers.is_empty() {
            inner.objects.remove(r);
            inner.sources.remove(r);
            inner.written.remove(r);
            self.persist_delete(r);
            Self::notify(inner, Change { kind: ChangeKind::Removed, object: current });
            return Ok(());
        }
        if current.meta().is_deleting() {
            return Ok(());
        }
        let mut next = AnyObject::clone(&current);
        next.meta_mut().deletion_timestamp = Some(now_rfc3339());
        next.meta_mut().resource_version = Some(self.next_rv());
        let source = inner.sources.get(r).cloned();
        let next = Arc::new(next);
        self.persist_put(&next, source.as_deref());
        inner.objects.insert(r.clone(), next.clone());
        Self::notify(inner, Change { kind: ChangeKind::Updated { spec: false, deletion_started: true }, object: next });
        Ok(())
    }

    fn write(&self, obj: AnyObject, status_only: bool) -> Result<AnyObject, CpError> {
        let r = obj.object_ref();
        let mut inner = self.lock();
        let Some(current) = inner.objects.get_shared(&r) else { return Err(CpError::NotFound(r)) };
        if obj.meta().resource_version != current.meta().resource_version {
            return Err(CpError::Conflict(r));
        }
        let source = inner.sources.get(&r).cloned();
        let (next, kind) = if status_only {
            let mut next = AnyObject::clone(&current);
            next.copy_status_from(&obj);
            if next.status_value() == current.status_value() {
                drop(inner);
                return Ok(next);
            }
            (next, ChangeKind::StatusChanged)
        } else {
            let mut next = obj;
            next.copy_status_from(&current);
            let spec_changed = !next.same_spec(&current);
            {
                let (m, cur) = (next.meta_mut(), current.meta());
                m.uid = cur.uid.clone();
                m.creation_timestamp = cur.creation_timestamp.clone();
                m.deletion_timestamp = cur.deletion_timestamp.clone();
                m.generation = cur.generation + i64::from(spec_changed);
            }
            if next == *current {
                return Ok(next);
            }
            if next.meta().is_deleting() && next.meta().finalizers.is_empty() {
                inner.objects.remove(&r);
                inner.sources.remove(&r);
                inner.written.remove(&r);
                self.persist_delete(&r);
                let gone = Arc::new(next);
                Self::notify(&mut inner, Change { kind: ChangeKind::Removed, object: gone.clone() });
                return Ok(AnyObject::clone(&gone));
            }
            (next, ChangeKind::Updated { spec: spec_changed, deletion_started: false })
        };
        let mut next = next;
        next.meta_mut().resource_version = Some(self.next_rv());
        let stored = Arc::new(next);
        if status_only {
            // Only the status is written again: a large Work is not rewritten for each condition.
            self.persist_status(&stored);
        } else {
            self.persist_put(&stored, source.as_deref());
        }
        inner.objects.insert(r, stored.clone());
        Self::notify(&mut inner, Change { kind, object: stored.clone() });
        // Copied once the lock is released: thousands of reconciles share it.
        drop(inner);
        Ok(AnyObject::clone(&stored))
    }
}

/// A fresh `metadata.uid`, a random (version 4) UUID as the API server assigns.
fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn replace_spec(target: &mut AnyObject, from: AnyObject) {
    match (target, from) {
        (AnyObject::Secret(a), AnyObject::Secret(b)) => {
            a.data = b.data;
            a.string_data = b.string_data;
            a.type_ = b.type_;
        }
        (AnyObject::GitStateStore(a), AnyObject::GitStateStore(b)) => a.spec = b.spec,
        (AnyObject::BucketStateStore(a), AnyObject::BucketStateStore(b)) => a.spec = b.spec,
        (AnyObject::Destination(a), AnyObject::Destination(b)) => a.spec = b.spec,
        (AnyObject::Work(a), AnyObject::Work(b)) => a.spec = b.spec,
        (AnyObject::WorkPlacement(a), AnyObject::WorkPlacement(b)) => a.spec = b.spec,
        _ => {}
    }
}

#[async_trait]
impl ControlPlane for ObjectStore {
    async fn get<K: Resource>(&self, namespace: &str, name: &str) -> Result<Option<K>, CpError> {
        let r = ObjectRef::new(K::KIND, namespace, name);
        // Copied once the lock is released: thousands of reconciles share it.
        let shared = self.lock().objects.get_shared(&r);
        Ok(shared.as_deref().and_then(K::from_any_ref).cloned())
    }

    async fn list<K: Resource>(&self, namespace: Option<&str>, labels: &[(&str, &str)]) -> Result<Vec<K>, CpError> {
        let shared: Vec<Arc<AnyObject>> = self.lock().objects.select(K::KIND, namespace, labels).cloned().collect();
        Ok(shared.iter().filter_map(|o| K::from_any_ref(o)).cloned().collect())
    }

    async fn list_all<K: Resource>(&self) -> Result<std::sync::Arc<Vec<K>>, CpError> {
        let mut inner = self.lock();
        let version = inner.objects.version(K::KIND);
        if let Some((v, list)) = inner.shared.get(&K::KIND)
            && *v == version
            && let Ok(list) = list.clone().downcast::<Vec<K>>()
        {
            return Ok(list);
        }
        let list: std::sync::Arc<Vec<K>> = std::sync::Arc::new(
            inner.objects.select(K::KIND, None, &[]).filter_map(|o| K::from_any_ref(o)).cloned().collect(),
        );
        inner.shared.insert(K::KIND, (version, list.clone()));
        Ok(list)
    }

    async fn create<K: Resource>(&self, obj: K) -> Result<K, CpError> {
        let mut any = obj.into_any();
        let r = any.object_ref();
        let mut inner = self.lock();
        if inner.objects.contains_key(&r) {
            return Err(CpError::AlreadyExists(r));
        }
        {
            let meta = any.meta_mut();
            meta.generation = 1;
            meta.resource_version = Some(self.next_rv());
            meta.uid = Some(new_uid());
            meta.creation_timestamp = Some(now_rfc3339());
            meta.deletion_timestamp = None;
        }
        let stored = Arc::new(any);
        self.persist_put(&stored, None);
        inner.objects.insert(r, stored.clone());
        Self::notify(&mut inner, Change { kind: ChangeKind::Created, object: stored.clone() });
        K::from_any(AnyObject::clone(&stored))
            .ok_or_else(|| CpError::Other("failed to convert a created object".into()))
    }

    async fn update<K: Resource>(&self, obj: K) -> Result<K, CpError> {
        let out = self.write(obj.into_any(), false)?;
        K::from_any(out).ok_or_else(|| CpError::Other("failed to convert an updated object".into()))
    }

    async fn update_status<K: Resource>(&self, obj: K) -> Result<K, CpError> {
        let out = self.write(obj.into_any(), true)?;
        K::from_any(out).ok_or_else(|| CpError::Other("failed to convert an updated object".into()))
    }

    async fn delete<K: Resource>(&self, namespace: &str, name: &str) -> Result<(), CpError> {
        let r = ObjectRef::new(K::KIND, namespace, name);
        let mut inner = self.lock();
        self.delete_locked(&mut inner, &r)
    }

    async fn event(&self, about: &ObjectRef, event: Event) {
        if let Some(p) = &self.persister {
            p.event(StoredEvent {
                object: about.to_string(),
                time: now_rfc3339(),
                type_: format!("{:?}", event.type_),
                reason: event.reason.clone(),
                message: event.message.clone(),
            });
        }
        let mut inner = self.lock();
        let q = inner.events.entry(about.clone()).or_default();
        if q.len() == EVENTS_PER_OBJECT {
            q.pop_front();
        }
        q.push_back(event);
    }

    fn written(&self, placement: &ObjectRef) -> Option<Written> {
        self.lock().written.get(placement).cloned()
    }

    fn record_written(&self, placement: &ObjectRef, written: Option<Written>) {
        let mut inner = self.lock();
        // A record for a placement that is gone would outlive it in the database.
        if written.is_some() && !inner.objects.contains_key(placement) {
            return;
        }
        if inner.written.get(placement) == written.as_ref() {
            return;
        }
        if let Some(p) = &self.persister {
            p.written(placement, written.as_ref());
        }
        match written {
            Some(w) => inner.written.insert(placement.clone(), w),
            None => inner.written.remove(placement),
        };
    }

    async fn sync(&self) -> Result<(), CpError> {
        match &self.persister {
            Some(p) => p.sync().await.map_err(|e| CpError::Other(format!("failed to write state database {e}"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_random_uuids_that_never_repeat() {
        let uids: std::collections::BTreeSet<String> = (0..1000).map(|_| new_uid()).collect();
        assert_eq!(uids.len(), 1000);
        for uid in uids.iter().take(10) {
            let parsed = uuid::Uuid::parse_str(uid).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{uid}");
        }
    }
}
