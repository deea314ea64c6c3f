//! `GitStateStore` and `BucketStateStore`: where Destinations' files are written.

use serde::{Deserialize, Serialize};

use super::destination::kratix_api_version;
use super::string_enum;
use crate::meta::{Condition, ObjectMeta};

string_enum! {
    /// How Waybill authenticates to a Git remote (compatibility C2).
    GitAuthMethod default BasicAuth {
        BasicAuth = "basicAuth",
        Ssh = "ssh",
        GithubApp = "githubApp",
    }
}

string_enum! {
    /// How Waybill authenticates to a bucket (compatibility C2).
    BucketAuthMethod default AccessKey {
        AccessKey = "accessKey",
        Iam = "IAM",
    }
}

/// Reference to a Secret; an empty namespace means `default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

impl SecretRef {
    /// The namespace to look the secret up in (`default` when empty, as Kratix does).
    pub fn effective_namespace(&self) -> &str {
        if self.namespace.is_empty() { "default" } else { &self.namespace }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitAuthor {
    #[serde(default = "kratix")]
    pub name: String,
    #[serde(default)]
    pub email: String,
}

fn kratix() -> String {
    "kratix".to_string()
}

impl Default for GitAuthor {
    fn default() -> Self {
        GitAuthor { name: kratix(), email: String::new() }
    }
}

/// Status shared by both state store kinds (compatibility C1, C13).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateStoreStatus {
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub observed_generation: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitStateStore {
    #[serde(default = "kratix_api_version")]
    pub api_version: String,
    #[serde(default = "git_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: GitStateStoreSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StateStoreStatus>,
}

fn git_kind() -> String {
    "GitStateStore".to_string()
}

fn main_branch() -> String {
    "main".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitStateStoreSpec {
    #[serde(default)]
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
    #[serde(default = "main_branch")]
    pub branch: String,
    #[serde(default)]
    pub auth_method: GitAuthMethod,
    #[serde(default)]
    pub git_author: GitAuthor,
}

impl Default for GitStateStoreSpec {
    fn default() -> Self {
        GitStateStoreSpec {
            url: String::new(),
            path: String::new(),
            secret_ref: None,
            branch: main_branch(),
            auth_method: GitAuthMethod::default(),
            git_author: GitAuthor::default(),
        }
    }
}

impl GitStateStore {
    pub fn new(name: &str, spec: GitStateStoreSpec) -> Self {
        GitStateStore {
            api_version: kratix_api_version(),
            kind: git_kind(),
            metadata: ObjectMeta::named(name, None),
            spec,
            status: None,
        }
    }

    /// The branch to write, `main` when empty.
    pub fn branch(&self) -> &str {
        if self.spec.branch.is_empty() { "main" } else { &self.spec.branch }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketStateStore {
    #[serde(default = "kratix_api_version")]
    pub api_version: String,
    #[serde(default = "bucket_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: BucketStateStoreSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StateStoreStatus>,
}

fn bucket_kind() -> String {
    "BucketStateStore".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketStateStoreSpec {
    #[serde(default)]
    pub bucket_name: String,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub use_dual_stack: bool,
    #[serde(default)]
    pub auth_method: BucketAuthMethod,
    /// Waybill extension: the signing region (default `us-east-1`, which MinIO-style servers accept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl BucketStateStore {
    pub fn new(name: &str, spec: BucketStateStoreSpec) -> Self {
        BucketStateStore {
            api_version: kratix_api_version(),
            kind: bucket_kind(),
            metadata: ObjectMeta::named(name, None),
            spec,
            status: None,
        }
    }
}
