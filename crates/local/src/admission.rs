//! Admission: turning the manifests on disk into objects in the store, as an API server with Kratix's
//! webhooks would. Refused documents keep their object's last accepted state; objects whose manifest
//! disappeared are deleted (finalizers apply); Destinations whose directories clash are refused
//! (difference 17).

use std::collections::{BTreeMap, BTreeSet};

use waybill_core::api::Destination;
use waybill_core::layout::StorePath;
use waybill_core::manifest::Problem;
use waybill_core::validation::FieldError;
use waybill_core::{AnyObject, Kind, ObjectRef};

use crate::manifests::Loaded;
use crate::objects::ObjectStore;

/// What one admission pass did.
#[derive(Debug, Default, Clone)]
pub struct AdmissionReport {
    /// Objects created or changed.
    pub applied: usize,
    /// Objects whose deletion was requested.
    pub deleted: usize,
    /// Every problem, one line each (file, document, object, field, reason).
    pub problems: Vec<String>,
}

/// A Destination's store and directory, for clash detection.
fn occupancy(d: &Destination) -> Option<(String, StorePath)> {
    let r = d.spec.state_store_ref.as_ref()?;
    Some((format!("{}/{}", r.kind, r.name), StorePath::for_destination(d).ok()?))
}

fn overlaps(a: &StorePath, b: &StorePath) -> bool {
    a.contains(b) || b.contains(a)
}

/// Applies `loaded` to `store`; see the module documentation.
pub fn admit(store: &ObjectStore, loaded: &Loaded) -> AdmissionReport {
    let mut report = AdmissionReport::default();
    let mut problems: Vec<Problem> = loaded.problems.clone();
    let mut rejected: BTreeMap<ObjectRef, Problem> = BTreeMap::new();
    for (id, p) in &loaded.rejected {
        rejected.entry(id.clone()).or_insert_with(|| p.clone());
    }

    // Desired objects, first document wins for a duplicated identity.
    let mut desired: BTreeMap<ObjectRef, (&AnyObject, &str)> = BTreeMap::new();
    for (obj, file) in &loaded.objects {
        let id = obj.object_ref();
        if let Some((_, first)) = desired.get(&id) {
            problems.push(Problem {
                file: file.clone(),
                position: String::new(),
                identity: Some(id.clone()),
                error: FieldError::new("metadata.name", format!("{id} is already defined in {first}")),
            });
            continue;
        }
        if rejected.contains_key(&id) {
            continue;
        }
        desired.insert(id, (obj, file.as_str()));
    }

    // Deletions: manifest objects that are neither desired, refused, nor from a file that failed to parse.
    for (id, source) in store.manifest_objects() {
        let retained = rejected.contains_key(&id) || loaded.failed_files.contains(&source);
        if !desired.contains_key(&id) && !retained && store.delete_ref(&id).is_ok() {
            report.deleted += 1;
        }
    }

    // Destination directory clashes, oldest accepted first.
    let mut stored: Vec<Destination> = store
        .all_of(Kind::Destination)
        .into_iter()
        .filter_map(|o| match o {
            AnyObject::Destination(d) => Some(d),
            _ => None,
        })
        .collect();
    stored.sort_by(|a, b| {
        (&a.metadata.creation_timestamp, &a.metadata.name).cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
    });
    let stored_names: BTreeSet<String> = stored.iter().map(|d| d.metadata.name.clone()).collect();
    let mut order: Vec<(String, Option<Destination>)> =
        stored.into_iter().map(|d| (d.metadata.name.clone(), Some(d))).collect();
    for (id, _) in desired.iter().filter(|(id, _)| id.kind == Kind::Destination && !stored_names.contains(&id.name)) {
        order.push((id.name.clone(), None));
    }
    let mut accepted: Vec<(String, String, StorePath)> = Vec::new();
    for (name, current) in order {
        let id = ObjectRef::cluster(Kind::Destination, &name);
        let wanted = desired.get(&id).and_then(|(o, f)| match o {
            AnyObject::Destination(d) => Some((d, *f)),
            _ => None,
        });
        if let Some((d, file)) = wanted
            && let Some((store_key, dir)) = occupancy(d)
        {
            let clash = accepted.iter().find(|(_, k, other)| *k == store_key && overlaps(&dir, other));
            if let Some((other_name, _, other_dir)) = clash {
                let reason = format!(
                    "directory {:?} overlaps directory {:?} of Destination {other_name:?} on {store_key}",
                    display_dir(&dir),
                    display_dir(other_dir)
                );
                let problem = Problem {
                    file: file.to_string(),
                    position: String::new(),
                    identity: Some(id.clone()),
                    error: FieldError::new("spec.path", reason),
                };
                problems.push(problem.clone());
                rejected.insert(id.clone(), problem);
                desired.remove(&id);
            } else {
                accepted.push((name, store_key, dir));
                continue;
            }
        }
        if let Some(occupied) = current.as_ref().and_then(occupancy) {
            accepted.push((name, occupied.0, occupied.1));
        }
    }

    for (obj, file) in desired.values() {
        if store.apply_manifest((*obj).clone(), file) {
            report.applied += 1;
        }
    }

    report.problems = problems.iter().map(ToString::to_string).collect();
    let rejections = rejected.into_iter().map(|(id, p)| (id, p.to_string())).collect();
    store.record_admission(rejections, report.problems.clone());
    report
}

fn display_dir(dir: &StorePath) -> String {
    if dir.is_root() { ".".to_string() } else { dir.to_string() }
}
