//! Kratix's scheduler acceptance scenarios (rows 36 to 55 of the coverage table in docs/compatibility.md;
//! compatibility C10, C11), driving the Work reconciler directly as Kratix's scheduler tests do.
//! (The outcome metrics these scenarios record are checked through /metrics in `crates/waybill/tests/metrics.rs`.)

use crate::common::*;
use waybill_core::api::*;
use waybill_core::labels::*;
use waybill_core::{Kind, ObjectRef};
use waybill_engine::ControlPlane;

const DOT: &str = "5058f1af8388633f609cadb75a75dc9d";
const FOO: &str = "acbd18db4cc2f85cedef654fccc4a4d8";

fn fleet(h: &Harness) {
    h.apply(destination("dev-1", "store", "dev-1", &[("environment", "dev")]));
    h.apply(destination("dev-2", "store", "dev-2", &[("environment", "dev")]));
    h.apply(destination("pci", "store", "pci", &[("pci", "true")]));
    h.apply(destination("prod", "store", "prod", &[("environment", "prod")]));
    let mut strict = destination("strict", "store", "strict", &[("strict", "true")]);
    strict.spec.strict_match_labels = true;
    h.apply(strict);
}

fn rr_work(selector: &[(&str, &str)]) -> Work {
    let mut w = work(
        "default",
        "rr-work-name",
        "resource",
        vec![(".", selector.to_vec(), vec![workload("fruit.yaml", "a: 1\n")])],
    );
    w.metadata.labels.insert(PIPELINE_NAME_LABEL.into(), "instance-configure".into());
    w.metadata.annotations.insert("kratix.io/note".into(), "hello".into());
    w
}

async fn schedule(h: &Harness, namespace: &str, name: &str) {
    h.engine.reconcile(&ObjectRef::new(Kind::Work, namespace, name)).await.expect("work reconcile");
}

async fn placements(h: &Harness, namespace: &str, work: &str) -> Vec<WorkPlacement> {
    h.store.list::<WorkPlacement>(Some(namespace), &[(WORK_LABEL, work)]).await.unwrap()
}

async fn force_delete(h: &Harness, p: &WorkPlacement) {
    let mut p = h.get::<WorkPlacement>(p.metadata.ns(), &p.metadata.name).await.unwrap();
    p.metadata.finalizers.clear();
    let p = h.store.update(p).await.unwrap();
    h.store.delete::<WorkPlacement>(p.metadata.ns(), &p.metadata.name).await.unwrap();
}

async fn add_workload(h: &Harness, mut w: Work, file: &str) -> Work {
    w.spec.workload_groups[0].workloads.push(workload(file, "b: 2\n"));
    h.apply(w.clone());
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_36_a_resource_request_gets_exactly_one_placement_on_a_matching_destination() {
    let h = Harness::new();
    fleet(&h);
    h.apply(rr_work(&[("environment", "dev")]));
    schedule(&h, "default", "rr-work-name").await;
    let wps = placements(&h, "default", "rr-work-name").await;
    assert_eq!(wps.len(), 1);
    let p = &wps[0];
    let target = p.spec.target_destination_name.clone();
    assert!(target == "dev-1" || target == "dev-2", "{target}");
    assert_eq!(p.metadata.name, format!("rr-work-name.{target}-5058f"));
    let want_labels: waybill_core::meta::Labels = [
        (WORK_LABEL, "rr-work-name"),
        (WORKLOAD_GROUP_ID_LABEL, DOT),
        (PIPELINE_NAME_LABEL, "instance-configure"),
        (TARGET_DESTINATION_LABEL, target.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(p.metadata.labels, want_labels);
    let w: Work = h.get("default", "rr-work-name").await.unwrap();
    assert_eq!(p.metadata.annotations, w.metadata.annotations);
    assert_eq!(p.metadata.finalizers, vec![REPO_CLEANUP_FINALIZER]);
    assert_eq!(p.spec.workloads, w.spec.workload_groups[0].workloads);
    assert_eq!(
        (p.spec.id.as_str(), p.spec.promise_name.as_str(), p.spec.resource_name.as_str()),
        (DOT, "promise", "resource")
    );
    assert_eq!(p.spec.generation, w.metadata.generation);
    assert_eq!(p.metadata.owner_references[0].name, "rr-work-name");
    assert_eq!(
        conds(p.conditions()),
        vec![
            cond("Ready", "False", "ScheduledToDestination", "Pending"),
            cond("ScheduleSucceeded", "True", "ScheduledToDestination", "Scheduled to correct Destination"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_37_a_selector_matching_nothing_leaves_the_group_unscheduled() {
    let h = Harness::new();
    fleet(&h);
    h.apply(rr_work(&[("environment", "staging")]));
    schedule(&h, "default", "rr-work-name").await;
    assert!(placements(&h, "default", "rr-work-name").await.is_empty());
    let w: Work = h.get("default", "rr-work-name").await.unwrap();
    assert_eq!(ready_of(w.conditions()), Some(("False".into(), "UnscheduledWorkloads".into(), "Pending".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_38_and_47_a_resource_placement_never_moves_and_is_flagged_misplaced() {
    let h = Harness::new();
    fleet(&h);
    h.apply(rr_work(&[("environment", "dev")]));
    schedule(&h, "default", "rr-work-name").await;
    let before = placements(&h, "default", "rr-work-name").await.remove(0);
    h.apply(rr_work(&[("environment", "prod")]));
    schedule(&h, "default", "rr-work-name").await;
    let after = placements(&h, "default", "rr-work-name").await;
    assert_eq!(after.len(), 1);
    let p = &after[0];
    assert_eq!(p.spec.target_destination_name, before.spec.target_destination_name, "sticky");
    assert_eq!(p.metadata.labels.get(MISPLACED_LABEL).map(String::as_str), Some("true"));
    assert_eq!(
        conds(p.conditions()),
        vec![
            cond("Ready", "False", "Misplaced", "Misplaced"),
            cond(
                "ScheduleSucceeded",
                "False",
                "DestinationSelectorMismatch",
                "Target destination no longer matches destinationSelectors"
            ),
        ]
    );
    let msg = format!(
        "labels for destination: {} no longer match the expected labels, marking this workplacement as misplaced",
        p.spec.target_destination_name
    );
    assert!(h.event_messages(Kind::WorkPlacement, "default", &p.metadata.name).contains(&msg));
    let w: Work = h.get("default", "rr-work-name").await.unwrap();
    assert_eq!(
        conds(w.conditions()),
        vec![
            cond("Ready", "False", "Misplaced", "Misplaced"),
            cond(
                "ScheduleSucceeded",
                "False",
                "DestinationSelectorMismatch",
                &format!("Target destination no longer matches destinationSelectors for workloadGroups: [{DOT}]")
            ),
        ]
    );
    let work_events = h.event_messages(Kind::Work, "default", "rr-work-name");
    assert!(
        work_events.contains(&format!(
            "Target destination no longer matches destinationSelectors for workloadGroups: [{DOT}] "
        ))
    );

    // Matching again clears the flag (Kratix never clears it; compatibility D22).
    h.apply(rr_work(&[("environment", "dev")]));
    schedule(&h, "default", "rr-work-name").await;
    let p = placements(&h, "default", "rr-work-name").await.remove(0);
    assert!(!p.metadata.labels.contains_key(MISPLACED_LABEL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_39_reconciling_twice_changes_nothing() {
    let h = Harness::new();
    fleet(&h);
    h.apply(rr_work(&[("environment", "dev")]));
    schedule(&h, "default", "rr-work-name").await;
    let first = placements(&h, "default", "rr-work-name").await;
    schedule(&h, "default", "rr-work-name").await;
    let second = placements(&h, "default", "rr-work-name").await;
    assert_eq!(first, second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_40_a_written_placement_is_not_reset_to_pending() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    fleet(&h);
    h.apply(rr_work(&[("environment", "dev")]));
    h.converge().await;
    schedule(&h, "default", "rr-work-name").await;
    let p = placements(&h, "default", "rr-work-name").await.remove(0);
    assert_eq!(
        ready_of(p.conditions()),
        Some(("True".into(), "WorkloadsWrittenToTargetDestination".into(), "Ready".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_41_a_new_workload_updates_the_same_placement() {
    let h = Harness::new();
    fleet(&h);
    let w = rr_work(&[("environment", "dev")]);
    h.apply(w.clone());
    schedule(&h, "default", "rr-work-name").await;
    let before = placements(&h, "default", "rr-work-name").await.remove(0);
    add_workload(&h, w, "more.yaml").await;
    schedule(&h, "default", "rr-work-name").await;
    let after = placements(&h, "default", "rr-work-name").await.remove(0);
    assert_eq!(after.metadata.name, before.metadata.name);
    assert_eq!(after.spec.workloads.len(), 2);
    let rv = |p: &WorkPlacement| p.metadata.resource_version.as_deref().unwrap_or("0").parse::<u64>().unwrap();
    assert!(rv(&after) > rv(&before));
    assert!(after.spec.generation > before.spec.generation);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_42_removing_the_only_group_deletes_its_placement() {
    let h = Harness::new();
    fleet(&h);
    let mut w = rr_work(&[("environment", "dev")]);
    h.apply(w.clone());
    schedule(&h, "default", "rr-work-name").await;
    w.spec.workload_groups.clear();
    h.apply(w);
    schedule(&h, "default", "rr-work-name").await;
    let wps = placements(&h, "default", "rr-work-name").await;
    assert_eq!(wps.len(), 1, "the placement waits for its finalizer");
    assert!(wps[0].metadata.is_deleting());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_43_and_44_groups_added_or_replaced_get_their_own_placements() {
    let h = Harness::new();
    fleet(&h);
    let mut w = rr_work(&[("environment", "dev")]);
    h.apply(w.clone());
    schedule(&h, "default", "rr-work-name").await;
    let mut foo = w.spec.workload_groups[0].clone();
    foo.directory = "foo".into();
    foo.id = FOO.into();
    w.spec.workload_groups.push(foo.clone());
    h.apply(w.clone());
    schedule(&h, "default", "rr-work-name").await;
    let wps = placements(&h, "default", "rr-work-name").await;
    assert_eq!(wps.len(), 2);
    let second = wps.iter().find(|p| p.spec.id == FOO).unwrap();
    assert!(second.metadata.name.ends_with("-acbd1"));
    assert_eq!(second.metadata.finalizers, vec![REPO_CLEANUP_FINALIZER]);
    assert_eq!((second.spec.promise_name.as_str(), second.spec.resource_name.as_str()), ("promise", "resource"));

    // 44: replacing group "." by "foo" deletes the old placement.
    w.spec.workload_groups = vec![foo];
    h.apply(w);
    schedule(&h, "default", "rr-work-name").await;
    let wps = placements(&h, "default", "rr-work-name").await;
    let old = wps.iter().find(|p| p.spec.id == DOT).unwrap();
    assert!(old.metadata.is_deleting());
    assert!(!wps.iter().find(|p| p.spec.id == FOO).unwrap().metadata.is_deleting());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_45_and_46_each_group_is_scheduled_on_its_own() {
    let h = Harness::new();
    fleet(&h);
    let mut w = work(
        "default",
        "two",
        "resource",
        vec![
            (".", vec![("environment", "dev")], vec![workload("a.yaml", "a: 1\n")]),
            ("foo", vec![("pci", "true")], vec![workload("b.yaml", "b: 1\n")]),
        ],
    );
    w.metadata.annotations.insert("note".into(), "x".into());
    h.apply(w.clone());
    schedule(&h, "default", "two").await;
    let wps = placements(&h, "default", "two").await;
    assert_eq!(wps.len(), 2);
    let pci = wps.iter().find(|p| p.spec.id == FOO).unwrap();
    assert_eq!((pci.spec.target_destination_name.as_str(), pci.metadata.name.as_str()), ("pci", "two.pci-acbd1"));
    assert!(wps.iter().all(|p| p.metadata.annotations.get("note").map(String::as_str) == Some("x")));
    w.spec.workload_groups.truncate(1);
    h.apply(w.clone());
    schedule(&h, "default", "two").await;
    let wps = placements(&h, "default", "two").await;
    assert!(wps.iter().find(|p| p.spec.id == FOO).unwrap().metadata.is_deleting());
    assert!(!wps.iter().find(|p| p.spec.id == DOT).unwrap().metadata.is_deleting());

    // 46: an unschedulable group does not stop the others.
    let w = work(
        "default",
        "partly",
        "resource",
        vec![
            (".", vec![("not", "schedulable")], vec![workload("a.yaml", "a\n")]),
            ("foo", vec![("pci", "true")], vec![workload("b.yaml", "b\n")]),
        ],
    );
    h.apply(w);
    schedule(&h, "default", "partly").await;
    let wps = placements(&h, "default", "partly").await;
    assert_eq!(wps.iter().map(|p| p.spec.target_destination_name.as_str()).collect::<Vec<_>>(), vec!["pci"]);
    let w: Work = h.get("default", "partly").await.unwrap();
    let schedule_cond = w.conditions().iter().find(|c| c.type_ == "ScheduleSucceeded").unwrap();
    assert_eq!(schedule_cond.message, format!("No matching destination found for workloadGroups: [{DOT}]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_48_promise_selectors_take_precedence() {
    let h = Harness::new();
    fleet(&h);
    let mut w = rr_work(&[]);
    w.spec.workload_groups[0].destination_selectors = vec![
        DestinationSelector {
            match_labels: [("environment".into(), "dev".into())].into(),
            source: "promise-workflow".into(),
            ..Default::default()
        },
        DestinationSelector {
            match_labels: [("environment".into(), "prod".into())].into(),
            source: "promise".into(),
            ..Default::default()
        },
        DestinationSelector {
            match_labels: [("environment".into(), "staging".into())].into(),
            source: "resource-workflow".into(),
            ..Default::default()
        },
    ];
    h.apply(w);
    schedule(&h, "default", "rr-work-name").await;
    let wps = placements(&h, "default", "rr-work-name").await;
    assert_eq!(wps[0].spec.target_destination_name, "prod");
}

fn dep_work(selector: &[(&str, &str)]) -> Work {
    let mut w = work(
        "kratix-platform-system",
        "dep",
        "",
        vec![(".", selector.to_vec(), vec![workload("ns.yaml", "kind: Namespace\n")])],
    );
    w.metadata.labels.insert(PIPELINE_NAME_LABEL.into(), "promise-configure".into());
    w.metadata.annotations.insert("kratix.io/note".into(), "dep".into());
    w
}

fn targets(wps: &[WorkPlacement]) -> Vec<String> {
    let mut t: Vec<String> =
        wps.iter().filter(|p| !p.metadata.is_deleting()).map(|p| p.spec.target_destination_name.clone()).collect();
    t.sort();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_49_and_50_dependencies_go_to_every_match_and_deleted_placements_come_back() {
    let h = Harness::new();
    fleet(&h);
    h.apply(dep_work(&[("environment", "prod")]));
    schedule(&h, "kratix-platform-system", "dep").await;
    let wps = placements(&h, "kratix-platform-system", "dep").await;
    assert_eq!(targets(&wps), vec!["prod"]);
    assert_eq!(wps[0].metadata.labels[PIPELINE_NAME_LABEL], "promise-configure");
    assert_eq!(wps[0].metadata.labels[WORK_LABEL], "dep");
    assert_eq!(wps[0].metadata.annotations["kratix.io/note"], "dep");
    force_delete(&h, &wps[0]).await;
    schedule(&h, "kratix-platform-system", "dep").await;
    assert_eq!(targets(&placements(&h, "kratix-platform-system", "dep").await), vec!["prod"]);

    h.apply(dep_work(&[("environment", "dev")]));
    schedule(&h, "kratix-platform-system", "dep").await;
    let wps = placements(&h, "kratix-platform-system", "dep").await;
    assert_eq!(targets(&wps), vec!["dev-1", "dev-2", "prod"], "prod is kept, misplaced");
    let dev2 = wps.iter().find(|p| p.spec.target_destination_name == "dev-2").unwrap().clone();
    let dev1_rv =
        wps.iter().find(|p| p.spec.target_destination_name == "dev-1").unwrap().metadata.resource_version.clone();
    force_delete(&h, &dev2).await;
    schedule(&h, "kratix-platform-system", "dep").await;
    let wps = placements(&h, "kratix-platform-system", "dep").await;
    assert!(wps.iter().any(|p| p.spec.target_destination_name == "dev-2"));
    assert_eq!(
        wps.iter().find(|p| p.spec.target_destination_name == "dev-1").unwrap().metadata.resource_version,
        dev1_rv
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_51_a_dependency_matching_nothing_is_unscheduled() {
    let h = Harness::new();
    fleet(&h);
    h.apply(dep_work(&[("environment", "nowhere")]));
    schedule(&h, "kratix-platform-system", "dep").await;
    assert!(placements(&h, "kratix-platform-system", "dep").await.is_empty());
    let w: Work = h.get("kratix-platform-system", "dep").await.unwrap();
    let c = w.conditions().iter().find(|c| c.type_ == "ScheduleSucceeded").unwrap();
    assert_eq!(
        (c.status.as_str(), c.message.as_str()),
        ("False", format!("No matching destination found for workloadGroups: [{DOT}]").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_52_and_53_dependencies_without_selectors_skip_strict_destinations_and_keep_misplaced_ones() {
    let h = Harness::new();
    fleet(&h);
    let w = dep_work(&[]);
    h.apply(w.clone());
    schedule(&h, "kratix-platform-system", "dep").await;
    assert_eq!(targets(&placements(&h, "kratix-platform-system", "dep").await), vec!["dev-1", "dev-2", "pci", "prod"]);
    let w = add_workload(&h, w, "more.yaml").await;
    schedule(&h, "kratix-platform-system", "dep").await;
    assert!(placements(&h, "kratix-platform-system", "dep").await.iter().all(|p| p.spec.workloads.len() == 2));

    // 53: restricted to dev, the others stay and are flagged.
    let mut dev = w.clone();
    dev.spec.workload_groups[0].destination_selectors = vec![DestinationSelector {
        match_labels: [("environment".into(), "dev".into())].into(),
        source: "promise".into(),
        ..Default::default()
    }];
    h.apply(dev.clone());
    schedule(&h, "kratix-platform-system", "dep").await;
    let wps = placements(&h, "kratix-platform-system", "dep").await;
    assert_eq!(targets(&wps), vec!["dev-1", "dev-2", "pci", "prod"]);
    for p in &wps {
        let misplaced = p.metadata.labels.contains_key(MISPLACED_LABEL);
        assert_eq!(
            misplaced,
            p.spec.target_destination_name == "pci" || p.spec.target_destination_name == "prod",
            "{}",
            p.metadata.name
        );
        if misplaced {
            assert_eq!(ready_of(p.conditions()).unwrap().2, "Misplaced");
        }
    }
    add_workload(&h, dev, "third.yaml").await;
    schedule(&h, "kratix-platform-system", "dep").await;
    assert!(placements(&h, "kratix-platform-system", "dep").await.iter().all(|p| p.spec.workloads.len() == 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_54_a_fully_scheduled_work_is_ready_and_stays_so_when_destinations_are_added() {
    let h = Harness::new();
    fleet(&h);
    let w = work(
        "default",
        "two",
        "resource",
        vec![
            (".", vec![("environment", "dev")], vec![workload("a.yaml", "a\n")]),
            ("foo", vec![("pci", "true")], vec![workload("b.yaml", "b\n")]),
        ],
    );
    h.apply(w);
    schedule(&h, "default", "two").await;
    let w: Work = h.get("default", "two").await.unwrap();
    let st = w.status.clone().unwrap();
    assert_eq!((st.work_placements, st.work_placements_created), (2, 2));
    assert_eq!(
        conds(w.conditions()),
        vec![
            cond("Ready", "True", "AllWorkplacementsScheduled", "Ready"),
            cond(
                "ScheduleSucceeded",
                "True",
                "AllWorkplacementsScheduled",
                "All workplacements scheduled successfully"
            ),
        ]
    );
    let events = h.event_messages(Kind::Work, "default", "two");
    assert!(
        events.iter().any(|m| m.starts_with("workplacement reconciled: two.") && m.ends_with(", operation: created"))
    );
    assert!(events.contains(&"All workplacements scheduled successfully".to_string()));
    for i in 3..6 {
        h.apply(destination(&format!("dev-{i}"), "store", &format!("dev-{i}"), &[("environment", "dev")]));
    }
    schedule(&h, "default", "two").await;
    let wps = placements(&h, "default", "two").await;
    assert_eq!(wps.len(), 2);
    assert!(wps.iter().all(|p| !p.metadata.labels.contains_key(MISPLACED_LABEL)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_55_one_unschedulable_group_makes_the_work_pending() {
    let h = Harness::new();
    fleet(&h);
    let w = work(
        "default",
        "two",
        "resource",
        vec![
            (".", vec![("environment", "dev")], vec![workload("a.yaml", "a\n")]),
            ("foo", vec![("nope", "x")], vec![workload("b.yaml", "b\n")]),
        ],
    );
    h.apply(w);
    schedule(&h, "default", "two").await;
    let w: Work = h.get("default", "two").await.unwrap();
    let st = w.status.clone().unwrap();
    assert_eq!((st.work_placements, st.work_placements_created), (2, 1));
    assert_eq!(
        conds(w.conditions()),
        vec![
            cond("Ready", "False", "UnscheduledWorkloads", "Pending"),
            cond(
                "ScheduleSucceeded",
                "False",
                "UnscheduledWorkloads",
                &format!("No matching destination found for workloadGroups: [{FOO}]")
            ),
        ]
    );
    assert!(
        h.event_messages(Kind::Work, "default", "two")
            .contains(&format!("waiting for a destination with labels for workloadGroup: {FOO}"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn difference_16_match_expressions_select_destinations() {
    let h = Harness::new();
    fleet(&h);
    let mut w = dep_work(&[]);
    w.spec.workload_groups[0].destination_selectors = vec![DestinationSelector {
        match_expressions: vec![
            LabelSelectorRequirement {
                key: "environment".into(),
                operator: "In".into(),
                values: vec!["dev".into(), "prod".into()],
            },
            LabelSelectorRequirement {
                key: "environment".into(),
                operator: "NotIn".into(),
                values: vec!["dev".into()],
            },
        ],
        ..Default::default()
    }];
    h.apply(w);
    schedule(&h, "kratix-platform-system", "dep").await;
    assert_eq!(targets(&placements(&h, "kratix-platform-system", "dep").await), vec!["prod"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_with_an_invalid_label_value_is_admitted_and_fails_to_schedule() {
    let h = Harness::new();
    fleet(&h);
    h.apply(rr_work(&[("environment", "not a valid value!")]));
    let admitted: Option<Work> = h.get("default", "rr-work-name").await;
    assert!(admitted.is_some(), "admitted, as Kratix does");
    let result = h.engine.reconcile(&ObjectRef::new(Kind::Work, "default", "rr-work-name")).await;
    assert!(result.is_err(), "the reconcile fails and is retried");
    assert!(placements(&h, "default", "rr-work-name").await.is_empty());
    let w: Work = h.get("default", "rr-work-name").await.unwrap();
    assert_eq!(
        conds(w.conditions()),
        vec![
            cond("Ready", "False", "FailedToScheduleWorkloads", "Pending"),
            cond(
                "ScheduleSucceeded",
                "False",
                "FailedToScheduleWorkloads",
                &format!("Failed to schedule or update for workloadGroups: [{DOT}]")
            ),
        ]
    );
    let events = h.events(Kind::Work, "default", "rr-work-name");
    let warning = events.iter().find(|e| e.reason == "FailedToScheduleWorkloads").expect("a warning event");
    assert!(
        warning.message.contains("invalid label value \"not a valid value!\" for key \"environment\""),
        "{}",
        warning.message
    );
}

/// Kratix leaves a resource request's placement on a deleted Destination misplaced for good, with a
/// message about selectors. Waybill keeps those conditions and also says, on the placement and the
/// Work, that the Destination is gone and that deleting the placement moves the Work; it then does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_on_a_deleted_destination_says_so_and_moves_once_deleted() {
    let mut h = Harness::new();
    fleet(&h);
    h.apply(rr_work(&[("environment", "dev")]));
    h.converge().await;
    let first = placements(&h, "default", "rr-work-name").await.remove(0);
    let gone = first.spec.target_destination_name.clone();
    let other = if gone == "dev-1" { "dev-2" } else { "dev-1" };

    h.remove::<Destination>("", &gone);
    h.converge().await;

    let p: WorkPlacement = h.get("default", &first.metadata.name).await.expect("the placement stays");
    assert_eq!(ready_of(p.conditions()), Some(("False".into(), "Misplaced".into(), "Misplaced".into())));
    let want = format!(
        "Destination {gone:?} no longer exists; WorkPlacement default/{} stays misplaced until it is deleted, \
         which lets the Work be scheduled again (README: Misplaced Works)",
        first.metadata.name
    );
    let on_placement = h.events(Kind::WorkPlacement, "default", &first.metadata.name);
    assert!(on_placement.iter().any(|e| e.reason == "DestinationNotFound" && e.message == want), "{on_placement:?}");
    let on_work = h.events(Kind::Work, "default", "rr-work-name");
    assert!(on_work.iter().any(|e| e.reason == "DestinationNotFound" && e.message == want), "{on_work:?}");
    let w: Work = h.get("default", "rr-work-name").await.unwrap();
    assert_eq!(ready_of(w.conditions()).map(|r| r.2), Some("Misplaced".into()), "Kratix's contract is kept");

    h.remove::<WorkPlacement>("default", &first.metadata.name);
    h.converge().await;

    let now = placements(&h, "default", "rr-work-name").await;
    assert_eq!(targets(&now), vec![other.to_string()], "the Work moved to the Destination that is left");
    let w: Work = h.get("default", "rr-work-name").await.unwrap();
    assert_eq!(ready_of(w.conditions()).map(|r| r.2), Some("Ready".into()));
}
