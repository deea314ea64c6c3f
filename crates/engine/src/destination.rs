//! Destination reconciler (§4): finalizer per cleanup policy, canary documents, readiness, and the
//! `cleanup: all` deletion.

use waybill_core::api::{BucketStateStore, Cleanup, Destination, DestinationStatus, GitStateStore, WorkPlacement};
use waybill_core::canary::{CANARY_CONFIGMAP, CANARY_NAMESPACE, CANARY_WRITER_NAME};
use waybill_core::changeset::{Action as ChangeAction, Blob, ChangeSet, Op};
use waybill_core::conditions::{READY, destination as d, store as s};
use waybill_core::labels::{DESTINATION_CLEANUP_FINALIZER, TARGET_DESTINATION_LABEL};
use waybill_core::layout::{StorePath, canary_paths};
use waybill_core::meta::{Condition, ConditionStatus, find_condition, set_condition};
use waybill_core::{Kind, ObjectRef};
use waybill_stores::StoreWriter;

use crate::action::{Action, DEFAULT_REQUEUE};
use crate::engine::Engine;
use crate::error::Result;
use crate::port::{ControlPlane, Event};
use crate::registry::StoreKey;

/// The state store behind a Destination, as far as a reconcile can use it.
pub(crate) enum StoreLookup {
    Ready(StoreWriter),
    /// Not usable: the Destination's Ready reason and message.
    Unavailable(&'static str, String),
}

impl<C: ControlPlane> Engine<C> {
    /// Notes that a write found the Destination's remote unreachable, so the store is re-checked and the
    /// outage shows on the store and its Destinations (difference 10).
    pub(crate) fn note_store_error(&self, dest: &Destination, error: &waybill_stores::StoreError) {
        if let (waybill_stores::StoreError::Unreachable(msg), Some(r)) = (error, dest.spec.state_store_ref.as_ref())
            && let Some(kind) = r.store_kind()
        {
            self.stores.mark_unreachable(&StoreKey::new(kind.kind(), &r.name), msg);
        }
    }

    /// Finds the writer of the Destination's state store, or says why there is none.
    pub(crate) async fn lookup_store(&self, dest: &Destination) -> Result<StoreLookup> {
        let Some(r) = dest.spec.state_store_ref.as_ref() else {
            return Ok(StoreLookup::Unavailable(d::STATE_STORE_NOT_FOUND, "spec.stateStoreRef is not set".into()));
        };
        let Some(kind) = r.store_kind() else {
            return Ok(StoreLookup::Unavailable(d::STATE_STORE_NOT_FOUND, format!("{}/{}: not found", r.kind, r.name)));
        };
        let key = StoreKey::new(kind.kind(), &r.name);
        // The store object decides first: a writer of a store deleted a moment ago is not used.
        let status = match kind.kind() {
            Kind::GitStateStore => {
                self.cp.get::<GitStateStore>("", &r.name).await?.map(|s| s.status.unwrap_or_default())
            }
            _ => self.cp.get::<BucketStateStore>("", &r.name).await?.map(|s| s.status.unwrap_or_default()),
        };
        let Some(status) = status else {
            return Ok(StoreLookup::Unavailable(d::STATE_STORE_NOT_FOUND, format!("{key}: not found")));
        };
        Ok(match self.stores.lookup(&key) {
            Some((w, None)) => StoreLookup::Ready(w),
            Some((_, Some(reason))) => {
                StoreLookup::Unavailable(d::STATE_STORE_UNREACHABLE, format!("{key}: unreachable: {reason}"))
            }
            None => match find_condition(&status.conditions, READY) {
                Some(c) if c.reason == s::UNREACHABLE => {
                    StoreLookup::Unavailable(d::STATE_STORE_UNREACHABLE, format!("{key}: unreachable: {}", c.message))
                }
                _ => StoreLookup::Unavailable(d::STATE_STORE_NOT_READY, format!("{key}: not ready")),
            },
        })
    }

    pub(crate) async fn reconcile_destination(&self, name: &str) -> Result<Action> {
        let Some(mut dest) = self.cp.get::<Destination>("", name).await? else {
            return Ok(Action::done());
        };
        let wants_finalizer = dest.spec.cleanup == Cleanup::All;
        if dest.metadata.is_deleting() {
            if !dest.metadata.has_finalizer(DESTINATION_CLEANUP_FINALIZER) {
                return Ok(Action::done());
            }
            if !wants_finalizer {
                // Cleanup was switched to none during deletion: leave without cleaning (§4.4).
                self.modify::<Destination>("", name, |o| o.metadata.remove_finalizer(DESTINATION_CLEANUP_FINALIZER))
                    .await?;
                return Ok(Action::done());
            }
        } else if wants_finalizer != dest.metadata.has_finalizer(DESTINATION_CLEANUP_FINALIZER) {
            let updated = self
                .modify::<Destination>("", name, |o| {
                    if wants_finalizer {
                        o.metadata.add_finalizer(DESTINATION_CLEANUP_FINALIZER)
                    } else {
                        o.metadata.remove_finalizer(DESTINATION_CLEANUP_FINALIZER)
                    }
                })
                .await?;
            match updated {
                Some(u) => dest = u,
                None => return Ok(Action::done()),
            }
        }

        let dir = match StorePath::for_destination(&dest) {
            Ok(dir) => dir,
            Err(e) => {
                // Admission refuses such paths; this guards objects that bypassed it.
                let msg = format!("{}spec.path: {e}", d::WRITE_FAILED_PREFIX);
                self.set_destination_ready(&dest, false, d::STATE_STORE_WRITE_FAILED, &msg).await?;
                return Ok(Action::done());
            }
        };
        let writer = match self.lookup_store(&dest).await? {
            StoreLookup::Ready(w) => w,
            StoreLookup::Unavailable(reason, msg) => {
                self.set_destination_ready(&dest, false, reason, &msg).await?;
                return Ok(Action::requeue(DEFAULT_REQUEUE));
            }
        };
        if dest.metadata.is_deleting() {
            return self.finish_destination_deletion(&dest, &writer, &dir).await;
        }
        let canaries = canary_paths(&dest, &dir);
        if !dest.spec.init_workloads.enabled {
            let ops = canaries.iter().map(|p| Op::Delete { path: p.clone() }).collect();
            self.cp.sync().await?;
            writer.submit(ChangeSet::new(CANARY_WRITER_NAME, ChangeAction::Delete, ops)).await?;
            self.set_destination_ready(&dest, true, d::READY, d::READY_MSG).await?;
            return Ok(Action::done());
        }
        let [ns_path, cm_path] = canaries;
        let ops = vec![
            Op::Put { path: ns_path, content: Blob::from(CANARY_NAMESPACE.as_bytes()) },
            Op::Put { path: cm_path, content: Blob::from(CANARY_CONFIGMAP.as_bytes()) },
        ];
        self.cp.sync().await?;
        match writer.submit(ChangeSet::new(CANARY_WRITER_NAME, ChangeAction::Update, ops)).await {
            Ok(_) => {
                self.set_destination_ready(&dest, true, d::TEST_DOCUMENTS_WRITTEN, d::TEST_DOCUMENTS_WRITTEN_MSG)
                    .await?;
                Ok(Action::done())
            }
            Err(e) => {
                self.note_store_error(&dest, &e);
                let msg = format!("{}{e}", d::WRITE_FAILED_PREFIX);
                self.set_destination_ready(&dest, false, d::STATE_STORE_WRITE_FAILED, &msg).await?;
                Ok(Action::requeue(DEFAULT_REQUEUE))
            }
        }
    }

    /// `cleanup: all` (§4.4): delete every placement on the Destination, wait until their files are gone,
    /// delete the canaries, then let the Destination go.
    async fn finish_destination_deletion(
        &self,
        dest: &Destination,
        writer: &StoreWriter,
        dir: &StorePath,
    ) -> Result<Action> {
        let name = &dest.metadata.name;
        let mut placements = self.cp.list::<WorkPlacement>(None, &[]).await?;
        placements.retain(|p| {
            &p.spec.target_destination_name == name || p.metadata.labels.get(TARGET_DESTINATION_LABEL) == Some(name)
        });
        if !placements.is_empty() {
            for p in placements.iter().filter(|p| !p.metadata.is_deleting()) {
                self.cp.delete::<WorkPlacement>(p.metadata.ns(), &p.metadata.name).await?;
            }
            let msg = format!("waiting for {} workplacement(s) to be cleaned up", placements.len());
            self.set_destination_ready(dest, false, d::DELETING, &msg).await?;
            return Ok(Action::requeue(DEFAULT_REQUEUE));
        }
        let ops = canary_paths(dest, dir).into_iter().map(|path| Op::Delete { path }).collect();
        self.cp.sync().await?;
        writer.submit(ChangeSet::new(CANARY_WRITER_NAME, ChangeAction::Delete, ops)).await?;
        self.modify::<Destination>("", name, |o| o.metadata.remove_finalizer(DESTINATION_CLEANUP_FINALIZER)).await?;
        Ok(Action::done())
    }

    /// Sets the Destination's Ready condition; emits the matching event only when it changed.
    async fn set_destination_ready(&self, dest: &Destination, ready: bool, reason: &str, message: &str) -> Result<()> {
        let generation = dest.metadata.generation;
        let (_, changed) = self
            .modify_status::<Destination>("", &dest.metadata.name, |o, now| {
                let status = o.status.get_or_insert_with(DestinationStatus::default);
                let cond = Condition::new(READY, ConditionStatus::from_bool(ready), reason, message)
                    .with_generation(generation);
                let mut changed = set_condition(&mut status.conditions, cond, now);
                if status.observed_generation != generation {
                    status.observed_generation = generation;
                    changed = true;
                }
                changed
            })
            .await?;
        if changed {
            let about = ObjectRef::cluster(Kind::Destination, &dest.metadata.name);
            let event = if ready {
                Event::normal(d::READY, d::READY_EVENT_MSG)
            } else if reason == d::DELETING {
                Event::normal(d::DELETING, message)
            } else {
                Event::warning(d::NOT_READY, message)
            };
            self.event(&about, event).await;
        }
        Ok(())
    }
}

/// Whether a destination is Ready (for summaries).
pub fn destination_is_ready(dest: &Destination) -> bool {
    dest.status.as_ref().and_then(|s| find_condition(&s.conditions, READY)).is_some_and(Condition::is_true)
}
