//! `Destination`: a labelled target backed by a state store.

use serde::{Deserialize, Serialize};

use super::string_enum;
use crate::kind::{KRATIX_API_VERSION, Kind};
use crate::meta::{Condition, ObjectMeta};

string_enum! {
    /// How a Destination lays out files in its state store (compatibility C5 to C7).
    FilepathMode default NestedByMetadata {
        NestedByMetadata = "nestedByMetadata",
        AggregatedYaml = "aggregatedYAML",
        None = "none",
    }
}

string_enum! {
    /// What happens to a Destination's files when it is deleted.
    Cleanup default None {
        None = "none",
        All = "all",
    }
}

string_enum! {
    /// The state store kinds a Destination may reference.
    StateStoreKind default GitStateStore {
        BucketStateStore = "BucketStateStore",
        GitStateStore = "GitStateStore",
    }
}

impl StateStoreKind {
    pub fn kind(self) -> Kind {
        match self {
            StateStoreKind::BucketStateStore => Kind::BucketStateStore,
            StateStoreKind::GitStateStore => Kind::GitStateStore,
        }
    }
}

/// Default file name of the aggregate in `aggregatedYAML` mode.
pub const DEFAULT_AGGREGATE_FILENAME: &str = "aggregated.yaml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    #[serde(default = "kratix_api_version")]
    pub api_version: String,
    #[serde(default = "destination_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: DestinationSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DestinationStatus>,
}

pub(crate) fn kratix_api_version() -> String {
    KRATIX_API_VERSION.to_string()
}

fn destination_kind() -> String {
    "Destination".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationSpec {
    /// Directory inside the state store's path; defaults to the Destination's name (compatibility D1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_store_ref: Option<StateStoreRef>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict_match_labels: bool,
    #[serde(default)]
    pub filepath: FilepathSpec,
    #[serde(default)]
    pub cleanup: Cleanup,
    #[serde(default)]
    pub init_workloads: InitWorkloads,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateStoreRef {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

impl StateStoreRef {
    /// The referenced kind, when it is one of the two state store kinds.
    pub fn store_kind(&self) -> Option<StateStoreKind> {
        match self.kind.as_str() {
            "GitStateStore" => Some(StateStoreKind::GitStateStore),
            "BucketStateStore" => Some(StateStoreKind::BucketStateStore),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilepathSpec {
    #[serde(default)]
    pub mode: FilepathMode,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub filename: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitWorkloads {
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl Default for InitWorkloads {
    fn default() -> Self {
        InitWorkloads { enabled: true }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub observed_generation: i64,
    /// Waybill extension: where the Destination's files were last written. When its `spec.path`, its
    /// store's `spec.path` or its store changes, the files there are removed in the commit that writes
    /// them at the new place (`docs/hostile-inputs.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_to: Option<WrittenTo>,
}

/// A Destination's directory as it was written: its store, the store's path, its own directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrittenTo {
    pub state_store_ref: StateStoreRef,
    /// The store's `spec.path`, as cleaned (empty for the store's root).
    #[serde(default)]
    pub store_path: String,
    /// The Destination's directory below it (empty for the store path itself).
    #[serde(default)]
    pub path: String,
}

impl Destination {
    pub fn new(name: &str, spec: DestinationSpec) -> Self {
        Destination {
            api_version: kratix_api_version(),
            kind: destination_kind(),
            metadata: ObjectMeta::named(name, None),
            spec,
            status: None,
        }
    }

    /// The effective `spec.path`: the name when absent or empty (compatibility D1).
    pub fn path(&self) -> &str {
        match self.spec.path.as_deref() {
            Some(p) if !p.is_empty() => p,
            _ => &self.metadata.name,
        }
    }

    /// The aggregate file name in `aggregatedYAML` mode (`aggregated.yaml` when empty).
    pub fn aggregate_filename(&self) -> &str {
        if self.spec.filepath.filename.is_empty() { DEFAULT_AGGREGATE_FILENAME } else { &self.spec.filepath.filename }
    }

    pub fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or(&[])
    }
}
