//! The engine's one error type.

use waybill_stores::StoreError;

use crate::port::CpError;

/// A reconcile failed in a way the runner should retry with backoff.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    ControlPlane(#[from] CpError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("failed to delete workplacements: {0}")]
    DeletePlacements(String),
    #[error("failed to schedule: {0}")]
    Scheduling(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
