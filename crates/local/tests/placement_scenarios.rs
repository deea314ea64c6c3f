//! The Work and WorkPlacement controllers scenarios on the embedded control plane; `crates/kube/tests/reconciler_scenarios.rs`
//! runs the same file on the Kubernetes one.

mod common;
#[path = "scenarios/placement.rs"]
mod scenarios;
