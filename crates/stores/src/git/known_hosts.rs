//! Strict SSH host key checking against an OpenSSH `known_hosts` text, as `StrictHostKeyChecking=yes`
//! does: plain and hashed (`|1|salt|hash`) host patterns, `[host]:port` for other ports, negations,
//! and `@revoked` markers. Lines it cannot use (`@cert-authority`, malformed keys) are reported on
//! the store, never dropped silently.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

/// One usable entry: which hosts it names and the key blob it pins.
struct Entry {
    patterns: Vec<String>,
    key: Vec<u8>,
    revoked: bool,
}

/// A parsed `known_hosts`.
pub struct KnownHosts {
    entries: Vec<Entry>,
    /// Lines that trust nothing, with why (reported on the store, never silently dropped).
    ignored: Vec<String>,
}

/// Why a host key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyProblem {
    Unknown,
    Mismatch,
    Revoked,
}

impl KnownHosts {
    pub fn parse(text: &str) -> KnownHosts {
        let mut entries = Vec::new();
        let mut ignored = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut skip =
                |why: &str| ignored.push(format!("knownHosts line {}: {why}; the line trusts no host", n + 1));
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or_default();
            let mut revoked = false;
            if let Some(marker) = first.strip_prefix('@') {
                match marker {
                    "revoked" => revoked = true,
                    // libssh2 presents plain host keys only: a host certificate cannot be checked.
                    "cert-authority" => {
                        skip("@cert-authority (host certificates) is not supported");
                        continue;
                    }
                    other => {
                        skip(&format!("unknown marker @{other}"));
                        continue;
                    }
                }
                first = fields.next().unwrap_or_default();
            }
            let (Some(_key_type), Some(blob)) = (fields.next(), fields.next()) else {
                skip("expected hosts, a key type and a key");
                continue;
            };
            let Ok(key) = STANDARD.decode(blob) else {
                skip("the key is not valid base64");
                continue;
            };
            entries.push(Entry { patterns: first.split(',').map(str::to_string).collect(), key, revoked });
        }
        KnownHosts { entries, ignored }
    }

    /// Lines that were ignored, each with its number and reason.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// Whether `key` (the raw SSH key blob the server presented) is the one pinned for `host`/`port`.
    pub fn check(&self, host: &str, port: u16, key: &[u8]) -> Result<(), HostKeyProblem> {
        let name = if port == 22 { host.to_string() } else { format!("[{host}]:{port}") };
        let mut known = false;
        for e in self.entries.iter().filter(|e| matches_host(&e.patterns, &name)) {
            if e.revoked {
                if e.key == key {
                    return Err(HostKeyProblem::Revoked);
                }
                continue;
            }
            known = true;
            if e.key == key {
                return Ok(());
            }
        }
        Err(if known { HostKeyProblem::Mismatch } else { HostKeyProblem::Unknown })
    }
}

fn matches_host(patterns: &[String], name: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if pattern_matches(neg, name) {
                return false;
            }
        } else if pattern_matches(p, name) {
            matched = true;
        }
    }
    matched
}

fn pattern_matches(pattern: &str, name: &str) -> bool {
    if let Some(hashed) = pattern.strip_prefix("|1|") {
        let Some((salt, hash)) = hashed.split_once('|') else { return false };
        let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else { return false };
        return hmac_sha1(&salt, name.as_bytes()).is_some_and(|h| h == hash);
    }
    glob(pattern.as_bytes(), name.as_bytes())
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let pkey = PKey::hmac(key).ok()?;
    let mut signer = Signer::new(MessageDigest::sha1(), &pkey).ok()?;
    signer.update(data).ok()?;
    signer.sign_to_vec().ok()
}

/// `*` and `?` wildcards, case-insensitive, as OpenSSH matches host patterns.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIB0x9r8cZG5lZ2F0aXZlLWtleS1mb3ItdGVzdHM=";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOtoZXIta2V5LWZvci10ZXN0cy1vbmx5LWhlcmU=";

    fn blob(k: &str) -> Vec<u8> {
        STANDARD.decode(k).unwrap()
    }

    #[test]
    fn host_keys_are_checked_strictly() {
        let salt = b"0123456789abcdefghij";
        let hashed = STANDARD.encode(hmac_sha1(salt, b"[hashed.example]:2222").unwrap());
        let text = format!(
            "# comment\ngithub.com,140.82.112.3 ssh-ed25519 {KEY_A}\n[127.0.0.1]:2222 ssh-ed25519 {KEY_B}\n|1|{}|{hashed} ssh-ed25519 {KEY_A}\n*.corp.example,!bad.corp.example ssh-ed25519 {KEY_A}\n@revoked old.example ssh-ed25519 {KEY_B}\n",
            STANDARD.encode(salt)
        );
        let kh = KnownHosts::parse(&text);
        let cases = [
            ("github.com", 22, KEY_A, Ok(())),
            ("GitHub.com", 22, KEY_A, Ok(())),
            ("github.com", 22, KEY_B, Err(HostKeyProblem::Mismatch)),
            ("127.0.0.1", 2222, KEY_B, Ok(())),
            ("127.0.0.1", 22, KEY_B, Err(HostKeyProblem::Unknown)),
            ("hashed.example", 2222, KEY_A, Ok(())),
            ("git.corp.example", 22, KEY_A, Ok(())),
            ("bad.corp.example", 22, KEY_A, Err(HostKeyProblem::Unknown)),
            ("old.example", 22, KEY_B, Err(HostKeyProblem::Revoked)),
            ("elsewhere", 22, KEY_A, Err(HostKeyProblem::Unknown)),
        ];
        for (host, port, key, want) in cases {
            assert_eq!(kh.check(host, port, &blob(key)), want, "{host}:{port}");
        }
        assert!(kh.ignored().is_empty(), "{:?}", kh.ignored());
    }

    #[test]
    fn lines_that_trust_nothing_are_named_not_dropped_silently() {
        let text = format!(
            "@cert-authority *.example ssh-ed25519 {KEY_A}\n@trusted h ssh-ed25519 {KEY_A}\nhost-only\nh ssh-ed25519 %%%\nok ssh-ed25519 {KEY_A}\n"
        );
        let kh = KnownHosts::parse(&text);
        assert_eq!(
            kh.ignored(),
            [
                "knownHosts line 1: @cert-authority (host certificates) is not supported; the line trusts no host",
                "knownHosts line 2: unknown marker @trusted; the line trusts no host",
                "knownHosts line 3: expected hosts, a key type and a key; the line trusts no host",
                "knownHosts line 4: the key is not valid base64; the line trusts no host",
            ]
        );
        assert_eq!(kh.check("ok", 22, &blob(KEY_A)), Ok(()));
        assert_eq!(kh.check("a.example", 22, &blob(KEY_A)), Err(HostKeyProblem::Unknown));
    }
}
