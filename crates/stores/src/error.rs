//! The stores crate's one error type. Variants are the semantic classes callers act on; backend detail
//! stays inside the message, which never carries credentials.

/// A state store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The repository, branch or bucket does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Credentials were refused or lack write permission.
    #[error("{0}")]
    PermissionDenied(String),
    /// The remote could not be reached (compatibility D10).
    #[error("{0}")]
    Unreachable(String),
    /// Another writer moved the branch and retries were exhausted.
    #[error("{0}")]
    Conflict(String),
    /// Something in the store cannot be interpreted (an unreadable `.kratix` state file, say); only the
    /// change set that needed it fails.
    #[error("{0}")]
    InvalidState(String),
    /// A path the store (or a checkout of it) cannot hold: too long, too deep, or a name Git refuses.
    /// Only the change set holding it fails.
    #[error("{0}")]
    InvalidPath(String),
    /// A change set's [`Op::Unchanged`](waybill_core::changeset::Op::Unchanged) directory no longer has
    /// the id it expected (or the store cannot tell): only that change set fails, and its sender sends
    /// the full change set instead.
    #[error("{0}")]
    Changed(String),
    /// The store's configuration is unusable (a bad URL, a missing key).
    #[error("{0}")]
    Config(String),
    /// The writer task is gone (the store was deleted or replaced while the request waited).
    #[error("failed to reach the state store writer: it was shut down")]
    WriterGone,
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    /// A file of a change set whose encoded content does not decode: it fails its change set alone.
    pub(crate) fn undecodable(path: &waybill_core::layout::StorePath, e: waybill_core::content::ContentError) -> Self {
        StoreError::Other(format!("failed to decode {path}: {e}"))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
