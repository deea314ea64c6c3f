//! Destination reconciler (compatibility C4, C9): finalizer per cleanup policy, canary documents, readiness, and the
//! `cleanup: all` deletion.

use waybill_core::api::{
    BucketStateStore, Cleanup, Destination, DestinationStatus, FilepathMode, GitStateStore, StateStoreRef,
    WorkPlacement, WrittenTo,
};
use waybill_core::canary::{CANARY_CONFIGMAP, CANARY_NAMESPACE, CANARY_WRITER_NAME};
use waybill_core::changeset::{Action as ChangeAction, ChangeSet, Content, Op};
use waybill_core::conditions::{READY, destination as d, store as s};
use waybill_core::labels::{DESTINATION_CLEANUP_FINALIZER, TARGET_DESTINATION_LABEL};
use waybill_core::layout::{self, StorePath, canary_paths};
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
    /// outage shows on the store and its Destinations (compatibility D10).
    pub(crate) fn note_store_error(&self, dest: &Destination, error: &waybill_stores::StoreError) {
        self.note_unreachable(dest.spec.state_store_ref.as_ref(), error);
    }

    /// Like [`Engine::note_store_error`], by the store's reference.
    pub(crate) fn note_unreachable(&self, store: Option<&StateStoreRef>, error: &waybill_stores::StoreError) {
        if let (waybill_stores::StoreError::Unreachable(msg), Some(r)) = (error, store)
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
                // Cleanup was switched to none during deletion: leave without cleaning (compatibility C9).
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
        let here = self.written_to(&dest, &dir).await?;
        let before = dest.status.as_ref().and_then(|s| s.written_to.clone());
        let relocation = match (&before, &here) {
            (Some(before), Some(here)) if before != here => {
                self.claims.forget_destination(&dest.metadata.name);
                self.relocation(&dest, before, &writer).await?
            }
            _ => None,
        };
        let canaries = canary_paths(&dest, &dir);
        let (canary_set, ready_reason, ready_msg) = if dest.spec.init_workloads.enabled {
            let [ns_path, cm_path] = canaries;
            let ops = vec![
                Op::Put { path: ns_path, content: Content::from(CANARY_NAMESPACE.as_bytes()) },
                Op::Put { path: cm_path, content: Content::from(CANARY_CONFIGMAP.as_bytes()) },
            ];
            (
                ChangeSet::new(CANARY_WRITER_NAME, ChangeAction::Update, ops),
                d::TEST_DOCUMENTS_WRITTEN,
                d::TEST_DOCUMENTS_WRITTEN_MSG,
            )
        } else {
            let ops = canaries.iter().map(|p| Op::Delete { path: p.clone() }).collect();
            (ChangeSet::new(CANARY_WRITER_NAME, ChangeAction::Delete, ops), d::READY, d::READY_MSG)
        };
        self.cp.sync().await?;
        // The old tree is queued first: in a batch it goes before anything written at the new place.
        let moving = relocation.map(|(w, set)| w.enqueue(set));
        let canary = writer.enqueue(canary_set);
        // Both are queued already, so waiting for one after the other keeps them in one batch (and this
        // task is parked once at a time, as the activity count expects).
        let moved = match moving {
            Some(p) => async { p?.wait().await }.await.map(|_| ()),
            None => Ok(()),
        };
        let written = async { canary?.wait().await }.await;
        match moved.and(written) {
            Ok(_) => {
                self.set_destination_ready_at(&dest, true, ready_reason, ready_msg, here.as_ref()).await?;
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

    /// Where the Destination writes now: its store, the store's path, its directory.
    async fn written_to(&self, dest: &Destination, dir: &StorePath) -> Result<Option<WrittenTo>> {
        let Some(r) = dest.spec.state_store_ref.clone() else { return Ok(None) };
        let store_path = match r.store_kind().map(|k| k.kind()) {
            Some(Kind::GitStateStore) => self.cp.get::<GitStateStore>("", &r.name).await?.map(|s| s.spec.path),
            Some(Kind::BucketStateStore) => self.cp.get::<BucketStateStore>("", &r.name).await?.map(|s| s.spec.path),
            _ => None,
        };
        let Some(root) = store_path.and_then(|p| StorePath::from_store_path(&p).ok()) else { return Ok(None) };
        Ok(Some(WrittenTo { state_store_ref: r, store_path: root.to_string(), path: dir.to_string() }))
    }

    /// The change set removing what the Destination wrote at its old place (its placements' files and
    /// its canaries), and the writer of the store it was written to; `None` when that store is gone.
    async fn relocation(
        &self,
        dest: &Destination,
        before: &WrittenTo,
        current: &StoreWriter,
    ) -> Result<Option<(StoreWriter, ChangeSet)>> {
        let (Ok(old_root), Ok(old_dir)) = (StorePath::parse(&before.store_path), StorePath::parse(&before.path)) else {
            return Ok(None);
        };
        let same_store = Some(&before.state_store_ref) == dest.spec.state_store_ref.as_ref();
        let writer = match before.state_store_ref.store_kind() {
            _ if same_store => Some(current.clone()),
            Some(kind) => self.stores.get(&StoreKey::new(kind.kind(), &before.state_store_ref.name)),
            None => None,
        };
        let old_place = old_dir.under(&old_root);
        let Some(writer) = writer else {
            let msg = format!(
                "the files written at {} of {}/{} were left there: that store is gone",
                old_place, before.state_store_ref.kind, before.state_store_ref.name
            );
            self.event(
                &ObjectRef::cluster(Kind::Destination, &dest.metadata.name),
                Event::warning("MoveIncomplete", msg),
            )
            .await;
            return Ok(None);
        };
        let name = &dest.metadata.name;
        // By spec rather than by label: placements made by hand carry no scheduler labels (a move is rare).
        let mut placements = self.cp.list::<WorkPlacement>(None, &[]).await?;
        placements.retain(|p| &p.spec.target_destination_name == name);
        let mut ops: Vec<Op> = canary_paths(dest, &old_dir).into_iter().map(|path| Op::Delete { path }).collect();
        match dest.spec.filepath.mode {
            FilepathMode::NestedByMetadata => ops.extend(placements.iter().filter_map(|p| {
                layout::placement_dir(&old_dir, p, crate::placement::pipeline(p)).ok().map(|path| Op::Delete { path })
            })),
            FilepathMode::None => ops.extend(placements.iter().filter_map(|p| {
                layout::state_file_path(&old_dir, p).ok().map(|state_file| Op::DeleteTracked {
                    dir: old_dir.clone(),
                    state_file,
                    keep: Vec::new(),
                })
            })),
            FilepathMode::AggregatedYaml => {
                ops.extend(layout::aggregate_path(dest, &old_dir).ok().map(|path| Op::Delete { path }))
            }
        }
        tracing::info!(destination = %name, from = %old_place, "moving the Destination's files");
        let set = ChangeSet::new(
            format!("{name} (moved from {})", if old_place.is_root() { "." } else { old_place.as_str() }),
            ChangeAction::Delete,
            ops,
        );
        Ok(Some((writer, set.under_root(old_root))))
    }

    /// `cleanup: all` (compatibility C9): delete every placement on the Destination, wait until their files
    /// are gone, delete the canaries, then let the Destination go.
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
        self.set_destination_ready_at(dest, ready, reason, message, None).await
    }

    /// Like [`Engine::set_destination_ready`], also recording where the Destination's files now are.
    async fn set_destination_ready_at(
        &self,
        dest: &Destination,
        ready: bool,
        reason: &str,
        message: &str,
        written_to: Option<&WrittenTo>,
    ) -> Result<()> {
        let generation = dest.metadata.generation;
        let mut condition_changed = false;
        let (_, changed) = self
            .modify_status::<Destination>("", &dest.metadata.name, |o, now| {
                let status = o.status.get_or_insert_with(DestinationStatus::default);
                let cond = Condition::new(READY, ConditionStatus::from_bool(ready), reason, message)
                    .with_generation(generation);
                let mut changed = set_condition(&mut status.conditions, cond, now);
                condition_changed = changed;
                if status.observed_generation != generation {
                    status.observed_generation = generation;
                    changed = true;
                }
                if let Some(w) = written_to
                    && status.written_to.as_ref() != Some(w)
                {
                    status.written_to = Some(w.clone());
                    changed = true;
                }
                changed
            })
            .await?;
        if changed && condition_changed {
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
