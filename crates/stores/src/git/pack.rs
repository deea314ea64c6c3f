//! Writing a batch's new objects as one pack, without delta compression.
//!
//! libgit2's pack builder searches every object against ten others for a delta: for a burst of tens
//! of thousands of small files and trees that search costs more than the rest of the commit, and
//! reading the objects back then resolves delta chains. Git itself stores new objects undeltified
//! (loose) until a repack; this pack is the same objects in one file, which `git gc` may repack later.

use std::io::Write;

use git2::{ObjectType, Odb, Oid};

use crate::StoreError;

use super::commit::git_err;

/// Counts and hashes what passes through, for the pack's trailing checksum.
struct Hashing<W: Write> {
    inner: W,
    sha: openssl::sha::Sha1,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The pack type code of an object kind (`OBJ_COMMIT` 1, `OBJ_TREE` 2, `OBJ_BLOB` 3, `OBJ_TAG` 4).
fn type_code(kind: ObjectType) -> Option<u8> {
    match kind {
        ObjectType::Commit => Some(1),
        ObjectType::Tree => Some(2),
        ObjectType::Blob => Some(3),
        ObjectType::Tag => Some(4),
        _ => None,
    }
}

/// An entry's header: type and size, the size in 4 then 7-bit groups, low bits first.
fn entry_header(code: u8, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    let mut byte = (code << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest > 0 {
        out.push(byte | 0x80);
        byte = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(byte);
    out
}

/// Writes `objects` (read from `odb`, duplicates ignored) into `odb` as one pack, indexed on commit.
pub(crate) fn write(odb: &Odb<'_>, objects: &[Oid]) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::Other(format!("failed to write a pack: {e}"));
    let mut seen = std::collections::HashSet::with_capacity(objects.len());
    let objects: Vec<Oid> = objects.iter().copied().filter(|o| seen.insert(*o)).collect();
    let count = u32::try_from(objects.len())
        .map_err(|_| StoreError::Other("failed to write a pack: too many objects".into()))?;
    let mut writer = odb.packwriter().map_err(|e| git_err("write a pack", e))?;
    {
        let hashing = Hashing { inner: &mut writer, sha: openssl::sha::Sha1::new() };
        // The indexer takes large pieces best.
        let mut out = std::io::BufWriter::with_capacity(1 << 20, hashing);
        out.write_all(b"PACK").map_err(io)?;
        out.write_all(&2u32.to_be_bytes()).map_err(io)?;
        out.write_all(&count.to_be_bytes()).map_err(io)?;
        for oid in &objects {
            let object = odb.read(*oid).map_err(|e| git_err("read a new object", e))?;
            let code = type_code(object.kind())
                .ok_or_else(|| StoreError::Other(format!("failed to write a pack: object {oid} has no pack type")))?;
            out.write_all(&entry_header(code, object.len())).map_err(io)?;
            let mut deflate = flate2::write::ZlibEncoder::new(&mut out, flate2::Compression::fast());
            deflate.write_all(object.data()).map_err(io)?;
            deflate.finish().map_err(io)?;
        }
        let hashing = out.into_inner().map_err(|e| io(e.into_error()))?;
        let Hashing { inner, sha } = hashing;
        inner.write_all(&sha.finish()).map_err(io)?;
    }
    writer.commit().map_err(|e| git_err("write a pack", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_headers_carry_type_and_size_as_git_reads_them() {
        // (code, size) -> bytes, from the pack format: 4 size bits in the first byte, then 7 per byte.
        for (code, size, bytes) in [
            (3u8, 0usize, vec![0x30u8]),
            (3, 15, vec![0x3f]),
            (3, 16, vec![0xb0, 0x01]),
            (2, 100, vec![0xa4, 0x06]),
            (1, 1 << 20, vec![0x90, 0x80, 0x80, 0x04]),
        ] {
            assert_eq!(entry_header(code, size), bytes, "type {code}, size {size}");
        }
    }
}
