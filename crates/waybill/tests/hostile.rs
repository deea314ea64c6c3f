//! Hostile and unlucky input through the binary: what a tenant or an operator can do to the files it
//! reads, and what it must never do in return. The catalogue is `docs/hostile-inputs.md`.

mod common;

use common::*;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Trust defect 7: a malformed Secret is reported by key and type; its values reach no output, no
/// status, no plan, no validate line and no byte of the state directory.
#[test]
fn a_malformed_secret_never_shows_its_values() {
    let site = Site::quickstart();
    let secrets = "apiVersion: v1\nkind: Secret\nmetadata: {name: s1}\nstringData:\n  password: 98765432101234\n---\n\
                   apiVersion: v1\nkind: Secret\nmetadata: {name: s2}\ndata: \"c3VwZXJzZWNyZXQ=\"\n---\n\
                   apiVersion: v1\nkind: Secret\nmetadata: {name: s3}\nstringData:\n  token: \"hunter2-unterminated\n";
    site.write("secrets.yaml", secrets);
    let values = ["98765432101234", "c3VwZXJzZWNyZXQ", "hunter2"];
    let run = site.run_once();
    assert_eq!(code(&run), 2, "{}", text(&run));
    let runs = [
        run,
        site.waybill(&["status", "--platform", site.dir_arg(), "-o", "json"]),
        site.waybill(&["status", "--platform", site.dir_arg()]),
        site.waybill(&["plan", "--platform", site.dir_arg()]),
        site.waybill(&["validate", site.dir_arg()]),
    ];
    let all: String = runs.iter().map(text).collect();
    assert!(all.contains("stringData.password: must be a string, not a number"), "{all}");
    assert!(all.contains("data: must be a map, not a string"), "{all}");
    for value in values {
        assert!(!all.contains(value), "{value} leaked:\n{all}");
        assert!(!contains(&site.state_bytes(), value), "{value} is in the state directory");
    }
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Trust defect 2: a directory (or the platform directory itself, or one file) that cannot be read keeps
/// every object it held: nothing is deleted, the problem is named, and `run --once` exits 2 (1 when not
/// even the state directory inside it can be reached). Once it is readable again, everything converges
/// as before.
#[test]
fn an_unreadable_directory_or_file_deletes_nothing() {
    for (target, mode, want) in [("works", 0o000, 2), (".", 0o311, 2), (".", 0o000, 1), ("works/works.yaml", 0o000, 2)]
    {
        let site = Site::quickstart();
        let works = site.platform.join("works");
        std::fs::create_dir(&works).unwrap();
        std::fs::rename(site.platform.join("works.yaml"), works.join("works.yaml")).unwrap();
        let first = site.run_once();
        assert_eq!(code(&first), 0, "{}", text(&first));
        let before = site.files();
        let commits = site.commits();

        let locked = site.platform.join(target);
        set_mode(&locked, mode);
        let out = site.waybill_unprivileged(&["run", "--once", "--quiet", "--platform", site.dir_arg()]);
        set_mode(&locked, if target.ends_with(".yaml") { 0o644 } else { 0o755 });
        assert_eq!(code(&out), want, "{target}: {}", text(&out));
        assert!(text(&out).contains("Permission denied"), "{target}: {}", text(&out));
        let repeated = text(&out).lines().any(|l| l.matches("Permission denied").count() > 1);
        assert!(!repeated, "a message repeats itself: {}", text(&out));
        assert_eq!(site.files(), before, "{target}: files changed");
        assert_eq!(site.commits(), commits, "{target}: a commit was made");

        let again = site.run_once();
        assert_eq!(code(&again), 0, "{target}: {}", text(&again));
        assert_eq!(site.files(), before, "{target}");
    }
}

/// A FIFO or a broken link named like a manifest is reported, never opened (a FIFO would block the
/// run forever) and never taken for a deleted file.
#[test]
fn fifos_and_broken_links_are_reported_not_read() {
    let site = Site::quickstart();
    assert_eq!(code(&site.run_once()), 0);
    let before = site.files();
    let fifo = site.platform.join("pipe.yaml");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    std::os::unix::fs::symlink(site.platform.join("gone.yaml"), site.platform.join("link.yaml")).unwrap();
    let out = site.run_once();
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("pipe.yaml: is not a regular file"), "{}", text(&out));
    assert!(text(&out).contains("link.yaml: is a symbolic link whose target cannot be read"), "{}", text(&out));
    assert_eq!(site.files(), before);
}

/// Many Works with some content: more state than a nearly full disk takes.
fn many_works(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {{name: many-{i}, namespace: default}}\n\
                 spec:\n  promiseName: many\n  resourceName: many-{i}\n  workloadGroups:\n  - destinationSelectors:\n    \
                 - matchLabels: {{environment: dev}}\n    workloads:\n    - {{filepath: f.yaml, content: \"{}\"}}\n",
                "x".repeat(2000)
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Trust defect 3: when the state database cannot be written (here its files may not grow, as on a
/// full disk), no state store is written, the failure is logged once (not once per object) and the run
/// exits 1. Once state can be written again, everything converges, and deleting the Works later removes
/// their files: nothing is orphaned.
#[test]
fn state_that_cannot_be_written_stops_every_store_write() {
    let site = Site::quickstart();
    assert_eq!(code(&site.run_once()), 0);
    let before = site.files();
    let commits = site.commits();
    site.write("many.yaml", &many_works(200));
    let largest = std::fs::read_dir(site.platform.join(".waybill"))
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .max()
        .unwrap();
    let limited = format!(
        "trap '' XFSZ; exec prlimit --fsize={} {} run --once --quiet --platform {}",
        largest + 16 * 1024,
        env!("CARGO_BIN_EXE_waybill"),
        site.dir_arg()
    );
    let out = std::process::Command::new("sh").args(["-c", &limited]).output().expect("sh and prlimit");
    let output = text(&out);
    assert_eq!(code(&out), 1, "{output}");
    assert!(output.contains("failed to write state database"), "{output}");
    assert!(output.matches("reconciliation failed").count() <= 2, "logged once, not per object:\n{output}");
    assert_eq!(site.commits(), commits, "nothing is written while state is not durable");
    assert_eq!(site.files(), before);

    let out = site.run_once();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(site.files().keys().filter(|k| k.contains("/many/")).count(), 200);
    std::fs::remove_file(site.platform.join("many.yaml")).unwrap();
    let out = site.run_once();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(site.files(), before, "every file of the removed Works is gone");
}

/// Trust defect 12: a reader that closes the pipe early (`waybill validate | head -1`) ends the program
/// quietly with the shell's code for it, never a panic.
#[test]
fn a_closed_output_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    let site = Site::quickstart();
    let bad: String =
        (0..3000).map(|i| format!("apiVersion: v1\nkind: Secrett\nmetadata: {{name: g{i}}}\n---\n")).collect();
    site.write("gadgets.yaml", &bad);
    for args in [vec!["validate", site.dir_arg()], vec!["plan", "--platform", site.dir_arg()]] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_waybill"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(!first.is_empty());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(matches!(out.status.code(), Some(141) | Some(1) | Some(0)), "{args:?}: {:?} {stderr}", out.status);
    }
}

/// Trust defect 12: a state database zeroed or truncated while its write-ahead log survives is refused
/// with a way out, never taken for fresh state (which would forget what was written where).
#[test]
fn a_damaged_state_database_is_refused_not_replaced() {
    for damage in ["zeroed", "truncated", "removed"] {
        let site = Site::quickstart();
        assert_eq!(code(&site.run_once()), 0);
        let before = site.files();
        // A run killed with SIGKILL leaves its write-ahead log behind.
        let mut running = std::process::Command::new(env!("CARGO_BIN_EXE_waybill"))
            .args(["run", "--quiet", "--platform", site.dir_arg()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let db = site.platform.join(".waybill/state.db");
        let wal = site.platform.join(".waybill/state.db-wal");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        running.kill().unwrap();
        running.wait().unwrap();
        assert!(wal.exists(), "the killed run left its write-ahead log");
        let len = std::fs::metadata(&db).unwrap().len() as usize;
        match damage {
            "zeroed" => std::fs::write(&db, vec![0u8; len]).unwrap(),
            "truncated" => std::fs::write(&db, b"").unwrap(),
            _ => std::fs::remove_file(&db).unwrap(),
        }
        std::fs::remove_file(site.platform.join("works.yaml")).unwrap();
        for args in [
            vec!["run", "--once", "--quiet", "--platform", site.dir_arg()],
            vec!["status", "--platform", site.dir_arg()],
        ] {
            let out = site.waybill(&args);
            assert_eq!(code(&out), 1, "{damage} {args:?}: {}", text(&out));
            assert!(text(&out).contains("refusing state database"), "{damage}: {}", text(&out));
            assert!(text(&out).contains("move it aside"), "{damage}: {}", text(&out));
        }
        assert_eq!(site.files(), before, "{damage}: nothing was deleted");
    }
}

/// Trust defect 12: `run` over a directory with nothing to do says so and, with `--once`, exits 2
/// (a wrong `--platform` is the likely cause), instead of succeeding silently.
#[test]
fn an_empty_platform_directory_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("README.md"), "not a manifest\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_waybill"))
        .args(["run", "--once", "--quiet", "--platform"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("no manifests found under"), "{}", text(&out));
}

/// Trust defect 10: two stores on one repository (`state.git` and `./state.git`, or a path to the same
/// directory) share its tree; a Destination on the second whose directory overlaps one on the first is
/// refused, naming both, and what the first wrote stays whole.
#[test]
fn two_stores_on_one_repository_cannot_overlap() {
    let store = |name: &str, url: &str, path: &str| {
        format!(
            "apiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata: {{name: {name}}}\n\
             spec: {{url: \"{url}\", path: \"{path}\"}}\n---\n"
        )
    };
    let dest = |name: &str, store: &str, path: &str| {
        format!(
            "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {{name: {name}}}\n\
             spec:\n  path: {path}\n  stateStoreRef: {{kind: GitStateStore, name: {store}}}\n"
        )
    };
    let site = Site::quickstart();
    assert_eq!(code(&site.run_once()), 0);
    let before = site.files();
    let absolute = site.platform.join("state.git").display().to_string();
    for (url, root, path) in
        [("./state.git", "", "dev-cluster"), (absolute.as_str(), "clusters", "."), ("state.git/", "/dev-cluster/", "x")]
    {
        site.write("alias.yaml", &(store("alias", url, root) + &dest("aliased", "alias", path)));
        let out = site.run_once();
        assert_eq!(code(&out), 2, "{url} {root} {path}: {}", text(&out));
        assert!(
            text(&out).contains("of Destination \"dev-cluster\" on GitStateStore/default (the same repository")
                || text(&out).contains("of Destination \"prod-cluster\" on GitStateStore/default (the same repository"),
            "{url} {root} {path}: {}",
            text(&out)
        );
        let after = site.files();
        for (k, v) in &before {
            assert_eq!(after.get(k), Some(v), "{url}: {k} was damaged");
        }
    }
    // A directory that overlaps nothing is fine on the second store.
    site.write("alias.yaml", &(store("alias", "./state.git", "") + &dest("aliased", "alias", "elsewhere")));
    let out = site.run_once();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(site.files().contains_key("elsewhere/dependencies/kratix-canary-namespace.yaml"));
}

const GOOD: &str = "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: extra}\n\
                    spec:\n  stateStoreRef: {kind: GitStateStore, name: default}\n";

/// Documents built to exhaust the parser are refused with a clear message and nothing else suffers: an
/// alias bomb (a billion laughs), 100,000 nested lists, invalid UTF-8, a duplicated key.
#[test]
fn documents_built_to_exhaust_the_parser_are_refused() {
    let mut bomb = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: bomb}\nstringData:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10u8 {
        let (n, prev) = ((b'a' + i) as char, (b'a' + i - 1) as char);
        bomb.push_str(&format!("  {n}: &{n} [{}]\n", vec![format!("*{prev}"); 9].join(", ")));
    }
    let deep = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: deep}}\ndata: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bomb.yaml", bomb.into_bytes(), "too large or too complex once its aliases are expanded"),
        ("deep.yaml", deep.into_bytes(), "recursion limit exceeded"),
        (
            "utf8.yaml",
            b"apiVersion: v1\nkind: Secret\nmetadata: {name: u}\nstringData: {a: \"\xff\xfe\"}\n".to_vec(),
            "stream did not contain valid UTF-8",
        ),
        (
            "dup.yaml",
            b"apiVersion: v1\nkind: Secret\nmetadata: {name: d}\nmetadata: {name: e}\n".to_vec(),
            "duplicate mapping key",
        ),
    ];
    for (file, bytes, want) in cases {
        let site = Site::quickstart();
        assert_eq!(code(&site.run_once()), 0);
        let before = site.files();
        std::fs::write(site.platform.join(file), bytes).unwrap();
        site.write("extra.yaml", GOOD);
        let out = site.run_once();
        assert_eq!(code(&out), 2, "{file}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("{file}: document 1 (line 1): malformed YAML at line")) || file == "utf8.yaml",
            "{file}: {}",
            text(&out)
        );
        assert!(text(&out).contains(want), "{file}: {}", text(&out));
        let after = site.files();
        assert!(after.contains_key("extra/dependencies/kratix-canary-namespace.yaml"), "{file}: the rest converged");
        assert!(before.iter().all(|(k, v)| after.get(k) == Some(v)), "{file}");
    }
}

/// Two `waybill run` on one state directory: the second refuses to start and changes nothing.
#[test]
fn a_second_run_on_the_same_state_refuses_to_start() {
    let site = Site::quickstart();
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_waybill"))
        .args(["run", "--quiet", "--platform", site.dir_arg()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = site.platform.join(".waybill/lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !lock.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let second = site.run_once();
    first.kill().unwrap();
    let _ = first.wait();
    assert_eq!(code(&second), 1, "{}", text(&second));
    assert!(text(&second).contains("is in use by another `waybill run`"), "{}", text(&second));
}

/// A remote that accepts connections and never answers (a tarpit) cannot hang a run: the store is
/// reported unreachable once the timeout passes, and every other store converges.
#[test]
fn a_tarpit_remote_is_reported_unreachable() {
    let tarpit = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tarpit.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        // Accept and hold every connection without a byte in reply.
        let mut kept = Vec::new();
        for conn in tarpit.incoming().take(16) {
            kept.push(conn);
        }
    });
    let site = Site::quickstart();
    site.write(
        "tarpit.yaml",
        &format!(
            "apiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata: {{name: tarpit}}\n\
             spec: {{url: \"http://127.0.0.1:{port}/repo.git\", secretRef: {{name: creds}}}}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\nstringData: {{password: x}}\n---\n\
             apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {{name: slow}}\n\
             spec:\n  stateStoreRef: {{kind: GitStateStore, name: tarpit}}\n"
        ),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_waybill"))
        .args(["run", "--once", "--quiet", "--platform", site.dir_arg()])
        .env("WAYBILL_GIT_TIMEOUT", "2")
        .output()
        .unwrap();
    drop(held);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("StateStoreUnreachable"), "{}", text(&out));
    assert!(site.files().contains_key("dev-cluster/dependencies/kratix-canary-namespace.yaml"), "the others converged");
}

/// A Waybill killed while it moved the branch leaves `refs/heads/main.lock` behind (libgit2 creates it,
/// then renames it over the ref). The next Waybill recovers that lock, because the marker the killed
/// writer left names it; a lock with no marker belongs to another program and is reported, not removed.
#[test]
fn a_branch_lock_left_by_a_killed_waybill_is_recovered_and_a_foreign_one_is_respected() {
    let extra = "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {name: extra, namespace: default}\n\
                 spec:\n  promiseName: p\n  resourceName: extra\n  workloadGroups:\n  - destinationSelectors: \
                 [{matchLabels: {environment: dev}}]\n    workloads:\n    - filepath: extra.yaml\n      content: \"x: 1\"\n";
    for (killed_waybill, want) in [(true, 0), (false, 2)] {
        let site = Site::quickstart();
        assert_eq!(code(&site.run_once()), 0);
        let lock = site.repo().join("refs/heads/main.lock");
        std::fs::write(&lock, b"").unwrap();
        if killed_waybill {
            std::fs::write(site.repo().join("waybill-ref-update"), "refs/heads/main.lock\n").unwrap();
        }
        let commits = site.commits();
        site.write("extra.yaml", extra);

        let out = site.run_once();

        assert_eq!(code(&out), want, "killed_waybill={killed_waybill}: {}", text(&out));
        if killed_waybill {
            assert!(!lock.exists(), "the killed writer's lock is removed");
            assert_eq!(site.commits(), commits + 1);
            assert!(site.files().keys().any(|k| k.ends_with("/extra.yaml")), "{:?}", site.files().keys());
        } else {
            assert!(lock.exists(), "another program's lock is never removed");
            assert!(text(&out).contains("refs/heads/main.lock exists"), "{}", text(&out));
            assert_eq!(site.commits(), commits);
        }
    }
}
