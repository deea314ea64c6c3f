//! Fuzz target: see `waybill_core::fuzzing::manifest` for the invariant it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waybill_core::fuzzing::manifest(data));
