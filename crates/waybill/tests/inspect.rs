//! `waybill get`, `describe`, `events` and `tree` on the quickstart: what a user reads instead of
//! `sqlite3` and `git log`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const WORK: &str = "default/redis-my-redis-instance-configure";
const PLACEMENT: &str = "default/redis-my-redis-instance-configure.prod-cluster-5058f";

fn ran() -> Site {
    let site = Site::quickstart();
    let out = site.run_once();
    assert_eq!(code(&out), 0, "{}", text(&out));
    site
}

fn stdout(site: &Site, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--platform", site.dir_arg()]);
    let out = site.waybill(&all);
    assert_eq!(code(&out), 0, "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn get_lists_a_kind_in_each_output_format() {
    let site = ran();
    let works = stdout(&site, &["get", "works"]);
    let lines: Vec<&str> = works.lines().collect();
    assert!(lines[0].starts_with("NAMESPACE") && lines[0].contains("READY"), "{works}");
    assert_eq!(lines.len(), 3, "a header and the two Works: {works}");
    assert!(lines[1..].iter().all(|l| l.contains("True") && l.contains("AllWorkplacementsScheduled")), "{works}");

    let one_namespace = stdout(&site, &["get", "work", "-n", "kratix-platform-system"]);
    assert_eq!(one_namespace.lines().count(), 2, "{one_namespace}");
    assert!(one_namespace.contains("redis-dependencies"), "{one_namespace}");

    let wide = stdout(&site, &["get", "wp", "-o", "wide"]);
    assert!(wide.lines().next().unwrap().contains("DESTINATION"), "{wide}");
    let prod = wide.lines().find(|l| l.contains("prod-cluster-5058f")).expect("the resource placement");
    assert!(prod.contains(" prod-cluster ") && prod.contains("redis-my-redis-instance-configure"), "{prod}");

    assert_eq!(
        stdout(&site, &["get", "dest", "prod-cluster", "-o", "name"]),
        "destination.platform.kratix.io/prod-cluster\n"
    );
    let names = stdout(&site, &["get", "destinations", "-o", "name"]);
    assert_eq!(names.lines().count(), 4, "{names}");

    let json: serde_json::Value = serde_json::from_str(&stdout(&site, &["get", "work", WORK, "-o", "json"])).unwrap();
    assert_eq!(json["kind"], "Work");
    assert_eq!(json["spec"]["resourceName"], "my-redis");
    let yaml: serde_json::Value =
        serde_saphyr::from_str(&stdout(&site, &["get", "gitstatestores", "-o", "yaml"])).unwrap();
    assert_eq!(yaml["kind"], "List");
    assert_eq!(yaml["items"][0]["kind"], "GitStateStore");
}

#[test]
fn get_describe_tree_and_events_name_what_is_wrong_with_a_request() {
    let site = ran();
    for (args, want, says) in [
        (vec!["get", "dest", "nope"], 1, "failed to find Destination/nope in the state (`waybill get destinations`"),
        (vec!["describe", "work", "nope"], 1, "failed to find Work/default/nope in the state"),
        (vec!["tree", "gitstatestore", "default"], 1, "`tree` shows a Work or a Destination"),
        (vec!["events", "--for", "wp/default/nope"], 1, "failed to find WorkPlacement/default/nope"),
        (vec!["get", "secret"], 2, "Secrets are never kept in the state directory"),
        (vec!["get", "promise"], 2, "unknown kind \"promise\": expected destination (dest)"),
        (vec!["get", "dest", "a/b"], 1, "Destination is cluster-scoped"),
        (vec!["events", "--for", "work"], 1, "expected KIND/NAME"),
    ] {
        let mut all = args.clone();
        all.extend(["--platform", site.dir_arg()]);
        let out = site.waybill(&all);
        assert_eq!(code(&out), want, "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
    let fresh = Site::quickstart();
    let out = fresh.waybill(&["get", "works", "--platform", fresh.dir_arg()]);
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("run `waybill run --platform <dir>` first"), "{}", text(&out));
}

#[test]
fn describe_shows_conditions_relations_and_events() {
    let site = ran();
    let work = stdout(&site, &["describe", "work", WORK]);
    for want in [
        "Kind:          Work",
        "Namespace:     default",
        "Manifest:      works.yaml",
        "Resource:      my-redis",
        "Conditions:",
        "Ready               True     AllWorkplacementsScheduled",
        "Placements:",
        &format!("WorkPlacement/{PLACEMENT}   prod-cluster   Ready"),
        "Events:",
    ] {
        assert!(work.contains(want), "{want:?} missing:\n{work}");
    }
    let events = work.split("Events:\n").nth(1).unwrap();
    assert!(events.lines().any(|l| l.contains(" Normal ") && l.contains("WorkplacementReconciled")), "{events}");

    let dest = stdout(&site, &["describe", "dest", "terraform"]);
    for want in
        ["State store:     GitStateStore/default", "Mode:            none", "Placements:", "TestDocumentsWritten"]
    {
        assert!(dest.contains(want), "{want:?} missing:\n{dest}");
    }
    let dir = dest.lines().find_map(|l| l.strip_prefix("Directory:")).expect("a Directory line").trim().to_string();
    assert!(site.files().keys().any(|f| f.starts_with(&dir)), "{dir} holds files: {:?}", site.files().keys());

    let store = stdout(&site, &["describe", "gitstatestore", "default"]);
    assert!(store.contains("Destinations:") && store.contains("prod-cluster  Ready"), "{store}");
}

/// Every file `tree` and `describe wp` list is in the repository, and every file of the placement's
/// directory in the repository is listed.
#[test]
fn tree_and_describe_list_exactly_the_files_a_placement_owns() {
    let site = ran();
    let tree = stdout(&site, &["tree", "work", WORK]);
    assert!(tree.starts_with(&format!("Work/{WORK}  Ready\n")), "{tree}");
    assert!(
        tree.contains(&format!(
            "└── WorkPlacement/{PLACEMENT}  Ready  → Destination/prod-cluster  GitStateStore/default"
        )),
        "{tree}"
    );
    let listed: Vec<String> = tree
        .lines()
        .filter(|l| l.starts_with("    "))
        .map(|l| l.trim_start_matches([' ', '├', '└', '─', '│']).trim().to_string())
        .collect();
    assert!(!listed.is_empty(), "{tree}");
    let files = site.files();
    for f in &listed {
        assert!(files.contains_key(f), "{f} is not in the repository: {:?}", files.keys());
    }
    let dir = listed[0].rsplit_once("/5058f/").map(|(d, _)| format!("{d}/5058f/")).expect("a nested path");
    let in_repo: Vec<&String> = files.keys().filter(|k| k.starts_with(&dir)).collect();
    assert_eq!(in_repo.len(), listed.len(), "{in_repo:?} vs {listed:?}");

    let described = stdout(&site, &["describe", "wp", PLACEMENT]);
    for f in &listed {
        assert!(described.contains(&format!("  {f}\n")), "{f} missing:\n{described}");
    }

    let flat = stdout(&site, &["tree", "destination", "terraform"]);
    assert!(flat.contains(".kratix/kratix-platform-system-redis-dependencies.terraform-5058f.yaml"), "{flat}");
    for f in
        flat.lines().filter(|l| l.starts_with("    ")).map(|l| l.trim_start_matches([' ', '├', '└', '─', '│']).trim())
    {
        assert!(files.contains_key(f), "{f} is not in the repository");
    }
}

#[test]
fn events_lists_everything_or_one_object() {
    let site = ran();
    let all = stdout(&site, &["events"]);
    assert!(all.lines().next().unwrap().starts_with("TIME"), "{all}");
    assert!(all.contains("Work/default/redis-my-redis-instance-configure") && all.contains("Destination/"), "{all}");
    let one = stdout(&site, &["events", "--for", &format!("work/{WORK}")]);
    assert!(one.lines().count() > 1, "{one}");
    assert!(one.lines().skip(1).all(|l| l.contains(&format!("Work/{WORK}"))), "{one}");
}

/// `get --watch` prints the table again when a run changes it.
#[test]
fn get_watch_prints_the_table_again_when_it_changes() {
    let site = ran();
    let mut watch = Command::new(env!("CARGO_BIN_EXE_waybill"))
        .args(["get", "works", "--watch", "--platform", site.dir_arg()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(30)).expect("the first table");
    assert!(first.starts_with("NAMESPACE"), "{first}");

    let works = std::fs::read_to_string(site.platform.join("works.yaml")).unwrap();
    site.write("works.yaml", &works.replace("environment: prod", "environment: nowhere"));
    let out = site.run_once();
    assert_eq!(code(&out), 2, "{}", text(&out));

    let start = Instant::now();
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("UnscheduledWorkloads") || l.contains("Misplaced")) {
        assert!(start.elapsed() < Duration::from_secs(30), "no new table: {seen:?}");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            seen.push(line);
        }
    }
    let _ = Command::new("kill").args(["-INT", &watch.id().to_string()]).status();
    let status = watch.wait().unwrap();
    assert!(status.success(), "--watch stops cleanly on SIGINT: {status:?}");
}
