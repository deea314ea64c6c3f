//! The checks the fuzz targets (`fuzz/`) run, kept here so the inputs they found are replayed by the
//! ordinary test suite (`crates/core/tests/fuzz_regressions.rs`). Each takes arbitrary bytes and
//! panics only when an invariant breaks.

use crate::api::{Destination, DestinationSpec, FilepathMode, FilepathSpec, WorkPlacement, WorkPlacementSpec};
use crate::content;
use crate::layout::{self, StorePath};
use crate::manifest;
use crate::pathrules;

/// Manifest parsing never panics, and every problem is one line.
pub fn manifest(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for doc in manifest::parse(&text) {
        if let Err(errors) = doc.result {
            for e in errors {
                assert!(!e.to_string().contains('\n'), "a problem spans lines: {e}");
            }
        }
    }
}

/// Content decoding never panics and never returns more than its limit.
pub fn content(data: &[u8]) {
    const LIMIT: u64 = 1 << 20;
    let text = String::from_utf8_lossy(data);
    if let Ok(bytes) = content::decode_limited(&text, LIMIT) {
        assert!(bytes.len() as u64 <= LIMIT);
    }
    // Kratix's own encoding of any bytes decodes back to them.
    if data.len() as u64 <= LIMIT {
        let encoded = content::encode(data);
        assert_eq!(content::decode_limited(&encoded, LIMIT).as_deref(), Ok(data));
    }
}

/// Whatever a Destination path, a placement's fields and a workload path say, a path the layout
/// accepts stays inside its Destination's directory, never names `.git`, and never overlaps the
/// canaries or state files. Fields are separated by NUL bytes in `data`.
pub fn layout(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\0');
    let mut next = || fields.next().unwrap_or("").to_string();
    let (dest_path, namespace, promise, resource, id, pipeline, filepath) =
        (next(), next(), next(), next(), next(), next(), next());
    for mode in [FilepathMode::NestedByMetadata, FilepathMode::None] {
        let dest = Destination::new(
            "d",
            DestinationSpec {
                path: Some(dest_path.clone()),
                filepath: FilepathSpec { mode, filename: String::new() },
                ..Default::default()
            },
        );
        let Ok(dir) = StorePath::for_destination(&dest) else { continue };
        check_clean(&dir);
        let mut wp = WorkPlacement::new(
            &namespace,
            "wp",
            WorkPlacementSpec {
                promise_name: promise.clone(),
                resource_name: resource.clone(),
                id: id.clone(),
                ..Default::default()
            },
        );
        wp.metadata.namespace = Some(namespace.clone());
        let base = match mode {
            FilepathMode::NestedByMetadata => match layout::placement_dir(&dir, &wp, &pipeline) {
                Ok(pdir) => pdir,
                Err(_) => continue,
            },
            _ => dir.clone(),
        };
        assert!(dir.contains(&base), "{base} left {dir}");
        check_clean(&base);
        if let Ok(file) = base.join_file(&filepath) {
            assert!(base.contains(&file) && file != base, "{file} left {base}");
            check_clean(&file);
            let reserved = layout::reserved_paths(&dest, &dir);
            if layout::check_not_reserved(&file, &reserved).is_ok() {
                assert!(reserved.iter().all(|r| !r.overlaps(&file)));
            }
        }
    }
}

fn check_clean(path: &StorePath) {
    for component in path.as_str().split('/').filter(|c| !c.is_empty()) {
        assert!(component != "." && component != "..", "{path} is not clean");
        assert!(!pathrules::is_dot_git(component), "{path} names .git");
    }
    assert!(!path.as_str().starts_with('/') && !path.as_str().contains("//"), "{path} is not relative and clean");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_checks_accept_ordinary_inputs() {
        super::manifest(b"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n");
        super::content(b"plain text");
        super::layout(b"dev\0default\0redis\0r\x005058f1af\0configure\0a/b.yaml");
        super::layout(b"../x\0ns\0..\0..\0../..x\0..\0../../etc/passwd");
    }
}
