//! Strict SSH host key checking against an OpenSSH `known_hosts` text, as `StrictHostKeyChecking=yes`
//! does: plain and hashed (`|1|salt|hash`) host patterns, `[host]:port` for other ports, negations,
//! and `@revoked` markers. Lines are read by the `ssh-key` crate; lines it cannot use
//! (`@cert-authority`, malformed entries) are reported on the store, never dropped silently.

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

use ssh_key::known_hosts::{Entry as Line, HostPatterns, Marker};

/// One usable entry: which hosts it names and the key blob it pins.
struct Entry {
    hosts: HostPatterns,
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
        for (n, raw) in text.lines().enumerate() {
            // OpenSSH separates fields by any whitespace; the parser wants single spaces.
            let line = raw.split_whitespace().collect::<Vec<_>>().join(" ");
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut skip =
                |why: &str| ignored.push(format!("knownHosts line {}: {why}; the line trusts no host", n + 1));
            let parsed = match line.parse::<Line>() {
                Ok(parsed) => parsed,
                Err(e) => {
                    skip(&format!("not a known_hosts entry ({e})"));
                    continue;
                }
            };
            let revoked = match parsed.marker() {
                None => false,
                Some(Marker::Revoked) => true,
                // libssh2 presents plain host keys only: a host certificate cannot be checked.
                Some(Marker::CertAuthority) => {
                    skip("@cert-authority (host certificates) is not supported");
                    continue;
                }
            };
            let Ok(key) = parsed.public_key().to_bytes() else {
                skip("its key cannot be encoded");
                continue;
            };
            entries.push(Entry { hosts: parsed.host_patterns().clone(), key, revoked });
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
        for e in self.entries.iter().filter(|e| matches_host(&e.hosts, &name)) {
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

fn matches_host(hosts: &HostPatterns, name: &str) -> bool {
    let patterns = match hosts {
        HostPatterns::HashedName { salt, hash } => {
            return hmac_sha1(salt, name.as_bytes()).is_some_and(|h| h == hash);
        }
        HostPatterns::Patterns(patterns) => patterns,
    };
    let mut matched = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(p.as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
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
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIAICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIC";

    fn blob(k: &str) -> Vec<u8> {
        STANDARD.decode(k).unwrap()
    }

    #[test]
    fn host_keys_are_checked_strictly() {
        let salt = b"0123456789abcdefghij";
        let hashed = STANDARD.encode(hmac_sha1(salt, b"[hashed.example]:2222").unwrap());
        let text = format!(
            "# comment\ngithub.com,140.82.112.3 ssh-ed25519 {KEY_A}\n[127.0.0.1]:2222 ssh-ed25519 {KEY_B}\n|1|{}|{hashed} ssh-ed25519 {KEY_A}\n*.corp.example,!bad.corp.example ssh-ed25519 {KEY_A}\n@revoked old.example ssh-ed25519 {KEY_B}\ntabbed.example\t ssh-ed25519\t{KEY_A} comment\n",
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
            ("tabbed.example", 22, KEY_A, Ok(())),
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
        let ignored = kh.ignored();
        assert_eq!(ignored.len(), 4, "{ignored:?}");
        assert_eq!(
            ignored[0],
            "knownHosts line 1: @cert-authority (host certificates) is not supported; the line trusts no host"
        );
        for (i, line) in ignored.iter().enumerate().skip(1) {
            assert!(line.starts_with(&format!("knownHosts line {}: not a known_hosts entry (", i + 1)), "{line}");
            assert!(line.ends_with("); the line trusts no host"), "{line}");
        }
        assert_eq!(kh.check("ok", 22, &blob(KEY_A)), Ok(()));
        assert_eq!(kh.check("a.example", 22, &blob(KEY_A)), Err(HostKeyProblem::Unknown));
    }
}
