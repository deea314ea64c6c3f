//! Validation that names the field and the reason (`spec.filepath.mode: must be one of …`).
//!
//! [`validate`] is admission: an object failing it is refused. [`lint`] adds the checks Kratix defers to
//! the WorkPlacement (workload paths and content): `waybill validate` reports them, while `run` admits
//! the Work and fails only the affected placement (compatibility D3).

use std::collections::BTreeMap;
use std::fmt;

use crate::api::{
    AnyObject, BucketAuthMethod, BucketStateStore, Destination, FilepathMode, GitStateStore, Secret, Work,
    WorkPlacement,
};
use crate::content;
use crate::kind::Kind;
use crate::labels::{is_dns_subdomain, label_key_error, label_value_error};
use crate::layout::StorePath;
use crate::selector::Requirement;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError { field: field.into(), reason: reason.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() { f.write_str(&self.reason) } else { write!(f, "{}: {}", self.field, self.reason) }
    }
}

/// Admission checks: an object with any of these problems is refused.
pub fn validate(obj: &AnyObject) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_meta(obj, &mut errs);
    match obj {
        AnyObject::Destination(d) => validate_destination(d, &mut errs),
        AnyObject::GitStateStore(s) => validate_git_store(s, &mut errs),
        AnyObject::BucketStateStore(s) => validate_bucket_store(s, &mut errs),
        AnyObject::Work(w) => validate_work(w, &mut errs),
        AnyObject::WorkPlacement(p) => validate_placement(p, &mut errs),
        AnyObject::Secret(s) => validate_secret(s, &mut errs),
    }
    errs
}

/// Admission checks plus the per-workload checks a placement would fail on (paths and content).
pub fn lint(obj: &AnyObject) -> Vec<FieldError> {
    let mut errs = validate(obj);
    match obj {
        AnyObject::Work(w) => {
            for (i, g) in w.spec.workload_groups.iter().enumerate() {
                lint_workloads(&format!("spec.workloadGroups[{i}].workloads"), &g.workloads, &mut errs);
                for (j, s) in g.destination_selectors.iter().enumerate() {
                    for (k, v) in &s.match_labels {
                        if let Some(e) = label_value_error(v) {
                            let field = format!("spec.workloadGroups[{i}].destinationSelectors[{j}].matchLabels.{k}");
                            errs.push(FieldError::new(field, e));
                        }
                    }
                }
            }
        }
        AnyObject::WorkPlacement(p) => lint_workloads("spec.workloads", &p.spec.workloads, &mut errs),
        _ => {}
    }
    errs
}

fn lint_workloads(prefix: &str, workloads: &[crate::api::Workload], errs: &mut Vec<FieldError>) {
    for (j, wl) in workloads.iter().enumerate() {
        if let Err(e) = StorePath::root().join_file(&wl.filepath) {
            errs.push(FieldError::new(format!("{prefix}[{j}].filepath"), e.to_string()));
        }
        match content::decode(&wl.content) {
            Ok(_) => {}
            Err(e @ content::ContentError::TooLarge(_)) => {
                errs.push(FieldError::new(format!("{prefix}[{j}].content"), e.to_string()))
            }
            Err(e) => errs.push(FieldError::new(
                format!("{prefix}[{j}].content"),
                format!("neither plain text nor valid base64 of gzip: {e}"),
            )),
        }
    }
}

/// Why `value` is not a Kubernetes object name (an RFC 1123 subdomain), if it is not.
fn name_error(value: &str) -> Option<String> {
    (!is_dns_subdomain(value)).then(|| {
        format!(
            "{} must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.'; at most 253 characters)",
            crate::pathrules::shown(value)
        )
    })
}

/// Fields that become directory names of a placement (compatibility C5) must be Kubernetes names, as
/// Kratix's own Works always are: anything else could name another tenant's directory (compatibility D3).
fn validate_path_names(promise: &str, resource: &str, errs: &mut Vec<FieldError>) {
    for (field, value) in [("spec.promiseName", promise), ("spec.resourceName", resource)] {
        if let Some(reason) = (!value.is_empty()).then(|| name_error(value)).flatten() {
            errs.push(FieldError::new(field, reason));
        }
    }
}

fn validate_meta(obj: &AnyObject, errs: &mut Vec<FieldError>) {
    let meta = obj.meta();
    if meta.name.is_empty() {
        errs.push(FieldError::new("metadata.name", "is required"));
    } else if let Some(reason) = name_error(&meta.name) {
        errs.push(FieldError::new("metadata.name", reason));
    }
    if obj.kind().namespaced()
        && let Some(ns) = &meta.namespace
        && (ns.len() > 63 || ns.contains('.') || !is_dns_subdomain(ns))
    {
        let shown = crate::pathrules::shown(ns);
        errs.push(FieldError::new("metadata.namespace", format!("{shown} must be a lowercase RFC 1123 label")));
    }
    validate_labels("metadata.labels", &meta.labels, errs);
}

fn validate_labels(field: &str, labels: &crate::meta::Labels, errs: &mut Vec<FieldError>) {
    for (k, v) in labels {
        if let Some(e) = label_key_error(k) {
            errs.push(FieldError::new(field, e));
        }
        if let Some(e) = label_value_error(v) {
            errs.push(FieldError::new(format!("{field}.{k}"), e));
        }
    }
}

fn validate_destination(d: &Destination, errs: &mut Vec<FieldError>) {
    match &d.spec.state_store_ref {
        None => errs.push(FieldError::new("spec.stateStoreRef", "is required")),
        Some(r) => {
            if r.kind.is_empty() {
                errs.push(FieldError::new("spec.stateStoreRef.kind", "is required"));
            } else if r.store_kind().is_none() {
                errs.push(FieldError::new("spec.stateStoreRef.kind", "must be one of BucketStateStore, GitStateStore"));
            }
            if r.name.is_empty() {
                errs.push(FieldError::new("spec.stateStoreRef.name", "is required"));
            }
        }
    }
    if let Err(e) = StorePath::for_destination(d) {
        errs.push(FieldError::new("spec.path", e.to_string()));
    }
    if d.spec.filepath.mode == FilepathMode::AggregatedYaml
        && let Err(e) = StorePath::root().join_file(d.aggregate_filename())
    {
        errs.push(FieldError::new("spec.filepath.filename", e.to_string()));
    }
}

fn validate_git_store(s: &GitStateStore, errs: &mut Vec<FieldError>) {
    if s.spec.url.trim().is_empty() {
        errs.push(FieldError::new("spec.url", "is required"));
    }
    if let Some(reason) = branch_error(s.branch()) {
        errs.push(FieldError::new("spec.branch", reason));
    }
    if let Err(e) = StorePath::from_store_path(&s.spec.path) {
        errs.push(FieldError::new("spec.path", e.to_string()));
    }
    if let Some(r) = &s.spec.secret_ref
        && r.name.is_empty()
    {
        errs.push(FieldError::new("spec.secretRef.name", "is required"));
    }
}

/// Why `branch` is not a valid Git branch name (a subset of `git check-ref-format`).
fn branch_error(branch: &str) -> Option<String> {
    let bad = branch.starts_with('-')
        || branch.starts_with('/')
        || branch.ends_with('/')
        || branch.ends_with(".lock")
        || branch.ends_with('.')
        || branch.contains("..")
        || branch.contains("//")
        || branch.contains("@{")
        || branch.chars().any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c));
    bad.then(|| format!("{branch:?} is not a valid Git branch name"))
}

fn validate_bucket_store(s: &BucketStateStore, errs: &mut Vec<FieldError>) {
    if s.spec.bucket_name.is_empty() {
        errs.push(FieldError::new("spec.bucketName", "is required"));
    }
    if s.spec.endpoint.is_empty() {
        errs.push(FieldError::new("spec.endpoint", "is required"));
    }
    if let Err(e) = StorePath::from_store_path(&s.spec.path) {
        errs.push(FieldError::new("spec.path", e.to_string()));
    }
    if s.spec.auth_method == BucketAuthMethod::AccessKey {
        match &s.spec.secret_ref {
            None => {
                errs.push(FieldError::new("spec.secretRef", "must be set when using authentication method accessKey"))
            }
            Some(r) => {
                if r.name.is_empty() {
                    errs.push(FieldError::new("spec.secretRef", "must contain secret name"));
                }
                if r.namespace.is_empty() {
                    errs.push(FieldError::new("spec.secretRef", "must contain secret namespace"));
                }
            }
        }
    }
}

fn validate_work(w: &Work, errs: &mut Vec<FieldError>) {
    validate_path_names(&w.spec.promise_name, &w.spec.resource_name, errs);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, g) in w.spec.workload_groups.iter().enumerate() {
        let field = format!("spec.workloadGroups[{i}]");
        if let Some(reason) = (!g.id.is_empty()).then(|| name_error(&g.id)).flatten() {
            errs.push(FieldError::new(format!("{field}.id"), reason));
        }
        let id = g.effective_id();
        if let Some(first) = seen.insert(id.clone(), i) {
            errs.push(FieldError::new(
                format!("{field}.id"),
                format!("{id:?} duplicates spec.workloadGroups[{first}]"),
            ));
        }
        for (j, s) in g.destination_selectors.iter().enumerate() {
            let sf = format!("{field}.destinationSelectors[{j}]");
            // An invalid value is admitted, as Kratix does; the scheduler reports it on the Work
            // (`FailedToScheduleWorkloads`) and `lint` (so `waybill validate`) names it.
            for k in s.match_labels.keys() {
                if let Some(e) = label_key_error(k) {
                    errs.push(FieldError::new(format!("{sf}.matchLabels"), e));
                }
            }
            for (k, e) in s.match_expressions.iter().enumerate() {
                if let Some(reason) = label_key_error(&e.key) {
                    errs.push(FieldError::new(format!("{sf}.matchExpressions[{k}].key"), reason));
                }
                if let Err(reason) = Requirement::parse(e) {
                    errs.push(FieldError::new(format!("{sf}.matchExpressions[{k}].operator"), reason));
                }
            }
        }
    }
}

fn validate_placement(p: &WorkPlacement, errs: &mut Vec<FieldError>) {
    if p.spec.target_destination_name.is_empty() {
        errs.push(FieldError::new("spec.targetDestinationName", "is required"));
    }
    validate_path_names(&p.spec.promise_name, &p.spec.resource_name, errs);
    if let Some(reason) = (!p.spec.id.is_empty()).then(|| name_error(&p.spec.id)).flatten() {
        errs.push(FieldError::new("spec.id", reason));
    }
}

fn validate_secret(s: &Secret, errs: &mut Vec<FieldError>) {
    for key in s.undecodable_keys() {
        errs.push(FieldError::new(format!("data.{key}"), "is not valid base64"));
    }
}

/// Names the kinds a manifest may hold, for "unknown kind" messages.
pub fn known_kinds() -> String {
    Kind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{WorkSpec, WorkloadGroup};

    fn work(promise: &str, resource: &str, id: &str) -> AnyObject {
        let group = WorkloadGroup { id: id.to_string(), directory: ".".into(), ..Default::default() };
        AnyObject::Work(Work::new(
            "team-a",
            "w",
            WorkSpec {
                promise_name: promise.into(),
                resource_name: resource.into(),
                workload_groups: vec![group],
                ..Default::default()
            },
        ))
    }

    /// Defect 1 of the trust issue: every Work field that becomes a directory name must be a Kubernetes
    /// name, so no Work can name another tenant's directory.
    #[test]
    fn work_fields_that_become_directories_must_be_kubernetes_names() {
        let cases = [
            (("redis", "my-redis", "5058f1af8388633f609cadb75a75dc9d"), None),
            (("redis", "", ""), None),
            (("", "", ""), None),
            (("redis.example.com", "a.b", "abc"), None),
            (("../team-b", "x", "5058f"), Some("spec.promiseName")),
            (("redis", "..", "5058f"), Some("spec.resourceName")),
            (("redis", "x", "../..x"), Some("spec.workloadGroups[0].id")),
            (("redis", "a/b", "5058f"), Some("spec.resourceName")),
            (("Redis", "x", "5058f"), Some("spec.promiseName")),
            (("redis", "x", "ABCDE"), Some("spec.workloadGroups[0].id")),
            (("redis", "x\n", "5058f"), Some("spec.resourceName")),
        ];
        for ((promise, resource, id), want) in cases {
            let errs = validate(&work(promise, resource, id));
            let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
            match want {
                None => assert!(errs.is_empty(), "{promise:?}/{resource:?}/{id:?}: {errs:?}"),
                Some(field) => assert!(fields.contains(&field), "{promise:?}/{resource:?}/{id:?}: {errs:?}"),
            }
        }
    }

    #[test]
    fn placement_fields_that_become_directories_must_be_kubernetes_names() {
        let mut p = WorkPlacement::new(
            "team-a",
            "p",
            crate::api::WorkPlacementSpec {
                target_destination_name: "dev".into(),
                promise_name: "../team-b".into(),
                id: "../..".into(),
                ..Default::default()
            },
        );
        let fields: Vec<String> = validate(&AnyObject::WorkPlacement(p.clone())).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["spec.promiseName", "spec.id"]);
        p.spec.promise_name = "redis".into();
        p.spec.id = "5058f1af".into();
        assert!(validate(&AnyObject::WorkPlacement(p)).is_empty());
    }
}
