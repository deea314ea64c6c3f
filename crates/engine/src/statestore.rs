//! GitStateStore and BucketStateStore reconcilers (compatibility C13): fetch the secret, build or reuse the writer,
//! prove write permission, report `Ready`.

use waybill_core::api::{BucketStateStore, GitStateStore, Resource, Secret, SecretRef, StateStoreStatus};
use waybill_core::conditions::{READY, store as s};
use waybill_core::meta::{Condition, ConditionStatus, remove_condition, set_condition};

/// Condition type showing what a user should know about how the store is reached (Waybill's own).
const WARNING: &str = "Warning";
/// Its reason, and the reason of the event that announces it.
const INSECURE_OR_ADJUSTED: &str = "InsecureOrAdjustedCredentials";
/// The longest wait between checks of a store that stays unreachable.
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(300);
use waybill_stores::{StoreError, StoreWriter};

use crate::action::{Action, DEFAULT_REQUEUE};
use crate::engine::Engine;
use crate::error::Result;
use crate::port::{ControlPlane, Event};
use crate::registry::StoreKey;
use waybill_stores::from_spec as backends;

/// Access to the parts both store kinds share.
pub(crate) trait StoreObject: Resource {
    fn secret_ref(&self) -> Option<&SecretRef>;
    fn status_mut(&mut self) -> &mut Option<StateStoreStatus>;
}

impl StoreObject for GitStateStore {
    fn secret_ref(&self) -> Option<&SecretRef> {
        self.spec.secret_ref.as_ref()
    }
    fn status_mut(&mut self) -> &mut Option<StateStoreStatus> {
        &mut self.status
    }
}

impl StoreObject for BucketStateStore {
    fn secret_ref(&self) -> Option<&SecretRef> {
        self.spec.secret_ref.as_ref()
    }
    fn status_mut(&mut self) -> &mut Option<StateStoreStatus> {
        &mut self.status
    }
}

/// A store's verdict: ready, or not with a reason and message.
struct Verdict {
    ready: bool,
    reason: &'static str,
    message: String,
    requeue: bool,
}

impl Verdict {
    fn not_ready(reason: &'static str, message: String, requeue: bool) -> Verdict {
        Verdict { ready: false, reason, message, requeue }
    }
}

impl<C: ControlPlane> Engine<C> {
    pub(crate) async fn reconcile_git_store(&self, name: &str) -> Result<Action> {
        self.reconcile_store::<GitStateStore>(name).await
    }

    pub(crate) async fn reconcile_bucket_store(&self, name: &str) -> Result<Action> {
        self.reconcile_store::<BucketStateStore>(name).await
    }

    async fn reconcile_store<K: StoreObject>(&self, name: &str) -> Result<Action> {
        let key = StoreKey::new(K::KIND, name);
        let Some(store) = self.cp.get::<K>("", name).await? else {
            if self.stores.remove(&key) {
                tracing::info!(store = %key, "state store deleted; its writer was dropped");
            }
            return Ok(Action::done());
        };
        if store.meta().is_deleting() {
            self.stores.remove(&key);
            return Ok(Action::done());
        }
        let verdict = self.evaluate_store(&key, &store).await?;
        let generation = store.meta().generation;
        let warnings = self.stores.warnings(&key).join("; ");
        let (mut warning_changed, mut ready_changed) = (false, false);
        let (stored, _) = self
            .modify_status::<K>("", name, |obj, now| {
                let status = obj.status_mut().get_or_insert_with(StateStoreStatus::default);
                warning_changed = if warnings.is_empty() {
                    remove_condition(&mut status.conditions, WARNING)
                } else {
                    let cond = Condition::new(WARNING, ConditionStatus::True, INSECURE_OR_ADJUSTED, warnings.clone());
                    set_condition(&mut status.conditions, cond.with_generation(generation), now)
                };
                let cond = Condition::new(
                    READY,
                    ConditionStatus::from_bool(verdict.ready),
                    verdict.reason,
                    verdict.message.clone(),
                )
                .with_generation(generation);
                let mut changed = set_condition(&mut status.conditions, cond, now);
                let text = if verdict.ready { s::STATUS_READY } else { s::STATUS_NOT_READY };
                if status.status != text {
                    status.status = text.to_string();
                    changed = true;
                }
                if status.observed_generation != generation {
                    status.observed_generation = generation;
                    changed = true;
                }
                ready_changed = changed;
                changed | warning_changed
            })
            .await?;
        if warning_changed && !warnings.is_empty() {
            self.event(&store.object_ref(), Event::warning(INSECURE_OR_ADJUSTED, warnings.clone())).await;
        }
        if ready_changed && let Some(stored) = stored {
            let event = if verdict.ready {
                Event::normal("Ready", format!("{} {:?} is ready", K::KIND, name))
            } else {
                Event::warning("NotReady", verdict.message.clone())
            };
            self.event(&stored.object_ref(), event).await;
        }
        Ok(match (verdict.ready, verdict.requeue) {
            (true, _) => {
                self.store_failures(&key, false);
                Action::done()
            }
            (false, true) if verdict.reason == s::UNREACHABLE => Action::requeue(self.store_failures(&key, true)),
            (false, true) => Action::requeue(DEFAULT_REQUEUE),
            (false, false) => Action::done(),
        })
    }

    async fn evaluate_store<K: StoreObject>(&self, key: &StoreKey, store: &K) -> Result<Verdict> {
        let secret = match store.secret_ref() {
            Some(r) if !r.name.is_empty() => match self.cp.get::<Secret>(r.effective_namespace(), &r.name).await? {
                Some(secret) => Some(secret),
                None => {
                    self.stores.remove(key);
                    let msg = format!("Secret {} not found in namespace {}", r.name, r.effective_namespace());
                    return Ok(Verdict::not_ready(s::SECRET_NOT_FOUND, msg, false));
                }
            },
            _ => None,
        };
        let fingerprint = backends::fingerprint(store, secret.as_ref());
        let writer = match (self.stores.get(key), self.stores.fingerprint(key)) {
            (Some(w), Some(fp)) if fp == fingerprint => w,
            _ => {
                self.stores.remove(key);
                match self.build_backend(store, secret.as_ref()).await {
                    Ok(built) => {
                        let writer = StoreWriter::spawn(built.backend, self.config.coalescing.clone());
                        self.stores.insert(key.clone(), fingerprint, writer.clone(), built.warnings);
                        writer
                    }
                    Err(e) => {
                        let requeue = e.reason != s::SECRET_NOT_FOUND;
                        return Ok(Verdict::not_ready(e.reason, e.message, requeue));
                    }
                }
            }
        };
        match writer.check_write_permission().await {
            Ok(()) => {
                self.stores.mark_reachable(key);
                Ok(Verdict { ready: true, reason: s::READY, message: s::READY_MSG.to_string(), requeue: false })
            }
            Err(StoreError::Unreachable(msg)) => {
                // Keep the writer and its cache: the remote is expected back.
                self.stores.mark_unreachable(key, &msg);
                Ok(Verdict::not_ready(s::UNREACHABLE, format!("{}{msg}", s::VALIDATING_PREFIX), true))
            }
            Err(e) => {
                self.stores.remove(key);
                // A missing bucket or repository is its own problem, not a permission one.
                let reason = match (&e, K::KIND) {
                    (StoreError::NotFound(_), waybill_core::Kind::BucketStateStore) => s::BUCKET_NOT_FOUND,
                    (StoreError::NotFound(_), _) => s::REPOSITORY_NOT_FOUND,
                    _ => s::ERROR_VALIDATING_PERMISSIONS,
                };
                Ok(Verdict::not_ready(reason, format!("{}{e}", s::VALIDATING_PREFIX), true))
            }
        }
    }

    async fn build_backend<K: StoreObject>(
        &self,
        store: &K,
        secret: Option<&Secret>,
    ) -> Result<backends::Built, backends::BuildError> {
        let any = store.clone().into_any();
        let opts = self.config.backend_options();
        match &any {
            waybill_core::AnyObject::GitStateStore(g) => backends::git_backend(g, secret, &opts).await,
            waybill_core::AnyObject::BucketStateStore(b) => backends::bucket_backend(b, secret, &opts).await,
            other => Err(backends::BuildError {
                reason: s::ERROR_INITIALISING_WRITER,
                message: format!("unknown state store type: {}", other.kind()),
            }),
        }
    }

    /// Counts consecutive unreachable verdicts of a store and returns the capped exponential backoff
    /// before the next check (1 s, 2 s, 4 s … 5 min, jittered); a success resets it.
    fn store_failures(&self, key: &StoreKey, failed: bool) -> std::time::Duration {
        let mut map = self.unreachable.lock().unwrap_or_else(|e| e.into_inner());
        if !failed {
            map.remove(key);
            return std::time::Duration::ZERO;
        }
        let n = map.entry(key.clone()).or_insert(0);
        let delay = waybill_stores::backoff::delay(*n as usize, std::time::Duration::from_secs(1), MAX_BACKOFF);
        *n += 1;
        delay
    }
}
