//! The `waybill` binary end to end in embedded mode: the quickstart, idempotence, single-commit changes
//! and deletions, bad input, restarts, plan and status.

mod common;

use common::*;

#[test]
fn the_quickstart_converges_in_the_kratix_layout() {
    let site = Site::quickstart();
    let out = site.run_once();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let files = site.files();
    let paths: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        vec![
            "backstage/catalog.yaml",
            "backstage/kratix-canary-configmap.yaml",
            "backstage/kratix-canary-namespace.yaml",
            "clusters/prod/dependencies/kratix-canary-namespace.yaml",
            "clusters/prod/resources/default/redis/my-redis/instance-configure/5058f/config/redis-config.yaml",
            "clusters/prod/resources/default/redis/my-redis/instance-configure/5058f/redis.yaml",
            "clusters/prod/resources/kratix-canary-configmap.yaml",
            "dev-cluster/dependencies/kratix-canary-namespace.yaml",
            "dev-cluster/dependencies/redis/promise-configure/5058f/redis-operator-namespace.yaml",
            "dev-cluster/resources/kratix-canary-configmap.yaml",
            "terraform/.kratix/kratix-platform-system-redis-dependencies.terraform-5058f.yaml",
            "terraform/kratix-canary-configmap.yaml",
            "terraform/kratix-canary-namespace.yaml",
            "terraform/redis-operator-namespace.yaml",
        ]
    );
    assert_eq!(
        files["terraform/.kratix/kratix-platform-system-redis-dependencies.terraform-5058f.yaml"],
        "files:\n- terraform/redis-operator-namespace.yaml\n"
    );
    assert_eq!(files["backstage/catalog.yaml"], files["terraform/redis-operator-namespace.yaml"]);
    assert_eq!(site.commits(), 1, "one burst, one commit");

    let status = site.waybill(&["status", "--platform", site.platform.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code(&status), 0);
    let list: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["apiVersion"], "v1");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 11, "1 store, 4 destinations, 2 works, 4 placements");
    for item in items {
        for key in ["apiVersion", "kind", "metadata", "status"] {
            assert!(item.get(key).is_some(), "{key} missing in {item}");
        }
        let ready = item["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(ready["status"], "True", "{item}");
    }
    let table = site.waybill(&["status", "--platform", site.platform.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("WorkloadsWrittenToTargetDestination"));
    let yaml = site.waybill(&["status", "--platform", site.platform.to_str().unwrap(), "-o", "yaml"]);
    assert!(String::from_utf8_lossy(&yaml.stdout).contains("kind: List"));
}

#[test]
fn rerunning_changes_nothing_and_one_work_change_is_one_commit() {
    let site = Site::quickstart();
    assert_eq!(code(&site.run_once()), 0);
    let commits = site.commits();
    let out = site.run_once();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(site.commits(), commits, "nothing changed, nothing committed");

    let works = std::fs::read_to_string(site.platform.join("works.yaml")).unwrap();
    site.write("works.yaml", &works.replace("replicas: 3", "replicas: 5"));
    let out = site.run_once();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(site.commits(), commits + 1);
    let redis = &site.files()["clusters/prod/resources/default/redis/my-redis/instance-configure/5058f/redis.yaml"];
    assert!(redis.contains("replicas: 5"));
}

#[test]
fn deleting_a_works_manifest_removes_exactly_its_files_in_one_commit() {
    let site = Site::quickstart();
    assert_eq!(code(&site.run_once()), 0);
    let before = site.files();
    let commits = site.commits();
    std::fs::remove_file(site.platform.join("works.yaml")).unwrap();
    let out = site.run_once();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(site.commits(), commits + 1, "one commit for the whole deletion");
    let after = site.files();
    let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    assert_eq!(
        removed,
        vec![
            "backstage/catalog.yaml",
            "clusters/prod/resources/default/redis/my-redis/instance-configure/5058f/config/redis-config.yaml",
            "clusters/prod/resources/default/redis/my-redis/instance-configure/5058f/redis.yaml",
            "dev-cluster/dependencies/redis/promise-configure/5058f/redis-operator-namespace.yaml",
            "terraform/.kratix/kratix-platform-system-redis-dependencies.terraform-5058f.yaml",
            "terraform/redis-operator-namespace.yaml",
        ]
    );
    assert!(after.keys().all(|k| k.contains("kratix-canary")), "only canaries remain: {after:?}");
    let status = site.waybill(&["status", "--platform", site.platform.to_str().unwrap(), "-o", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(list["items"].as_array().unwrap().iter().all(|i| i["kind"] != "Work" && i["kind"] != "WorkPlacement"));
}

#[test]
fn cleanup_all_takes_a_destinations_files_with_it_even_across_restarts() {
    let site = Site::quickstart();
    let dests = std::fs::read_to_string(site.platform.join("destinations.yaml")).unwrap();
    site.write("destinations.yaml", &dests.replace("  path: terraform\n", "  path: terraform\n  cleanup: all\n"));
    assert_eq!(code(&site.run_once()), 0);
    assert!(site.files().keys().any(|k| k.starts_with("terraform/")));
    // Drop the terraform Destination (the last document of the file) and restart.
    let cut = dests.find("# Mode none").unwrap();
    let rest = &dests[dests.find("# Mode aggregatedYAML").unwrap()..];
    site.write("destinations.yaml", &format!("{}{}", &dests[..cut], rest));
    let out = site.run_once();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(site.files().keys().all(|k| !k.starts_with("terraform/")), "{:?}", site.files().keys());
}

const GOOD_DEST: &str = "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata:\n  name: extra\nspec:\n  stateStoreRef: {kind: GitStateStore, name: default}\n";

#[test]
fn bad_input_is_reported_precisely_and_everything_else_converges() {
    let cases: &[(&str, &str, &str)] = &[
        ("malformed.yaml", "apiVersion: v1\nkind: [unclosed\n", "malformed YAML"),
        (
            "unknown.yaml",
            "apiVersion: platform.kratix.io/v1alpha1\nkind: Destinaton\nmetadata: {name: g}\n",
            "kind: unknown kind \"Destinaton\" (did you mean \"Destination\"?)",
        ),
        (
            "enum.yaml",
            "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: bad-enum}\nspec:\n  filepath: {mode: sideways}\n  stateStoreRef: {kind: GitStateStore, name: default}\n",
            "spec.filepath.mode: must be one of nestedByMetadata, aggregatedYAML, none",
        ),
        (
            "noref.yaml",
            "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: no-ref}\nspec: {path: x}\n",
            "spec.stateStoreRef: is required",
        ),
        (
            "escape.yaml",
            "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {name: escape, namespace: default}\nspec:\n  promiseName: p\n  workloadGroups:\n  - workloads:\n    - {filepath: ../../x.yaml, content: \"a: 1\"}\n    - {filepath: /etc/x, content: \"a: 1\"}\n",
            "InvalidWorkloadPath",
        ),
        (
            "content.yaml",
            "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {name: corrupt, namespace: default}\nspec:\n  promiseName: p\n  workloadGroups:\n  - workloads:\n    - {filepath: c.yaml, content: H4sIAAAAAAAA/ytJLS4BAA==}\n",
            "InvalidWorkloadContent",
        ),
        (
            "clash.yaml",
            "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: zz-clash}\nspec:\n  path: ./dev-cluster/\n  stateStoreRef: {kind: GitStateStore, name: default}\n",
            "spec.path: directory \"dev-cluster\" overlaps directory \"dev-cluster\" of Destination \"dev-cluster\"",
        ),
        (
            "missing-store.yaml",
            "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: orphan}\nspec:\n  stateStoreRef: {kind: GitStateStore, name: nowhere}\n",
            "GitStateStore/nowhere: not found",
        ),
    ];
    for (file, manifest, want) in cases {
        let site = Site::quickstart();
        assert_eq!(code(&site.run_once()), 0);
        let before = site.files();
        site.write(file, manifest);
        site.write("extra.yaml", GOOD_DEST);
        let out = site.run_once();
        let output = text(&out);
        assert_eq!(code(&out), 2, "{file}: {output}");
        assert!(output.contains(want), "{file}: expected {want:?} in\n{output}");
        if !matches!(*file, "escape.yaml" | "content.yaml" | "missing-store.yaml") {
            assert!(output.contains(file), "{file}: the message names the file:\n{output}");
        }
        let after = site.files();
        for (k, v) in &before {
            assert_eq!(after.get(k), Some(v), "{file}: {k} was damaged");
        }
        assert!(
            after.contains_key("extra/dependencies/kratix-canary-namespace.yaml"),
            "{file}: the good Destination converged"
        );
        let validate = site.waybill(&["validate", site.platform.to_str().unwrap()]);
        // A missing store is a warning to validate (Kratix's webhook admits it); a run reports it.
        let want_code = if *file == "missing-store.yaml" { 0 } else { 1 };
        assert_eq!(code(&validate), want_code, "{file}: {}", text(&validate));
        assert!(text(&validate).contains(file), "{file}: validate names the file: {}", text(&validate));
    }
}

#[test]
fn a_manifest_broken_after_it_was_accepted_keeps_its_object_and_files() {
    let site = Site::quickstart();
    assert_eq!(code(&site.run_once()), 0);
    let before = site.files();
    site.write("works.yaml", "this: is: not: yaml: [\n");
    let out = site.run_once();
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("works.yaml"));
    assert_eq!(site.files(), before, "nothing is deleted because a file stopped parsing");
    let status = site.waybill(&["status", "--platform", site.platform.to_str().unwrap(), "-o", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(list["items"].as_array().unwrap().iter().filter(|i| i["kind"] == "Work").count(), 2);
    // A file that does not parse belongs to no object: the JSON carries it too.
    let problems: Vec<&str> = list["problems"].as_array().unwrap().iter().filter_map(|p| p.as_str()).collect();
    assert!(problems.iter().any(|p| p.contains("works.yaml")), "{problems:?}");
}

#[test]
fn an_invalid_update_shows_a_false_condition_and_keeps_the_last_accepted_spec() {
    // An unknown mode is invalid; a valid but different one is refused because the mode is immutable
    // (Kratix's CRD rule `self == oldSelf`). Either way the Destination says so and keeps its layout.
    for (mode, says) in [
        ("mode: flat", "spec.filepath.mode"),
        (
            "mode: nestedByMetadata",
            "spec.filepath.mode: is immutable: it is none and cannot become nestedByMetadata; delete the Destination",
        ),
    ] {
        let site = Site::quickstart();
        assert_eq!(code(&site.run_once()), 0);
        let dests = std::fs::read_to_string(site.platform.join("destinations.yaml")).unwrap();
        site.write("destinations.yaml", &dests.replace("mode: none", mode));
        let out = site.run_once();
        assert_eq!(code(&out), 2, "{mode}: {}", text(&out));
        assert!(text(&out).contains(says), "{mode}: {}", text(&out));
        let status = site.waybill(&["status", "--platform", site.platform.to_str().unwrap(), "-o", "json"]);
        let list: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        let terraform =
            list["items"].as_array().unwrap().iter().find(|i| i["metadata"]["name"] == "terraform").unwrap().clone();
        let ready = terraform["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap()
            .clone();
        assert_eq!(ready["status"], "False", "{mode}");
        assert_eq!(ready["reason"], "InvalidManifest", "{mode}");
        assert!(ready["message"].as_str().unwrap().contains(says), "{mode}: {ready}");
        // The accepted layout stays in effect: nothing moved to nestedByMetadata's directories.
        assert!(site.files().contains_key("terraform/redis-operator-namespace.yaml"), "{mode}");
        assert!(!site.files().keys().any(|k| k.starts_with("terraform/dependencies/")), "{mode}");
    }
}

#[test]
fn validate_accepts_the_quickstart_and_names_every_problem() {
    let site = Site::quickstart();
    let ok = site.waybill(&["validate", site.platform.to_str().unwrap()]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    site.write(
        "bad.yaml",
        "apiVersion: platform.kratix.io/v1alpha1\nkind: BucketStateStore\nmetadata: {name: b}\nspec: {bucketName: k, endpoint: e}\n---\napiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: d}\nspec:\n  cleanup: sometimes\n  stateStoreRef: {kind: GitStateStore, name: default}\n",
    );
    let bad = site.waybill(&["validate", site.platform.to_str().unwrap()]);
    assert_eq!(code(&bad), 1);
    let lines: Vec<String> = String::from_utf8_lossy(&bad.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("bad.yaml: document 1 (line 1) (BucketStateStore/b): spec.secretRef: must be set"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("bad.yaml: document 2 (line 6) (Destination/d): spec.cleanup: must be one of none, all"),
        "{lines:?}"
    );
}

#[test]
fn plan_lists_what_a_run_would_write_and_writes_nothing() {
    let site = Site::quickstart();
    let plan = site.waybill(&["plan", "--platform", site.platform.to_str().unwrap()]);
    assert_eq!(code(&plan), 0, "{}", text(&plan));
    let out = String::from_utf8_lossy(&plan.stdout);
    assert!(out.contains("GitStateStore/default: 14 change(s)"), "{out}");
    assert!(out.contains("  + terraform/redis-operator-namespace.yaml"), "{out}");
    assert!(!site.repo().exists(), "plan creates no repository");
    assert!(!site.platform.join(".waybill").exists(), "plan creates no state");

    assert_eq!(code(&site.run_once()), 0);
    let works = std::fs::read_to_string(site.platform.join("works.yaml")).unwrap();
    site.write("works.yaml", &works.replace("replicas: 3", "replicas: 4"));
    let commits = site.commits();
    let plan = site.waybill(&["plan", "--platform", site.platform.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&plan.stdout);
    assert!(out.contains("GitStateStore/default: 1 change(s)"), "{out}");
    assert!(
        out.contains("  ~ clusters/prod/resources/default/redis/my-redis/instance-configure/5058f/redis.yaml"),
        "{out}"
    );
    assert_eq!(site.commits(), commits);

    // --diff shows the content change; -o json carries the same changes for scripts.
    let path = "clusters/prod/resources/default/redis/my-redis/instance-configure/5058f/redis.yaml";
    let diff = site.waybill(&["plan", "--diff", "--platform", site.platform.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&diff.stdout);
    assert!(out.contains(&format!("--- a/{path}\n+++ b/{path}\n")), "{out}");
    let removed: Vec<&str> = out.lines().filter(|l| l.starts_with('-') && !l.starts_with("---")).collect();
    let added: Vec<&str> = out.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).collect();
    assert_eq!((removed.len(), added.len()), (1, 1), "{out}");
    assert!(removed[0].ends_with("replicas: 3") && added[0].ends_with("replicas: 4"), "{out}");

    let json =
        site.waybill(&["plan", "-o", "json", "--diff", "--exit-code", "--platform", site.platform.to_str().unwrap()]);
    assert_eq!(code(&json), 2, "{}", text(&json));
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(plan["changes"], true);
    assert_eq!(plan["stores"][0]["store"], "GitStateStore/default");
    let changes = plan["stores"][0]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{plan}");
    assert_eq!((changes[0]["op"].as_str(), changes[0]["path"].as_str()), (Some("modify"), Some(path)));
    let in_json = changes[0]["diff"].as_str().unwrap();
    assert!(in_json.lines().any(|l| l.starts_with('+') && l.ends_with("replicas: 4")), "{plan}");
    assert!(out.contains(in_json), "the text and the JSON show the same diff");
    assert_eq!(plan["notReady"], serde_json::json!([]));
    assert_eq!(site.commits(), commits, "plan never writes");
}

#[test]
fn help_explains_every_command() {
    let site = Site::quickstart();
    let help = text(&site.waybill(&["--help"]));
    for cmd in ["run", "status", "validate", "plan"] {
        assert!(help.contains(cmd), "{help}");
    }
    let run = text(&site.waybill(&["run", "--help"]));
    assert!(run.contains("--once") && run.contains("--state-dir") && run.contains("exits"), "{run}");
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let site = Site::quickstart();
    let version = text(&site.waybill(&["--version"]));
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git runs");
    let head = String::from_utf8(head.stdout).unwrap().trim().to_string();
    assert_eq!(version.trim(), format!("waybill {} (commit {head})", env!("CARGO_PKG_VERSION")));
}

/// Kratix admits a Destination whose state store does not exist yet, with a warning: `validate` over a
/// subset of the manifests warns about the missing store and Secret, names the file, and exits 0.
#[test]
fn validate_warns_about_references_outside_the_given_files_and_exits_zero() {
    let site = Site::quickstart();
    let destinations = site.platform.join("destinations.yaml");
    let out = site.waybill(&["validate", destinations.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let warnings: Vec<&str> = stdout.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert!(!warnings.is_empty(), "{stdout}");
    assert!(
        warnings.iter().all(|w| w.contains("destinations.yaml")
            && w.contains("spec.stateStoreRef: referenced ")
            && w.ends_with("does not exist in the given manifests")),
        "{warnings:?}"
    );
    assert!(text(&out).contains(&format!("all manifests are valid, {} warning(s)", warnings.len())), "{}", text(&out));

    // A real problem next to a warning still fails.
    site.write("bad.yaml", "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: d}\nspec:\n  cleanup: sometimes\n  stateStoreRef: {kind: GitStateStore, name: default}\n---\napiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: e}\nspec:\n  stateStoreRef: {kind: GitStateStore, name: elsewhere}\n");
    let out = site.waybill(&["validate", site.platform.join("bad.yaml").to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("spec.cleanup: must be one of none, all"), "{}", text(&out));
    assert!(text(&out).contains("warning: ") && text(&out).contains("\"elsewhere\" does not exist"), "{}", text(&out));
    assert!(text(&out).contains("1 problem(s), 1 warning(s)"), "{}", text(&out));
}

/// A resource request whose Destination is deleted stays misplaced (Kratix never moves it); the run
/// says why at the default log level, and `run --delete-placement` moves it, as deleting the
/// WorkPlacement does in Kratix (README: Misplaced Works).
#[test]
fn a_work_on_a_deleted_destination_is_explained_and_moved_by_deleting_its_placement() {
    let site = Site::quickstart();
    assert_eq!(code(&site.run_once()), 0);
    let destinations = std::fs::read_to_string(site.platform.join("destinations.yaml")).unwrap();
    let renamed = destinations
        .replace("name: prod-cluster", "name: prod-2")
        .replace("path: clusters/prod\n", "path: clusters/prod-2\n");
    site.write("destinations.yaml", &renamed);
    let placement = "default/redis-my-redis-instance-configure.prod-cluster-5058f";
    let dir = site.dir_arg();

    let out = site.waybill(&["run", "--once", "--quiet", "--settle", "0", "--platform", dir]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("Destination \"prod-cluster\" no longer exists"), "{}", text(&out));
    assert!(text(&out).contains(&format!("WorkPlacement {placement} stays misplaced")), "{}", text(&out));

    let out = site.waybill(&["run", "--once", "--quiet", "--platform", dir, "--delete-placement", placement]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains(&format!("deleting WorkPlacement {placement}")), "{}", text(&out));
    let files = site.files();
    assert!(files.keys().any(|k| k.starts_with("clusters/prod-2/resources/")), "{:?}", files.keys());

    let out = site.waybill(&["run", "--once", "--quiet", "--platform", dir, "--delete-placement", placement]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains(&format!("failed to delete WorkPlacement {placement}: it does not exist")),
        "{}",
        text(&out)
    );
    let out = site.waybill(&["run", "--once", "--platform", dir, "--delete-placement", "no-slash"]);
    assert_eq!(code(&out), 2, "a usage error: {}", text(&out));
    assert!(text(&out).contains("expected NAMESPACE/NAME"), "{}", text(&out));
}
