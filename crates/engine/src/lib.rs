//! Waybill's reconcilers, written once against a small control-plane port ([`port::ControlPlane`]) and
//! the state store writers, so the embedded control plane and a Kubernetes one run the same code.

pub mod action;
mod aggregate;
mod claims;
#[cfg(feature = "conformance")]
pub mod conformance;
mod destination;
pub mod engine;
pub mod error;
pub mod metrics;
mod ownership;
mod placement;
pub mod port;
pub mod registry;
mod statestore;
pub mod triggers;
mod work;
mod written;

pub use action::Action;
pub use destination::destination_is_ready;
pub use engine::{ContentLimits, Engine, EngineConfig};
pub use error::EngineError;
pub use port::{ControlPlane, CpError, Event, EventType, Written};
