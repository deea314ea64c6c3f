//! State stores: the port every backend implements, the Git backend, and the coalescing writer that
//! turns many pending change sets into one revision per round.

pub mod activity;
pub mod backoff;
pub mod bucket;
pub mod error;
pub mod from_spec;
pub mod git;
pub mod port;
pub mod writer;

pub use activity::Activity;
pub use error::StoreError;
pub use port::{Applied, Backend, BeforeAfter, FileChange};
pub use writer::{Coalescing, PendingWrite, StoreWriter, WriterStats};

/// How long a Git remote may take to accept a connection, and to answer once connected, when
/// `WAYBILL_GIT_TIMEOUT` (seconds) does not say otherwise.
pub const DEFAULT_GIT_CONNECT_TIMEOUT_MS: i32 = 10_000;
pub const DEFAULT_GIT_TIMEOUT_MS: i32 = 60_000;
/// Most memory libgit2's object cache may hold.
const GIT_CACHE_BYTES: isize = 16 << 20;

/// Initialises libgit2 (and its OpenSSL) once; call before starting a multi-threaded runtime.
///
/// A remote that accepts no connection, or accepts and then never answers (a tarpit), must not hang a
/// writer: connecting is bounded by 10 s and every read by 60 s. `WAYBILL_GIT_TIMEOUT=<seconds>` sets
/// both to one value (shorter for impatient networks, longer for slow ones).
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Any libgit2 call runs its one-time global initialisation.
        let _ = git2::Version::get();
        // Tree entries are checked against the object database on insert unless this is off: the
        // writer puts only blobs it just wrote or found in the tree, so the check only costs reads.
        git2::opts::strict_object_creation(false);
        let from_env = std::env::var("WAYBILL_GIT_TIMEOUT")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|s| *s > 0)
            .map(|s| i32::try_from(u64::from(s) * 1000).unwrap_or(i32::MAX));
        let (connect, read) = match from_env {
            Some(ms) => (ms, ms),
            None => (DEFAULT_GIT_CONNECT_TIMEOUT_MS, DEFAULT_GIT_TIMEOUT_MS),
        };
        // SAFETY: these set process-wide libgit2 options; `Once` makes this the only call, and it runs
        // before any remote operation reads them.
        unsafe {
            // libgit2 keeps up to 256 MiB of objects it read; trees are read once per batch and blobs
            // seldom again, so a small cache costs no speed and bounds memory.
            let _ = git2::opts::set_cache_max_size(GIT_CACHE_BYTES);
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(connect);
            let _ = git2::opts::set_server_timeout_in_milliseconds(read);
        }
        // Every connection libgit2 opens sets TCP_NODELAY (see `git::socket`: without it every push waited about 40 ms).
        if let Err(e) = git::socket::register(connect, read) {
            tracing::warn!("{e}; libgit2's own socket stream is used");
        }
    });
}
