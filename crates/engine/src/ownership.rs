//! The placement reconciler's side of path ownership ([`crate::claims`]): which paths a placement
//! writes, claiming them before its change set is queued, and deleting only what it still owns.

use waybill_core::api::{Destination, FilepathMode, Resource, WorkPlacement};
use waybill_core::changeset::{Action as ChangeAction, ChangeSet, Op};
use waybill_core::conditions::{WRITE_SUCCEEDED, placement as wp};
use waybill_core::labels::{TARGET_DESTINATION_LABEL, WORK_LABEL};
use waybill_core::layout::{self, StorePath};
use waybill_core::meta::find_condition;
use waybill_core::pathrules::shown;
use waybill_stores::{PendingWrite, StoreError, StoreWriter};

use crate::claims::{Existing, InUse};
use crate::engine::Engine;
use crate::error::Result;
use crate::placement::{BuildError, pipeline};
use crate::port::{ControlPlane, Event};

/// The paths `placement` writes on `dest` (its directory, or its flat files and state file); none in
/// `aggregatedYAML` mode, where every placement shares the one file by design. Content is not decoded.
pub(crate) fn claimed_paths(placement: &WorkPlacement, dest: &Destination, dir: &StorePath) -> Vec<StorePath> {
    match dest.spec.filepath.mode {
        FilepathMode::NestedByMetadata => {
            layout::placement_dir(dir, placement, pipeline(placement)).into_iter().collect()
        }
        FilepathMode::None => {
            let mut paths: Vec<StorePath> =
                placement.spec.workloads.iter().filter_map(|w| dir.join_file(&w.filepath).ok()).collect();
            paths.extend(layout::state_file_path(dir, placement));
            paths
        }
        FilepathMode::AggregatedYaml => Vec::new(),
    }
}

fn was_refused(placement: &WorkPlacement) -> bool {
    find_condition(placement.conditions(), WRITE_SUCCEEDED).is_some_and(|c| c.reason == wp::PATH_CONFLICT)
}

impl<C: ControlPlane> Engine<C> {
    /// Builds the Destination's claims from its placements the first time they are needed.
    async fn seed_claims(&self, dest: &Destination, dir: &StorePath) -> Result<()> {
        let name = &dest.metadata.name;
        if self.claims.is_seeded(name) {
            return Ok(());
        }
        let placements = self.cp.list::<WorkPlacement>(None, &[(TARGET_DESTINATION_LABEL, name)]).await?;
        let existing = placements
            .iter()
            .filter(|p| &p.spec.target_destination_name == name)
            .map(|p| Existing {
                placement: p.object_ref(),
                paths: claimed_paths(p, dest, dir),
                deleting: p.metadata.is_deleting(),
                refused: was_refused(p),
                created: p.metadata.creation_timestamp.clone().unwrap_or_default(),
            })
            .collect();
        self.claims.seed(name, existing);
        Ok(())
    }

    /// Claims the placement's paths and queues `changes` under the claim; the caller waits for the
    /// write. A path another live placement owns refuses the write (`PathConflict`); an owner that is
    /// gone or being deleted gives it up.
    pub(crate) async fn claim_and_queue(
        &self,
        placement: &WorkPlacement,
        dest: &Destination,
        dir: &StorePath,
        writer: &StoreWriter,
        changes: ChangeSet,
    ) -> Result<Result<PendingWrite, StoreError>, BuildError> {
        let me = placement.object_ref();
        let dest_name = &dest.metadata.name;
        let paths = claimed_paths(placement, dest, dir);
        self.seed_claims(dest, dir)
            .await
            .map_err(|e| BuildError { reason: wp::FAILED_WRITE, message: e.to_string() })?;
        // Moved into the queue when the claim holds (a refused claim leaves it here for the next try):
        // a parked placement does not keep a second copy of what it queued.
        let mut changes = Some(changes);
        for _ in 0..4 {
            let queue = || changes.take().map(|c| writer.enqueue(c));
            let in_use = match self.claims.claim_then(dest_name, &me, paths.clone(), queue) {
                Ok(Some(queued)) => return Ok(queued),
                // Only a successful claim takes the change set, and it returns at once.
                Ok(None) => break,
                Err(in_use) => in_use,
            };
            let holder = self
                .cp
                .get::<WorkPlacement>(&in_use.holder.namespace, &in_use.holder.name)
                .await
                .map_err(|e| BuildError { reason: wp::FAILED_WRITE, message: e.to_string() })?;
            match holder {
                None => self.claims.forget(dest_name, &in_use.holder),
                Some(h) if h.metadata.is_deleting() => self.claims.mark_deleting(dest_name, &in_use.holder),
                Some(h) => return Err(self.refuse(placement, &h, &in_use).await),
            }
        }
        Err(BuildError {
            reason: wp::FAILED_WRITE,
            message: "failed to claim the placement's paths: they kept changing owner".into(),
        })
    }

    /// The conflict as the refused placement's error, with a warning on the owner the first time.
    async fn refuse(&self, placement: &WorkPlacement, holder: &WorkPlacement, in_use: &InUse) -> BuildError {
        let work = |p: &WorkPlacement| {
            p.metadata.labels.get(WORK_LABEL).map(|w| format!(" (Work {}/{w})", p.metadata.ns())).unwrap_or_default()
        };
        if !was_refused(placement) {
            let msg = format!(
                "WorkPlacement {}/{}{} also writes {}; it writes nothing while this placement owns the path",
                placement.metadata.ns(),
                placement.metadata.name,
                work(placement),
                shown(in_use.path.as_str())
            );
            self.event(&holder.object_ref(), Event::warning(wp::PATH_CONFLICT, msg)).await;
        }
        BuildError {
            reason: wp::PATH_CONFLICT,
            message: format!(
                "path {} is already written by WorkPlacement {}/{}{}; this placement writes nothing until that one is gone",
                shown(in_use.path.as_str()),
                holder.metadata.ns(),
                holder.metadata.name,
                work(holder)
            ),
        }
    }

    /// Deletes what a placement being deleted wrote, leaving what live placements own now (a Work
    /// renamed, say: its new placement owns the directory already).
    pub(crate) async fn delete_owned(
        &self,
        placement: &WorkPlacement,
        dest: &Destination,
        dir: &StorePath,
        writer: &StoreWriter,
    ) -> std::result::Result<Option<String>, StoreError> {
        let me = placement.object_ref();
        let name = placement.metadata.name.as_str();
        let delete = |op: Op| ChangeSet::new(name, ChangeAction::Delete, vec![op]);
        let pending = self.claims.deleting_then(&dest.metadata.name, &me, |owned| match dest.spec.filepath.mode {
            FilepathMode::NestedByMetadata => match layout::placement_dir(dir, placement, pipeline(placement)) {
                Ok(pdir) if !owned.overlaps(&pdir) => Some(writer.enqueue(delete(Op::Delete { path: pdir }))),
                // Nothing can have been written where the directory is invalid, or is another's now.
                _ => None,
            },
            FilepathMode::None => layout::state_file_path(dir, placement).ok().map(|state_file| {
                let keep = owned.below(dir);
                writer.enqueue(delete(Op::DeleteTracked { dir: dir.clone(), state_file, keep }))
            }),
            FilepathMode::AggregatedYaml => None,
        });
        match pending {
            None => Ok(None),
            Some(Ok(p)) => p.wait().await,
            Some(Err(e)) => Err(e),
        }
    }
}
