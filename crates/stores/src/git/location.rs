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
