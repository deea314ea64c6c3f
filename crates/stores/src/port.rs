//! The state store port: what a backend (Git, bucket) must do. Convenience lives in the writer.

use async_trait::async_trait;
use waybill_core::changeset::ChangeSet;
use waybill_core::layout::StorePath;

use crate::error::StoreError;

/// The result of applying one batch of change sets as one revision.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The new revision (a commit SHA for Git) when the batch changed something; `None` otherwise.
    pub version: Option<String>,
    /// One entry per change set: whether it changed anything, or why it failed alone (an unreadable
    /// state file, say) while the rest of the batch landed.
    pub outcomes: Vec<Result<bool, StoreError>>,
    /// Objects uploaded and removed (buckets; Git reports 0).
    pub uploads: u64,
    pub removals: u64,
}

/// One change to a file, as `plan` reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileChange {
    Added(String),
    Modified(String),
    Deleted(String),
}

/// A file's content before and after the planned changes (`None`: absent), for `plan --diff`.
pub type BeforeAfter = (Option<Vec<u8>>, Option<Vec<u8>>);

/// A state store backend. Paths are relative to the store's root (its `spec.path`).
#[async_trait]
pub trait Backend: Send + 'static {
    /// Applies the change sets in order as one revision (one commit and push, or one round of uploads).
    async fn apply(&mut self, batch: &[ChangeSet]) -> Result<Applied, StoreError>;
    /// The content of a file, `None` when absent.
    async fn read(&mut self, path: &StorePath) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every file below `dir`, as store-root-relative paths.
    async fn list(&mut self, dir: &StorePath) -> Result<Vec<StorePath>, StoreError>;
    /// Proves that the store accepts writes (compatibility C13), without changing its content.
    async fn check_write_permission(&mut self) -> Result<(), StoreError>;
    /// Files a dry-run backend would have changed so far (empty for a real backend).
    async fn pending_changes(&mut self) -> Result<Vec<FileChange>, StoreError> {
        Ok(Vec::new())
    }

    /// In plan mode, a changed file's content before and after the planned changes (`None`: absent),
    /// for `waybill plan --diff`; `path` is as [`Backend::pending_changes`] names it.
    async fn planned_contents(&mut self, _path: &str) -> Result<BeforeAfter, StoreError> {
        Ok((None, None))
    }

    /// Whether the store gives each directory an id computable from its files alone (Git's tree
    /// ids), so a sender may ask with [`waybill_core::changeset::Op::Unchanged`] whether a directory is
    /// as it left it instead of sending the files again.
    fn keeps_dir_ids(&self) -> bool {
        false
    }

    /// A counter of the requests the backend sends to its server, when it keeps one.
    fn request_counter(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        None
    }
}
