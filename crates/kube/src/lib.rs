//! Waybill on Kubernetes: the engine's control-plane port over the Kubernetes API
//! ([`KubeControlPlane`]), so the same reconcilers that run over a directory of manifests run over a
//! cluster's objects (`docs/kubernetes.md`).

mod cache;
pub mod control_plane;
pub mod controller;
pub mod error;
pub mod leader;
pub mod patch;
pub mod resources;

pub use control_plane::KubeControlPlane;
pub use controller::{ControllerOptions, coalescing, run};
pub use error::{KubeError, client};
