//! `WorkPlacement`: one workload group scheduled onto one Destination.

use serde::{Deserialize, Serialize};

use super::destination::kratix_api_version;
use super::work::Workload;
use crate::meta::{Condition, ObjectMeta};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkPlacement {
    #[serde(default = "kratix_api_version")]
    pub api_version: String,
    #[serde(default = "workplacement_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: WorkPlacementSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WorkPlacementStatus>,
}

fn workplacement_kind() -> String {
    "WorkPlacement".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkPlacementSpec {
    #[serde(default)]
    pub target_destination_name: String,
    #[serde(default)]
    pub workloads: Vec<Workload>,
    #[serde(default)]
    pub promise_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_name: String,
    #[serde(default)]
    pub id: String,
    /// The parent Work's `metadata.generation`.
    #[serde(default)]
    pub generation: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkPlacementStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, rename = "versionID", skip_serializing_if = "String::is_empty")]
    pub version_id: String,
    #[serde(default)]
    pub observed_generation: i64,
}

impl WorkPlacement {
    pub fn new(namespace: &str, name: &str, spec: WorkPlacementSpec) -> Self {
        WorkPlacement {
            api_version: kratix_api_version(),
            kind: workplacement_kind(),
            metadata: ObjectMeta::named(name, Some(namespace)),
            spec,
            status: None,
        }
    }

    pub fn is_resource_request(&self) -> bool {
        !self.spec.resource_name.is_empty()
    }

    pub fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or(&[])
    }
}
