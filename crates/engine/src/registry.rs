//! The writers of all state stores, keyed by store kind and name, each with the fingerprint of the
//! spec and secret it was built from so a change rebuilds it and a deletion drops it (difference 9).

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
}

/// Shared map of ready writers. Watchers hear about every writer put in place, so whatever waited for
/// a store can go ahead even when the store's status did not change (after a restart, say).
#[derive(Clone, Default)]
pub struct StoreRegistry {
    inner: Arc<Mutex<HashMap<StoreKey, Entry>>>,
    watchers: Arc<Mutex<Vec<tokio::sync::mpsc::UnboundedSender<StoreKey>>>>,
}

impl StoreRegistry {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<StoreKey, Entry>> {
        // A poisoned lock only means a panic elsewhere; the map itself is always consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The writer of a ready store.
    pub fn get(&self, key: &StoreKey) -> Option<StoreWriter> {
        self.map().get(key).map(|e| e.writer.clone())
    }

    /// The fingerprint the current writer was built from.
    pub fn fingerprint(&self, key: &StoreKey) -> Option<String> {
        self.map().get(key).map(|e| e.fingerprint.clone())
    }

    pub fn insert(&self, key: StoreKey, fingerprint: String, writer: StoreWriter) {
        self.map().insert(key.clone(), Entry { fingerprint, writer });
        self.watchers.lock().unwrap_or_else(|e| e.into_inner()).retain(|w| w.send(key.clone()).is_ok());
    }

    /// Subscribes to writers being put in place from now on.
    pub fn watch(&self) -> tokio::sync::mpsc::UnboundedReceiver<StoreKey> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.watchers.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
        rx
    }

    /// Drops a store's writer; requests already queued on it still complete.
    pub fn remove(&self, key: &StoreKey) -> bool {
        self.map().remove(key).is_some()
    }

    /// Every ready store with its writer.
    pub fn all(&self) -> Vec<(StoreKey, StoreWriter)> {
        let mut out: Vec<_> = self.map().iter().map(|(k, e)| (k.clone(), e.writer.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
