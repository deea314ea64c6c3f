//! What a path must look like to be safe in a Git repository and in its checkouts: Git refuses trees
//! with a `.git` entry (in any case, and under the names NTFS and HFS+ give it), and `git clone` fails
//! for every Destination of a repository holding a path longer, or deeper, than a file system takes.
//! Waybill refuses such paths before they join a batch (`docs/hostile-inputs.md`).

use crate::layout::PathProblem;

/// Longest path component most file systems accept (ext4, XFS, NTFS, APFS), in bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Most components a path may have: far beyond any real layout, far below Git's `core.maxTreeDepth`.
pub const MAX_DEPTH: usize = 128;
/// Longest path inside a repository, in bytes: half of Linux's `PATH_MAX`, leaving room for the
/// directory a checkout lives in.
pub const MAX_PATH_BYTES: usize = 2048;

/// How a path is shown in messages: whole when short, otherwise its start and its length, so a
/// 5,000-character name never floods a condition or a log line.
pub fn shown(path: &str) -> String {
    const SHOWN: usize = 96;
    if path.len() <= SHOWN {
        return format!("{path:?}");
    }
    let mut end = SHOWN;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &path[..end], path.len())
}

/// Code points HFS+ ignores when comparing names, so `.g\u{200c}it` is `.git` on a Mac (Git's list).
fn hfs_ignorable(c: char) -> bool {
    matches!(c, '\u{200c}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{206a}'..='\u{206f}' | '\u{feff}')
}

/// Whether `component` names the `.git` directory on some file system Git runs on: any case, with the
/// trailing dots and spaces NTFS drops or an NTFS stream name (`.git::$INDEX_ALLOCATION`), its 8.3
/// short name `GIT~1`, or with HFS+ ignorable characters.
pub fn is_dot_git(component: &str) -> bool {
    let folded: String = component.chars().filter(|c| !hfs_ignorable(*c)).collect::<String>().to_lowercase();
    let Some(rest) = folded.strip_prefix(".git").or_else(|| folded.strip_prefix("git~1")) else {
        return false;
    };
    let rest = rest.trim_start_matches([' ', '.']);
    rest.is_empty() || rest.starts_with(':')
}

/// Checks one component of a path (already split on `/`, not `.` or `..`).
pub fn check_component(path: &str, component: &str) -> Result<(), PathProblem> {
    if is_dot_git(component) {
        return Err(PathProblem::Reserved { path: shown(path), why: "a .git directory is refused by Git".into() });
    }
    if component.len() > MAX_COMPONENT_BYTES {
        return Err(PathProblem::TooLong {
            path: shown(path),
            why: format!("a component is {} bytes long; at most {MAX_COMPONENT_BYTES} are allowed", component.len()),
        });
    }
    if component.chars().any(|c| c.is_control()) {
        return Err(PathProblem::ControlCharacter(shown(path)));
    }
    Ok(())
}

/// Checks every component of a slash-separated path.
pub fn check_components(path: &str) -> Result<(), PathProblem> {
    for component in path.split('/').filter(|c| !c.is_empty() && *c != "." && *c != "..") {
        check_component(path, component)?;
    }
    Ok(())
}

/// Checks a clean path as it will stand in the repository (store root included): its components, its
/// depth and its length.
pub fn check_repository_path(path: &str) -> Result<(), PathProblem> {
    check_components(path)?;
    let depth = path.split('/').count();
    if depth > MAX_DEPTH {
        return Err(PathProblem::TooLong {
            path: shown(path),
            why: format!("it is {depth} directories deep; at most {MAX_DEPTH} are allowed"),
        });
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(PathProblem::TooLong {
            path: shown(path),
            why: format!("it is {} bytes long; at most {MAX_PATH_BYTES} are allowed", path.len()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_git_reads_as_its_own_directory_is_refused() {
        let refused = [
            ".git",
            ".GIT",
            ".Git",
            ".git.",
            ".git ",
            ".git. .",
            "git~1",
            "GIT~1",
            ".g\u{200c}it",
            "\u{feff}.git",
            ".git::$INDEX_ALLOCATION",
            "git~1:stream",
        ];
        for name in refused {
            assert!(is_dot_git(name), "{name:?} must be refused");
            assert!(check_components(&format!("a/{name}/config")).is_err(), "{name:?}");
        }
        let allowed = [".gitignore", ".github", "git", "git~2", "x.git", ".gitkeep", "a.git."];
        for name in allowed {
            assert!(!is_dot_git(name), "{name:?} must be allowed");
        }
    }

    #[test]
    fn paths_that_break_checkouts_are_refused() {
        let deep = vec!["d"; MAX_DEPTH + 1].join("/");
        let long_name = format!("{}.yaml", "n".repeat(5000));
        let long_path = vec!["abcdefghij"; 200].join("/");
        let cases: Vec<(String, bool)> = vec![
            ("a/b/c.yaml".into(), true),
            (vec!["d"; MAX_DEPTH].join("/"), true),
            (format!("{}.yaml", "n".repeat(250)), true),
            (deep, false),
            (long_name, false),
            (long_path, false),
            ("a/line\nbreak.yaml".into(), false),
            ("a/tab\t.yaml".into(), false),
        ];
        for (path, ok) in cases {
            assert_eq!(check_repository_path(&path).is_ok(), ok, "{}", shown(&path));
        }
    }

    #[test]
    fn long_paths_are_shown_shortened() {
        let long = "x".repeat(5000);
        let text = shown(&long);
        assert!(text.len() < 140, "{text}");
        assert!(text.ends_with("(5000 bytes)"));
        assert_eq!(shown("a.yaml"), "\"a.yaml\"");
        let multibyte = "é".repeat(100);
        assert!(shown(&multibyte).contains("bytes"));
    }
}
