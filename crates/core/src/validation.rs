//! Validation that names the field and the reason (`spec.filepath.mode: must be one of …`).
//!
//! [`validate`] is admission: an object failing it is refused. [`lint`] adds the checks Kratix defers to
//! the WorkPlacement (workload paths and content): `waybill validate` reports them, while `run` admits
//! the Work and fails only the affected placement (difference 3).

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
        if let Err(e) = content::decode(&wl.content) {
            errs.push(FieldError::new(
                format!("{prefix}[{j}].content"),
                format!("neither plain text nor valid base64 of gzip: {e}"),
            ));
        }
    }
}

fn validate_meta(obj: &AnyObject, errs: &mut Vec<FieldError>) {
    let meta = obj.meta();
    if meta.name.is_empty() {
        errs.push(FieldError::new("metadata.name", "is required"));
    } else if !is_dns_subdomain(&meta.name) {
        errs.push(FieldError::new(
            "metadata.name",
            format!(
                "{:?} must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.'; at most 253 characters)",
                meta.name
            ),
        ));
    }
    if obj.kind().namespaced()
        && let Some(ns) = &meta.namespace
        && (ns.len() > 63 || ns.contains('.') || !is_dns_subdomain(ns))
    {
        errs.push(FieldError::new("metadata.namespace", format!("{ns:?} must be a lowercase RFC 1123 label")));
    }
    validate_labels("metadata.labels", &meta.labels, errs);
}

fn validate_labels(field: &str, labels: &BTreeMap<String, String>, errs: &mut Vec<FieldError>) {
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
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, g) in w.spec.workload_groups.iter().enumerate() {
        let field = format!("spec.workloadGroups[{i}]");
        let id = g.effective_id();
        if let Some(first) = seen.insert(id.clone(), i) {
            errs.push(FieldError::new(
                format!("{field}.id"),
                format!("{id:?} duplicates spec.workloadGroups[{first}]"),
            ));
        }
        for (j, s) in g.destination_selectors.iter().enumerate() {
            let sf = format!("{field}.destinationSelectors[{j}]");
            validate_labels(&format!("{sf}.matchLabels"), &s.match_labels, errs);
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
