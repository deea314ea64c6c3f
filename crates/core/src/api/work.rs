//! `Work`: groups of documents with destination selectors, produced by Kratix pipelines or by hand.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::destination::kratix_api_version;
use crate::meta::{Condition, ObjectMeta};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Work {
    #[serde(default = "kratix_api_version")]
    pub api_version: String,
    #[serde(default = "work_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: WorkSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WorkStatus>,
}

fn work_kind() -> String {
    "Work".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_execution_timestamp: Option<String>,
    #[serde(default)]
    pub workload_groups: Vec<WorkloadGroup>,
    #[serde(default)]
    pub promise_name: String,
    /// Non-empty for a resource request; empty for a dependency (promise) Work.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadGroup {
    #[serde(default)]
    pub workloads: Vec<Workload>,
    #[serde(default)]
    pub directory: String,
    /// Hex MD5 of the directory; computed from `directory` when a hand-written Work leaves it out.
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_selectors: Vec<DestinationSelector>,
}

/// One file: its path relative to the placement's directory and its content, either Kratix's
/// base64-of-gzip encoding or plain text (see [`crate::content`]). The content is shared, not copied,
/// between a Work, its placements and every copy a reconcile takes: a large Work costs its size once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    #[serde(default)]
    pub filepath: String,
    #[serde(default)]
    pub content: std::sync::Arc<str>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Waybill extension (compatibility D16): Kubernetes set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub work_placements: i64,
    #[serde(default)]
    pub work_placements_created: i64,
    #[serde(default)]
    pub observed_generation: i64,
}

/// Hex MD5 of a workload group's directory: Kratix's group id (`.` → `5058f1af…`).
pub fn group_id_for_directory(directory: &str) -> String {
    hex::encode(Md5::digest(directory.as_bytes()))
}

impl WorkloadGroup {
    /// The directory, `.` when empty.
    pub fn directory_or_default(&self) -> &str {
        if self.directory.is_empty() { "." } else { &self.directory }
    }

    /// The group id, computed from the directory when absent.
    pub fn effective_id(&self) -> String {
        if self.id.is_empty() { group_id_for_directory(self.directory_or_default()) } else { self.id.clone() }
    }
}

impl Work {
    pub fn new(namespace: &str, name: &str, spec: WorkSpec) -> Self {
        Work {
            api_version: kratix_api_version(),
            kind: work_kind(),
            metadata: ObjectMeta::named(name, Some(namespace)),
            spec,
            status: None,
        }
    }

    /// A resource request has a `resourceName`; a dependency Work does not.
    pub fn is_resource_request(&self) -> bool {
        !self.spec.resource_name.is_empty()
    }

    pub fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_are_the_md5_of_the_directory() {
        assert_eq!(group_id_for_directory("."), "5058f1af8388633f609cadb75a75dc9d");
        assert_eq!(group_id_for_directory("foo"), "acbd18db4cc2f85cedef654fccc4a4d8");
        let group = WorkloadGroup::default();
        assert_eq!(group.effective_id(), "5058f1af8388633f609cadb75a75dc9d");
    }
}
