//! `waybill validate`: every problem in a set of manifests, including the ones that only show when the
//! objects are read together (missing references, clashing Destination directories, duplicates).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use waybill_core::api::Destination;
use waybill_core::validation;
use waybill_core::{AnyObject, Kind, ObjectRef};

use crate::manifests::{self, Loaded};
use crate::occupancy::{self, Occupant};

/// What `validate` found: problems make the manifests invalid; warnings name references to objects
/// that are not among the given files (they may be applied separately, so Kratix's webhook admits such
/// a Destination with a warning too).
#[derive(Debug, Default)]
pub struct Findings {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

/// Problems and warnings in `paths` (files, or directories walked like a platform), one line each.
pub fn validate_paths(paths: &[PathBuf]) -> Findings {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut unreadable = Loaded::default();
    for p in paths {
        if p.is_dir() {
            let walk = manifests::walk_dir(p, &[]);
            unreadable.add_walk_failures(&walk, &cwd);
            files.extend(walk.files);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            problems.push(format!("{}: no such file or directory", p.display()));
        }
    }
    let loaded = manifests::load_files(&files, &cwd);
    problems.extend(unreadable.problems.iter().map(ToString::to_string));
    problems.extend(loaded.problems.iter().map(ToString::to_string));
    let mut warnings = Vec::new();
    problems.extend(cross_checks(&loaded, &cwd, &mut warnings));
    Findings { problems, warnings }
}

/// Relative local store URLs are resolved against `base_dir` (the current directory). Missing
/// references go to `warnings`.
fn cross_checks(loaded: &Loaded, base_dir: &std::path::Path, warnings: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut defined: BTreeMap<ObjectRef, &str> = BTreeMap::new();
    for (obj, file) in &loaded.objects {
        let id = obj.object_ref();
        if let Some(first) = defined.get(&id) {
            out.push(format!("{file} ({id}): metadata.name: already defined in {first}"));
        } else {
            defined.insert(id, file);
        }
        for e in validation::lint(obj).into_iter().filter(|e| !validation::validate(obj).contains(e)) {
            out.push(format!("{file} ({}): {e}", obj.object_ref()));
        }
    }
    let rejected: BTreeSet<ObjectRef> = loaded.rejected.iter().map(|(r, _)| r.clone()).collect();
    let exists = |r: &ObjectRef| defined.contains_key(r) || rejected.contains(r);
    let mut dests: Vec<(&Destination, &str)> = Vec::new();
    for (obj, file) in &loaded.objects {
        match obj {
            AnyObject::Destination(d) => {
                if let Some(r) = &d.spec.state_store_ref
                    && let Some(k) = r.store_kind()
                {
                    let store = ObjectRef::cluster(k.kind(), &r.name);
                    if !exists(&store) {
                        // Kratix's webhook wording: `referenced <Kind> "<name>" does not exist`.
                        warnings.push(format!(
                            "{file} ({}): spec.stateStoreRef: referenced {} {:?} does not exist in the given manifests",
                            obj.object_ref(),
                            r.kind,
                            r.name
                        ));
                    }
                }
                dests.push((d, file));
            }
            AnyObject::GitStateStore(_) | AnyObject::BucketStateStore(_) => {
                let secret = match obj {
                    AnyObject::GitStateStore(g) => g.spec.secret_ref.clone(),
                    AnyObject::BucketStateStore(b) => b.spec.secret_ref.clone(),
                    _ => None,
                };
                if let Some(s) = secret.filter(|s| !s.name.is_empty()) {
                    let r = ObjectRef::new(Kind::Secret, s.effective_namespace(), &s.name);
                    if !exists(&r) {
                        warnings.push(format!(
                            "{file} ({}): spec.secretRef: referenced Secret {:?} in namespace {:?} does not exist in the given manifests",
                            obj.object_ref(),
                            s.name,
                            s.effective_namespace()
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    dests.sort_by(|a, b| a.0.metadata.name.cmp(&b.0.metadata.name));
    let stores: BTreeMap<ObjectRef, &AnyObject> = loaded
        .objects
        .iter()
        .filter(|(o, _)| occupancy::is_store(o.kind()))
        .map(|(o, _)| (o.object_ref(), o))
        .collect();
    let mut accepted: Vec<Occupant> = Vec::new();
    for (d, file) in dests {
        let store = occupancy::store_of(d).and_then(|r| stores.get(&r).copied());
        let Some(me) = occupancy::occupant(d, store, base_dir) else { continue };
        match occupancy::clash(&accepted, &me) {
            Some(other) => out.push(format!(
                "{file} (Destination/{}): spec.path: {}",
                d.metadata.name,
                occupancy::reason(&me, other)
            )),
            None => accepted.push(me),
        }
    }
    out
}
