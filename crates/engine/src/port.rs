//! The control-plane port: the few operations reconcilers need from an API server. The embedded
//! control plane implements it over local durable state; a Kubernetes client can implement it as well.

use async_trait::async_trait;
use waybill_core::{ObjectRef, Resource};

/// How many times a read-modify-write is retried on optimistic conflicts before giving up.
pub const CONFLICT_RETRIES: usize = 8;

/// A control-plane operation failed. The variant is the kind a caller acts on: retry at once after a
/// re-read ([`CpError::Conflict`]), treat as gone ([`CpError::NotFound`]), back off and retry
/// ([`CpError::Unavailable`]), or report ([`CpError::Invalid`], [`CpError::Other`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpError {
    #[error("failed to find {0}: not found")]
    NotFound(ObjectRef),
    #[error("failed to write {0}: the object was modified; re-read and retry")]
    Conflict(ObjectRef),
    #[error("failed to create {0}: it already exists")]
    AlreadyExists(ObjectRef),
    /// The control plane refused the object (a schema or admission rule); retrying will not help.
    #[error("failed to write {0}: {1}")]
    Invalid(ObjectRef, String),
    /// The control plane could not be reached or answered that it is overloaded; worth retrying.
    #[error("failed to reach the control plane: {0}")]
    Unavailable(String),
    /// Anything else, permanent until something changes (permissions, a broken local database).
    #[error("{0}")]
    Other(String),
}

impl CpError {
    /// Whether the same request may succeed later without anything else changing.
    pub fn is_transient(&self) -> bool {
        matches!(self, CpError::Conflict(_) | CpError::Unavailable(_))
    }
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

/// What a placement's directory got when it was last written: a fingerprint of what was written
/// there (the placement's encoded files, its directory, the size limits) and the id the store gave the
/// directory. A rerun whose fingerprint matches asks the store whether the directory still has that
/// id instead of decoding and sending every file again (the README's scale table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub fingerprint: String,
    pub id: String,
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
    /// Applies `change` to the freshest metadata and spec of an object and writes what it changed,
    /// retrying on conflicts. `change` returns whether it changed anything; the stored object is
    /// returned, `None` when it is gone. The default reads and replaces; a control plane that holds
    /// fields Waybill does not model (Kubernetes) sends only the difference as a patch instead.
    async fn modify<K: Resource, F: FnMut(&mut K) -> bool + Send>(
        &self,
        namespace: &str,
        name: &str,
        mut change: F,
    ) -> Result<Option<K>, CpError> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(mut obj) = self.get::<K>(namespace, name).await? else {
                return Ok(None);
            };
            if !change(&mut obj) {
                return Ok(Some(obj));
            }
            match self.update(obj).await {
                Ok(stored) => return Ok(Some(stored)),
                Err(CpError::Conflict(_)) => continue,
                Err(CpError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Err(CpError::Conflict(ObjectRef::new(K::KIND, namespace, name)))
    }
    /// Like [`ControlPlane::modify`], for status only. Also returns whether anything was written.
    async fn modify_status<K: Resource, F: FnMut(&mut K) -> bool + Send>(
        &self,
        namespace: &str,
        name: &str,
        mut change: F,
    ) -> Result<(Option<K>, bool), CpError> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(mut obj) = self.get::<K>(namespace, name).await? else {
                return Ok((None, false));
            };
            if !change(&mut obj) {
                return Ok((Some(obj), false));
            }
            match self.update_status(obj).await {
                Ok(stored) => return Ok((Some(stored), true)),
                Err(CpError::Conflict(_)) => continue,
                Err(CpError::NotFound(_)) => return Ok((None, false)),
                Err(e) => return Err(e),
            }
        }
        Err(CpError::Conflict(ObjectRef::new(K::KIND, namespace, name)))
    }
    /// What `placement`'s directory got when last written ([`Written`]); `None` when the control plane
    /// keeps no record (then every write sends its files).
    fn written(&self, _placement: &ObjectRef) -> Option<Written> {
        None
    }
    /// Records (or, with `None`, forgets) what `placement`'s directory got; dropped with the placement.
    fn record_written(&self, _placement: &ObjectRef, _written: Option<Written>) {}
    /// Requests deletion: immediate without finalizers, otherwise `deletionTimestamp` is set.
    async fn delete<K: Resource>(&self, namespace: &str, name: &str) -> Result<(), CpError>;
    /// Records an event about `about`.
    async fn event(&self, about: &ObjectRef, event: Event);
    /// Returns once everything written so far is durable. Reconcilers call it before acting on a state
    /// store, so what they read can never be lost after it had effects outside.
    async fn sync(&self) -> Result<(), CpError>;
}
