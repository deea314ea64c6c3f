//! Admission: turning the manifests on disk into objects in the store, as an API server with Kratix's
//! webhooks would. Refused documents keep their object's last accepted state; objects whose manifest
//! disappeared are deleted (finalizers apply); Destinations whose directories clash are refused
//! (compatibility D17).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use waybill_core::api::Destination;
use waybill_core::manifest::Problem;
use waybill_core::validation::FieldError;
use waybill_core::{AnyObject, Kind, ObjectRef};

use crate::manifests::Loaded;
use crate::objects::ObjectStore;
use crate::occupancy::{self, Occupant};

/// What one admission pass did.
#[derive(Debug, Default, Clone)]
pub struct AdmissionReport {
    /// Objects created or changed.
    pub applied: usize,
    /// Objects whose deletion was requested.
    pub deleted: usize,
    /// Every problem, one line each (file, document, object, field, reason).
    pub problems: Vec<String>,
    /// Objects missing from the manifests whose deletion waits until the change has settled.
    pub held: Vec<(ObjectRef, String)>,
    /// When the next held deletion may happen: reload then.
    pub next_check: Option<Duration>,
    /// Files with an object refused here (they are read again next time, to report it again).
    pub refused_files: BTreeSet<String>,
}

/// Applies `loaded` to `store`; see the module documentation. `wait` tells, per manifest file, how long
/// deletions caused by its change must still wait ([`crate::settle`]); `None` means now.
/// Relative local store URLs are resolved against `base_dir` (the platform directory).
pub fn admit(
    store: &ObjectStore,
    loaded: &Loaded,
    base_dir: &Path,
    wait: &dyn Fn(&str) -> Option<Duration>,
) -> AdmissionReport {
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

    // Deletions: manifest objects that are neither desired, refused, nor from a file that failed to
    // parse or did not change, once the change that removed them has settled.
    let unchanged: BTreeSet<&ObjectRef> = loaded.unchanged.iter().map(|(id, _)| id).collect();
    for (id, source) in store.manifest_objects() {
        let retained = rejected.contains_key(&id) || loaded.retains(&source) || unchanged.contains(&id);
        if desired.contains_key(&id) || retained {
            continue;
        }
        match wait(&source) {
            None => {
                if store.delete_ref(&id).is_ok() {
                    report.deleted += 1;
                }
            }
            Some(left) => {
                report.next_check = Some(report.next_check.map_or(left, |n| n.min(left)));
                report.held.push((id, source));
            }
        }
    }
    report.held.sort();

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
    // `spec.filepath.mode` is immutable (Kratix's CRD rule `self == oldSelf`, defaulted value included):
    // a changed mode is refused and the accepted version stays in effect.
    for current in order.iter().filter_map(|(_, c)| c.as_ref()) {
        let id = ObjectRef::cluster(Kind::Destination, &current.metadata.name);
        let Some((AnyObject::Destination(d), file)) = desired.get(&id).map(|(o, f)| (*o, *f)) else { continue };
        let (was, wants) = (current.spec.filepath.mode, d.spec.filepath.mode);
        if was != wants {
            let reason = format!(
                "is immutable: it is {was} and cannot become {wants}; delete the Destination and create it again to \
                 change its layout"
            );
            let problem = Problem {
                file: file.to_string(),
                position: String::new(),
                identity: Some(id.clone()),
                error: FieldError::new("spec.filepath.mode", reason),
            };
            problems.push(problem.clone());
            rejected.insert(id.clone(), problem);
            desired.remove(&id);
        }
    }
    // A Destination's store as it will be: the manifest's version, else the stored one.
    let desired_stores: BTreeMap<ObjectRef, AnyObject> = desired
        .iter()
        .filter(|(id, _)| occupancy::is_store(id.kind))
        .map(|(id, (o, _))| (id.clone(), (*o).clone()))
        .collect();
    let store_object = |d: &Destination| -> Option<AnyObject> {
        let r = occupancy::store_of(d)?;
        desired_stores.get(&r).cloned().or_else(|| store.get_any(&r))
    };
    let mut accepted: Vec<Occupant> = Vec::new();
    for (name, current) in order {
        let id = ObjectRef::cluster(Kind::Destination, &name);
        let wanted = desired.get(&id).and_then(|(o, f)| match o {
            AnyObject::Destination(d) => Some((d.clone(), *f)),
            _ => None,
        });
        if let Some((d, file)) = wanted
            && let Some(me) = occupancy::occupant(&d, store_object(&d).as_ref(), base_dir)
        {
            if let Some(other) = occupancy::clash(&accepted, &me) {
                let problem = Problem {
                    file: file.to_string(),
                    position: String::new(),
                    identity: Some(id.clone()),
                    error: FieldError::new("spec.path", occupancy::reason(&me, other)),
                };
                problems.push(problem.clone());
                rejected.insert(id.clone(), problem);
                desired.remove(&id);
            } else {
                accepted.push(me);
                continue;
            }
        }
        if let Some(occupied) =
            current.as_ref().and_then(|d| occupancy::occupant(d, store_object(d).as_ref(), base_dir))
        {
            accepted.push(occupied);
        }
    }

    for (obj, file) in desired.values() {
        if store.apply_manifest((*obj).clone(), file) {
            report.applied += 1;
        }
    }

    report.refused_files = rejected.values().map(|p| p.file.clone()).collect();
    report.problems = problems.iter().map(ToString::to_string).collect();
    let rejections = rejected.into_iter().map(|(id, p)| (id, p.to_string())).collect();
    store.record_admission(rejections, report.problems.clone());
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::Loaded;
    use waybill_core::api::{DestinationSpec, FilepathMode, StateStoreRef};

    fn dest(name: &str, kind: &str, store: &str, path: &str) -> AnyObject {
        AnyObject::Destination(Destination::new(
            name,
            DestinationSpec {
                path: Some(path.into()),
                state_store_ref: Some(StateStoreRef { kind: kind.into(), name: store.into() }),
                ..Default::default()
            },
        ))
    }

    fn admitted(objects: Vec<AnyObject>) -> (Vec<String>, AdmissionReport) {
        let store = ObjectStore::new(Vec::new(), None);
        let loaded =
            Loaded { objects: objects.into_iter().map(|o| (o, "d.yaml".to_string())).collect(), ..Default::default() };
        let report = admit(&store, &loaded, Path::new("/platform"), &|_| None);
        let names = store.all_of(Kind::Destination).iter().map(|o| o.meta().name.clone()).collect();
        (names, report)
    }

    /// Kratix's path clash check (compatibility C16) with D17: paths are compared after normalisation,
    /// nesting clashes too, and only Destinations on the same store compete.
    #[test]
    fn destination_directories_clash_after_normalisation_on_the_same_store_only() {
        let cases: Vec<(Vec<AnyObject>, Vec<&str>)> = vec![
            (
                vec![dest("a", "GitStateStore", "s", "existing-path"), dest("b", "GitStateStore", "s", "unique")],
                vec!["a", "b"],
            ),
            (
                vec![
                    dest("a", "GitStateStore", "s", "existing-path"),
                    dest("b", "GitStateStore", "s", "existing-path"),
                ],
                vec!["a"],
            ),
            (vec![dest("a", "GitStateStore", "s", "x"), dest("b", "GitStateStore", "s", "./x/")], vec!["a"]),
            (vec![dest("a", "GitStateStore", "s", "x"), dest("b", "GitStateStore", "s", "x/y")], vec!["a"]),
            (vec![dest("a", "GitStateStore", "s", "."), dest("b", "GitStateStore", "s", "/")], vec!["a"]),
            (vec![dest("a", "GitStateStore", "s", "x"), dest("b", "BucketStateStore", "s", "x")], vec!["a", "b"]),
            (vec![dest("a", "GitStateStore", "s", "x"), dest("b", "GitStateStore", "other", "x")], vec!["a", "b"]),
            (vec![dest("a", "GitStateStore", "s", "ab"), dest("b", "GitStateStore", "s", "a")], vec!["a", "b"]),
        ];
        for (objects, want) in cases {
            let (names, report) = admitted(objects);
            assert_eq!(names, want);
            if want.len() == 1 {
                assert_eq!(report.problems.len(), 1);
                assert!(report.problems[0].contains("(Destination/b): spec.path: directory"), "{:?}", report.problems);
                assert!(
                    report.problems[0].contains("of Destination \"a\" on GitStateStore/s"),
                    "{:?}",
                    report.problems
                );
            }
        }
    }

    #[test]
    fn the_filepath_mode_of_an_accepted_destination_cannot_change() {
        let store = ObjectStore::new(Vec::new(), None);
        let admitted = |mode: FilepathMode| {
            let mut d = dest("d", "GitStateStore", "s", "p");
            if let AnyObject::Destination(dd) = &mut d {
                dd.spec.filepath.mode = mode;
            }
            admit(
                &store,
                &Loaded { objects: vec![(d, "d.yaml".into())], ..Default::default() },
                Path::new("/p"),
                &|_| None,
            )
        };
        assert!(admitted(FilepathMode::NestedByMetadata).problems.is_empty());
        let report = admitted(FilepathMode::None);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(
            report.problems[0].contains("spec.filepath.mode: is immutable: it is nestedByMetadata"),
            "{:?}",
            report.problems
        );
        let kept = store.get_any(&ObjectRef::cluster(Kind::Destination, "d")).unwrap();
        assert!(matches!(kept, AnyObject::Destination(d) if d.spec.filepath.mode == FilepathMode::NestedByMetadata));
        assert!(store.rejections().contains_key(&ObjectRef::cluster(Kind::Destination, "d")));
    }

    #[test]
    fn an_accepted_destination_keeps_its_directory_against_a_newcomer_with_an_earlier_name() {
        let store = ObjectStore::new(Vec::new(), None);
        let first =
            Loaded { objects: vec![(dest("zz", "GitStateStore", "s", "p"), "a.yaml".into())], ..Default::default() };
        admit(&store, &first, Path::new("/platform"), &|_| None);
        let both = Loaded {
            objects: vec![
                (dest("zz", "GitStateStore", "s", "p"), "a.yaml".into()),
                (dest("aa", "GitStateStore", "s", "p/q"), "b.yaml".into()),
            ],
            ..Default::default()
        };
        let report = admit(&store, &both, Path::new("/platform"), &|_| None);
        let names: Vec<String> = store.all_of(Kind::Destination).iter().map(|o| o.meta().name.clone()).collect();
        assert_eq!(names, vec!["zz"]);
        assert!(report.problems[0].contains("Destination/aa"));
        assert!(store.rejections().contains_key(&ObjectRef::cluster(Kind::Destination, "aa")));
    }
}
