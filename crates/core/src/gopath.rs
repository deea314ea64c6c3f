//! Go `path/filepath` semantics for slash-separated paths.
//!
//! Kratix builds every state store path with Go's `filepath.Join`; the layout of a Waybill store must be
//! byte-for-byte the same, so `join` and `clean` reproduce Go's rules exactly (including `..` handling and
//! the empty-result cases) rather than Rust's `Path` semantics.

/// Go's `filepath.Clean`: collapses `//`, drops `.` elements, resolves `..` lexically, drops a trailing `/`.
/// A rooted path that climbs above `/` stays at `/`; an empty result is `.`.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Join`: skips leading empty elements, joins the rest with `/` and cleans the result.
/// Joining only empty elements yields the empty string.
pub fn join<S: AsRef<str>>(elems: &[S]) -> String {
    match elems.iter().position(|e| !e.as_ref().is_empty()) {
        Some(first) => {
            let rest: Vec<&str> = elems[first..].iter().map(AsRef::as_ref).collect();
            clean(&rest.join("/"))
        }
        None => String::new(),
    }
}

/// Strips at most one leading `/`, as Kratix's Git writer does with its root path.
pub fn strip_one_leading_slash(path: &str) -> &str {
    path.strip_prefix('/').unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go_for_the_reference_table() {
        let cases = [
            ("", "."),
            (".", "."),
            ("/", "/"),
            ("//", "/"),
            ("a/", "a"),
            ("./a", "a"),
            ("a//b", "a/b"),
            ("a/./b", "a/b"),
            ("a/../b", "b"),
            ("a/..", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../a/..", ".."),
            ("a/../..", ".."),
            ("/..", "/"),
            ("/../a", "/a"),
            ("/clusters/", "/clusters"),
            ("abc/def/../../..", ".."),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn join_matches_go_for_the_reference_table() {
        let cases: &[(&[&str], &str)] = &[
            (&[], ""),
            (&["", ""], ""),
            (&["", "a"], "a"),
            (&["a", ""], "a"),
            (&["worker-1/", "redis.yaml"], "worker-1/redis.yaml"),
            (&[".", "dependencies/kratix-canary-namespace.yaml"], "dependencies/kratix-canary-namespace.yaml"),
            (&["/", "dependencies"], "/dependencies"),
            (&["clusters", "../escape"], "escape"),
            (&["", "../escape"], "../escape"),
            (&["test-path/", ".kratix", "default-wp.yaml"], "test-path/.kratix/default-wp.yaml"),
            (&["a", "", "b"], "a/b"),
        ];
        for (elems, want) in cases {
            assert_eq!(join(elems), *want, "join({elems:?})");
        }
    }
}
