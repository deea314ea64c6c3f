//! Replays every input kept in `fuzz/regressions/<target>/` through the fuzz targets' checks
//! (`waybill_core::fuzzing`), so what fuzzing once found stays fixed. `docs/hostile-inputs.md` says how
//! to fuzz.

use std::path::Path;

fn replay(target: &str, check: Check) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions").join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_file() {
            let data = std::fs::read(&path).expect("a regression input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{} breaks an invariant", path.display());
            count += 1;
        }
    }
    count
}

/// A fuzz target's check.
type Check = fn(&[u8]);

#[test]
fn every_kept_fuzz_input_still_holds() {
    let targets: [(&str, Check); 3] = [
        ("manifest", waybill_core::fuzzing::manifest),
        ("content", waybill_core::fuzzing::content),
        ("layout", waybill_core::fuzzing::layout),
    ];
    for (target, check) in targets {
        assert!(replay(target, check) > 0, "fuzz/regressions/{target} holds no input");
    }
}
