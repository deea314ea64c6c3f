//! The control-plane port: the few operations reconcilers need from an API server. The embedded
//! control plane implements it over local durable state; a Kubernetes client can implement it as well.

use async_trait::async_trait;
use waybill_core::{ObjectRef, Resource};

/// A control-plane operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpError {
    #[error("failed to find {0}: not found")]
    NotFound(ObjectRef),
    #[error("failed to write {0}: the object was modified; re-read and retry")]
    Conflict(ObjectRef),
    #[error("failed to create {0}: it already exists")]
    AlreadyExists(ObjectRef),
    #[error("failed to write {0}: {1}")]
    Invalid(ObjectRef, String),
    #[error("{0}")]
    Other(String),
}

/// Event severity, as Kubernetes spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

/// An event about an object (`kubectl describe` shows them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

impl Event {
    pub fn normal(reason: &str, message: impl Into<String>) -> Self {
        Event { type_: EventType::Normal, reason: reason.to_string(), message: message.into() }
    }
    pub fn warning(reason: &str, message: impl Into<String>) -> Self {
        Event { type_: EventType::Warning, reason: reason.to_string(), message: message.into() }
    }
}

/// What reconcilers need from a control plane. Writes are optimistic: `update` and `update_status`
/// fail with [`CpError::Conflict`] when `metadata.resourceVersion` is not the stored one.
#[async_trait]
pub trait ControlPlane: Send + Sync + 'static {
    /// One object; `namespace` is ignored for cluster-scoped kinds.
    async fn get<K: Resource>(&self, namespace: &str, name: &str) -> Result<Option<K>, CpError>;
    /// Objects of a kind, in one namespace or all, carrying every given label.
    async fn list<K: Resource>(&self, namespace: Option<&str>, labels: &[(&str, &str)]) -> Result<Vec<K>, CpError>;
    /// Every object of a kind, shared: a control plane may hand out the same list until the kind
    /// changes (the scheduler reads every Destination for every Work it schedules).
    async fn list_all<K: Resource>(&self) -> Result<std::sync::Arc<Vec<K>>, CpError> {
        Ok(std::sync::Arc::new(self.list::<K>(None, &[]).await?))
    }
    async fn create<K: Resource>(&self, obj: K) -> Result<K, CpError>;
    /// Writes metadata and spec (never status). Bumps `generation` when the spec changed; removes a
    /// deleting object once its last finalizer is gone.
    async fn update<K: Resource>(&self, obj: K) -> Result<K, CpError>;
    /// Writes status only.
    async fn update_status<K: Resource>(&self, obj: K) -> Result<K, CpError>;
    /// Requests deletion: immediate without finalizers, otherwise `deletionTimestamp` is set.
    async fn delete<K: Resource>(&self, namespace: &str, name: &str) -> Result<(), CpError>;
    /// Records an event about `about`.
    async fn event(&self, about: &ObjectRef, event: Event);
    /// Returns once everything written so far is durable. Reconcilers call it before acting on a state
    /// store, so what they read can never be lost after it had effects outside.
    async fn sync(&self) -> Result<(), CpError>;
}
