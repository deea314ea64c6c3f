//! The two canary documents a Destination writes to prove its state store is writable (compatibility C4).

pub const CANARY_NAMESPACE_FILE: &str = "kratix-canary-namespace.yaml";
pub const CANARY_CONFIGMAP_FILE: &str = "kratix-canary-configmap.yaml";
/// Pseudo placement name used in commit messages for canary writes.
pub const CANARY_WRITER_NAME: &str = "kratix-canary";

/// `kratix-canary-namespace.yaml`, byte for byte.
pub const CANARY_NAMESPACE: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: kratix-worker-system
spec: {}
status: {}
";

/// `kratix-canary-configmap.yaml`, byte for byte.
pub const CANARY_CONFIGMAP: &str = "apiVersion: v1
data:
  canary: this confirms your infrastructure is reading from Kratix state stores
kind: ConfigMap
metadata:
  name: kratix-info
  namespace: kratix-worker-system
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_are_byte_exact_copies_of_the_reference() {
        for canary in [CANARY_NAMESPACE, CANARY_CONFIGMAP] {
            assert!(canary.ends_with('\n') && !canary.ends_with("\n\n"));
        }
        // SHA-256 of Kratix's canary documents, byte for byte as compatibility C4 shows them.
        let digest = |s: &str| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(s.as_bytes()))
        };
        assert_eq!(digest(CANARY_NAMESPACE), "2ea177cae77185d1c7917fd800f5a41738c99113a02f3e81e98a7b940b58eb7d");
        assert_eq!(digest(CANARY_CONFIGMAP), "9a9057467627233cce2a86742e25be205396f735d1fee4d67cedd25ddddbabb2");
    }
}
