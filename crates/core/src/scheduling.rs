//! The scheduler's decisions (compatibility C10): which Destinations are candidates for a workload group,
//! which placements a Work should have, which are misplaced, and which are stale.
//!
//! Pure: the reconciler lists Destinations and the Work's placements, calls [`plan`], and applies the
//! result. Resource requests pick their one Destination by rendezvous hashing instead of Kratix's
//! `math/rand` (compatibility D21), so a restart or a replayed reconcile never moves a placement.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::api::{Destination, Resource, Work, WorkPlacement, WorkPlacementSpec};
use crate::labels::{
    DRY_RUN_LABEL, MISPLACED_LABEL, PIPELINE_NAME_LABEL, REPO_CLEANUP_FINALIZER, TARGET_DESTINATION_LABEL,
    TRACE_ANNOTATIONS, WORK_LABEL, WORKLOAD_GROUP_ID_LABEL,
};
use crate::meta::{ObjectMeta, OwnerReference};
use crate::names::placement_name;
use crate::selector::{self, Selector};

/// How one workload group fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupOutcome {
    Scheduled,
    Misplaced,
    Unscheduled,
}

/// What the reconciler must do to a placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Created,
    Updated,
    Unchanged,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Created => "created",
            Operation::Updated => "updated",
            Operation::Unchanged => "unchanged",
        }
    }
}

/// One placement the Work should have, as it should be stored.
#[derive(Debug, Clone)]
pub struct PlannedPlacement {
    pub placement: WorkPlacement,
    pub misplaced: bool,
    /// The target Destination no longer exists: the placement stays misplaced until someone deletes
    /// it (Kratix never moves it), so the reconciler says so in plain words.
    pub target_gone: bool,
    pub operation: Operation,
}

/// The scheduler's decision for one Work.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Outcome per workload group id, in the Work's order.
    pub groups: Vec<(String, GroupOutcome)>,
    pub placements: Vec<PlannedPlacement>,
    /// Names of existing placements no current group accounts for.
    pub stale: Vec<String>,
}

impl Plan {
    pub fn ids_with(&self, outcome: GroupOutcome) -> Vec<String> {
        self.groups.iter().filter(|(_, o)| *o == outcome).map(|(id, _)| id.clone()).collect()
    }
}

/// Whether the Work asks for dry-run Destinations only.
pub fn is_dry_run(work: &Work) -> bool {
    work.metadata.labels.get(DRY_RUN_LABEL).is_some_and(|v| v == "true")
}

/// Candidate Destinations for `selector` (compatibility C10): matching, not being deleted, not strict when the
/// selector is empty, and dry-run only for dry-run selectors.
pub fn candidates<'a>(selector: &Selector, destinations: &'a [Destination]) -> Vec<&'a Destination> {
    let wants_dry_run = selector.requires(DRY_RUN_LABEL, "true");
    destinations
        .iter()
        .filter(|d| selector.is_empty() || selector.matches(&d.metadata.labels))
        .filter(|d| !d.metadata.is_deleting())
        .filter(|d| !(selector.is_empty() && d.spec.strict_match_labels && !d.metadata.labels.is_empty()))
        .filter(|d| wants_dry_run || d.metadata.labels.get(DRY_RUN_LABEL).is_none_or(|v| v != "true"))
        .collect()
}

/// The first selector label value of `work` that is not a valid label value, as Kubernetes' label
/// selector parser refuses it: Kratix admits such a Work and fails to schedule it.
pub fn invalid_selector(work: &Work) -> Option<String> {
    for group in &work.spec.workload_groups {
        for selector in &group.destination_selectors {
            for (key, value) in &selector.match_labels {
                if let Some(e) = crate::labels::label_value_error(value) {
                    return Some(format!(
                        "invalid label value {value:?} for key {key:?} in group {}: {e}",
                        group.effective_id()
                    ));
                }
            }
        }
    }
    None
}

/// Whether some group of `work` could be placed on `dest` as it is now: when a Destination changes, only
/// these Works and the ones already placed on it can have a different plan.
pub fn may_place_on(work: &Work, dest: &Destination) -> bool {
    let dry_run = is_dry_run(work);
    work.spec.workload_groups.iter().any(|group| {
        let selector = if dry_run {
            Selector::labels([(DRY_RUN_LABEL, "true")])
        } else {
            selector::resolve(&group.destination_selectors)
        };
        !candidates(&selector, std::slice::from_ref(dest)).is_empty()
    })
}

/// Rendezvous choice of one Destination for a resource request's group: stable for the same inputs and
/// spread across Destinations.
fn choose<'a>(work: &Work, group_id: &str, candidates: &[&'a Destination]) -> Option<&'a Destination> {
    candidates.iter().copied().max_by_key(|d| {
        let mut h = Sha256::new();
        for part in [work.metadata.ns(), &work.metadata.name, group_id, &d.metadata.name] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.finalize()
    })
}

/// Decides the placements of `work`, given every Destination and the Work's existing placements (those
/// labelled `kratix.io/work=<name>` in its namespace).
pub fn plan(work: &Work, destinations: &[Destination], existing: &[WorkPlacement]) -> Plan {
    let mut out = Plan::default();
    let dry_run = is_dry_run(work);
    let existing_destinations: BTreeSet<&str> = destinations.iter().map(|d| d.metadata.name.as_str()).collect();
    for group in &work.spec.workload_groups {
        let id = group.effective_id();
        let selector = if dry_run {
            Selector::labels([(DRY_RUN_LABEL, "true")])
        } else {
            selector::resolve(&group.destination_selectors)
        };
        let candidates = candidates(&selector, destinations);
        let candidate_names: BTreeSet<&str> = candidates.iter().map(|d| d.metadata.name.as_str()).collect();
        let mine: Vec<&WorkPlacement> =
            existing.iter().filter(|p| p.metadata.labels.get(WORKLOAD_GROUP_ID_LABEL) == Some(&id)).collect();

        // target destination → misplaced
        let mut targets: BTreeMap<String, bool> = BTreeMap::new();
        if work.is_resource_request() && !mine.is_empty() {
            // Sticky: a resource request's placement never moves; it is flagged when it stops matching.
            for p in &mine {
                let target = &p.spec.target_destination_name;
                targets.insert(target.clone(), !candidate_names.contains(target.as_str()));
            }
        } else {
            let chosen: Vec<&Destination> = if work.is_resource_request() {
                choose(work, &id, &candidates).into_iter().collect()
            } else {
                candidates.clone()
            };
            for d in chosen {
                targets.insert(d.metadata.name.clone(), false);
            }
            for p in &mine {
                targets.entry(p.spec.target_destination_name.clone()).or_insert(true);
            }
        }

        if targets.is_empty() {
            out.groups.push((id, GroupOutcome::Unscheduled));
            continue;
        }
        let any_misplaced = targets.values().any(|m| *m);
        for (target, misplaced) in targets {
            let name = placement_name(&work.metadata.name, &target, &id);
            let current = existing.iter().find(|p| p.metadata.name == name);
            let desired = desired_placement(work, &id, group_workloads(work, &id), &target, &name, misplaced, current);
            let operation = match current {
                None => Operation::Created,
                Some(c) if c.metadata == desired.metadata && c.spec == desired.spec => Operation::Unchanged,
                Some(_) => Operation::Updated,
            };
            let target_gone = !existing_destinations.contains(target.as_str());
            out.placements.push(PlannedPlacement { placement: desired, misplaced, target_gone, operation });
        }
        out.groups.push((id, if any_misplaced { GroupOutcome::Misplaced } else { GroupOutcome::Scheduled }));
    }
    let keep: BTreeSet<&str> = out.placements.iter().map(|p| p.placement.metadata.name.as_str()).collect();
    out.stale =
        existing.iter().filter(|p| !keep.contains(p.metadata.name.as_str())).map(|p| p.metadata.name.clone()).collect();
    out
}

fn group_workloads<'a>(work: &'a Work, id: &str) -> &'a [crate::api::Workload] {
    work.spec.workload_groups.iter().find(|g| g.effective_id() == id).map(|g| g.workloads.as_slice()).unwrap_or(&[])
}

/// The placement as the scheduler wants it stored (compatibility C10): labels replaced, annotations
/// merged, the repo-cleanup finalizer and the Work as controller owner; status and other metadata kept.
fn desired_placement(
    work: &Work,
    id: &str,
    workloads: &[crate::api::Workload],
    target: &str,
    name: &str,
    misplaced: bool,
    current: Option<&WorkPlacement>,
) -> WorkPlacement {
    let namespace = work.metadata.ns();
    let mut wp = current.cloned().unwrap_or_else(|| WorkPlacement::new(namespace, name, WorkPlacementSpec::default()));
    let mut labels = crate::meta::Labels::new();
    labels.insert(WORK_LABEL.to_string(), work.metadata.name.clone());
    labels.insert(WORKLOAD_GROUP_ID_LABEL.to_string(), id.to_string());
    labels.insert(TARGET_DESTINATION_LABEL.to_string(), target.to_string());
    labels.insert(
        PIPELINE_NAME_LABEL.to_string(),
        work.metadata.labels.get(PIPELINE_NAME_LABEL).cloned().unwrap_or_default(),
    );
    if misplaced {
        labels.insert(MISPLACED_LABEL.to_string(), "true".to_string());
    }
    let mut annotations = work.metadata.annotations.clone();
    if let Some(current) = current {
        for key in TRACE_ANNOTATIONS {
            if let Some(v) = current.metadata.annotations.get(key).filter(|v| !v.is_empty()) {
                annotations.insert(key.to_string(), v.clone());
            }
        }
    }
    let meta: &mut ObjectMeta = wp.meta_mut();
    meta.labels = labels;
    meta.annotations = annotations;
    meta.add_finalizer(REPO_CLEANUP_FINALIZER);
    meta.owner_references = vec![OwnerReference {
        api_version: work.api_version.clone(),
        kind: "Work".to_string(),
        name: work.metadata.name.clone(),
        uid: work.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }];
    wp.spec = WorkPlacementSpec {
        target_destination_name: target.to_string(),
        workloads: workloads.to_vec(),
        promise_name: work.spec.promise_name.clone(),
        resource_name: work.spec.resource_name.clone(),
        id: id.to_string(),
        generation: work.metadata.generation,
    };
    wp
}
