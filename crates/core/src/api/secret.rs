//! v1 `Secret`: credentials of state stores. Values never leave this type in logs or messages.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    #[serde(default = "v1")]
    pub api_version: String,
    #[serde(default = "secret_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Base64-encoded values, as the Kubernetes API serves them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Plain values; they win over `data` for the same key, as the API server merges them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

fn v1() -> String {
    "v1".to_string()
}

fn secret_kind() -> String {
    "Secret".to_string()
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("metadata", &self.metadata)
            .field("keys", &self.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Secret {
    pub fn new(namespace: &str, name: &str) -> Self {
        Secret {
            api_version: v1(),
            kind: secret_kind(),
            metadata: ObjectMeta::named(name, Some(namespace)),
            data: BTreeMap::new(),
            string_data: BTreeMap::new(),
            type_: None,
        }
    }

    /// Adds a value, stored base64-encoded under `data` as the API server would serve it.
    pub fn with(mut self, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.data.insert(key.to_string(), base64::engine::general_purpose::STANDARD.encode(value.as_ref()));
        self
    }

    /// Every key present in `data` or `stringData`.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        let mut keys: Vec<&str> = self.data.keys().chain(self.string_data.keys()).map(String::as_str).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
    }

    /// The decoded value of `key`: `stringData` first, then `data`. A key present with an empty value is
    /// `Some(empty)`; an undecodable `data` value is `None` (validation reports it).
    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        if let Some(v) = self.string_data.get(key) {
            return Some(v.as_bytes().to_vec());
        }
        let raw = self.data.get(key)?;
        base64::engine::general_purpose::STANDARD.decode(raw.trim()).ok()
    }

    /// Keys of `data` whose value is not valid base64.
    pub fn undecodable_keys(&self) -> Vec<&str> {
        self.data
            .iter()
            .filter(|(_, v)| base64::engine::general_purpose::STANDARD.decode(v.trim()).is_err())
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// A digest of all keys and values, used to notice credential changes without keeping values around.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        for key in self.keys() {
            hasher.update(key.as_bytes());
            hasher.update([0]);
            hasher.update(self.value(key).unwrap_or_default());
            hasher.update([0]);
        }
        hex::encode(hasher.finalize())
    }
}
