//! The install manifests: `deploy/` and the Helm chart are valid Kubernetes YAML, agree with each
//! other (the chart rendered with its default values gives `deploy/`), and carry the CRDs `waybill
//! crds` prints. No helm binary can run here, so the chart's few template forms are rendered by a
//! small renderer below; the README says how to run `helm lint` and `helm template` where helm exists.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn docs(text: &str) -> Vec<Value> {
    text.split("\n---")
        .map(|d| d.trim_start_matches('-'))
        .filter(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')))
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap_or_else(|e| panic!("invalid YAML: {e}\n{d}")))
        .collect()
}

fn lookup<'a>(values: &'a Value, path: &str) -> &'a Value {
    path.trim_start_matches(".Values.").split('.').fold(values, |v, k| &v[k])
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders the template forms the chart uses: `{{ .Values.x }}`, `| quote`, `{{ .Release.Namespace }}`,
/// `{{- if .Values.x }}` ... `{{- end }}`, and `{{- toYaml .Values.x | nindent N }}`.
fn render(template: &str, values: &Value, namespace: &str) -> String {
    let mut out = String::new();
    let mut keep = vec![true];
    for line in template.lines() {
        let t = line.trim();
        if let Some(cond) = t.strip_prefix("{{- if ").and_then(|c| c.strip_suffix(" }}")) {
            let v = lookup(values, cond);
            keep.push(*keep.last().unwrap_or(&true) && !matches!(v, Value::Null | Value::Bool(false)) && v != "");
            continue;
        }
        if t == "{{- end }}" {
            keep.pop();
            continue;
        }
        if !*keep.last().unwrap_or(&true) {
            continue;
        }
        if let Some(expr) = t.strip_prefix("{{- toYaml ").and_then(|c| c.strip_suffix(" }}")) {
            let (path, indent) = expr.split_once(" | nindent ").expect("toYaml | nindent N");
            let pad = " ".repeat(indent.parse().expect("an indent"));
            let yaml = serde_saphyr::to_string(lookup(values, path)).expect("YAML");
            for l in yaml.lines() {
                out.push_str(&format!("{pad}{l}\n"));
            }
            continue;
        }
        let mut rendered = line.to_string();
        while let Some(start) = rendered.find("{{") {
            let end = rendered[start..].find("}}").expect("a closed action") + start + 2;
            let expr = rendered[start + 2..end - 2].trim();
            let value = match expr.split_once(" | ") {
                Some((path, "quote")) => format!("{:?}", scalar(lookup(values, path))),
                _ if expr == ".Release.Namespace" => namespace.to_string(),
                _ => scalar(lookup(values, expr)),
            };
            rendered.replace_range(start..end, &value);
        }
        out.push_str(&rendered);
        out.push('\n');
    }
    out
}

#[test]
fn deploy_and_the_chart_carry_exactly_the_crds_waybill_prints() {
    let out = Command::new(env!("CARGO_BIN_EXE_waybill")).arg("crds").output().expect("waybill crds");
    let printed = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(read("deploy/crds.yaml"), printed, "regenerate with: waybill crds > deploy/crds.yaml");
    assert_eq!(
        read("charts/waybill/crds/crds.yaml"),
        printed,
        "regenerate with: waybill crds > charts/waybill/crds/crds.yaml"
    );
}

#[test]
fn every_manifest_is_a_kubernetes_object_with_a_name_and_its_namespace() {
    let values: Value = serde_saphyr::from_str(&read("charts/waybill/values.yaml")).expect("values.yaml");
    let mut files: Vec<(String, String)> = Vec::new();
    for dir in ["deploy", "charts/waybill/templates"] {
        for entry in std::fs::read_dir(root().join(dir)).expect("a manifest directory") {
            let path = entry.expect("an entry").path();
            let text = std::fs::read_to_string(&path).expect("a manifest");
            let text = if dir.starts_with("charts") { render(&text, &values, "kratix-platform-system") } else { text };
            files.push((path.display().to_string(), text));
        }
    }
    let cluster_scoped = ["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"];
    for (file, text) in files {
        for doc in docs(&text) {
            let kind = doc["kind"].as_str().unwrap_or_else(|| panic!("{file}: a document without a kind"));
            assert!(doc["apiVersion"].is_string(), "{file}: {kind} without an apiVersion");
            assert!(doc["metadata"]["name"].is_string(), "{file}: {kind} without a name");
            if !cluster_scoped.contains(&kind) {
                assert_eq!(doc["metadata"]["namespace"], "kratix-platform-system", "{file}: {kind} namespace");
            }
        }
    }
}

#[test]
fn the_chart_with_its_default_values_renders_the_deploy_manifests() {
    let values: Value = serde_saphyr::from_str(&read("charts/waybill/values.yaml")).expect("values.yaml");
    for (template, plain) in [
        ("charts/waybill/templates/deployment.yaml", "deploy/deployment.yaml"),
        ("charts/waybill/templates/rbac.yaml", "deploy/rbac.yaml"),
    ] {
        let mut rendered = docs(&render(&read(template), &values, "kratix-platform-system"));
        for doc in &mut rendered {
            if let Some(c) = doc.pointer_mut("/spec/template/spec/containers/0").and_then(Value::as_object_mut) {
                c.remove("imagePullPolicy");
            }
        }
        assert_eq!(rendered, docs(&read(plain)), "{template} rendered differs from {plain}");
    }
}

#[test]
fn the_deployment_probes_and_flags_are_ones_the_controller_serves_and_accepts() {
    let deployment = docs(&read("deploy/deployment.yaml")).remove(0);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let args: Vec<String> = container["args"].as_array().expect("args").iter().map(scalar).collect();
    // The controller accepts the arguments (checked without a cluster: --help after them parses them).
    let out = Command::new(env!("CARGO_BIN_EXE_waybill")).args(&args).arg("--help").output().expect("waybill");
    assert!(
        out.status.success(),
        "the Deployment's args {args:?} are refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--leader-elect"), "{help}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("platform.yaml"),
        "apiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata: {name: s}\nspec: {url: state.git}\n---\n\
         apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: d}\n\
         spec: {path: d, stateStoreRef: {kind: GitStateStore, name: s}}\n",
    )
    .expect("write a manifest");
    let out = Command::new(env!("CARGO_BIN_EXE_waybill"))
        .args(["--log-format", "json", "-v", "run", "--once", "--quiet", "-p"])
        .arg(dir.path())
        .output()
        .expect("waybill run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logs: Vec<&str> = stderr.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!logs.is_empty(), "some JSON log lines: {stderr}");
    for line in logs {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{line}");
    }
}
