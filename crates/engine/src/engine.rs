//! The engine: shared context of all reconcilers and the dispatch from an object to its reconciler.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use waybill_core::api::Resource;
use waybill_core::meta::now_rfc3339;
use waybill_core::{Kind, ObjectRef};
use waybill_stores::Coalescing;

use crate::action::Action;
use crate::aggregate::AggregateGates;
use crate::error::Result;
use crate::port::{ControlPlane, Event};
use crate::registry::StoreRegistry;

/// Settings of an engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Directory that relative local Git URLs are resolved against (the platform directory).
    pub base_dir: PathBuf,
    /// Plan mode: backends record changes without writing.
    pub dry_run: bool,
    pub coalescing: Coalescing,
    /// Periodic rewrite of placements (Kratix's `stateStoreReconciliationInterval`); `None` disables it.
    pub resync_interval: Option<Duration>,
    /// Bare cache repositories of remote Git stores live below it (temporary ones when `None`).
    pub cache_dir: Option<PathBuf>,
    /// Kratix's `git.minimumFetchInterval`.
    pub fetch_interval: Duration,
    /// How large a placement's files may be, decompressed.
    pub limits: ContentLimits,
}

/// Size limits on decoded workload content (`docs/hostile-inputs.md`): a gzip bomb or an oversized Work
/// fails its own placement with `InvalidWorkloadContent` and costs at most these many bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentLimits {
    /// One file, decompressed (`--max-file-size`).
    pub max_file_bytes: u64,
    /// All files of one WorkPlacement (one workload group on one Destination), decompressed
    /// (`--max-work-size`).
    pub max_work_bytes: u64,
}

impl Default for ContentLimits {
    fn default() -> Self {
        ContentLimits { max_file_bytes: 64 << 20, max_work_bytes: 256 << 20 }
    }
}

impl EngineConfig {
    pub(crate) fn backend_options(&self) -> waybill_stores::from_spec::BackendOptions {
        waybill_stores::from_spec::BackendOptions {
            base_dir: self.base_dir.clone(),
            cache_dir: self.cache_dir.clone(),
            fetch_interval: self.fetch_interval,
            dry_run: self.dry_run,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            base_dir: PathBuf::from("."),
            dry_run: false,
            coalescing: Coalescing::default(),
            resync_interval: Some(Duration::from_secs(10 * 3600)),
            cache_dir: None,
            fetch_interval: Duration::from_secs(5),
            limits: ContentLimits::default(),
        }
    }
}

/// Everything the reconcilers share.
pub struct Engine<C: ControlPlane> {
    pub cp: Arc<C>,
    pub stores: StoreRegistry,
    pub config: EngineConfig,
    pub(crate) aggregates: AggregateGates,
    /// Versions written but not yet recorded in a placement's status (compatibility C12).
    pub(crate) versions: Mutex<HashMap<ObjectRef, String>>,
    /// Consecutive unreachable checks per store, for backoff.
    pub(crate) unreachable: Mutex<HashMap<crate::registry::StoreKey, u32>>,
    /// Which placement owns which paths of each Destination.
    pub(crate) claims: crate::claims::Claims,
    pub metrics: crate::metrics::Metrics,
    /// Placements whose files were decoded to be sent (a rerun's unchanged ones are not: see
    /// [`crate::Written`]).
    pub(crate) decoded: std::sync::atomic::AtomicU64,
}

impl<C: ControlPlane> Engine<C> {
    pub fn new(cp: Arc<C>, config: EngineConfig) -> Self {
        Engine {
            cp,
            stores: StoreRegistry::default(),
            config,
            aggregates: AggregateGates::default(),
            versions: Mutex::new(HashMap::new()),
            unreachable: Mutex::new(HashMap::new()),
            claims: crate::claims::Claims::default(),
            metrics: crate::metrics::Metrics::default(),
            decoded: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many placements had their files decoded to be written so far; a rerun with nothing changed
    /// decodes none on a store that keeps directory ids (Git).
    pub fn placements_decoded(&self) -> u64 {
        self.decoded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reconciles one object with the reconciler of its kind.
    ///
    /// Each kind's reconcile is boxed: a task's future is then as large as its own kind's, not the
    /// largest kind's, and a burst parks thousands of placement reconciles on a writer.
    pub async fn reconcile(&self, obj: &ObjectRef) -> Result<Action> {
        let started = std::time::Instant::now();
        let result = self.dispatch(obj).await;
        if obj.kind != Kind::Secret {
            self.metrics.reconciled(obj.kind, started.elapsed(), result.is_err());
        }
        result
    }

    async fn dispatch(&self, obj: &ObjectRef) -> Result<Action> {
        match obj.kind {
            Kind::GitStateStore => Box::pin(self.reconcile_git_store(&obj.name)).await,
            Kind::BucketStateStore => Box::pin(self.reconcile_bucket_store(&obj.name)).await,
            Kind::Destination => Box::pin(self.reconcile_destination(&obj.name)).await,
            Kind::Work => Box::pin(self.reconcile_work(&obj.namespace, &obj.name)).await,
            Kind::WorkPlacement => Box::pin(self.reconcile_placement(&obj.namespace, &obj.name)).await,
            Kind::Secret => Ok(Action::done()),
        }
    }

    /// Applies `change` to the freshest copy of an object's metadata and spec through the port
    /// ([`ControlPlane::modify`]); the stored object is returned (`None` if gone).
    pub(crate) async fn modify<K: Resource>(
        &self,
        namespace: &str,
        name: &str,
        change: impl FnMut(&mut K) -> bool + Send,
    ) -> Result<Option<K>> {
        Ok(self.cp.modify(namespace, name, change).await?)
    }

    /// Like [`Engine::modify`], for status. `change` also receives the current time for conditions.
    pub(crate) async fn modify_status<K: Resource>(
        &self,
        namespace: &str,
        name: &str,
        mut change: impl FnMut(&mut K, &str) -> bool + Send,
    ) -> Result<(Option<K>, bool)> {
        Ok(self.cp.modify_status(namespace, name, |obj: &mut K| change(obj, &now_rfc3339())).await?)
    }

    /// Records an event; a Warning one is also logged as a warning, so it reaches the terminal at the
    /// default log level while `run` runs.
    pub(crate) async fn event(&self, about: &ObjectRef, event: Event) {
        match event.type_ {
            crate::port::EventType::Warning => {
                tracing::warn!(object = %about, reason = %event.reason, "{}", event.message)
            }
            crate::port::EventType::Normal => {
                tracing::info!(object = %about, reason = %event.reason, "{}", event.message)
            }
        }
        self.cp.event(about, event).await;
    }
}
