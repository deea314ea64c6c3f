//! Kratix's Work and WorkPlacement controller acceptance scenarios (rows 56 to 78 of the coverage table in
//! docs/compatibility.md; compatibility C5 to C7, C11, C12) and compatibility D3, against a real local Git
//! repository, on each control plane (the harness of the including test crate).

use std::time::Duration;

use crate::common::*;
use waybill_core::api::*;
use waybill_core::content::encode;
use waybill_core::labels::*;
use waybill_core::{Kind, ObjectRef};
use waybill_engine::Action;

const FRUIT: &str = "{someApi: foo, someValue: bar}";
const FILE2: &str = "{someOtherApi: fooz, someOtherValue: barz}";
const DOT: &str = "5058f1af8388633f609cadb75a75dc9d";

fn placement(name: &str, workloads: Vec<Workload>) -> WorkPlacement {
    WorkPlacement::new(
        "default",
        name,
        WorkPlacementSpec {
            target_destination_name: "test-destination".into(),
            workloads,
            promise_name: "test-promise".into(),
            resource_name: "test-resource".into(),
            id: DOT.into(),
            generation: 1,
        },
    )
}

fn kratix(file: &str, text: &str) -> Workload {
    workload(file, &encode(text.as_bytes()))
}

fn fruit_and_file2() -> Vec<Workload> {
    vec![kratix("fruit.yaml", FRUIT), kratix("file2.yaml", FILE2)]
}

fn harness_with(mode: FilepathMode, filename: &str) -> Harness {
    let h = Harness::new();
    h.apply(h.git_store("store"));
    h.apply(with_mode(destination("test-destination", "store", "test-path", &[]), mode, filename));
    h
}

fn without_canaries(files: std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    files.into_iter().filter(|(k, _)| !k.contains("kratix-canary")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_56_a_work_gets_its_finalizer_and_needs_no_requeue() {
    let h = Harness::new();
    let none = h.engine.reconcile(&ObjectRef::new(Kind::Work, "default", "nope")).await.unwrap();
    assert_eq!(none, Action::done());
    h.apply(destination("d", "store", "d", &[]));
    h.apply(work("default", "w", "r", vec![(".", vec![], vec![workload("a.yaml", "a\n")])]));
    let action = h.engine.reconcile(&ObjectRef::new(Kind::Work, "default", "w")).await.unwrap();
    assert_eq!(action, Action::done());
    let w: Work = h.get("default", "w").await.unwrap();
    assert_eq!(w.metadata.finalizers, vec![WORK_CLEANUP_FINALIZER]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_57_a_failing_placement_makes_the_work_failing() {
    let mut h = harness_with(FilepathMode::NestedByMetadata, "");
    let corrupt = encode(b"x").replacen("H4sI", "H4sIAAAA", 1);
    h.apply(work("default", "w", "r", vec![(".", vec![], vec![workload("a.yaml", &corrupt)])]));
    h.converge().await;
    let wp_name = "w.test-destination-5058f";
    let w: Work = h.get("default", "w").await.unwrap();
    assert_eq!(
        conds(w.conditions()),
        vec![
            cond("Ready", "False", "WorkplacementsFailing", "Failing"),
            cond(
                "ScheduleSucceeded",
                "False",
                "WorkplacementsFailing",
                &format!("Workplacements failed to write: [{wp_name}]")
            ),
        ]
    );
    assert!(
        h.event_messages(Kind::Work, "default", "w").contains(&format!("Workplacements failed to write: [{wp_name}]"))
    );
    // Fixing the content recovers the Work.
    h.apply(work("default", "w", "r", vec![(".", vec![], vec![workload("a.yaml", "a: 1\n")])]));
    h.converge().await;
    let w: Work = h.get("default", "w").await.unwrap();
    assert_eq!(ready_of(w.conditions()).unwrap().2, "Ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_59_and_60_only_resource_requests_requeue_while_unscheduled() {
    let h = Harness::new();
    h.apply(work("default", "rr", "r", vec![(".", vec![("env", "x")], vec![workload("a.yaml", "a\n")])]));
    h.apply(work("default", "dep", "", vec![(".", vec![("env", "x")], vec![workload("a.yaml", "a\n")])]));
    let rr = h.engine.reconcile(&ObjectRef::new(Kind::Work, "default", "rr")).await.unwrap();
    assert_eq!(rr, Action::requeue(Duration::from_secs(60)));
    assert!(
        h.event_messages(Kind::Work, "default", "rr")
            .contains(&format!("waiting for destination for workload group: [{DOT}]"))
    );
    let dep = h.engine.reconcile(&ObjectRef::new(Kind::Work, "default", "dep")).await.unwrap();
    assert_eq!(dep, Action::done());
    h.apply(destination("d", "store", "d", &[("env", "x")]));
    let rr = h.engine.reconcile(&ObjectRef::new(Kind::Work, "default", "rr")).await.unwrap();
    assert_eq!(rr, Action::done());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_61_deleting_a_work_deletes_its_placements_and_their_files() {
    let mut h = harness_with(FilepathMode::NestedByMetadata, "");
    h.apply(work("default", "w", "r", vec![(".", vec![], vec![workload("a.yaml", "a\n")])]));
    h.apply(work("default", "keep", "r2", vec![(".", vec![], vec![workload("k.yaml", "k\n")])]));
    h.converge().await;
    assert_eq!(without_canaries(h.files("store")).len(), 2);
    h.remove::<Work>("default", "w");
    h.converge().await;
    assert!(h.get::<Work>("default", "w").await.is_none());
    let wps: Vec<WorkPlacement> = h.list().await;
    assert_eq!(wps.iter().map(|p| p.metadata.name.as_str()).collect::<Vec<_>>(), vec!["keep.test-destination-5058f"]);
    let files = without_canaries(h.files("store"));
    assert_eq!(files, vec![("test-path/resources/default/promise/r2/5058f/k.yaml".to_string(), "k\n".to_string())]);
    assert_eq!(h.last_commit_message("store"), "Delete from: w.test-destination-5058f\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_62_mode_none_writes_flat_files_and_a_state_file() {
    let mut h = harness_with(FilepathMode::None, "");
    h.apply(placement("test-work-placement", fruit_and_file2()));
    h.converge().await;
    assert_eq!(
        without_canaries(h.files("store")),
        vec![
            (
                "test-path/.kratix/default-test-work-placement.yaml".into(),
                "files:\n- test-path/fruit.yaml\n- test-path/file2.yaml\n".into()
            ),
            ("test-path/file2.yaml".into(), FILE2.into()),
            ("test-path/fruit.yaml".into(), FRUIT.into()),
        ]
    );
    let p: WorkPlacement = h.get("default", "test-work-placement").await.unwrap();
    let mut finalizers = p.metadata.finalizers.clone();
    finalizers.sort();
    assert_eq!(finalizers, vec![DOT_FILES_CLEANUP_FINALIZER, REPO_CLEANUP_FINALIZER]);
}

/// Kratix writes `/flat/fruit.yaml` into the state file of a Destination whose path is `/flat` (Go's
/// `Join` keeps the slash; its writers strip it from the file's path). Waybill writes the same entries,
/// and a state file Kratix left, with such entries, still deletes what it lists: a repository moved from
/// Kratix to Waybill keeps no stale files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_none_keeps_the_leading_slash_of_the_destination_path_in_the_state_file() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    h.converge().await;
    // What Kratix left: a file of this placement, listed with the slash, plus one of another placement.
    waybill_testsupport::third_party_commit(
        &h.repo_path("store"),
        "main",
        &[
            ("flat/old.yaml", Some("old")),
            ("flat/theirs.yaml", Some("theirs")),
            ("flat/.kratix/default-test-work-placement.yaml", Some("files:\n- /flat/old.yaml\n- /flat/fruit.yaml\n")),
        ],
        "Update from: test-work-placement",
    );
    h.apply(with_mode(destination("test-destination", "store", "/flat", &[]), FilepathMode::None, ""));
    h.apply(placement("test-work-placement", fruit_and_file2()));
    h.converge().await;

    let files = without_canaries(h.files("store"));
    assert_eq!(
        files,
        vec![
            (
                "flat/.kratix/default-test-work-placement.yaml".into(),
                "files:\n- /flat/fruit.yaml\n- /flat/file2.yaml\n".into()
            ),
            ("flat/file2.yaml".into(), FILE2.into()),
            ("flat/fruit.yaml".into(), FRUIT.into()),
            ("flat/theirs.yaml".into(), "theirs".into()),
        ],
        "old.yaml, listed by Kratix with the slash, is gone; a file the state file does not list stays"
    );

    h.remove::<WorkPlacement>("default", "test-work-placement");
    h.converge().await;
    assert_eq!(without_canaries(h.files("store")), vec![("flat/theirs.yaml".into(), "theirs".into())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_63_and_64_requeue_after_the_resync_interval_or_after_a_failure() {
    let mut h = harness_with(FilepathMode::None, "");
    h.apply(placement("test-work-placement", fruit_and_file2()));
    h.converge().await;
    let engine = waybill_engine::Engine::new(
        h.store.clone(),
        waybill_engine::EngineConfig {
            base_dir: h.dir.path().to_path_buf(),
            resync_interval: Some(Duration::from_secs(36_000)),
            ..Default::default()
        },
    );
    engine.reconcile(&ObjectRef::cluster(Kind::GitStateStore, "store")).await.unwrap();
    let r = ObjectRef::new(Kind::WorkPlacement, "default", "test-work-placement");
    assert_eq!(engine.reconcile(&r).await.unwrap(), Action::requeue(Duration::from_secs(36_000)));
    std::fs::write(h.repo_path("store").join("refs/heads/main.lock"), b"").unwrap();
    h.apply(placement("test-work-placement", vec![kratix("fruit.yaml", "changed")]));
    assert_eq!(engine.reconcile(&r).await.unwrap(), Action::requeue(Duration::from_secs(15)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_65_deleting_a_flat_placement_removes_its_files_and_state_file() {
    let mut h = harness_with(FilepathMode::None, "");
    h.apply(placement("test-work-placement", fruit_and_file2()));
    h.converge().await;
    h.remove::<WorkPlacement>("default", "test-work-placement");
    h.converge().await;
    assert!(without_canaries(h.files("store")).is_empty());
    assert!(h.get::<WorkPlacement>("default", "test-work-placement").await.is_none());
    assert_eq!(h.last_commit_message("store"), "Delete from: test-work-placement\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_66_a_placement_whose_destination_is_gone_is_released() {
    let mut h = harness_with(FilepathMode::None, "");
    h.apply(placement("test-work-placement", fruit_and_file2()));
    h.converge().await;
    h.remove::<Destination>("", "test-destination");
    h.converge().await;
    let p: WorkPlacement = h.get("default", "test-work-placement").await.unwrap();
    assert_eq!(p.metadata.finalizers.len(), 2, "not deleting: finalizers stay (compatibility D24)");
    h.remove::<WorkPlacement>("default", "test-work-placement");
    h.converge().await;
    assert!(h.get::<WorkPlacement>("default", "test-work-placement").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_67_and_68_a_shrinking_flat_placement_deletes_only_its_own_files() {
    let mut h = harness_with(FilepathMode::None, "");
    h.apply(placement(
        "a",
        vec![
            kratix("banana.yaml", "b"),
            kratix("apple.yaml", "a"),
            kratix("fruit.yaml", FRUIT),
            kratix("file2.yaml", FILE2),
        ],
    ));
    h.apply(placement("b", vec![kratix("other.yaml", "o")]));
    h.converge().await;
    h.apply(placement("a", vec![kratix("fruit.yaml", FRUIT)]));
    h.converge().await;
    let files: Vec<String> = without_canaries(h.files("store")).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        files,
        vec![
            "test-path/.kratix/default-a.yaml",
            "test-path/.kratix/default-b.yaml",
            "test-path/fruit.yaml",
            "test-path/other.yaml"
        ]
    );
    assert_eq!(h.files("store")["test-path/.kratix/default-a.yaml"], "files:\n- test-path/fruit.yaml\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_69_and_70_nested_placements_own_their_directory() {
    let mut h = harness_with(FilepathMode::NestedByMetadata, "");
    h.apply(placement("resource", vec![kratix("fruit.yaml", FRUIT), kratix("sub/file2.yaml", FILE2)]));
    let mut dep = placement("dependency", vec![kratix("fruit.yaml", FRUIT)]);
    dep.spec.resource_name.clear();
    h.apply(dep);
    h.converge().await;
    let files: Vec<String> = without_canaries(h.files("store")).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        files,
        vec![
            "test-path/dependencies/test-promise/5058f/fruit.yaml",
            "test-path/resources/default/test-promise/test-resource/5058f/fruit.yaml",
            "test-path/resources/default/test-promise/test-resource/5058f/sub/file2.yaml",
        ]
    );
    // The directory is replaced: a file no longer listed disappears.
    h.apply(placement("resource", vec![kratix("fruit.yaml", FRUIT)]));
    h.converge().await;
    assert!(
        !h.files("store").contains_key("test-path/resources/default/test-promise/test-resource/5058f/sub/file2.yaml")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_71_to_74_aggregated_yaml_joins_every_placement_in_name_order() {
    let mut h = harness_with(FilepathMode::AggregatedYaml, "workloads.yaml");
    h.apply(placement("test-work-placement", fruit_and_file2()));
    h.apply(placement("test-work-placement-2", vec![kratix("k.yaml", "{kratix: is-good}")]));
    h.converge().await;
    let files = h.files("store");
    assert_eq!(files["test-path/workloads.yaml"], format!("{FRUIT}\n---\n{FILE2}\n---\n{{kratix: is-good}}"));
    assert_eq!(without_canaries(files).len(), 1);
    h.remove::<WorkPlacement>("default", "test-work-placement");
    h.converge().await;
    assert_eq!(h.files("store")["test-path/workloads.yaml"], "{kratix: is-good}");
    h.remove::<WorkPlacement>("default", "test-work-placement-2");
    h.converge().await;
    assert!(without_canaries(h.files("store")).is_empty());
    assert_eq!(h.list::<WorkPlacement>().await.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_72_an_empty_aggregate_filename_means_aggregated_yaml() {
    let mut h = harness_with(FilepathMode::AggregatedYaml, "");
    h.apply(placement("p", vec![kratix("k.yaml", "a: 1")]));
    h.converge().await;
    assert_eq!(h.files("store")["test-path/aggregated.yaml"], "a: 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_75_and_77_a_write_records_the_commit_as_version_id() {
    let mut h = harness_with(FilepathMode::NestedByMetadata, "");
    h.apply(placement("p", fruit_and_file2()));
    h.converge().await;
    let tip =
        git2::Repository::open(h.repo_path("store")).unwrap().refname_to_id("refs/heads/main").unwrap().to_string();
    let p: WorkPlacement = h.get("default", "p").await.unwrap();
    assert_eq!(p.status.as_ref().unwrap().version_id, tip);
    assert_eq!(
        conds(p.conditions()),
        vec![
            cond("Ready", "True", "WorkloadsWrittenToTargetDestination", "Ready"),
            cond("WriteSucceeded", "True", "WorkloadsWrittenToStateStore", "Workloads written to State Store"),
        ]
    );
    assert!(
        h.event_messages(Kind::WorkPlacement, "default", "p")
            .contains(&format!("successfully written to Destination: test-destination with versionID: {tip}"))
    );
    // A write that changes nothing keeps the version.
    h.engine.reconcile(&ObjectRef::new(Kind::WorkPlacement, "default", "p")).await.unwrap();
    let p: WorkPlacement = h.get("default", "p").await.unwrap();
    assert_eq!(p.status.as_ref().unwrap().version_id, tip);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_78_a_failed_write_is_reported_as_failing() {
    let mut h = harness_with(FilepathMode::NestedByMetadata, "");
    h.converge().await;
    std::fs::write(h.repo_path("store").join("refs/heads/main.lock"), b"").unwrap();
    h.apply(placement("p", fruit_and_file2()));
    h.converge().await;
    let p: WorkPlacement = h.get("default", "p").await.unwrap();
    let write = p.conditions().iter().find(|c| c.type_ == "WriteSucceeded").unwrap().clone();
    assert_eq!((write.status.as_str(), write.reason.as_str()), ("False", "WorkloadsFailedWrite"));
    assert!(write.message.contains("locked"), "{}", write.message);
    assert_eq!(ready_of(p.conditions()), Some(("False".into(), "WorkloadsFailedWrite".into(), "Failing".into())));
    let want = format!("error writing to destination; check kubectl get destination for more info: {}", write.message);
    assert!(h.event_messages(Kind::WorkPlacement, "default", "p").contains(&want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn difference_3_an_escaping_workload_path_fails_only_its_placement() {
    for (mode, bad) in [
        (FilepathMode::NestedByMetadata, "../x.yaml"),
        (FilepathMode::None, "/etc/x"),
        (FilepathMode::None, "../../x"),
        (FilepathMode::AggregatedYaml, "a\\b"),
    ] {
        let mut h = harness_with(mode, "");
        h.apply(placement("good", vec![kratix("ok.yaml", "ok: 1")]));
        h.apply(placement("bad", vec![kratix("fine.yaml", "f"), kratix(bad, "evil")]));
        h.converge().await;
        let p: WorkPlacement = h.get("default", "bad").await.unwrap();
        let write = p.conditions().iter().find(|c| c.type_ == "WriteSucceeded").unwrap().clone();
        assert_eq!((write.status.as_str(), write.reason.as_str()), ("False", "InvalidWorkloadPath"), "{mode:?} {bad}");
        assert!(write.message.contains(&format!("{bad:?}")), "{}", write.message);
        let files = h.files("store");
        assert!(files.values().all(|v| v != "evil" && v != "f"), "nothing of the bad placement is written: {files:?}");
        assert!(files.keys().all(|k| k.starts_with("test-path/")), "{files:?}");
        let good: WorkPlacement = h.get("default", "good").await.unwrap();
        assert_eq!(ready_of(good.conditions()).unwrap().2, "Ready", "{mode:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_kratix_content_fails_with_invalid_workload_content() {
    let mut h = harness_with(FilepathMode::NestedByMetadata, "");
    let corrupt = encode(b"hello").replacen("H4sI", "H4sIAAAA", 1);
    h.apply(placement("bad", vec![workload("a.yaml", &corrupt)]));
    h.converge().await;
    let p: WorkPlacement = h.get("default", "bad").await.unwrap();
    let write = p.conditions().iter().find(|c| c.type_ == "WriteSucceeded").unwrap().clone();
    assert_eq!(write.reason, "InvalidWorkloadContent");
    assert!(write.message.contains("a.yaml"));
    assert!(without_canaries(h.files("store")).is_empty());
}

/// A Destination whose `spec.path` is changed to leave its store (the Kubernetes API admits it;
/// Waybill's embedded admission would not): deleting a placement it holds releases the placement, with
/// a warning, instead of holding it and its Work for ever. The files stay where they were written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_on_a_destination_whose_path_now_escapes_can_be_deleted() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    h.apply(destination("test-destination", "store", "test-path", &[]));
    h.apply(placement("p", fruit_and_file2()));
    h.converge().await;
    let p: WorkPlacement = h.get("default", "p").await.unwrap();
    assert!(!p.metadata.finalizers.is_empty());
    h.apply(destination("test-destination", "store", "../../escape", &[]));
    h.converge().await;

    h.remove::<WorkPlacement>("default", "p");
    h.converge().await;

    assert!(h.get::<WorkPlacement>("default", "p").await.is_none(), "the placement is gone");
    let events = h.events(Kind::WorkPlacement, "default", "p");
    assert!(
        events.iter().any(|e| e.reason == "FailedDelete" && e.message.contains("has an invalid spec.path")),
        "{events:?}"
    );
    let files = h.files("store");
    assert!(files.keys().any(|k| k.starts_with("test-path/") && k.ends_with("/fruit.yaml")), "{files:?}");
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("git").current_dir(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A placement reconciled again with nothing changed (a resync) is checked by its directory's id, not
/// decoded and sent again; a file deleted behind Waybill's back makes it send its files, restoring it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_checks_an_unchanged_placement_by_its_directory_and_restores_a_changed_one() {
    let mut h = harness_with(FilepathMode::NestedByMetadata, "");
    h.apply(placement("p", fruit_and_file2()));
    h.converge().await;
    let decoded = h.engine.placements_decoded();
    assert!(decoded >= 1);
    let p = ObjectRef::new(Kind::WorkPlacement, "default", "p");
    h.engine.reconcile(&p).await.unwrap();
    assert_eq!(h.engine.placements_decoded(), decoded, "an unchanged placement was decoded again");

    let fruit = h.files("store").into_keys().find(|f| f.ends_with("/fruit.yaml")).unwrap();
    let wt = tempfile::tempdir().unwrap();
    git(wt.path(), &["clone", "-q", h.repo_path("store").to_str().unwrap(), "."]);
    git(wt.path(), &["rm", "-q", &fruit]);
    git(wt.path(), &["-c", "user.name=someone", "-c", "user.email=s@example.com", "commit", "-qm", "oops"]);
    git(wt.path(), &["push", "-q", "origin", "HEAD:main"]);
    assert!(!h.files("store").contains_key(&fruit));

    h.engine.reconcile(&p).await.unwrap();
    assert_eq!(h.engine.placements_decoded(), decoded + 1, "the changed directory was not sent again");
    assert_eq!(h.files("store").get(&fruit).map(String::as_str), Some(FRUIT), "{fruit} was not restored");
}
