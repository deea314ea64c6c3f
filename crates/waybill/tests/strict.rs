//! A typo in a manifest is refused with the field named and the intended one suggested, and the object
//! keeps its last accepted version: `contents:` must not write an empty file and report Ready. Kinds of
//! other tools in the same directory are skipped.

use std::path::Path;
use std::process::Command;

fn waybill(args: &[&str], platform: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_waybill")).args(args).arg(platform).output().expect("run waybill");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PLATFORM: &str = "apiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata: {name: s}\nspec: {url: state.git}\n---\n\
apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: d, labels: {env: dev}}\n\
spec: {path: d, stateStoreRef: {kind: GitStateStore, name: s}}\n";

fn work(field: &str) -> String {
    format!(
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {{name: w, namespace: default}}\nspec:\n  promiseName: p\n  \
         resourceName: r\n  workloadGroups:\n  - directory: .\n    destinationSelectors: [{{matchLabels: {{env: dev}}}}]\n    \
         workloads:\n    - filepath: a.yaml\n      {field}: \"kind: A\"\n"
    )
}

fn file(repo: &Path, path: &str) -> Option<String> {
    let out = Command::new("git").args(["show", &format!("main:{path}")]).current_dir(repo).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn validate_names_the_unknown_field_and_suggests_the_known_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("work.yaml"), work("contents")).expect("write");
    let (code, out, _) = waybill(&["validate"], dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("work.yaml: document 1 (line 1) (Work/default/w): spec.workloadGroups[0].workloads[0].contents: unknown field \"contents\" (did you mean \"content\"?)"),
        "{out}"
    );
}

#[test]
fn a_typo_in_an_edit_keeps_the_last_accepted_version_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("platform.yaml"), PLATFORM).expect("write");
    std::fs::write(dir.path().join("work.yaml"), work("content")).expect("write");
    let (code, out, err) = waybill(&["run", "--once", "--quiet", "-p"], dir.path());
    assert_eq!(code, 0, "{out}{err}");
    let repo = dir.path().join("state.git");
    let path = "d/resources/default/p/r/5058f/a.yaml";
    assert_eq!(file(&repo, path).as_deref(), Some("kind: A"));

    std::fs::write(dir.path().join("work.yaml"), work("contents")).expect("write");
    let (code, out, err) = waybill(&["run", "--once", "--quiet", "-p"], dir.path());
    assert_eq!(code, 2, "a refused manifest is not Ready: {out}{err}");
    assert!(format!("{out}{err}").contains("unknown field \"contents\" (did you mean \"content\"?)"), "{out}{err}");
    assert_eq!(file(&repo, path).as_deref(), Some("kind: A"), "the file written from the last good version stays");
}

#[test]
fn kinds_of_other_tools_are_skipped_with_a_note_and_do_not_fail_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("platform.yaml"), PLATFORM).expect("write");
    std::fs::write(
        dir.path().join("others.yaml"),
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Promise\nmetadata: {name: redis}\nspec: {}\n---\n\
         apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n",
    )
    .expect("write");
    let (code, out, err) = waybill(&["-v", "run", "--once", "--quiet", "-p"], dir.path());
    assert_eq!(code, 0, "other kinds are not problems: {out}{err}");
    for kind in ["platform.kratix.io/v1alpha1 Promise", "kustomize.toolkit.fluxcd.io/v1 Kustomization", "v1 ConfigMap"]
    {
        assert!(err.contains(&format!("{kind} is not a kind Waybill handles")), "a note at -v for {kind}: {err}");
    }
    let (code, out, _) = waybill(&["validate"], dir.path());
    assert_eq!(code, 0, "validate skips them too: {out}");
}
