//! Which objects must be reconciled when another one changes: the watches and mappings of Kratix's
//! controllers (§4.2, §5.1, §6.4, §7), narrowed so status writes never loop back on themselves.

use waybill_core::api::Destination;
use waybill_core::conditions::{WRITE_SUCCEEDED, placement as wp};
use waybill_core::labels::{TARGET_DESTINATION_LABEL, WORK_LABEL};
use waybill_core::meta::find_condition;
use waybill_core::{AnyObject, Kind, ObjectRef};

use crate::objects::{Change, ChangeKind, ObjectStore};

fn store_ref_of(d: &Destination) -> Option<ObjectRef> {
    let r = d.spec.state_store_ref.as_ref()?;
    Some(ObjectRef::cluster(r.store_kind()?.kind(), &r.name))
}

fn destinations_on(store: &ObjectStore, store_ref: &ObjectRef) -> Vec<ObjectRef> {
    store.refs_where(Kind::Destination, |o| match o {
        AnyObject::Destination(d) => store_ref_of(d).as_ref() == Some(store_ref),
        _ => false,
    })
}

fn placements_on(store: &ObjectStore, destinations: &[ObjectRef]) -> Vec<ObjectRef> {
    store.refs_where(Kind::WorkPlacement, |o| {
        o.meta().labels.get(TARGET_DESTINATION_LABEL).is_some_and(|t| destinations.iter().any(|d| &d.name == t))
            || matches!(o, AnyObject::WorkPlacement(p) if destinations.iter().any(|d| d.name == p.spec.target_destination_name))
    })
}

/// Placements on `destination` (other than `except`) refused with `PathConflict`.
fn refused_on(store: &ObjectStore, destination: &str, except: &ObjectRef) -> Vec<ObjectRef> {
    store.refs_where(Kind::WorkPlacement, |o| match o {
        AnyObject::WorkPlacement(p) => {
            p.spec.target_destination_name == destination
                && (p.metadata.ns(), p.metadata.name.as_str()) != (except.namespace.as_str(), except.name.as_str())
                && find_condition(p.conditions(), WRITE_SUCCEEDED).is_some_and(|c| c.reason == wp::PATH_CONFLICT)
        }
        _ => false,
    })
}

/// The objects waiting for a state store whose writer was just put in place.
pub fn store_became_ready(store: &ObjectStore, store_ref: &ObjectRef) -> Vec<ObjectRef> {
    let dests = destinations_on(store, store_ref);
    let mut out = placements_on(store, &dests);
    out.extend(dests);
    out
}

/// The objects to reconcile because of `change`.
pub fn triggers(store: &ObjectStore, change: &Change) -> Vec<ObjectRef> {
    let obj: &AnyObject = &change.object;
    let me = obj.object_ref();
    let mut out = Vec::new();
    let meta_or_spec = matches!(change.kind, ChangeKind::Created | ChangeKind::Updated { .. });
    match obj {
        AnyObject::Secret(s) => {
            let (ns, name) = (s.metadata.ns().to_string(), s.metadata.name.clone());
            let uses = |r: Option<&waybill_core::api::SecretRef>| {
                r.is_some_and(|r| r.name == name && r.effective_namespace() == ns)
            };
            out.extend(store.refs_where(
                Kind::GitStateStore,
                |o| matches!(o, AnyObject::GitStateStore(g) if uses(g.spec.secret_ref.as_ref())),
            ));
            out.extend(store.refs_where(
                Kind::BucketStateStore,
                |o| matches!(o, AnyObject::BucketStateStore(b) if uses(b.spec.secret_ref.as_ref())),
            ));
        }
        AnyObject::GitStateStore(_) | AnyObject::BucketStateStore(_) => {
            if meta_or_spec || change.kind == ChangeKind::Removed {
                out.push(me.clone());
            }
            if matches!(change.kind, ChangeKind::StatusChanged | ChangeKind::Removed) {
                let dests = destinations_on(store, &me);
                out.extend(placements_on(store, &dests));
                out.extend(dests);
            }
        }
        AnyObject::Destination(_) => {
            if meta_or_spec {
                out.push(me.clone());
            }
            if change.kind != ChangeKind::StatusChanged {
                out.extend(store.refs_where(Kind::Work, |_| true));
                out.extend(placements_on(store, std::slice::from_ref(&me)));
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
            if matches!(change.kind, ChangeKind::Removed | ChangeKind::Updated { deletion_started: true, .. }) {
                out.extend(refused_on(store, &p.spec.target_destination_name, &me));
            }
            match change.kind {
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
                    if store.get_any(&dest).is_some_and(|d| d.meta().is_deleting()) {
                        out.push(dest);
                    }
                }
            }
        }
    }
    out
}
