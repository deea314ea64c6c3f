//! The writers of all state stores, keyed by store kind and name, each with the fingerprint of the
//! spec and secret it was built from so a change rebuilds it and a deletion drops it (compatibility D9).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use waybill_core::Kind;
use waybill_stores::StoreWriter;

/// Identity of a state store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey {
    pub kind: Kind,
    pub name: String,
}

impl StoreKey {
    pub fn new(kind: Kind, name: &str) -> Self {
        StoreKey { kind, name: name.to_string() }
    }
}

impl std::fmt::Display for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

struct Entry {
    fingerprint: String,
    writer: StoreWriter,
    /// What the user should know about how the writer was built (TLS verification off, trimmed
    /// credentials): kept so every reconcile of the store can show it, not only the one that built it.
    warnings: Vec<String>,
    /// Why the remote could not be reached lately (compatibility D10); `None` while it answers.
    unreachable: Option<String>,
}

/// What watchers of the registry hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEvent {
    /// A writer was put in place or its remote answers again: whatever waited can go ahead.
    Ready(StoreKey),
    /// A writer's remote stopped answering: the store should be re-checked (with backoff).
    Unreachable(StoreKey),
}

/// Shared map of writers. Watchers hear about every writer put in place, so whatever waited for a
/// store can go ahead even when the store's status did not change (after a restart, say).
#[derive(Clone, Default)]
pub struct StoreRegistry {
    inner: Arc<Mutex<HashMap<StoreKey, Entry>>>,
    watchers: Arc<Mutex<Vec<tokio::sync::mpsc::UnboundedSender<RegistryEvent>>>>,
}

impl StoreRegistry {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<StoreKey, Entry>> {
        // A poisoned lock only means a panic elsewhere; the map itself is always consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn announce(&self, event: RegistryEvent) {
        self.watchers.lock().unwrap_or_else(|e| e.into_inner()).retain(|w| w.send(event.clone()).is_ok());
    }

    /// The writer of a store, and why its remote is unreachable if it is.
    pub fn lookup(&self, key: &StoreKey) -> Option<(StoreWriter, Option<String>)> {
        self.map().get(key).map(|e| (e.writer.clone(), e.unreachable.clone()))
    }

    /// The writer of a store.
    pub fn get(&self, key: &StoreKey) -> Option<StoreWriter> {
        self.map().get(key).map(|e| e.writer.clone())
    }

    /// The warnings of the current writer's build.
    pub fn warnings(&self, key: &StoreKey) -> Vec<String> {
        self.map().get(key).map(|e| e.warnings.clone()).unwrap_or_default()
    }

    /// The fingerprint the current writer was built from.
    pub fn fingerprint(&self, key: &StoreKey) -> Option<String> {
        self.map().get(key).map(|e| e.fingerprint.clone())
    }

    pub fn insert(&self, key: StoreKey, fingerprint: String, writer: StoreWriter, warnings: Vec<String>) {
        self.map().insert(key.clone(), Entry { fingerprint, writer, warnings, unreachable: None });
        self.announce(RegistryEvent::Ready(key));
    }

    /// Records that a store's remote cannot be reached; the first report asks for a re-check.
    pub fn mark_unreachable(&self, key: &StoreKey, reason: &str) {
        let newly = match self.map().get_mut(key) {
            Some(e) => e.unreachable.replace(reason.to_string()).is_none(),
            None => false,
        };
        if newly {
            self.announce(RegistryEvent::Unreachable(key.clone()));
        }
    }

    /// Records that a store's remote answers again.
    pub fn mark_reachable(&self, key: &StoreKey) {
        let recovered = self.map().get_mut(key).is_some_and(|e| e.unreachable.take().is_some());
        if recovered {
            self.announce(RegistryEvent::Ready(key.clone()));
        }
    }

    /// Subscribes to registry events from now on.
    pub fn watch(&self) -> tokio::sync::mpsc::UnboundedReceiver<RegistryEvent> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.watchers.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
        rx
    }

    /// Drops a store's writer; requests already queued on it still complete.
    pub fn remove(&self, key: &StoreKey) -> bool {
        self.map().remove(key).is_some()
    }

    /// Every store with its writer.
    pub fn all(&self) -> Vec<(StoreKey, StoreWriter)> {
        let mut out: Vec<_> = self.map().iter().map(|(k, e)| (k.clone(), e.writer.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
