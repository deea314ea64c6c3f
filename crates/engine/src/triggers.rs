//! Which objects must be reconciled when another one changes: the watches and mappings of Kratix's
//! controllers (`docs/kubernetes.md`), narrowed so status writes never loop back on themselves.
//!
//! Pure functions over a read-only [`Lookup`], so the embedded runner and a Kubernetes controller's
//! watches map changes the same way.

use waybill_core::api::{Destination, SecretRef};
use waybill_core::conditions::{WRITE_SUCCEEDED, placement as wp};
use waybill_core::labels::{TARGET_DESTINATION_LABEL, WORK_LABEL};
use waybill_core::meta::find_condition;
use waybill_core::scheduling::may_place_on;
use waybill_core::{AnyObject, Kind, ObjectRef};

/// What changed about an object, as a watch reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    /// Metadata or spec changed (labels, finalizers, deletion started, generation).
    Updated {
        spec: bool,
        deletion_started: bool,
    },
    StatusChanged,
    Removed,
}

/// A read-only view of the objects a control plane holds (a cache or a store).
pub trait Lookup {
    /// References to the objects of `kind` for which `pred` holds.
    fn refs_where(&self, kind: Kind, pred: &dyn Fn(&AnyObject) -> bool) -> Vec<ObjectRef>;
    /// Whether the object exists and its deletion has started.
    fn is_deleting(&self, r: &ObjectRef) -> bool;
}

fn store_ref_of(d: &Destination) -> Option<ObjectRef> {
    let r = d.spec.state_store_ref.as_ref()?;
    Some(ObjectRef::cluster(r.store_kind()?.kind(), &r.name))
}

fn destinations_on(lookup: &impl Lookup, store_ref: &ObjectRef) -> Vec<ObjectRef> {
    lookup.refs_where(Kind::Destination, &|o| match o {
        AnyObject::Destination(d) => store_ref_of(d).as_ref() == Some(store_ref),
        _ => false,
    })
}

fn placements_on(lookup: &impl Lookup, destinations: &[ObjectRef]) -> Vec<ObjectRef> {
    lookup.refs_where(Kind::WorkPlacement, &|o| {
        o.meta().labels.get(TARGET_DESTINATION_LABEL).is_some_and(|t| destinations.iter().any(|d| &d.name == t))
            || matches!(o, AnyObject::WorkPlacement(p) if destinations.iter().any(|d| d.name == p.spec.target_destination_name))
    })
}

/// The Works owning a placement on `destination`.
fn works_placed_on(lookup: &impl Lookup, destination: &str) -> Vec<ObjectRef> {
    let owners = std::cell::RefCell::new(Vec::new());
    lookup.refs_where(Kind::WorkPlacement, &|o| {
        if let AnyObject::WorkPlacement(p) = o
            && p.spec.target_destination_name == destination
            && let Some(work) = p.metadata.labels.get(WORK_LABEL)
        {
            owners.borrow_mut().push(ObjectRef::new(Kind::Work, p.metadata.ns(), work));
        }
        false
    });
    owners.into_inner()
}

/// Placements on `destination` (other than `except`) refused with `PathConflict`.
fn refused_on(lookup: &impl Lookup, destination: &str, except: &ObjectRef) -> Vec<ObjectRef> {
    lookup.refs_where(Kind::WorkPlacement, &|o| match o {
        AnyObject::WorkPlacement(p) => {
            p.spec.target_destination_name == destination
                && (p.metadata.ns(), p.metadata.name.as_str()) != (except.namespace.as_str(), except.name.as_str())
                && find_condition(p.conditions(), WRITE_SUCCEEDED).is_some_and(|c| c.reason == wp::PATH_CONFLICT)
        }
        _ => false,
    })
}

/// The state stores that read `secret` (`namespace/name`).
pub fn stores_using_secret(lookup: &impl Lookup, namespace: &str, name: &str) -> Vec<ObjectRef> {
    let uses = |r: Option<&SecretRef>| r.is_some_and(|r| r.name == name && r.effective_namespace() == namespace);
    let mut out = lookup.refs_where(
        Kind::GitStateStore,
        &|o| matches!(o, AnyObject::GitStateStore(g) if uses(g.spec.secret_ref.as_ref())),
    );
    out.extend(lookup.refs_where(
        Kind::BucketStateStore,
        &|o| matches!(o, AnyObject::BucketStateStore(b) if uses(b.spec.secret_ref.as_ref())),
    ));
    out
}

/// The objects waiting for a state store whose writer was just put in place.
pub fn store_became_ready(lookup: &impl Lookup, store_ref: &ObjectRef) -> Vec<ObjectRef> {
    let dests = destinations_on(lookup, store_ref);
    let mut out = placements_on(lookup, &dests);
    out.extend(dests);
    out
}

/// The objects to reconcile because `obj` changed as `kind` says (`obj` is the new state, the last one
/// for [`ChangeKind::Removed`]).
pub fn triggers(lookup: &impl Lookup, kind: ChangeKind, obj: &AnyObject) -> Vec<ObjectRef> {
    let me = obj.object_ref();
    let mut out = Vec::new();
    let meta_or_spec = matches!(kind, ChangeKind::Created | ChangeKind::Updated { .. });
    match obj {
        AnyObject::Secret(s) => out.extend(stores_using_secret(lookup, s.metadata.ns(), &s.metadata.name)),
        AnyObject::GitStateStore(_) | AnyObject::BucketStateStore(_) => {
            if meta_or_spec || kind == ChangeKind::Removed {
                out.push(me.clone());
            }
            if matches!(kind, ChangeKind::StatusChanged | ChangeKind::Removed) {
                out.extend(store_became_ready(lookup, &me));
            }
        }
        AnyObject::Destination(d) => {
            if meta_or_spec {
                out.push(me.clone());
            }
            if kind != ChangeKind::StatusChanged {
                // Not every Work: those that could now be placed here, and those placed here already
                // (which may now be misplaced or must be placed elsewhere).
                out.extend(lookup.refs_where(Kind::Work, &|o| matches!(o, AnyObject::Work(w) if may_place_on(w, d))));
                out.extend(works_placed_on(lookup, &d.metadata.name));
                out.extend(placements_on(lookup, std::slice::from_ref(&me)));
            }
        }
        AnyObject::Work(_) => {
            if meta_or_spec {
                out.push(me);
            }
        }
        AnyObject::WorkPlacement(p) => {
            let owner = p.metadata.labels.get(WORK_LABEL).map(|w| ObjectRef::new(Kind::Work, p.metadata.ns(), w));
            // Placements refused because this one owned their paths may take them now.
            if matches!(kind, ChangeKind::Removed | ChangeKind::Updated { deletion_started: true, .. }) {
                out.extend(refused_on(lookup, &p.spec.target_destination_name, &me));
            }
            match kind {
                ChangeKind::Created => out.push(me),
                ChangeKind::Updated { spec, deletion_started } => {
                    if spec || deletion_started {
                        out.push(me);
                    }
                }
                ChangeKind::StatusChanged => out.extend(owner),
                ChangeKind::Removed => {
                    out.extend(owner);
                    // A Destination deleting with cleanup: all waits for its placements to go.
                    let dest = ObjectRef::cluster(Kind::Destination, &p.spec.target_destination_name);
                    if lookup.is_deleting(&dest) {
                        out.push(dest);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use waybill_core::api::{
        Destination, DestinationSelector, DestinationSpec, GitStateStore, GitStateStoreSpec, Secret, SecretRef,
        StateStoreRef, Work, WorkPlacement, WorkPlacementSpec, WorkSpec, WorkloadGroup,
    };
    use waybill_core::{AnyObject, Kind, ObjectRef, Resource};

    use super::{ChangeKind, Lookup, triggers};

    struct Objects(Vec<AnyObject>);

    impl Lookup for Objects {
        fn refs_where(&self, kind: Kind, pred: &dyn Fn(&AnyObject) -> bool) -> Vec<ObjectRef> {
            self.0.iter().filter(|o| o.kind() == kind && pred(o)).map(AnyObject::object_ref).collect()
        }
        fn is_deleting(&self, r: &ObjectRef) -> bool {
            self.0.iter().any(|o| &o.object_ref() == r && o.meta().is_deleting())
        }
    }

    fn platform() -> Objects {
        let mut store = GitStateStore::new("git", GitStateStoreSpec::default());
        store.spec.secret_ref = Some(SecretRef { name: "creds".into(), namespace: "default".into() });
        let dest = Destination::new(
            "worker",
            DestinationSpec {
                state_store_ref: Some(StateStoreRef { kind: "GitStateStore".into(), name: "git".into() }),
                ..Default::default()
            },
        );
        let work = Work::new("default", "w", WorkSpec::default());
        // Selects other Destinations and is placed on none of worker's: a change to worker cannot matter.
        let elsewhere = Work::new(
            "default",
            "elsewhere",
            WorkSpec {
                workload_groups: vec![WorkloadGroup {
                    destination_selectors: vec![DestinationSelector {
                        match_labels: [("env".to_string(), "prod".to_string())].into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        );
        // Would match worker (no selector, worker is not strict): may be placed there now.
        let anywhere = Work::new(
            "default",
            "anywhere",
            WorkSpec { workload_groups: vec![WorkloadGroup::default()], ..Default::default() },
        );
        let mut placement = WorkPlacement::new(
            "default",
            "w.worker",
            WorkPlacementSpec { target_destination_name: "worker".into(), ..Default::default() },
        );
        placement.metadata.labels.insert("kratix.io/work".into(), "w".into());
        Objects(vec![
            store.into_any(),
            dest.into_any(),
            work.into_any(),
            elsewhere.into_any(),
            anywhere.into_any(),
            placement.into_any(),
            Secret::new("default", "creds").into_any(),
        ])
    }

    fn names(refs: Vec<ObjectRef>) -> Vec<String> {
        let mut out: Vec<String> = refs.iter().map(|r| format!("{:?}/{}", r.kind, r.name)).collect();
        out.sort();
        out
    }

    #[test]
    fn each_change_reconciles_exactly_the_objects_that_depend_on_it() {
        let objects = platform();
        let find = |kind: Kind| objects.0.iter().find(|o| o.kind() == kind).expect("in the platform").clone();
        // `find(Kind::Work)` is `w`, the first Work.
        let spec = ChangeKind::Updated { spec: true, deletion_started: false };
        let cases: &[(Kind, ChangeKind, &[&str])] = &[
            (Kind::Secret, spec, &["GitStateStore/git"]),
            (Kind::GitStateStore, spec, &["GitStateStore/git"]),
            (Kind::GitStateStore, ChangeKind::StatusChanged, &["Destination/worker", "WorkPlacement/w.worker"]),
            (Kind::Destination, ChangeKind::StatusChanged, &[]),
            (Kind::Destination, spec, &["Destination/worker", "Work/anywhere", "Work/w", "WorkPlacement/w.worker"]),
            (Kind::Work, spec, &["Work/w"]),
            (Kind::Work, ChangeKind::StatusChanged, &[]),
            (Kind::WorkPlacement, ChangeKind::StatusChanged, &["Work/w"]),
            (Kind::WorkPlacement, ChangeKind::Created, &["WorkPlacement/w.worker"]),
            (Kind::WorkPlacement, ChangeKind::Removed, &["Work/w"]),
        ];
        for (kind, change, expected) in cases {
            let got = names(triggers(&objects, *change, &find(*kind)));
            assert_eq!(got, *expected, "{kind:?} {change:?}");
        }
    }
}
