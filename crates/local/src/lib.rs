//! Embedded mode: Waybill without a cluster. Manifests in a directory are the desired state; a local,
//! crash-safe database is the API server's storage; the same reconcilers as in Kubernetes do the work.

pub mod admission;
mod describe;
pub mod error;
mod index;
pub mod inspect;
pub mod integrity;
pub mod loader;
pub mod manifests;
pub mod objects;
pub mod occupancy;
mod pending;
pub mod persist;
pub mod platform;
pub mod runner;
pub mod settle;
pub mod validate;
pub mod view;
pub mod watch;

pub use error::{LocalError, Result};
pub use inspect::{GetFormat, Inspection};
pub use platform::{Platform, PlatformPaths, stored_status};
pub use runner::{RunOptions, Runner, Signal};
pub use view::StatusView;
