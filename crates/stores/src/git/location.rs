//! Where a GitStateStore's `spec.url` points: a local repository or a remote, by transport.

use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// Transport of a remote URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Https,
    Http,
    Ssh,
    Git,
}

/// A parsed `spec.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A repository on this machine (`file://` or a plain path), written in process.
    Local(PathBuf),
    /// A remote repository.
    Remote { url: String, transport: Transport },
}

/// Classifies `url`; relative local paths are resolved against `base_dir` (the platform directory in
/// embedded mode).
pub fn classify(url: &str, base_dir: &Path) -> Result<Location, StoreError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(StoreError::Config("spec.url is empty".into()));
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(StoreError::Config(format!("invalid file URL {url:?}: expected file:///absolute/path")));
        }
        return Ok(Location::Local(PathBuf::from(path)));
    }
    for (prefix, transport) in [
        ("https://", Transport::Https),
        ("http://", Transport::Http),
        ("ssh://", Transport::Ssh),
        ("git://", Transport::Git),
    ] {
        if url.len() > prefix.len() && url[..prefix.len()].eq_ignore_ascii_case(prefix) {
            return Ok(Location::Remote { url: url.to_string(), transport });
        }
    }
    if url.contains("://") {
        return Err(StoreError::Config(format!(
            "unsupported Git URL {url:?}: expected https://, http://, ssh://, git://, file://, user@host:path or a local path"
        )));
    }
    if is_scp_like(url) {
        return Ok(Location::Remote { url: url.to_string(), transport: Transport::Ssh });
    }
    let path = Path::new(url);
    Ok(Location::Local(if path.is_absolute() { path.to_path_buf() } else { base_dir.join(path) }))
}

/// The repository `url` names, as the same text however it is written: a local path resolved (and its
/// links followed when it exists), a remote as its host and path, whatever the transport, user, port or
/// trailing `.git` (`https://github.com/o/r`, `git@github.com:o/r.git` and `ssh://github.com/o/r.git`
/// are one repository). Two stores on one repository and branch share its tree.
pub fn repository_identity(url: &str, base_dir: &Path) -> Result<String, StoreError> {
    Ok(match classify(url, base_dir)? {
        Location::Local(path) => {
            let resolved = std::fs::canonicalize(&path)
                .unwrap_or_else(|_| PathBuf::from(waybill_core::gopath::clean(&path.to_string_lossy())));
            format!("file://{}", resolved.display())
        }
        Location::Remote { url, transport } => {
            let (host, _) = host_and_port(&url, transport);
            let path = match url.split_once("://") {
                Some((_, rest)) => rest.split_once('/').map(|(_, p)| p).unwrap_or(""),
                None => url.split_once(':').map(|(_, p)| p).unwrap_or(""),
            };
            let path = waybill_core::gopath::clean(&format!("/{}", path.trim_start_matches("~/")));
            let path = path.trim_end_matches('/');
            let path = path.strip_suffix(".git").unwrap_or(path);
            format!("{}{}", host.to_ascii_lowercase(), path)
        }
    })
}

/// `[user@]host:path`, as Git reads it: a colon before the first slash, and not a local-looking path.
fn is_scp_like(url: &str) -> bool {
    if url.starts_with('/') || url.starts_with('.') {
        return false;
    }
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon < slash && colon > 0,
        (Some(colon), None) => colon > 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_classified_by_transport() {
        let base = Path::new("/platform");
        let cases = [
            ("https://github.com/org/repo.git", Some(Transport::Https)),
            ("HTTP://host/repo", Some(Transport::Http)),
            ("ssh://git@host/repo", Some(Transport::Ssh)),
            ("ssh://host/repo", Some(Transport::Ssh)),
            ("git@github.com:org/repo.git", Some(Transport::Ssh)),
            ("git://host/repo", Some(Transport::Git)),
            ("file:///srv/repo.git", None),
            ("state.git", None),
            ("./state.git", None),
            ("/abs/state.git", None),
        ];
        for (url, want) in cases {
            let got = classify(url, base).unwrap();
            match (got, want) {
                (Location::Remote { transport, .. }, Some(t)) => assert_eq!(transport, t, "{url}"),
                (Location::Local(_), None) => {}
                (other, _) => panic!("{url}: {other:?}"),
            }
        }
        assert_eq!(classify("state.git", base).unwrap(), Location::Local(PathBuf::from("/platform/state.git")));
        assert_eq!(classify("file:///srv/r", base).unwrap(), Location::Local(PathBuf::from("/srv/r")));
        assert!(classify("ftp://x/y", base).is_err());
        assert!(classify("file://relative", base).is_err());
    }
}

/// Host and port of a remote URL (`https://h[:p]/…`, `ssh://[u@]h[:p]/…`, `u@h:path`, `git://h[:p]/…`).
pub fn host_and_port(url: &str, transport: Transport) -> (String, u16) {
    let default_port = match transport {
        Transport::Https => 443,
        Transport::Http => 80,
        Transport::Ssh => 22,
        Transport::Git => 9418,
    };
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.split('/').next().unwrap_or_default(),
        // scp-like: user@host:path
        None => url.split(':').next().unwrap_or_default(),
    };
    let host_port = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    if let Some(stripped) = host_port.strip_prefix('[') {
        // [ipv6]:port
        let (host, after) = stripped.split_once(']').unwrap_or((stripped, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(default_port);
        return (host.to_string(), port);
    }
    match (url.contains("://"), host_port.rsplit_once(':')) {
        (true, Some((host, port))) => (host.to_string(), port.parse().unwrap_or(default_port)),
        _ => (host_port.to_string(), default_port),
    }
}

/// The SSH user of a URL (`git` when none is given, compatibility D7).
pub fn ssh_user(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = if url.contains("://") {
        rest.split('/').next().unwrap_or_default()
    } else {
        rest.split(':').next().unwrap_or_default()
    };
    authority
        .rsplit_once('@')
        .map(|(u, _)| u.to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "git".to_string())
}

#[cfg(test)]
mod host_tests {
    use super::*;

    #[test]
    fn one_repository_has_one_identity_however_its_url_is_written() {
        let base = Path::new("/platform");
        let same = [
            "https://github.com/org/repo.git",
            "https://GitHub.com/org/repo",
            "https://user@github.com:443/org/repo.git/",
            "git@github.com:org/repo.git",
            "ssh://git@github.com/org/repo",
            "ssh://github.com:22/org//repo.git",
        ];
        let first = repository_identity(same[0], base).unwrap();
        for url in same {
            assert_eq!(repository_identity(url, base).unwrap(), first, "{url}");
        }
        assert_ne!(repository_identity("https://github.com/org/other", base).unwrap(), first);
        let local = repository_identity("state.git", base).unwrap();
        for url in ["./state.git", "/platform/state.git", "file:///platform/state.git", "sub/../state.git"] {
            assert_eq!(repository_identity(url, base).unwrap(), local, "{url}");
        }
        assert_ne!(repository_identity("state", base).unwrap(), local);
    }

    #[test]
    fn hosts_ports_and_users_are_read_from_every_url_form() {
        let cases = [
            ("https://github.com/org/repo.git", Transport::Https, "github.com", 443, "git"),
            ("http://127.0.0.1:8080/git/r.git", Transport::Http, "127.0.0.1", 8080, "git"),
            ("ssh://git@host:2222/srv/r.git", Transport::Ssh, "host", 2222, "git"),
            ("ssh://host/srv/r.git", Transport::Ssh, "host", 22, "git"),
            ("ssh://deploy@host/srv/r.git", Transport::Ssh, "host", 22, "deploy"),
            ("test-user@test.ghe.com:test-org/repo.git", Transport::Ssh, "test.ghe.com", 22, "test-user"),
            ("git://127.0.0.1:9419/r.git", Transport::Git, "127.0.0.1", 9419, "git"),
            ("https://user@[::1]:8443/r.git", Transport::Https, "::1", 8443, "user"),
        ];
        for (url, t, host, port, user) in cases {
            assert_eq!(host_and_port(url, t), (host.to_string(), port), "{url}");
            assert_eq!(ssh_user(url), user, "{url}");
        }
    }
}
