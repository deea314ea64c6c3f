//! State stores: the port every backend implements, the Git backend, and the coalescing writer that
//! turns many pending change sets into one revision per round.

pub mod activity;
pub mod bucket;
pub mod error;
pub mod git;
pub mod port;
pub mod writer;

pub use activity::Activity;
pub use error::StoreError;
pub use port::{Applied, Backend, FileChange};
pub use writer::{Coalescing, PendingWrite, StoreWriter, WriterStats};

/// Initialises libgit2 (and its OpenSSL) once; call before starting a multi-threaded runtime.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Any libgit2 call runs its one-time global initialisation.
        let _ = git2::Version::get();
        // SAFETY: these set process-wide libgit2 options; `Once` makes this the only call, and it runs
        // before any remote operation reads them.
        unsafe {
            // A remote that accepts no connection, or stops answering, must not hang a writer.
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(10_000);
            let _ = git2::opts::set_server_timeout_in_milliseconds(60_000);
        }
    });
}
