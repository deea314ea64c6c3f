//! `waybill run` without `--once`: it reacts to manifest changes, stops cleanly on SIGTERM, and a
//! `kill -9` in the middle of a burst loses nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn platform_with_store(dir: &Path) -> PathBuf {
    let platform = dir.join("platform");
    std::fs::create_dir_all(platform.join("works")).unwrap();
    std::fs::write(
        platform.join("store.yaml"),
        "apiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata: {name: default}\nspec: {url: state.git}\n---\napiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: dev, labels: {env: dev}}\nspec:\n  stateStoreRef: {kind: GitStateStore, name: default}\n",
    )
    .unwrap();
    platform
}

fn work(i: usize, value: &str) -> String {
    format!(
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {{name: w{i}, namespace: default}}\nspec:\n  promiseName: p\n  resourceName: r{i}\n  workloadGroups:\n  - destinationSelectors: [{{matchLabels: {{env: dev}}}}]\n    workloads:\n    - filepath: cm.yaml\n      content: \"value: {value}\"\n"
    )
}

fn spawn(platform: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_waybill"))
        .args(["run", "--quiet", "--platform", platform.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn waybill run")
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

fn file(repo: &Path, path: &str) -> Option<String> {
    let repo = git2::Repository::open(repo).ok()?;
    let tree = repo.revparse_single("refs/heads/main").ok()?.peel_to_tree().ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    Some(String::from_utf8_lossy(repo.find_blob(entry.id()).ok()?.content()).into_owned())
}

fn files(repo: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(repo) = git2::Repository::open(repo) else { return out };
    let Ok(tree) = repo.revparse_single("refs/heads/main").and_then(|o| o.peel_to_tree()) else { return out };
    tree.walk(git2::TreeWalkMode::PreOrder, |root, e| {
        if e.kind() == Some(git2::ObjectType::Blob) {
            out.push(format!("{root}{}", e.name().unwrap()));
        }
        git2::TreeWalkResult::Ok
    })
    .unwrap();
    out
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_running_waybill_follows_manifest_edits_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform_with_store(dir.path());
    std::fs::write(platform.join("works/w0.yaml"), work(0, "one")).unwrap();
    let repo = platform.join("state.git");
    let path = "dev/resources/default/p/r0/5058f/cm.yaml";
    let mut child = spawn(&platform);
    wait_for("the first write", Duration::from_secs(60), || file(&repo, path).as_deref() == Some("value: one"));

    std::fs::write(platform.join("works/w0.yaml"), work(0, "two")).unwrap();
    wait_for("the edit to land", Duration::from_secs(30), || file(&repo, path).as_deref() == Some("value: two"));

    std::fs::remove_file(platform.join("works/w0.yaml")).unwrap();
    wait_for("the deletion to land", Duration::from_secs(30), || file(&repo, path).is_none());

    signal(&child, "-TERM");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "waybill did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn a_kill_in_the_middle_of_a_burst_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform_with_store(dir.path());
    for i in 0..300 {
        std::fs::write(platform.join(format!("works/w{i}.yaml")), work(i, "burst")).unwrap();
    }
    let repo = platform.join("state.git");
    let mut child = spawn(&platform);
    wait_for("the repository", Duration::from_secs(60), || repo.join("HEAD").exists());
    std::thread::sleep(Duration::from_millis(150));
    signal(&child, "-KILL");
    let _ = child.wait();

    let once = |platform: &Path| {
        Command::new(env!("CARGO_BIN_EXE_waybill"))
            .args(["run", "--once", "--quiet", "--platform", platform.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = once(&platform);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(files(&repo).len(), 302, "300 documents and 2 canaries");

    std::fs::remove_dir_all(platform.join("works")).unwrap();
    let out = once(&platform);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        files(&repo),
        vec!["dev/dependencies/kratix-canary-namespace.yaml", "dev/resources/kratix-canary-configmap.yaml"]
    );
}

/// Commit messages on `main`, newest first.
fn messages(repo: &Path) -> Vec<String> {
    let Ok(repo) = git2::Repository::open(repo) else { return Vec::new() };
    let mut walk = repo.revwalk().unwrap();
    if walk.push_ref("refs/heads/main").is_err() {
        return Vec::new();
    }
    walk.filter_map(Result::ok).map(|oid| repo.find_commit(oid).unwrap().message().unwrap_or("").to_string()).collect()
}

/// Trust defect 6: a manifest rewritten in two steps (truncated to half, then completed 50 ms later, as
/// editors and tools do) never deletes what the half lacked; a file removed stays applied until the
/// settle period has passed; a file renamed into place applies at once, deletions included.
#[test]
fn a_half_written_manifest_deletes_nothing_and_a_rename_applies_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform_with_store(dir.path());
    let all: String = (0..10).map(|i| work(i, "v")).collect::<Vec<_>>().join("---\n");
    let half: String = (0..5).map(|i| work(i, "v")).collect::<Vec<_>>().join("---\n");
    std::fs::write(platform.join("works/all.yaml"), &all).unwrap();
    let repo = platform.join("state.git");
    let mut child = spawn(&platform);
    wait_for("the burst", Duration::from_secs(60), || files(&repo).len() == 12);
    let commits = messages(&repo).len();

    for _ in 0..3 {
        std::fs::write(platform.join("works/all.yaml"), &half).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        std::fs::write(platform.join("works/all.yaml"), &all).unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(files(&repo).len(), 12, "nothing was deleted");
    assert_eq!(messages(&repo).len(), commits, "no commit at all: {:?}", messages(&repo));

    // Removed: still applied within the settle period, deleted after it.
    std::fs::write(platform.join("works/extra.yaml"), work(20, "x")).unwrap();
    wait_for("the extra Work", Duration::from_secs(30), || files(&repo).len() == 13);
    std::fs::remove_file(platform.join("works/extra.yaml")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(files(&repo).len(), 13, "deleted before the settle period");
    wait_for("the deletion after the settle period", Duration::from_secs(30), || files(&repo).len() == 12);

    // Renamed into place: the half applies at once.
    std::fs::write(platform.join("works/.all.yaml.tmp"), &half).unwrap();
    std::fs::rename(platform.join("works/.all.yaml.tmp"), platform.join("works/all.yaml")).unwrap();
    let renamed = Instant::now();
    wait_for("the rename to apply", Duration::from_secs(30), || files(&repo).len() == 7);
    assert!(renamed.elapsed() < Duration::from_millis(2500), "took {:?}", renamed.elapsed());

    signal(&child, "-TERM");
    let _ = child.wait();
}

/// Trust defect 12: a manifest that is a symbolic link to a file elsewhere is watched through its target:
/// editing the target (even by replacing it, as editors do) is applied.
#[test]
fn a_linked_manifest_is_followed_to_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform_with_store(dir.path());
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("w0.yaml"), work(0, "one")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("w0.yaml"), platform.join("works/w0.yaml")).unwrap();
    let repo = platform.join("state.git");
    let path = "dev/resources/default/p/r0/5058f/cm.yaml";
    let mut child = spawn(&platform);
    wait_for("the first write", Duration::from_secs(60), || file(&repo, path).as_deref() == Some("value: one"));
    std::fs::write(elsewhere.join("w0.yaml"), work(0, "two")).unwrap();
    wait_for("an edit of the target", Duration::from_secs(20), || file(&repo, path).as_deref() == Some("value: two"));
    std::fs::write(elsewhere.join(".w0.tmp"), work(0, "three")).unwrap();
    std::fs::rename(elsewhere.join(".w0.tmp"), elsewhere.join("w0.yaml")).unwrap();
    wait_for("the target replaced", Duration::from_secs(20), || file(&repo, path).as_deref() == Some("value: three"));
    signal(&child, "-TERM");
    let _ = child.wait();
}

/// The files of `repo` with their contents.
fn tree(repo: &Path) -> std::collections::BTreeMap<String, String> {
    files(repo).into_iter().map(|f| (f.clone(), file(repo, &f).unwrap_or_default())).collect()
}

fn run_once_settled(platform: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_waybill"))
        .args(["run", "--once", "--quiet", "--settle", "0", "--platform", platform.to_str().unwrap()])
        .output()
        .unwrap()
}

/// Trust acceptance: SIGKILL at any moment of an edit or a deletion (here: several moments, while 40
/// Works change and 20 are removed) and a restart converge to exactly the tree a clean run of the final
/// manifests writes.
#[test]
fn a_kill_at_any_moment_of_an_edit_or_a_deletion_converges_to_the_clean_tree() {
    let clean = tempfile::tempdir().unwrap();
    let clean_platform = platform_with_store(clean.path());
    // The final manifests: w0..w39 edited, w40..w59 removed.
    for i in 0..40 {
        std::fs::write(clean_platform.join(format!("works/w{i}.yaml")), work(i, "edited")).unwrap();
    }
    assert_eq!(run_once_settled(&clean_platform).status.code(), Some(0));
    let want = tree(&clean_platform.join("state.git"));
    assert_eq!(want.len(), 42);

    for delay_ms in [0u64, 20, 60, 120, 250, 500] {
        let dir = tempfile::tempdir().unwrap();
        let platform = platform_with_store(dir.path());
        for i in 0..60 {
            std::fs::write(platform.join(format!("works/w{i}.yaml")), work(i, "first")).unwrap();
        }
        assert_eq!(run_once_settled(&platform).status.code(), Some(0), "{delay_ms} ms");
        let mut child = Command::new(env!("CARGO_BIN_EXE_waybill"))
            .args(["run", "--quiet", "--settle", "0", "--platform", platform.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        for i in 0..40 {
            std::fs::write(platform.join(format!("works/w{i}.yaml")), work(i, "edited")).unwrap();
        }
        for i in 40..60 {
            std::fs::remove_file(platform.join(format!("works/w{i}.yaml"))).unwrap();
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        signal(&child, "-KILL");
        let _ = child.wait();
        let out = run_once_settled(&platform);
        assert_eq!(out.status.code(), Some(0), "{delay_ms} ms: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(tree(&platform.join("state.git")), want, "after a kill {delay_ms} ms into the change");
    }
}
