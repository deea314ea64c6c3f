//! The control-plane conformance suite: the Kubernetes rules the reconcilers rely on, checked against
//! any [`ControlPlane`]. The embedded control plane runs it in its tests; a Kubernetes implementation
//! runs the same suite against its API server, so both honour one contract.
//!
//! Compiled with the `conformance` feature only; it panics on the first broken rule, naming it.

use waybill_core::api::{Destination, DestinationSpec, DestinationStatus, Work, WorkSpec};
use waybill_core::meta::{Condition, ConditionStatus};
use waybill_core::{Kind, ObjectRef};

use crate::port::{ControlPlane, CpError};

const FINALIZER: &str = "example.com/conformance";

fn ready(message: &str) -> DestinationStatus {
    DestinationStatus {
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            observed_generation: 1,
            last_transition_time: "2026-01-01T00:00:00Z".into(),
            reason: "TestDocumentsWritten".into(),
            message: message.into(),
        }],
        ..Default::default()
    }
}

/// Runs every rule against `cp`, which must hold no Destination named `conformance-*` and no Work in
/// namespace `conformance`.
pub async fn control_plane_conformance<C: ControlPlane>(cp: &C) {
    creation_sets_identity_and_refuses_duplicates(cp).await;
    stale_writes_conflict(cp).await;
    generation_moves_with_the_spec_only(cp).await;
    status_writes_touch_status_only(cp).await;
    modify_applies_to_the_freshest_copy(cp).await;
    finalizers_hold_deletion_until_the_last_one_goes(cp).await;
    lists_filter_by_namespace_and_labels(cp).await;
}

async fn creation_sets_identity_and_refuses_duplicates<C: ControlPlane>(cp: &C) {
    let created = cp.create(Destination::new("conformance-a", DestinationSpec::default())).await.expect("create");
    assert_eq!(created.metadata.generation, 1, "a created object is at generation 1");
    assert!(created.metadata.resource_version.is_some(), "a created object has a resourceVersion");
    assert!(created.metadata.uid.is_some(), "a created object has a uid");
    let again = cp.create(Destination::new("conformance-a", DestinationSpec::default())).await;
    assert!(matches!(again, Err(CpError::AlreadyExists(_))), "a second create is AlreadyExists, got {again:?}");
    let got = cp.get::<Destination>("", "conformance-a").await.expect("get");
    assert_eq!(got.as_ref().map(|d| &d.metadata.uid), Some(&created.metadata.uid), "get returns what was created");
    assert_eq!(cp.get::<Destination>("", "conformance-missing").await.expect("get missing"), None);
    let missing = cp.update(Destination::new("conformance-missing", DestinationSpec::default())).await;
    assert!(matches!(missing, Err(CpError::NotFound(_))), "an update of a missing object is NotFound, got {missing:?}");
}

async fn stale_writes_conflict<C: ControlPlane>(cp: &C) {
    let first = cp.create(Destination::new("conformance-b", DestinationSpec::default())).await.expect("create");
    let mut fresh = first.clone();
    fresh.metadata.labels.insert("env".into(), "dev".into());
    let stored = cp.update(fresh).await.expect("update");
    assert_ne!(stored.metadata.resource_version, first.metadata.resource_version, "a write moves resourceVersion");
    let mut stale = first.clone();
    stale.metadata.labels.insert("env".into(), "prod".into());
    let spec = cp.update(stale.clone()).await;
    assert!(matches!(spec, Err(CpError::Conflict(_))), "a stale update conflicts, got {spec:?}");
    stale.status = Some(ready("stale"));
    let status = cp.update_status(stale).await;
    assert!(matches!(status, Err(CpError::Conflict(_))), "a stale status write conflicts, got {status:?}");
    let kept = cp.get::<Destination>("", "conformance-b").await.expect("get").expect("present");
    assert_eq!(kept.metadata.labels.get("env").map(String::as_str), Some("dev"), "a refused write changes nothing");
    assert!(CpError::Conflict(ObjectRef::cluster(Kind::Destination, "x")).is_transient());
}

async fn generation_moves_with_the_spec_only<C: ControlPlane>(cp: &C) {
    let d = cp.create(Destination::new("conformance-c", DestinationSpec::default())).await.expect("create");
    let mut labelled = d.clone();
    labelled.metadata.labels.insert("env".into(), "dev".into());
    let labelled = cp.update(labelled).await.expect("label");
    assert_eq!(labelled.metadata.generation, 1, "a metadata change keeps the generation");
    let mut moved = labelled.clone();
    moved.spec.path = Some("elsewhere".into());
    let moved = cp.update(moved).await.expect("spec");
    assert_eq!(moved.metadata.generation, 2, "a spec change bumps the generation");
    let mut with_status = moved.clone();
    with_status.status = Some(ready("ok"));
    let with_status = cp.update_status(with_status).await.expect("status");
    assert_eq!(with_status.metadata.generation, 2, "a status change keeps the generation");
}

async fn status_writes_touch_status_only<C: ControlPlane>(cp: &C) {
    let d = cp.create(Destination::new("conformance-d", DestinationSpec::default())).await.expect("create");
    let mut both = d.clone();
    both.spec.path = Some("ignored".into());
    both.status = Some(ready("written"));
    cp.update_status(both).await.expect("status");
    let got = cp.get::<Destination>("", "conformance-d").await.expect("get").expect("present");
    assert_eq!(got.spec.path, None, "a status write leaves the spec alone");
    assert_eq!(got.conditions().first().map(|c| c.message.as_str()), Some("written"), "a status write lands");
    let mut spec_and_status = got.clone();
    spec_and_status.spec.path = Some("kept".into());
    spec_and_status.status = Some(ready("ignored"));
    cp.update(spec_and_status).await.expect("update");
    let got = cp.get::<Destination>("", "conformance-d").await.expect("get").expect("present");
    assert_eq!(got.spec.path.as_deref(), Some("kept"), "an update writes the spec");
    assert_eq!(got.conditions().first().map(|c| c.message.as_str()), Some("written"), "an update leaves status alone");
}

async fn modify_applies_to_the_freshest_copy<C: ControlPlane>(cp: &C) {
    let d = cp.create(Destination::new("conformance-e", DestinationSpec::default())).await.expect("create");
    // Someone else writes after our read: modify must read again rather than fail or overwrite.
    let mut other = d.clone();
    other.metadata.labels.insert("other".into(), "yes".into());
    cp.update(other).await.expect("other writer");
    let stored = cp
        .modify::<Destination, _>("", "conformance-e", |d| {
            d.metadata.labels.insert("mine".into(), "yes".into());
            true
        })
        .await
        .expect("modify")
        .expect("present");
    assert_eq!(stored.metadata.labels.len(), 2, "modify keeps the other writer's label: {:?}", stored.metadata.labels);
    let (stored, wrote) = cp
        .modify_status::<Destination, _>("", "conformance-e", |d| {
            d.status = Some(ready("modified"));
            true
        })
        .await
        .expect("modify status");
    assert!(wrote, "modify_status reports the write");
    assert_eq!(stored.expect("present").conditions().len(), 1);
    let (_, wrote) = cp.modify_status::<Destination, _>("", "conformance-e", |_| false).await.expect("no-op");
    assert!(!wrote, "a change that changes nothing writes nothing");
    let gone = cp.modify::<Destination, _>("", "conformance-missing", |_| true).await.expect("modify missing");
    assert_eq!(gone, None, "modify of a missing object is None");
}

async fn finalizers_hold_deletion_until_the_last_one_goes<C: ControlPlane>(cp: &C) {
    let mut d = Destination::new("conformance-f", DestinationSpec::default());
    d.metadata.finalizers.push(FINALIZER.into());
    let created = cp.create(d).await.expect("create");
    let held = if created.metadata.finalizers.is_empty() {
        // A control plane may drop finalizers on create (the embedded one: they belong to controllers).
        let mut with = created.clone();
        with.metadata.finalizers.push(FINALIZER.into());
        cp.update(with).await.expect("add finalizer")
    } else {
        created
    };
    assert_eq!(held.metadata.finalizers, vec![FINALIZER.to_string()]);
    cp.delete::<Destination>("", "conformance-f").await.expect("delete");
    let deleting = cp.get::<Destination>("", "conformance-f").await.expect("get").expect("held by its finalizer");
    assert!(deleting.metadata.is_deleting(), "a deleted object with a finalizer has a deletionTimestamp");
    let mut released = deleting.clone();
    released.metadata.finalizers.clear();
    cp.update(released).await.expect("remove finalizer");
    assert_eq!(cp.get::<Destination>("", "conformance-f").await.expect("get"), None, "the last finalizer removes it");
    cp.create(Destination::new("conformance-g", DestinationSpec::default())).await.expect("create");
    cp.delete::<Destination>("", "conformance-g").await.expect("delete");
    assert_eq!(cp.get::<Destination>("", "conformance-g").await.expect("get"), None, "no finalizer: gone at once");
    let missing = cp.delete::<Destination>("", "conformance-g").await;
    assert!(matches!(missing, Err(CpError::NotFound(_))), "deleting what is gone is NotFound, got {missing:?}");
}

async fn lists_filter_by_namespace_and_labels<C: ControlPlane>(cp: &C) {
    for (ns, name, team) in [("conformance", "w1", "a"), ("conformance", "w2", "b"), ("conformance-other", "w3", "a")] {
        let mut w = Work::new(ns, name, WorkSpec { promise_name: "p".into(), ..Default::default() });
        w.metadata.labels.insert("team".into(), team.into());
        cp.create(w).await.expect("create work");
    }
    let names = |ws: Vec<Work>| {
        let mut n: Vec<String> = ws.into_iter().map(|w| w.metadata.name).collect();
        n.sort();
        n
    };
    assert_eq!(names(cp.list::<Work>(Some("conformance"), &[]).await.expect("list")), ["w1", "w2"]);
    assert_eq!(names(cp.list::<Work>(Some("conformance"), &[("team", "a")]).await.expect("list")), ["w1"]);
    assert_eq!(names(cp.list::<Work>(None, &[("team", "a")]).await.expect("list")), ["w1", "w3"]);
    let got = cp.get::<Work>("conformance-other", "w1").await.expect("get");
    assert_eq!(got, None, "a namespaced get looks in its namespace only");
}
