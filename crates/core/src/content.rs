//! Workload content: Kratix's base64-of-gzip encoding, accepted alongside plain text.
//!
//! The rule (spec README): content that is valid standard base64 and decodes to bytes starting with the
//! gzip magic `1f 8b` is Kratix's encoding and must decompress; any other content is the file's text as
//! it stands.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::gunzip::{GunzipError, gunzip_limited};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a workload's content cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("failed to decompress file content: {0}")]
    Corrupt(String),
    /// The file is larger than the limit (`--max-file-size`), decompressed; decoding stopped there.
    #[error("file content is larger than {} when decompressed (the limit is set by --max-file-size)", human(*.0))]
    TooLarge(u64),
}

/// Largest decoded file accepted when no limit is given: decoding is always bounded.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 20;

/// `1.5 MiB`-style sizes for messages.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{value:.1} {}", UNITS[unit]).replace(".0 ", " ") }
}

/// The file bytes a workload's `content` stands for, at most [`DEFAULT_MAX_FILE_BYTES`] of them.
pub fn decode(content: &str) -> Result<Vec<u8>, ContentError> {
    decode_limited(content, DEFAULT_MAX_FILE_BYTES)
}

/// The file bytes a workload's `content` stands for, refused once they exceed `limit`: decompression
/// streams and stops at the limit, so a gzip bomb costs at most `limit` bytes of memory.
pub fn decode_limited(content: &str, limit: u64) -> Result<Vec<u8>, ContentError> {
    let Some(compressed) = kratix_encoded(content) else {
        if content.len() as u64 > limit {
            return Err(ContentError::TooLarge(limit));
        }
        return Ok(content.as_bytes().to_vec());
    };
    gunzip_limited(&compressed, limit).map_err(|e| match e {
        GunzipError::TooLarge => ContentError::TooLarge(limit),
        GunzipError::Corrupt(reason) => ContentError::Corrupt(reason),
    })
}

/// The gzip stream inside `content`, if `content` is Kratix's encoding. Line breaks are ignored, as Go's
/// base64 decoder ignores them (`gzip -c f | base64` wraps at 76 columns).
fn kratix_encoded(content: &str) -> Option<Vec<u8>> {
    // Base64 of the two magic bytes always starts with "H4s"; checking first avoids decoding plain text.
    if !content.starts_with("H4s") {
        return None;
    }
    let bytes = if content.contains(['\n', '\r']) {
        let joined: String = content.chars().filter(|c| *c != '\n' && *c != '\r').collect();
        STANDARD.decode(joined).ok()?
    } else {
        STANDARD.decode(content).ok()?
    };
    bytes.starts_with(&GZIP_MAGIC).then_some(bytes)
}

/// Kratix's encoding of `bytes`: gzip (default level, no name, zero mtime) then standard base64.
pub fn encode(bytes: &[u8]) -> String {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = gz.write_all(bytes);
    let compressed = gz.finish().unwrap_or_default();
    STANDARD.encode(compressed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_decoded_by_the_kratix_rule() {
        let yaml = "apiVersion: v1\nkind: Namespace\n";
        let cases: Vec<(String, Result<Vec<u8>, ()>)> = vec![
            (encode(yaml.as_bytes()), Ok(yaml.as_bytes().to_vec())),
            (yaml.to_string(), Ok(yaml.as_bytes().to_vec())),
            // Valid base64 that is not gzip is text.
            ("aGVsbG8=".to_string(), Ok(b"aGVsbG8=".to_vec())),
            (String::new(), Ok(Vec::new())),
            // Base64 of the gzip magic followed by garbage is a corrupt stream.
            (STANDARD.encode([0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad]), Err(())),
        ];
        for (content, want) in cases {
            let got = decode(&content).map_err(|_| ());
            assert_eq!(got, want, "decode({content:?})");
        }
    }

    #[test]
    fn base64_wrapped_over_lines_is_decoded_as_go_does() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wrapped-over-several-lines-of-base64\n";
        let encoded = encode(yaml.as_bytes());
        let wrapped: String =
            encoded.as_bytes().chunks(20).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\r\n");
        assert!(wrapped.contains('\n'));
        assert_eq!(decode(&format!("{wrapped}\n")).unwrap(), yaml.as_bytes());
    }

    /// Defect 8 of the trust issue: a 1 MiB gzip bomb standing for 1 GiB stops at the limit.
    #[test]
    fn decompression_stops_at_the_limit() {
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = STANDARD.encode(gz.finish().unwrap());
        assert!(bomb.len() < 2 << 20, "{}", bomb.len());
        assert_eq!(decode_limited(&bomb, 4 << 20), Err(ContentError::TooLarge(4 << 20)));
        let small = encode(b"abc");
        assert_eq!(decode_limited(&small, 3).unwrap(), b"abc");
        assert_eq!(decode_limited(&small, 2), Err(ContentError::TooLarge(2)));
        assert_eq!(decode_limited("plain text", 5), Err(ContentError::TooLarge(5)));
        assert!(
            ContentError::TooLarge(64 << 20).to_string().contains("64 MiB"),
            "{}",
            ContentError::TooLarge(64 << 20)
        );
    }

    #[test]
    fn several_gzip_members_are_one_file() {
        let mut stream = Vec::new();
        for part in [&b"a: 1\n"[..], &b"b: 2\n"[..]] {
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            gz.write_all(part).unwrap();
            stream.extend(gz.finish().unwrap());
        }
        assert_eq!(decode(&STANDARD.encode(stream)).unwrap(), b"a: 1\nb: 2\n");
    }
}
