//! The reconciler scenarios of `crates/local/tests/scenarios/`, unchanged, on the Kubernetes control
//! plane: the same files the embedded control plane runs, with the harness of `common/` (the API
//! server stand-in, kube's client and the controllers). One suite, two implementations.

mod common;

#[path = "../../local/tests/scenarios/destination.rs"]
mod destination;
#[path = "../../local/tests/scenarios/placement.rs"]
mod placement;
#[path = "../../local/tests/scenarios/scheduler.rs"]
mod scheduler;
