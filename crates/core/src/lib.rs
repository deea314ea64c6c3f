//! Waybill's pure core: Kratix-compatible API types and every decision that needs no I/O.
//!
//! The reconcilers fetch objects, call into this crate to decide (schedule, lay out, compute status),
//! then apply the result through their ports. Nothing here touches the network, the disk or the clock,
//! except [`meta::now_rfc3339`] which callers pass in.

pub mod api;
pub mod canary;
pub mod changeset;
pub mod conditions;
pub mod content;
pub mod crd;
pub mod fuzzing;
pub mod gopath;
mod gunzip;
pub mod kind;
pub mod labels;
pub mod layout;
pub mod located;
pub mod manifest;
pub mod meta;
pub mod names;
pub mod owned;
pub mod pathrules;
pub mod scheduling;
pub mod selector;
pub mod small_map;
pub mod statefile;
pub mod status;
pub mod validation;

pub use api::{AnyObject, Resource};
pub use kind::{Kind, ObjectRef};
