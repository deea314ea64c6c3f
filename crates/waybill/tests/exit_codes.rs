//! Exit codes for scripts: `plan --exit-code` says whether a run would change anything, `status
//! --check` whether everything is Ready.

use std::path::Path;
use std::process::Command;

fn code(args: &[&str], platform: &Path) -> i32 {
    let out = Command::new(env!("CARGO_BIN_EXE_waybill")).args(args).arg(platform).output().expect("run waybill");
    out.status.code().unwrap_or(-1)
}

const PLATFORM: &str = "apiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata: {name: s}\nspec: {url: state.git}\n---\n\
apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: d}\n\
spec: {path: d, stateStoreRef: {kind: GitStateStore, name: s}}\n";

#[test]
fn plan_exit_code_is_2_while_a_run_would_write_and_0_once_it_would_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("platform.yaml"), PLATFORM).expect("write");
    assert_eq!(code(&["plan", "--exit-code", "--platform"], dir.path()), 2, "the canaries are still to write");
    assert_eq!(code(&["plan", "--platform"], dir.path()), 0, "without --exit-code a plan is a success");
    assert_eq!(code(&["run", "--once", "--quiet", "-p"], dir.path()), 0);
    assert_eq!(code(&["plan", "--exit-code", "--platform"], dir.path()), 0, "nothing left to write");
}

#[test]
fn status_check_is_0_when_everything_is_ready_and_2_when_something_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("platform.yaml"), PLATFORM).expect("write");
    assert_eq!(code(&["run", "--once", "--quiet", "-p"], dir.path()), 0);
    assert_eq!(code(&["status", "--check", "-p"], dir.path()), 0);
    std::fs::write(
        dir.path().join("orphan.yaml"),
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: orphan}\n\
         spec: {path: orphan, stateStoreRef: {kind: GitStateStore, name: missing}}\n",
    )
    .expect("write");
    assert_eq!(code(&["run", "--once", "--quiet", "-p"], dir.path()), 2);
    assert_eq!(code(&["status", "--check", "-p"], dir.path()), 2, "a Destination without its store is not Ready");
    assert_eq!(code(&["status", "-p"], dir.path()), 0, "without --check status is a success");
}

#[test]
fn warnings_reach_the_terminal_at_the_default_log_level_naming_the_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("orphan.yaml"),
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: orphan}\n\
         spec: {path: orphan, stateStoreRef: {kind: GitStateStore, name: missing}}\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_waybill"))
        .args(["run", "--once", "--quiet", "-p"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .output()
        .expect("run waybill");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.contains("WARN")).unwrap_or_else(|| panic!("a warning line: {stderr}"));
    for part in ["GitStateStore/missing: not found", "Destination/orphan", "DestinationNotReady"] {
        assert!(line.contains(part), "{part} in {line}");
    }
}
