//! Bounded gzip decoding with one inflater per thread.
//!
//! A workload file is a few hundred bytes; a fresh decoder for each (its inflate state and read buffer,
//! about 75 KiB to allocate and clear) cost more than inflating the file did, and a rerun decodes every
//! file of every placement. The stream is read as Go's `gzip.Reader` (what Kratix uses) reads it:
//! members one after another, each header checked (extra field, name, comment and header CRC allowed),
//! each trailer's CRC-32 and length checked; anything after a member that is not another member is an
//! error. The output stops growing past `limit`, so a gzip bomb costs at most about `limit` bytes.

use std::cell::RefCell;

use flate2::{Crc, Decompress, FlushDecompress, Status};

const ID: [u8; 2] = [0x1f, 0x8b];
const DEFLATE: u8 = 8;
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;

thread_local! {
    /// Raw deflate (no zlib wrapper): the gzip framing is read here. Reset before each member.
    static INFLATER: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// Why a gzip stream cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GunzipError {
    /// The stream is not valid gzip; the reason, for the user.
    Corrupt(String),
    /// The decoded bytes exceed the limit.
    TooLarge,
}

fn corrupt(reason: impl Into<String>) -> GunzipError {
    GunzipError::Corrupt(reason.into())
}

/// The bytes `stream` (one or more gzip members) decompresses to, refused once more than `limit`.
pub(crate) fn gunzip_limited(mut stream: &[u8], limit: u64) -> Result<Vec<u8>, GunzipError> {
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let guess = stream.len().saturating_mul(4).min(cap);
    let mut out = Vec::with_capacity(guess);
    loop {
        let body = skip_header(stream)?;
        let start = out.len();
        let used = INFLATER.with(|cell| {
            // Only this function borrows it, and it does not call itself while borrowed.
            let mut inflater = cell.borrow_mut();
            inflate_member(&mut inflater, body, &mut out, cap)
        })?;
        let trailer = body.get(used..used + 8).ok_or_else(|| corrupt("unexpected end of file"))?;
        let word = |at: usize| u32::from_le_bytes([trailer[at], trailer[at + 1], trailer[at + 2], trailer[at + 3]]);
        let member = &out[start..];
        let mut crc = Crc::new();
        crc.update(member);
        if crc.sum() != word(0) {
            return Err(corrupt("gzip: invalid checksum"));
        }
        // ISIZE is the length modulo 2^32.
        if (member.len() as u64 & 0xffff_ffff) as u32 != word(4) {
            return Err(corrupt("gzip: invalid length"));
        }
        stream = &body[used + 8..];
        if stream.is_empty() {
            return Ok(out);
        }
    }
}

/// What follows a member's header, once the header is found valid.
fn skip_header(stream: &[u8]) -> Result<&[u8], GunzipError> {
    let header = stream.get(..10).ok_or_else(|| corrupt("gzip: invalid header"))?;
    if header[..2] != ID || header[2] != DEFLATE {
        return Err(corrupt("gzip: invalid header"));
    }
    let flags = header[3];
    let mut at = 10;
    let truncated = || corrupt("unexpected end of file");
    if flags & FEXTRA != 0 {
        let len = stream.get(at..at + 2).ok_or_else(truncated)?;
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = stream.get(at..).ok_or_else(truncated)?;
            at += rest.iter().position(|b| *b == 0).ok_or_else(truncated)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        let sum = stream.get(at..at + 2).ok_or_else(truncated)?;
        let mut crc = Crc::new();
        crc.update(&stream[..at]);
        if (crc.sum() & 0xffff) as u16 != u16::from_le_bytes([sum[0], sum[1]]) {
            return Err(corrupt("gzip: invalid header"));
        }
        at += 2;
    }
    stream.get(at..).ok_or_else(truncated)
}

/// Inflates one member's deflate data onto `out`; how many bytes of `body` it took.
fn inflate_member(d: &mut Decompress, body: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<usize, GunzipError> {
    d.reset(false);
    loop {
        if out.len() > cap {
            return Err(GunzipError::TooLarge);
        }
        if out.len() == out.capacity() {
            // Room up to one byte past the limit: filling it proves the output too large.
            // Doubling, exactly: the capacity never passes that byte.
            let room = cap.saturating_add(1) - out.len();
            out.reserve_exact(out.len().max(4096).min(room));
        }
        let (before_in, before_out) = (d.total_in(), d.total_out());
        let consumed = usize::try_from(before_in).unwrap_or(usize::MAX);
        let input = body.get(consumed..).unwrap_or_default();
        let status = d.decompress_vec(input, out, FlushDecompress::None).map_err(|e| corrupt(e.to_string()))?;
        if out.len() > cap {
            return Err(GunzipError::TooLarge);
        }
        match status {
            Status::StreamEnd => return Ok(usize::try_from(d.total_in()).unwrap_or(usize::MAX)),
            Status::Ok | Status::BufError => {
                if d.total_in() == before_in && d.total_out() == before_out && out.len() < out.capacity() {
                    // No input left to make progress with, and room to write: the data ends early.
                    return Err(corrupt("unexpected end of file"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::read::MultiGzDecoder;
    use flate2::write::GzEncoder;
    use proptest::prelude::*;
    use std::io::{Read, Write};

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    /// flate2's own multi-member reader: the oracle.
    fn oracle(stream: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        MultiGzDecoder::new(stream).read_to_end(&mut out).ok().map(|_| out)
    }

    #[test]
    fn headers_with_every_optional_field_are_read() {
        let mut gz = flate2::GzBuilder::new()
            .filename("cm.yaml")
            .comment("a comment")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), Compression::default());
        gz.write_all(b"kind: ConfigMap\n").unwrap();
        let mut stream = gz.finish().unwrap();
        assert_eq!(gunzip_limited(&stream, 1 << 20).unwrap(), b"kind: ConfigMap\n");
        // The same member with a header CRC, right and wrong.
        let header_end = 10 + 2 + 3 + b"cm.yaml\0".len() + b"a comment\0".len();
        stream[3] |= FHCRC;
        let mut crc = Crc::new();
        crc.update(&stream[..header_end]);
        let sum = (crc.sum() & 0xffff) as u16;
        let mut with_crc = stream[..header_end].to_vec();
        with_crc.extend(sum.to_le_bytes());
        with_crc.extend(&stream[header_end..]);
        assert_eq!(gunzip_limited(&with_crc, 1 << 20).unwrap(), b"kind: ConfigMap\n");
        with_crc[header_end] ^= 1;
        assert_eq!(gunzip_limited(&with_crc, 1 << 20), Err(corrupt("gzip: invalid header")));
    }

    #[test]
    fn damaged_streams_are_refused_with_their_reason() {
        let good = gzip(b"apiVersion: v1\nkind: Namespace\n");
        let n = good.len();
        let flip = |at: usize| {
            let mut s = good.clone();
            s[at] ^= 0x01;
            s
        };
        let mut garbage_after = good.clone();
        garbage_after.extend(b"not gzip");
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("a wrong checksum", flip(n - 8), "gzip: invalid checksum"),
            ("a wrong length", flip(n - 4), "gzip: invalid length"),
            ("a missing trailer", good[..n - 8].to_vec(), "unexpected end of file"),
            ("a short header", good[..5].to_vec(), "gzip: invalid header"),
            ("another compression method", flip(2), "gzip: invalid header"),
            ("garbage after the member", garbage_after, "gzip: invalid header"),
        ];
        for (what, stream, reason) in cases {
            assert_eq!(gunzip_limited(&stream, 1 << 20), Err(corrupt(reason)), "{what}");
        }
    }

    #[test]
    fn the_output_stops_at_the_limit() {
        let big = gzip(&vec![b'a'; 1 << 20]);
        assert_eq!(gunzip_limited(&big, 1 << 20).unwrap().len(), 1 << 20);
        assert_eq!(gunzip_limited(&big, (1 << 20) - 1), Err(GunzipError::TooLarge));
        assert_eq!(gunzip_limited(&gzip(b""), 0).unwrap(), b"");
        assert_eq!(gunzip_limited(&gzip(b"x"), 0), Err(GunzipError::TooLarge));
    }

    proptest! {
        /// Whatever the members hold, the bytes are flate2's (and the reused inflater carries nothing
        /// from one stream to the next).
        #[test]
        fn members_decode_as_flate2_decodes_them(parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 1..4)) {
            let stream: Vec<u8> = parts.iter().flat_map(|p| gzip(p)).collect();
            let want: Vec<u8> = parts.concat();
            prop_assert_eq!(gunzip_limited(&stream, u64::MAX).unwrap(), want.clone());
            prop_assert_eq!(oracle(&stream), Some(want));
        }

        /// Every truncation of a valid stream is refused (or, cut exactly between members, decodes the
        /// members before the cut), never a panic.
        #[test]
        fn truncated_streams_are_refused(data in prop::collection::vec(any::<u8>(), 0..2000), cut in any::<prop::sample::Index>()) {
            let stream = gzip(&data);
            let at = cut.index(stream.len());
            prop_assert!(gunzip_limited(&stream[..at], u64::MAX).is_err());
        }

        /// Arbitrary bytes after the magic never panic, and a result is always within the limit.
        #[test]
        fn arbitrary_bytes_are_decoded_or_refused_within_the_limit(tail in prop::collection::vec(any::<u8>(), 0..200), limit in 0u64..5000) {
            let mut stream = vec![0x1f, 0x8b, 0x08];
            stream.extend(tail);
            if let Ok(out) = gunzip_limited(&stream, limit) {
                prop_assert!(out.len() as u64 <= limit);
            }
        }
    }
}
