//! The embedded control plane's one error type. Causes are part of each message and not chained as
//! sources, so a message never repeats itself when printed with its chain.

use std::path::PathBuf;

/// Something the embedded control plane could not do.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("failed to open state database {path}: {cause}")]
    OpenState { path: PathBuf, cause: rusqlite::Error },
    #[error("failed to read state database: {0}")]
    ReadState(rusqlite::Error),
    #[error("failed to write state database: {0}")]
    WriteState(String),
    #[error(
        "refusing state database {path}: {why}. It records what Waybill wrote into each state store; \
         starting afresh would forget it, and files of objects removed later would stay behind. Restore the \
         state directory from a backup, or move it aside to start from empty state (then remove stale files \
         from the state stores by hand)"
    )]
    DamagedState { path: PathBuf, why: String },
    #[error("state directory {0} is in use by another `waybill run`; stop it first")]
    Locked(PathBuf),
    #[error("failed to read {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("platform directory {0} does not exist or is not a directory")]
    NoPlatform(PathBuf),
    #[error("no state in {0}: run `waybill run --platform <dir>` first")]
    NoState(PathBuf),
    #[error("failed to find {0}")]
    NoObject(String),
    #[error("failed to delete WorkPlacement {0}: it does not exist (`waybill status` lists the placements)")]
    NoPlacement(String),
    #[error("failed to watch {path}: {reason}")]
    Watch { path: PathBuf, reason: String },
    #[error(transparent)]
    Engine(#[from] waybill_engine::EngineError),
}

pub type Result<T, E = LocalError> = std::result::Result<T, E>;
