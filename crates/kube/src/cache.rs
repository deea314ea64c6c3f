//! What the controller has seen of every object, typed: the read-only lookup the engine's trigger
//! mappings run over, and the classification of each watch event into the change it is (a watch
//! reports only the new object; the previous one is here).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use waybill_core::{AnyObject, Kind, ObjectRef};
use waybill_engine::triggers::{ChangeKind, Lookup};

/// The latest copy of every watched object.
#[derive(Default)]
pub struct Cache {
    objects: Mutex<HashMap<ObjectRef, Arc<AnyObject>>>,
    /// Kinds whose initial list has been seen: lists of them can be served from here.
    synced: Mutex<HashSet<Kind>>,
}

impl Cache {
    fn lock(&self) -> MutexGuard<'_, HashMap<ObjectRef, Arc<AnyObject>>> {
        // The map is consistent after every statement; a panicking holder leaves it usable.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `obj` as the current state and says what changed, `None` when nothing Waybill models
    /// did (a watch restart replaying what was already seen).
    pub fn apply(&self, obj: AnyObject) -> Option<(ChangeKind, Arc<AnyObject>)> {
        let r = obj.object_ref();
        let obj = Arc::new(obj);
        let previous = self.lock().insert(r, obj.clone());
        let kind = match previous {
            None => ChangeKind::Created,
            Some(old) => {
                let spec = !old.same_spec(&obj);
                let deletion_started = !old.meta().is_deleting() && obj.meta().is_deleting();
                let meta = {
                    let (a, b) = (old.meta(), obj.meta());
                    a.labels != b.labels || a.finalizers != b.finalizers || a.generation != b.generation
                };
                if spec || deletion_started || meta {
                    ChangeKind::Updated { spec, deletion_started }
                } else if old.status_value() != obj.status_value() {
                    ChangeKind::StatusChanged
                } else {
                    return None;
                }
            }
        };
        Some((kind, obj))
    }

    /// The initial list of `kind` is complete.
    pub fn mark_synced(&self, kind: Kind) {
        self.synced.lock().unwrap_or_else(|e| e.into_inner()).insert(kind);
    }

    /// Whether the initial list of every kind in `kinds` is complete.
    pub fn synced_all(&self, kinds: &[Kind]) -> bool {
        let synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        kinds.iter().all(|k| synced.contains(k))
    }

    /// Nothing maintains the cache any more (the controllers stopped): lists go to the API server
    /// again. The objects stay, so that controllers started again find out, when their first list
    /// completes, which objects went away meanwhile.
    pub fn unsync(&self) {
        self.synced.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Objects of `kind` in `namespace` (or all) carrying every label, once `kind` is synced.
    pub fn list(&self, kind: Kind, namespace: Option<&str>, labels: &[(&str, &str)]) -> Option<Vec<Arc<AnyObject>>> {
        if !self.synced.lock().unwrap_or_else(|e| e.into_inner()).contains(&kind) {
            return None;
        }
        let objects = self.lock();
        let matches = |r: &ObjectRef, o: &AnyObject| {
            r.kind == kind
                && namespace.is_none_or(|ns| ns == r.namespace)
                && labels.iter().all(|(k, v)| o.meta().labels.get(*k).is_some_and(|l| l == v))
        };
        Some(objects.iter().filter(|(r, o)| matches(r, o)).map(|(_, o)| o.clone()).collect())
    }

    /// Forgets an object; returns its last state.
    pub fn remove(&self, r: &ObjectRef) -> Option<Arc<AnyObject>> {
        self.lock().remove(r)
    }

    /// After a relist of `kind`: forgets the objects the list no longer holds, returning them.
    pub fn retain_listed(&self, kind: Kind, listed: &HashSet<ObjectRef>) -> Vec<Arc<AnyObject>> {
        let mut objects = self.lock();
        let gone: Vec<ObjectRef> = objects.keys().filter(|r| r.kind == kind && !listed.contains(*r)).cloned().collect();
        gone.iter().filter_map(|r| objects.remove(r)).collect()
    }
}

impl Lookup for Cache {
    fn refs_where(&self, kind: Kind, pred: &dyn Fn(&AnyObject) -> bool) -> Vec<ObjectRef> {
        self.lock().iter().filter(|(r, o)| r.kind == kind && pred(o)).map(|(r, _)| r.clone()).collect()
    }

    fn is_deleting(&self, r: &ObjectRef) -> bool {
        self.lock().get(r).is_some_and(|o| o.meta().is_deleting())
    }
}

#[cfg(test)]
mod tests {
    use waybill_core::Resource;
    use waybill_core::api::{Destination, DestinationSpec, DestinationStatus};

    use super::{Cache, ChangeKind};

    #[test]
    fn each_watch_event_is_classified_against_the_copy_seen_before() {
        let cache = Cache::default();
        let d = Destination::new("d", DestinationSpec::default());
        assert_eq!(cache.apply(d.clone().into_any()).map(|c| c.0), Some(ChangeKind::Created));
        assert_eq!(cache.apply(d.clone().into_any()).map(|c| c.0), None, "a replay is no change");
        let mut labelled = d.clone();
        labelled.metadata.labels.insert("env".into(), "dev".into());
        let meta_only = ChangeKind::Updated { spec: false, deletion_started: false };
        assert_eq!(cache.apply(labelled.clone().into_any()).map(|c| c.0), Some(meta_only));
        let mut with_status = labelled.clone();
        with_status.status = Some(DestinationStatus { observed_generation: 1, ..Default::default() });
        assert_eq!(cache.apply(with_status.clone().into_any()).map(|c| c.0), Some(ChangeKind::StatusChanged));
        let mut moved = with_status.clone();
        moved.spec.path = Some("elsewhere".into());
        let spec = ChangeKind::Updated { spec: true, deletion_started: false };
        assert_eq!(cache.apply(moved.clone().into_any()).map(|c| c.0), Some(spec));
        let mut deleting = moved.clone();
        deleting.metadata.deletion_timestamp = Some("2026-01-01T00:00:00Z".into());
        let deletion = ChangeKind::Updated { spec: false, deletion_started: true };
        assert_eq!(cache.apply(deleting.into_any()).map(|c| c.0), Some(deletion));
    }
}
