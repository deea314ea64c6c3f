//! `waybill controller`: the shared reconcilers as kube-runtime controllers, one per kind.
//!
//! One watch per kind feeds a typed [`Cache`]; each event is classified against the copy seen before
//! and mapped by the engine's trigger functions (the same ones the embedded runner uses) to the
//! objects to reconcile, which reach their kind's controller through `reconcile_on`. The controllers
//! bring kube-runtime's queue: deduplication, bounded concurrency, requeues, graceful shutdown.
//! Deleted objects are handled through finalizers, as in Kratix.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::controller::{Action as KubeAction, Config, Controller};
use kube::runtime::reflector::{ObjectRef as KubeRef, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use waybill_core::{AnyObject, Kind, ObjectRef};
use waybill_engine::registry::RegistryEvent;
use waybill_engine::triggers::{ChangeKind, store_became_ready, triggers};
use waybill_engine::{Engine, EngineError};
use waybill_stores::activity::{Activity, Busy};

use crate::cache::Cache;
use crate::control_plane::KubeControlPlane;
use crate::resources::{api_resource, json_of};

/// Settings of the controllers.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Reconciles of one kind running at once (state stores, Destinations, Works).
    pub concurrency: u16,
    /// WorkPlacement reconciles running at once: they wait on their store's writer together, so a
    /// burst of placements lands in few commits.
    pub placement_concurrency: u16,
    /// Retry delay after a failed reconcile.
    pub error_requeue: Duration,
    /// Watch only the Secrets with these labels (Kratix's `selectiveCache` watches
    /// `app.kubernetes.io/part-of=kratix`); `None` watches every Secret.
    pub secret_selector: Option<String>,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            concurrency: 16,
            placement_concurrency: 1024,
            error_requeue: Duration::from_secs(5),
            secret_selector: None,
        }
    }
}

/// How the controllers' writers batch: a watch hands a burst over one object at a time, so a writer
/// that finds nothing busy still waits this long for one more change set before it commits.
pub fn coalescing() -> waybill_stores::Coalescing {
    waybill_stores::Coalescing { linger: Duration::from_millis(150), ..Default::default() }
}

/// The kinds with a controller; Secrets are only watched (a change rebuilds the stores using them).
const RECONCILED: [Kind; 5] =
    [Kind::GitStateStore, Kind::BucketStateStore, Kind::Destination, Kind::Work, Kind::WorkPlacement];

/// A controller's resource and the sender of its `reconcile_on` stream.
type Queue = (ApiResource, mpsc::UnboundedSender<KubeRef<DynamicObject>>);

/// Sends each waybill reference to its kind's controller. A sent reference counts as busy on the
/// writers' activity until its reconcile starts, so a batch waits for what is queued to join it.
#[derive(Clone)]
struct Router {
    queues: Arc<HashMap<Kind, Queue>>,
    pending: Arc<Mutex<HashMap<ObjectRef, Busy>>>,
    activity: Activity,
}

impl Router {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef, Busy>> {
        // Inserts and removes only: a panicking holder leaves the map usable.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reconcile of `r` started (or will not happen): it no longer counts as queued.
    fn started(&self, r: &ObjectRef) {
        self.pending().remove(r);
    }

    fn send(&self, r: &ObjectRef) {
        if let Some((ar, tx)) = self.queues.get(&r.kind) {
            self.pending().entry(r.clone()).or_insert_with(|| self.activity.busy());
            let mut kr = KubeRef::new_with(&r.name, ar.clone());
            if r.kind.namespaced() {
                kr = kr.within(&r.namespace);
            }
            // A closed queue means its controller stopped (shutdown): nothing left to do.
            let _ = tx.unbounded_send(kr);
        }
    }

    fn send_all(&self, refs: Vec<ObjectRef>) {
        for r in &refs {
            self.send(r);
        }
    }
}

fn to_any(kind: Kind, obj: &DynamicObject) -> Option<AnyObject> {
    let r = ObjectRef::new(
        kind,
        obj.metadata.namespace.as_deref().unwrap_or(""),
        obj.metadata.name.as_deref().unwrap_or(""),
    );
    let converted = json_of(obj).ok().and_then(|v| AnyObject::from_json(kind, v).map_err(|e| e.to_string()).ok());
    if converted.is_none() {
        tracing::warn!(object = %r, "ignored an object that does not fit its kind's schema");
    }
    converted
}

/// Watches one kind: keeps the cache and the controller's store, and routes what each change triggers.
async fn inform(
    kind: Kind,
    api: Api<DynamicObject>,
    config: watcher::Config,
    mut writer: Option<Writer<DynamicObject>>,
    cache: Arc<Cache>,
    router: Router,
) {
    let mut listed: HashSet<ObjectRef> = HashSet::new();
    let mut events = watcher(api, config).default_backoff().boxed();
    while let Some(event) = events.next().await {
        // The event counts as busy until what it triggers is queued.
        let _busy = router.activity.busy();
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(kind = %kind, "watch failed, retrying: {e}");
                continue;
            }
        };
        if let Some(w) = writer.as_mut() {
            w.apply_watcher_event(&event);
        }
        match event {
            watcher::Event::Init => listed.clear(),
            watcher::Event::InitApply(obj) | watcher::Event::Apply(obj) => {
                let Some(any) = to_any(kind, &obj) else { continue };
                listed.insert(any.object_ref());
                if let Some((change, stored)) = cache.apply(any) {
                    router.send_all(triggers(&*cache, change, &stored));
                }
            }
            watcher::Event::InitDone => {
                cache.mark_synced(kind);
                for gone in cache.retain_listed(kind, &listed) {
                    router.send_all(triggers(&*cache, ChangeKind::Removed, &gone));
                }
            }
            watcher::Event::Delete(obj) => {
                let Some(any) = to_any(kind, &obj) else { continue };
                let last = cache.remove(&any.object_ref()).unwrap_or_else(|| Arc::new(any));
                router.send_all(triggers(&*cache, ChangeKind::Removed, &last));
            }
        }
    }
}

struct Context {
    engine: Arc<Engine<KubeControlPlane>>,
    kind: Kind,
    error_requeue: Duration,
    router: Router,
}

async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<KubeAction, EngineError> {
    let r = ObjectRef::new(
        ctx.kind,
        obj.metadata.namespace.as_deref().unwrap_or(""),
        obj.metadata.name.as_deref().unwrap_or(""),
    );
    // Busy while it runs (the engine parks it while it waits on a writer), no longer queued.
    let _busy = ctx.router.activity.busy();
    ctx.router.started(&r);
    let action = ctx.engine.reconcile(&r).await?;
    Ok(match action.requeue_after {
        Some(after) => KubeAction::requeue(after),
        None => KubeAction::await_change(),
    })
}

fn error_policy(obj: Arc<DynamicObject>, error: &EngineError, ctx: Arc<Context>) -> KubeAction {
    tracing::warn!(
        kind = %ctx.kind,
        name = obj.metadata.name.as_deref().unwrap_or(""),
        namespace = obj.metadata.namespace.as_deref().unwrap_or(""),
        "reconcile failed, retrying: {error}"
    );
    KubeAction::requeue(ctx.error_requeue)
}

/// Runs the controllers until `shutdown` resolves, then lets in-flight reconciles finish (a batch
/// being written completes) and returns.
pub async fn run(
    client: kube::Client,
    engine: Arc<Engine<KubeControlPlane>>,
    options: ControllerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown = shutdown.shared();
    let cache = engine.cp.cache();
    let mut queues = HashMap::new();
    let mut receivers = Vec::new();
    for kind in RECONCILED {
        let (tx, rx) = mpsc::unbounded();
        queues.insert(kind, (api_resource(kind), tx));
        receivers.push((kind, rx));
    }
    let activity = engine.config.coalescing.activity.clone();
    let router = Router { queues: Arc::new(queues), pending: Arc::default(), activity };

    let mut informers = Vec::new();
    let mut controllers = Vec::new();
    for (kind, rx) in receivers {
        let ar = api_resource(kind);
        let writer = Writer::new(ar.clone());
        let reader = writer.as_reader();
        let api = Api::<DynamicObject>::all_with(client.clone(), &ar);
        let watch = watcher::Config::default();
        informers.push(tokio::spawn(inform(kind, api, watch, Some(writer), cache.clone(), router.clone())));
        let concurrency = if kind == Kind::WorkPlacement { options.placement_concurrency } else { options.concurrency };
        let ctx = Arc::new(Context {
            engine: engine.clone(),
            kind,
            error_requeue: options.error_requeue,
            router: router.clone(),
        });
        let (dropped, gone_engine) = (router.clone(), engine.clone());
        let controller = Controller::for_stream_with(futures::stream::pending(), reader, ar)
            .with_config(Config::default().concurrency(concurrency))
            .reconcile_on(rx)
            .graceful_shutdown_on(shutdown.clone())
            .run(reconcile, error_policy, ctx)
            .for_each(move |result| {
                // The queue drops a reference whose object is gone; the engine still hears of it once,
                // so it lets go of what it held for the object (a deleted store's writer).
                if let Err(kube::runtime::controller::Error::ObjectNotFound(kr)) = &result {
                    let r = ObjectRef::new(kind, kr.namespace.as_deref().unwrap_or(""), &kr.name);
                    let busy = dropped.activity.busy();
                    dropped.started(&r);
                    let engine = gone_engine.clone();
                    tokio::spawn(async move {
                        if let Err(e) = engine.reconcile(&r).await {
                            tracing::warn!(object = %r, "reconcile of a deleted object failed: {e}");
                        }
                        drop(busy);
                    });
                }
                if let Err(e) = result {
                    tracing::debug!("controller: {e}");
                }
                futures::future::ready(())
            });
        controllers.push(tokio::spawn(controller));
    }
    let secrets = Api::<DynamicObject>::all_with(client.clone(), &api_resource(Kind::Secret));
    let mut watch = watcher::Config::default();
    if let Some(selector) = &options.secret_selector {
        watch = watch.labels(selector);
    }
    informers.push(tokio::spawn(inform(Kind::Secret, secrets, watch, None, cache.clone(), router.clone())));

    // A store whose writer is now in place releases what waited for it.
    let mut registry = engine.stores.watch();
    let (registry_cache, registry_router) = (cache.clone(), router.clone());
    informers.push(tokio::spawn(async move {
        while let Some(event) = registry.recv().await {
            match event {
                RegistryEvent::Ready(key) => registry_router
                    .send_all(store_became_ready(&*registry_cache, &ObjectRef::cluster(key.kind, &key.name))),
                RegistryEvent::Unreachable(key) => registry_router.send(&ObjectRef::cluster(key.kind, &key.name)),
            }
        }
    }));

    for c in controllers {
        let _ = c.await;
    }
    for i in &informers {
        i.abort();
    }
    for i in informers {
        let _ = i.await;
    }
    cache.unsync();
    tracing::info!("controllers stopped");
}
