//! Workload content: Kratix's base64-of-gzip encoding, accepted alongside plain text.
//!
//! The rule (spec README): content that is valid standard base64 and decodes to bytes starting with the
//! gzip magic `1f 8b` is Kratix's encoding and must decompress; any other content is the file's text as
//! it stands.

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a workload's content cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to decompress file content: {reason}")]
pub struct ContentError {
    pub reason: String,
}

/// The file bytes a workload's `content` stands for.
pub fn decode(content: &str) -> Result<Vec<u8>, ContentError> {
    let Some(compressed) = kratix_encoded(content) else {
        return Ok(content.as_bytes().to_vec());
    };
    let mut out = Vec::with_capacity(compressed.len() * 3);
    MultiGzDecoder::new(compressed.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| ContentError { reason: e.to_string() })?;
    Ok(out)
}

/// The gzip stream inside `content`, if `content` is Kratix's encoding.
fn kratix_encoded(content: &str) -> Option<Vec<u8>> {
    // Base64 of the two magic bytes always starts with "H4s"; checking first avoids decoding plain text.
    if !content.starts_with("H4s") {
        return None;
    }
    let bytes = STANDARD.decode(content.trim_end_matches(['\n', '\r'])).ok()?;
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
