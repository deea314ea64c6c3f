//! The object store's map with a label index: listing the placements of one Work (or of one
//! Destination) costs what it finds, not a scan of every object, so a burst of N Works is O(N), not
//! O(N²).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use waybill_core::labels::{TARGET_DESTINATION_LABEL, WORK_LABEL};
use waybill_core::small_map::SmallMap;
use waybill_core::{AnyObject, Kind, ObjectRef};

/// Objects by identity, indexed by kind and label. Held shared: the change a write announces is the
/// stored object itself, not a copy (and the map's nodes stay small).
#[derive(Default)]
pub(crate) struct IndexedObjects {
    map: BTreeMap<ObjectRef, Arc<AnyObject>>,
    /// Objects by indexed label: most sets hold one placement (its Work's), so they are small maps
    /// sized to what they hold rather than B-tree nodes of eleven (see `waybill_core::small_map`).
    by_label: HashMap<(Kind, &'static str, String), SmallMap<ObjectRef, ()>>,
    /// Bumped on every change of an object of the kind: lists shared until then stay valid.
    versions: HashMap<Kind, u64>,
}

/// The labels reconcilers list by (a Work's placements, a Destination's): only these are indexed.
/// Indexing every label cost about 800 bytes per object (16 MB at 10,000 Works, README Benchmarks); a
/// selection by any other label scans its kind.
const INDEXED: [&str; 2] = [WORK_LABEL, TARGET_DESTINATION_LABEL];

/// The indexed labels of an object.
fn indexed(obj: &AnyObject) -> impl Iterator<Item = (&'static str, &String)> {
    INDEXED.into_iter().filter_map(|name| obj.meta().labels.get(name).map(|v| (name, v)))
}

impl IndexedObjects {
    fn unindex(&mut self, r: &ObjectRef, obj: &AnyObject) {
        for (k, v) in indexed(obj) {
            let key = (r.kind, k, v.clone());
            if let Some(set) = self.by_label.get_mut(&key) {
                set.remove(r);
                if set.is_empty() {
                    self.by_label.remove(&key);
                }
            }
        }
    }

    /// The change count of `kind`.
    pub(crate) fn version(&self, kind: Kind) -> u64 {
        self.versions.get(&kind).copied().unwrap_or(0)
    }

    pub(crate) fn insert(&mut self, r: ObjectRef, obj: impl Into<Arc<AnyObject>>) {
        let obj = obj.into();
        *self.versions.entry(r.kind).or_default() += 1;
        if let Some(old) = self.map.get(&r) {
            if indexed(old).eq(indexed(&obj)) {
                self.map.insert(r, obj);
                return;
            }
            let old = old.clone();
            self.unindex(&r, &old);
        }
        for (k, v) in indexed(&obj) {
            self.by_label.entry((r.kind, k, v.clone())).or_default().insert(r.clone(), ());
        }
        self.map.insert(r, obj);
    }

    pub(crate) fn remove(&mut self, r: &ObjectRef) -> Option<Arc<AnyObject>> {
        let obj = self.map.remove(r)?;
        *self.versions.entry(r.kind).or_default() += 1;
        self.unindex(r, &obj);
        Some(obj)
    }

    pub(crate) fn get(&self, r: &ObjectRef) -> Option<&AnyObject> {
        self.map.get(r).map(|o| &**o)
    }

    /// The stored object itself, shared.
    pub(crate) fn get_shared(&self, r: &ObjectRef) -> Option<Arc<AnyObject>> {
        self.map.get(r).cloned()
    }

    pub(crate) fn contains_key(&self, r: &ObjectRef) -> bool {
        self.map.contains_key(r)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &AnyObject> {
        self.map.values().map(|o| &**o)
    }

    /// Objects of `kind`, in one namespace or all, carrying every label of `labels`, shared: callers
    /// copy them after letting go of the store's lock.
    pub(crate) fn select<'a>(
        &'a self,
        kind: Kind,
        namespace: Option<&'a str>,
        labels: &'a [(&'a str, &'a str)],
    ) -> Box<dyn Iterator<Item = &'a Arc<AnyObject>> + 'a> {
        let in_ns = move |r: &ObjectRef| namespace.is_none_or(|ns| r.namespace == ns);
        let has_all = move |o: &AnyObject| labels.iter().all(|(k, v)| o.meta().labels.get(*k).is_some_and(|x| x == v));
        let by_index =
            labels.iter().find_map(|(k, v)| INDEXED.into_iter().find(|name| name == k).map(|name| (name, v)));
        match by_index {
            Some((k, v)) => {
                let refs = self.by_label.get(&(kind, k, v.to_string()));
                Box::new(
                    refs.into_iter()
                        .flat_map(|set| set.keys())
                        .filter(move |r| in_ns(r))
                        .filter_map(|r| self.map.get(r))
                        .filter(move |o| has_all(o)),
                )
            }
            None => {
                let start = ObjectRef { kind, namespace: namespace.unwrap_or("").to_string(), name: String::new() };
                Box::new(
                    self.map
                        .range(start..)
                        .take_while(move |(r, _)| r.kind == kind && namespace.is_none_or(|ns| r.namespace == ns))
                        .map(|(_, o)| o)
                        .filter(move |o| has_all(o)),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::api::{WorkPlacement, WorkPlacementSpec};

    fn wp(ns: &str, name: &str, labels: &[(&str, &str)]) -> (ObjectRef, AnyObject) {
        let mut p = WorkPlacement::new(ns, name, WorkPlacementSpec::default());
        p.metadata.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let any = AnyObject::WorkPlacement(p);
        (any.object_ref(), any)
    }

    fn names(o: &IndexedObjects, ns: Option<&str>, labels: &[(&str, &str)]) -> Vec<String> {
        o.select(Kind::WorkPlacement, ns, labels).map(|o| o.meta().name.clone()).collect()
    }

    #[test]
    fn selection_by_label_follows_every_change_whether_the_label_is_indexed_or_not() {
        const W: &str = WORK_LABEL;
        const D: &str = TARGET_DESTINATION_LABEL;
        let mut o = IndexedObjects::default();
        for (ns, name, labels) in [
            ("a", "p1", vec![(W, "w1"), (D, "d1"), ("team", "x")]),
            ("a", "p2", vec![(W, "w1"), (D, "d2")]),
            ("b", "p3", vec![(W, "w1"), ("team", "x")]),
            ("a", "p4", vec![]),
        ] {
            let (r, obj) = wp(ns, name, &labels);
            o.insert(r, obj);
        }
        assert_eq!(names(&o, Some("a"), &[(W, "w1")]), vec!["p1", "p2"]);
        assert_eq!(names(&o, None, &[(W, "w1")]), vec!["p1", "p2", "p3"]);
        assert_eq!(names(&o, Some("a"), &[(W, "w1"), (D, "d2")]), vec!["p2"]);
        assert_eq!(names(&o, Some("a"), &[]), vec!["p1", "p2", "p4"]);
        // A label that is not indexed is found by a scan, alone or with an indexed one.
        assert_eq!(names(&o, None, &[("team", "x")]), vec!["p1", "p3"]);
        assert_eq!(names(&o, None, &[("team", "x"), (W, "w1")]), vec!["p1", "p3"]);
        assert_eq!(names(&o, Some("b"), &[("team", "x")]), vec!["p3"]);
        assert!(!o.by_label.keys().any(|(_, k, _)| *k == "team"), "only the listed-by labels are indexed");
        // Relabelled and removed objects leave the index.
        let (r, obj) = wp("a", "p1", &[(W, "w2")]);
        o.insert(r, obj);
        assert_eq!(names(&o, Some("a"), &[(W, "w1")]), vec!["p2"]);
        assert_eq!(names(&o, Some("a"), &[(W, "w2")]), vec!["p1"]);
        assert_eq!(names(&o, None, &[("team", "x")]), vec!["p3"]);
        o.remove(&wp("a", "p2", &[]).0);
        assert!(names(&o, None, &[(D, "d2")]).is_empty());
        assert!(!o.by_label.contains_key(&(Kind::WorkPlacement, D, "d2".into())));
    }
}
