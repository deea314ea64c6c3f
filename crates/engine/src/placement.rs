//! WorkPlacement reconciler (compatibility C12): write a placement's files in its Destination's layout, report
//! the write, and remove the files when the placement goes.

use waybill_core::ObjectRef;
use waybill_core::api::{Destination, FilepathMode, Resource, WorkPlacement, WorkPlacementStatus};
use waybill_core::changeset::{Action as ChangeAction, Blob, ChangeSet, Content, Op};
use waybill_core::conditions::placement as wp;
use waybill_core::content::{self, ContentError};
use waybill_core::labels::{DOT_FILES_CLEANUP_FINALIZER, PIPELINE_NAME_LABEL, REPO_CLEANUP_FINALIZER};
use waybill_core::layout::{self, StorePath};
use waybill_core::pathrules::shown;
use waybill_core::status;
use waybill_stores::StoreWriter;

use crate::action::{Action, DEFAULT_REQUEUE};
use crate::destination::StoreLookup;
use crate::engine::{ContentLimits, Engine};
use crate::error::Result;
use crate::port::{ControlPlane, Event, Written};

/// What recording a placement's write needs, kept instead of the placement and its Destination while
/// the write waits for its commit.
struct WriteContext {
    placement: ObjectRef,
    generation: i64,
    destination: String,
    store: Option<waybill_core::api::StateStoreRef>,
    /// Kratix's labels of the write metric.
    promise: String,
    resource: String,
    pipeline: String,
    /// How the queued change set uses the placement's [`Written`] record.
    memo: Memo,
}

/// How a placement's change set uses its [`Written`] record.
enum Memo {
    /// The files were sent; once they landed, the directory's record is this (`None`: none to keep).
    Record(Option<Written>),
    /// Only [`Op::Unchanged`] was sent: a "changed" answer means the files must be sent after all.
    Expecting,
}

/// How far [`Engine::prepare_placement_write`] got.
enum Prepared {
    /// Nothing to write now; the reconcile's outcome.
    Done(Action),
    /// The change set is queued on the writer: the commit is to be waited for.
    Queued(WriteContext, waybill_stores::PendingWrite),
    /// The write is over (or could not be built).
    Written(WriteContext, std::result::Result<Option<String>, BuildError>),
}

/// Why a placement's change set could not be built; the reason becomes its `WriteSucceeded` reason.
pub(crate) struct BuildError {
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

impl BuildError {
    fn path(e: impl std::fmt::Display) -> Self {
        BuildError { reason: wp::INVALID_PATH, message: format!("invalid workload path: {e}") }
    }

    fn store(e: &waybill_stores::StoreError) -> Self {
        match e {
            waybill_stores::StoreError::InvalidPath(msg) => BuildError::path(msg),
            other => BuildError { reason: wp::FAILED_WRITE, message: other.to_string() },
        }
    }
}

/// One file of a placement, decoded: its bytes (to hash or aggregate now) and its content as a change set
/// carries it (the Work's own text while it is encoded, decoded again by the writer).
struct Decoded {
    path: StorePath,
    bytes: Vec<u8>,
    content: Content,
}

/// The decoded files of a placement, each at its path below `dir`, within the size limits: each file
/// at most `limits.max_file_bytes`, all of them together at most `limits.max_work_bytes`.
fn decoded_files(
    placement: &WorkPlacement,
    dir: &StorePath,
    limits: &ContentLimits,
) -> Result<Vec<Decoded>, BuildError> {
    let mut files = Vec::with_capacity(placement.spec.workloads.len());
    let mut total: u64 = 0;
    for wl in &placement.spec.workloads {
        let path = dir.join_file(&wl.filepath).map_err(BuildError::path)?;
        let remaining = limits.max_work_bytes.saturating_sub(total);
        let limit = limits.max_file_bytes.min(remaining);
        let bytes = content::decode_limited(&wl.content, limit).map_err(|e| {
            let message = match e {
                ContentError::TooLarge(_) if remaining < limits.max_file_bytes => format!(
                    "unable to decode content of {}: the files of this workload group are larger than {} when \
                     decompressed (the limit is set by --max-work-size)",
                    shown(&wl.filepath),
                    content::human(limits.max_work_bytes)
                ),
                e => format!("unable to decode content of {}: {e}", shown(&wl.filepath)),
            };
            BuildError { reason: wp::INVALID_CONTENT, message }
        })?;
        total += bytes.len() as u64;
        // Plain text is its own bytes: shared, not copied. Encoded text decodes to the same bytes under
        // the same limit when the writer needs them.
        let content = if bytes == wl.content.as_bytes() {
            Content::Bytes(Blob::from(wl.content.clone()))
        } else {
            Content::Encoded { text: wl.content.clone(), limit }
        };
        files.push(Decoded { path, bytes, content });
    }
    Ok(files)
}

/// Refuses paths that overlap what the Destination keeps for itself (canaries, state files).
fn check_reserved<'a>(
    dest: &Destination,
    dir: &StorePath,
    paths: impl IntoIterator<Item = &'a StorePath>,
) -> Result<(), BuildError> {
    let reserved = layout::reserved_paths(dest, dir);
    paths.into_iter().try_for_each(|p| layout::check_not_reserved(p, &reserved).map_err(BuildError::path))
}

pub(crate) fn pipeline(placement: &WorkPlacement) -> &str {
    placement.metadata.labels.get(PIPELINE_NAME_LABEL).map(String::as_str).unwrap_or("")
}

fn required_finalizers(dest: &Destination) -> Vec<&'static str> {
    let mut f = vec![REPO_CLEANUP_FINALIZER];
    if dest.spec.filepath.mode == FilepathMode::None {
        f.push(DOT_FILES_CLEANUP_FINALIZER);
    }
    f
}

impl<C: ControlPlane> Engine<C> {
    pub(crate) async fn reconcile_placement(&self, namespace: &str, name: &str) -> Result<Action> {
        // Preparing holds the placement and its Destination; waiting for the commit holds only what
        // recording the outcome needs. Boxed apart, each of a burst's thousands of reconciles parked
        // on a writer costs the small future, not the preparation's.
        let mut fresh = false;
        loop {
            let (about, written) = match Box::pin(self.prepare_placement_write(namespace, name, fresh)).await? {
                Prepared::Done(action) => return Ok(action),
                Prepared::Written(about, written) => (about, written),
                Prepared::Queued(about, pending) => match (pending.wait().await, &about.memo) {
                    (Err(waybill_stores::StoreError::Changed(why)), Memo::Expecting) if !fresh => {
                        // The directory is not as this placement left it: send the files after all.
                        tracing::debug!(placement = %about.placement, %why, "directory changed, writing it again");
                        self.cp.record_written(&about.placement, None);
                        fresh = true;
                        continue;
                    }
                    (Ok(version), memo) => {
                        if let Memo::Record(Some(written)) = memo {
                            self.cp.record_written(&about.placement, Some(written.clone()));
                        }
                        (about, Ok(version))
                    }
                    (Err(e), _) => {
                        self.note_unreachable(about.store.as_ref(), &e);
                        (about, Err(BuildError::store(&e)))
                    }
                },
            };
            return Box::pin(self.record_write(&about, written)).await;
        }
    }

    /// Everything of a placement's reconcile up to its write: queued (to be waited for), already
    /// written (an aggregate, a build error), or done without a write.
    /// `fresh`: send the files even where the placement's [`Written`] record says they are in place.
    async fn prepare_placement_write(&self, namespace: &str, name: &str, fresh: bool) -> Result<Prepared> {
        let Some(placement) = self.cp.get::<WorkPlacement>(namespace, name).await? else {
            return Ok(Prepared::Done(Action::done()));
        };
        let Some(dest) = self.cp.get::<Destination>("", &placement.spec.target_destination_name).await? else {
            if placement.metadata.is_deleting() {
                // Nothing to clean where no Destination says where the files are.
                self.modify::<WorkPlacement>(namespace, name, |p| {
                    p.metadata.remove_finalizer(REPO_CLEANUP_FINALIZER)
                        | p.metadata.remove_finalizer(DOT_FILES_CLEANUP_FINALIZER)
                })
                .await?;
            }
            return Ok(Prepared::Done(Action::done()));
        };
        let writer = match self.lookup_store(&dest).await? {
            StoreLookup::Ready(w) => w,
            StoreLookup::Unavailable(..) => {
                tracing::debug!(placement = %placement.object_ref(), "repository not initialised, requeuing");
                return Ok(Prepared::Done(Action::requeue(DEFAULT_REQUEUE)));
            }
        };
        let dir = match StorePath::for_destination(&dest) {
            Ok(dir) => dir,
            Err(e) => {
                if placement.metadata.is_deleting() {
                    // Nothing was ever written under a path that is not valid: holding the finalizers
                    // would only keep the placement (and its Work) from being deleted.
                    self.modify::<WorkPlacement>(namespace, name, |p| {
                        p.metadata.remove_finalizer(REPO_CLEANUP_FINALIZER)
                            | p.metadata.remove_finalizer(DOT_FILES_CLEANUP_FINALIZER)
                    })
                    .await?;
                    let msg = format!(
                        "Destination {:?} has an invalid spec.path ({e}); the placement is released without \
                         removing files",
                        dest.metadata.name
                    );
                    self.event(&placement.object_ref(), Event::warning("FailedDelete", msg)).await;
                }
                return Ok(Prepared::Done(Action::done()));
            }
        };
        if placement.metadata.is_deleting() {
            return self.delete_placement_files(&placement, &dest, &dir, &writer).await.map(Prepared::Done);
        }
        let missing: Vec<&str> =
            required_finalizers(&dest).into_iter().filter(|f| !placement.metadata.has_finalizer(f)).collect();
        let placement = if missing.is_empty() {
            placement
        } else {
            match self
                .modify::<WorkPlacement>(namespace, name, |p| {
                    missing.iter().fold(false, |acc, f| p.metadata.add_finalizer(f) | acc)
                })
                .await?
            {
                Some(p) if !p.metadata.is_deleting() => p,
                _ => return Ok(Prepared::Done(Action::requeue(crate::action::FAST_REQUEUE))),
            }
        };

        let mut about = WriteContext {
            placement: placement.object_ref(),
            generation: placement.metadata.generation,
            destination: dest.metadata.name.clone(),
            store: dest.spec.state_store_ref.clone(),
            promise: placement.spec.promise_name.clone(),
            resource: placement.spec.resource_name.clone(),
            pipeline: placement.metadata.labels.get(PIPELINE_NAME_LABEL).cloned().unwrap_or_default(),
            memo: Memo::Record(None),
        };
        let written = match self.placement_changes(&placement, &dest, &dir, &writer, fresh) {
            Err(e) => Err(e),
            Ok(changes) => {
                self.cp.sync().await?;
                match changes {
                    Some((changes, memo)) => {
                        about.memo = memo;
                        match self.claim_and_queue(&placement, &dest, &dir, &writer, changes).await {
                            Ok(Ok(pending)) => return Ok(Prepared::Queued(about, pending)),
                            Ok(Err(e)) => {
                                self.note_unreachable(about.store.as_ref(), &e);
                                Err(BuildError::store(&e))
                            }
                            Err(e) => Err(e),
                        }
                    }
                    None => self.write_aggregate(&dest, &dir, &writer, &placement, None).await.map_err(|e| {
                        self.note_store_error(&dest, &e);
                        BuildError::store(&e)
                    }),
                }
            }
        };
        Ok(Prepared::Written(about, written))
    }

    /// The change set of a nestedByMetadata or none placement, and how it uses the placement's
    /// [`Written`] record; `None` for aggregatedYAML, which is written through the Destination's
    /// aggregate gate. Unless `fresh`, a placement whose record matches sends only [`Op::Unchanged`].
    fn placement_changes(
        &self,
        placement: &WorkPlacement,
        dest: &Destination,
        dir: &StorePath,
        writer: &StoreWriter,
        fresh: bool,
    ) -> Result<Option<(ChangeSet, Memo)>, BuildError> {
        let name = placement.metadata.name.clone();
        let limits = &self.config.limits;
        let (ops, memo) = match dest.spec.filepath.mode {
            FilepathMode::NestedByMetadata => {
                let pdir = layout::placement_dir(dir, placement, pipeline(placement)).map_err(BuildError::path)?;
                check_reserved(dest, dir, [&pdir])?;
                let fingerprint = crate::written::fingerprint(placement, &pdir, limits);
                match self.cp.written(&placement.object_ref()) {
                    Some(w) if !fresh && w.fingerprint == fingerprint => {
                        (vec![Op::Unchanged { dir: pdir, id: w.id }], Memo::Expecting)
                    }
                    _ => {
                        self.decoded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let decoded = decoded_files(placement, &pdir, limits)?;
                        let record = writer
                            .dir_id(&pdir, decoded.iter().map(|f| (&f.path, f.bytes.as_slice())))
                            .map(|id| Written { fingerprint, id });
                        let files = decoded.into_iter().map(|f| (f.path, f.content)).collect();
                        (vec![Op::ReplaceDir { dir: pdir, files }], Memo::Record(record))
                    }
                }
            }
            FilepathMode::None => {
                let files: Vec<(StorePath, Content)> =
                    decoded_files(placement, dir, limits)?.into_iter().map(|f| (f.path, f.content)).collect();
                check_reserved(dest, dir, files.iter().map(|(p, _)| p))?;
                let state_file = layout::state_file_path(dir, placement).map_err(BuildError::path)?;
                let slash = dest.spec.path.as_deref().is_some_and(|path| path.starts_with('/'));
                (vec![Op::PutTracked { dir: dir.clone(), state_file, files, slash }], Memo::Record(None))
            }
            FilepathMode::AggregatedYaml => {
                decoded_files(placement, &StorePath::root(), limits)?;
                return Ok(None);
            }
        };
        Ok(Some((ChangeSet::new(name, ChangeAction::Update, ops), memo)))
    }

    /// Rewrites the Destination's aggregate from all its active placements (compatibility C7), `excluding` one
    /// being deleted; deletes the file when nothing remains.
    async fn write_aggregate(
        &self,
        dest: &Destination,
        dir: &StorePath,
        writer: &StoreWriter,
        placement: &WorkPlacement,
        excluding: Option<&str>,
    ) -> Result<Option<String>, waybill_stores::StoreError> {
        let path = layout::aggregate_path(dest, dir)
            .map_err(|e| waybill_stores::StoreError::Config(format!("spec.filepath.filename: {e}")))?;
        let dest_name = dest.metadata.name.clone();
        let writer_name = placement.metadata.name.clone();
        self.aggregates
            .write(&self.config.coalescing.activity, &dest_name, || async {
                // By spec rather than by label: placements made by hand carry no scheduler labels.
                let mut all = self.cp.list::<WorkPlacement>(None, &[]).await.map_err(|e| {
                    waybill_stores::StoreError::Other(format!("failed to get all workplacements for destination: {e}"))
                })?;
                all.retain(|p| {
                    p.spec.target_destination_name == dest_name
                        && !p.metadata.is_deleting()
                        && Some(p.metadata.name.as_str()) != excluding
                });
                all.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
                let mut docs: Vec<Vec<u8>> = Vec::new();
                for p in &all {
                    // A placement whose content cannot be decoded fails on its own; it is left out here.
                    if let Ok(files) = decoded_files(p, &StorePath::root(), &self.config.limits) {
                        docs.extend(files.into_iter().map(|f| f.bytes));
                    }
                }
                let (action, op) = if docs.is_empty() {
                    (ChangeAction::Delete, Op::Delete { path: path.clone() })
                } else {
                    (
                        ChangeAction::Update,
                        Op::Put { path: path.clone(), content: Content::from(docs.join(&b"\n---\n"[..])) },
                    )
                };
                writer.submit(ChangeSet::new(writer_name.clone(), action, vec![op])).await
            })
            .await
    }

    /// Records the outcome of a write in the placement's status, with an event when it changed.
    async fn record_write(&self, about: &WriteContext, result: Result<Option<String>, BuildError>) -> Result<Action> {
        let key = about.placement.clone();
        let (ns, name) = (about.placement.namespace.as_str(), about.placement.name.as_str());
        let generation = about.generation;
        let (promise, resource, pipeline) = (&about.promise, &about.resource, &about.pipeline);
        self.metrics.write(result.is_ok(), promise, resource, &about.destination, pipeline);
        match result {
            Ok(version) => {
                let version = {
                    // A poisoned map is still a valid map.
                    let mut cache = self.versions.lock().unwrap_or_else(|e| e.into_inner());
                    match version {
                        Some(v) => {
                            cache.insert(key.clone(), v.clone());
                            Some(v)
                        }
                        None => cache.get(&key).cloned(),
                    }
                };
                let (_, changed) = self
                    .modify_status::<WorkPlacement>(ns, name, |p, now| {
                        let st = p.status.get_or_insert_with(WorkPlacementStatus::default);
                        let mut changed = status::set_placement_written(&mut st.conditions, generation, now);
                        if let Some(v) = &version
                            && st.version_id != *v
                        {
                            st.version_id = v.clone();
                            changed = true;
                        }
                        if st.observed_generation != generation {
                            st.observed_generation = generation;
                            changed = true;
                        }
                        changed
                    })
                    .await?;
                self.versions.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
                if changed {
                    let dest_name = &about.destination;
                    let msg = match &version {
                        Some(v) => format!("successfully written to Destination: {dest_name} with versionID: {v}"),
                        None => format!("successfully written to Destination: {dest_name}"),
                    };
                    self.event(&key, Event::normal(wp::WRITTEN, msg)).await;
                }
                Ok(self.config.resync_interval.map(Action::requeue).unwrap_or_default())
            }
            Err(e) => {
                let (_, changed) = self
                    .modify_status::<WorkPlacement>(ns, name, |p, now| {
                        let st = p.status.get_or_insert_with(WorkPlacementStatus::default);
                        status::set_placement_failed(&mut st.conditions, e.reason, &e.message, generation, now)
                    })
                    .await?;
                if changed {
                    let msg = format!(
                        "error writing to destination; check kubectl get destination for more info: {}",
                        e.message
                    );
                    self.event(&key, Event::warning("FailedWriteToDestination", msg)).await;
                }
                Ok(Action::requeue(DEFAULT_REQUEUE))
            }
        }
    }

    /// Placement deletion (compatibility C12): remove what the placement wrote, then its finalizers.
    async fn delete_placement_files(
        &self,
        placement: &WorkPlacement,
        dest: &Destination,
        dir: &StorePath,
        writer: &StoreWriter,
    ) -> Result<Action> {
        let (ns, name) = (placement.metadata.ns(), placement.metadata.name.as_str());
        if placement.metadata.has_finalizer(REPO_CLEANUP_FINALIZER)
            || placement.metadata.has_finalizer(DOT_FILES_CLEANUP_FINALIZER)
        {
            self.cp.sync().await?;
            let result = match dest.spec.filepath.mode {
                FilepathMode::AggregatedYaml => self.write_aggregate(dest, dir, writer, placement, Some(name)).await,
                _ => self.delete_owned(placement, dest, dir, writer).await,
            };
            if let Err(e) = result {
                let msg = format!("failed to delete files from repository: {e}");
                self.event(&placement.object_ref(), Event::warning("FailedDeleteFilesFromRepository", msg)).await;
                return Ok(Action::requeue(DEFAULT_REQUEUE));
            }
        }
        self.modify::<WorkPlacement>(ns, name, |p| {
            p.metadata.remove_finalizer(REPO_CLEANUP_FINALIZER)
                | p.metadata.remove_finalizer(DOT_FILES_CLEANUP_FINALIZER)
        })
        .await?;
        self.claims.forget(&dest.metadata.name, &placement.object_ref());
        self.cp.record_written(&placement.object_ref(), None);
        Ok(Action::done())
    }
}
