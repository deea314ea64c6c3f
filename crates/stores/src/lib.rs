//! State stores: the port every backend implements, the Git backend, and the coalescing writer that
//! turns many pending change sets into one revision per round.

pub mod activity;
pub mod error;
pub mod git;
pub mod port;
pub mod writer;

pub use activity::Activity;
pub use error::StoreError;
pub use port::{Applied, Backend, FileChange};
pub use writer::{Coalescing, StoreWriter, WriterStats};

/// Initialises libgit2 (and its OpenSSL) once; call before starting a multi-threaded runtime.
pub fn init() {
    // Any libgit2 call runs its one-time global initialisation.
    let _ = git2::Version::get();
}
