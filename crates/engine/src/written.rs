//! The fingerprint of what a `nestedByMetadata` placement writes, for its [`Written`] record: equal
//! fingerprints mean the same files in the same directory under the same limits, so a rerun can ask
//! the store whether the directory is still as it was left instead of decoding every file again.

use sha2::{Digest, Sha256};
use waybill_core::api::WorkPlacement;
use waybill_core::layout::StorePath;

use crate::engine::ContentLimits;
#[cfg(doc)]
use crate::port::Written;

/// Bumped whenever what a fingerprint covers changes, so records of an older version never match.
const VERSION: &[u8] = b"waybill-written-1";

/// The SHA-256, in hex, of everything that decides what `placement` writes in `dir`: its workloads'
/// paths and encoded content, the directory, and the size limits (a smaller limit may refuse what was
/// written before). Every part is length-prefixed, so no two inputs run into each other.
pub(crate) fn fingerprint(placement: &WorkPlacement, dir: &StorePath, limits: &ContentLimits) -> String {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part(VERSION);
    part(dir.as_str().as_bytes());
    part(&limits.max_file_bytes.to_le_bytes());
    part(&limits.max_work_bytes.to_le_bytes());
    for wl in &placement.spec.workloads {
        part(wl.filepath.as_bytes());
        part(wl.content.as_bytes());
    }
    format!("{:x}", h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::api::{WorkPlacementSpec, Workload};

    fn placement(files: &[(&str, &str)]) -> WorkPlacement {
        let workloads = files.iter().map(|(p, c)| Workload { filepath: p.to_string(), content: (*c).into() }).collect();
        WorkPlacement::new("default", "p", WorkPlacementSpec { workloads, ..Default::default() })
    }

    #[test]
    fn a_fingerprint_changes_with_anything_that_changes_what_is_written() {
        let limits = ContentLimits { max_file_bytes: 100, max_work_bytes: 1000 };
        let dir = StorePath::parse("dest/resources/default/burst/p").unwrap();
        let base = fingerprint(&placement(&[("a.yaml", "AAAA"), ("b.yaml", "BBBB")]), &dir, &limits);
        let other_dir = StorePath::parse("dest/resources/default/burst/q").unwrap();
        let cases: Vec<(&str, String)> = vec![
            ("content", fingerprint(&placement(&[("a.yaml", "AAAB"), ("b.yaml", "BBBB")]), &dir, &limits)),
            ("path", fingerprint(&placement(&[("a.yml", "AAAA"), ("b.yaml", "BBBB")]), &dir, &limits)),
            ("order", fingerprint(&placement(&[("b.yaml", "BBBB"), ("a.yaml", "AAAA")]), &dir, &limits)),
            ("one file fewer", fingerprint(&placement(&[("a.yaml", "AAAA")]), &dir, &limits)),
            ("boundary moved", fingerprint(&placement(&[("a.yamlA", "AAA"), ("b.yaml", "BBBB")]), &dir, &limits)),
            ("directory", fingerprint(&placement(&[("a.yaml", "AAAA"), ("b.yaml", "BBBB")]), &other_dir, &limits)),
            (
                "file limit",
                fingerprint(
                    &placement(&[("a.yaml", "AAAA"), ("b.yaml", "BBBB")]),
                    &dir,
                    &ContentLimits { max_file_bytes: 99, ..limits },
                ),
            ),
            (
                "work limit",
                fingerprint(
                    &placement(&[("a.yaml", "AAAA"), ("b.yaml", "BBBB")]),
                    &dir,
                    &ContentLimits { max_work_bytes: 999, ..limits },
                ),
            ),
        ];
        for (what, fp) in cases {
            assert_ne!(fp, base, "a different {what} gave the same fingerprint");
        }
        let again = fingerprint(&placement(&[("a.yaml", "AAAA"), ("b.yaml", "BBBB")]), &dir, &limits);
        assert_eq!(again, base, "the same placement gave another fingerprint");
        assert_eq!(base.len(), 64);
    }
}
