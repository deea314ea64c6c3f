//! The `.kratix/<ns>-<wp>.yaml` state file of `none`-mode placements: which files a placement wrote into
//! its Destination's flat directory, so that only those are ever deleted (compatibility C6).

use serde::Deserialize;

use crate::layout::{PathProblem, StorePath};

/// Why a state file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to parse state file: {0}")]
pub struct StateFileError(pub String);

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    files: Option<Vec<String>>,
}

/// Renders the state file as Kratix (gopkg.in/yaml.v2) does: `files:\n- a\n- b\n`, or `files: []\n`.
/// With `slash`, every entry starts with `/`, as Kratix writes them for a Destination whose path starts
/// with one (Go's `filepath.Join("/flat/", "ns.yaml")` is `/flat/ns.yaml`).
pub fn render(files: &[StorePath], slash: bool) -> String {
    if files.is_empty() {
        return "files: []\n".to_string();
    }
    let mut out = String::from("files:\n");
    for file in files {
        out.push_str("- ");
        if slash {
            out.push_str(&yaml_scalar(&format!("/{}", file.as_str())));
        } else {
            out.push_str(&yaml_scalar(file.as_str()));
        }
        out.push('\n');
    }
    out
}

/// Parses a state file's entries, as written (not yet re-based; see [`rebase`]).
pub fn parse(bytes: &[u8]) -> Result<Vec<String>, StateFileError> {
    let text = std::str::from_utf8(bytes).map_err(|e| StateFileError(e.to_string()))?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: Raw = serde_saphyr::from_str(text).map_err(|e| StateFileError(e.to_string()))?;
    Ok(raw.files.unwrap_or_default())
}

/// An entry of an old state file as a path: legacy entries without the destination prefix are re-based
/// under it (compatibility C6). Entries that would leave the destination's directory are refused, so a tampered
/// state file can never make Waybill delete another Destination's files.
pub fn rebase(entry: &str, dir: &StorePath) -> Result<StorePath, PathProblem> {
    // Kratix lists `/flat/ns.yaml` for a Destination path `/flat`, and its writers strip the slash;
    // an entry like `/etc/passwd` is re-based under the directory as Kratix's `Join` would.
    let entry = entry.trim_start_matches('/');
    let path = StorePath::parse(entry).or_else(|_| dir.join_file(entry))?;
    if dir.contains(&path) && path.strip_prefix(dir).is_some_and(|rest| !rest.is_empty()) {
        return Ok(path);
    }
    if entry.starts_with(&format!("{}/", dir.as_str())) {
        return Err(PathProblem::Escapes { path: entry.to_string(), base: dir.to_string() });
    }
    dir.join_file(entry)
}

/// A scalar as yaml.v2 would print it: plain when unambiguous, double-quoted otherwise.
fn yaml_scalar(s: &str) -> String {
    if is_plain_safe(s) { s.to_string() } else { serde_json::to_string(s).unwrap_or_default() }
}

fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first.is_whitespace() || s.ends_with(char::is_whitespace) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(|c| c.is_control()) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    let special = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", ".nan"];
    if special.contains(&lower.as_str()) {
        return false;
    }
    s.parse::<f64>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> StorePath {
        StorePath::parse(s).unwrap()
    }

    #[test]
    fn state_files_render_as_kratix_writes_them() {
        assert_eq!(
            render(&[p("test-path/fruit.yaml"), p("test-path/file2.yaml")], false),
            "files:\n- test-path/fruit.yaml\n- test-path/file2.yaml\n"
        );
        assert_eq!(render(&[], false), "files: []\n");
        assert_eq!(
            render(&[p("flat/ns.yaml"), p("flat/cm/x.yaml")], false),
            "files:\n- flat/ns.yaml\n- flat/cm/x.yaml\n"
        );
        assert_eq!(render(&[p("d/true")], false), "files:\n- d/true\n");
        assert_eq!(render(&[p("123")], false), "files:\n- \"123\"\n");
    }

    #[test]
    fn state_files_round_trip() {
        let files = vec![p("a/b.yaml"), p("a/1.5"), p("a/yes")];
        let parsed = parse(render(&files, false).as_bytes()).unwrap();
        assert_eq!(parsed, vec!["a/b.yaml", "a/1.5", "a/yes"]);
        assert_eq!(parse(b"files: []\n").unwrap(), Vec::<String>::new());
        assert!(parse(b"files: [unclosed").is_err());
    }

    #[test]
    fn legacy_entries_are_rebased_and_escaping_entries_refused() {
        let dir = p("test-path");
        assert_eq!(rebase("test-path/fruit.yaml", &dir).unwrap().as_str(), "test-path/fruit.yaml");
        assert_eq!(rebase("banana.yaml", &dir).unwrap().as_str(), "test-path/banana.yaml");
        assert_eq!(rebase("other/x.yaml", &dir).unwrap().as_str(), "test-path/other/x.yaml");
        assert!(rebase("test-path/../other/x.yaml", &dir).is_err());
        assert!(rebase("../x", &dir).is_err());
        assert!(rebase("/../x", &dir).is_err());
        assert_eq!(rebase("/etc/passwd", &dir).unwrap().as_str(), "test-path/etc/passwd", "Join(prefix, old)");
    }

    #[test]
    fn entries_kratix_wrote_with_a_leading_slash_are_honoured() {
        let dir = p("flat");
        assert_eq!(rebase("/flat/ns.yaml", &dir).unwrap().as_str(), "flat/ns.yaml");
        assert_eq!(rebase("/ns.yaml", &StorePath::root()).unwrap().as_str(), "ns.yaml");
    }

    #[test]
    fn a_destination_path_with_a_leading_slash_keeps_it_in_the_entries() {
        assert_eq!(
            render(&[p("flat/ns.yaml"), p("flat/cm/x.yaml")], true),
            "files:\n- /flat/ns.yaml\n- /flat/cm/x.yaml\n"
        );
        assert_eq!(render(&[p("ns.yaml")], true), "files:\n- /ns.yaml\n");
        assert_eq!(render(&[], true), "files: []\n");
    }
}
