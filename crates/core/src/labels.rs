//! Well-known Kratix label keys, finalizers and the Kubernetes syntax rules for names and labels.

pub const WORK_LABEL: &str = "kratix.io/work";
pub const WORKLOAD_GROUP_ID_LABEL: &str = "kratix.io/workload-group-id";
pub const TARGET_DESTINATION_LABEL: &str = "kratix.io/targetDestinationName";
pub const PIPELINE_NAME_LABEL: &str = "kratix.io/pipeline-name";
pub const MISPLACED_LABEL: &str = "kratix.io/misplaced";
pub const DRY_RUN_LABEL: &str = "kratix.io/dry-run";

pub const DESTINATION_CLEANUP_FINALIZER: &str = "kratix.io/destination-cleanup";
pub const WORK_CLEANUP_FINALIZER: &str = "kratix.io/work-cleanup";
pub const REPO_CLEANUP_FINALIZER: &str = "finalizers.workplacement.kratix.io/repo-cleanup";
pub const DOT_FILES_CLEANUP_FINALIZER: &str = "finalizers.workplacement.kratix.io/kratix-dot-files-cleanup";

/// Trace annotations whose existing placement values survive a Work annotation merge (compatibility C10).
pub const TRACE_ANNOTATIONS: [&str; 4] =
    ["kratix.io/trace-parent", "kratix.io/trace-state", "kratix.io/trace-timestamp", "kratix.io/trace-generation"];

/// Group id of the default workload group (`md5(".")`).
pub const DEFAULT_GROUP_ID: &str = "5058f1af8388633f609cadb75a75dc9d";

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// A label name or value body: at most 63 characters, alphanumerics at both ends, `-_.` inside.
fn is_qualified_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(is_alnum)
        && s.ends_with(is_alnum)
        && s.chars().all(|c| is_alnum(c) || matches!(c, '-' | '_' | '.'))
}

/// An RFC 1123 subdomain: lowercase alphanumerics, `-` and `.`, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && label.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// Why a label key is invalid, if it is.
pub fn label_key_error(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns_subdomain(prefix)
    {
        return Some(format!("label key {key:?}: prefix must be a lowercase DNS subdomain"));
    }
    if !is_qualified_name_part(name) {
        return Some(format!(
            "label key {key:?}: name must be 1-63 characters of alphanumerics, '-', '_' or '.', \
             starting and ending with an alphanumeric"
        ));
    }
    None
}

/// Why a label value is invalid, if it is.
pub fn label_value_error(value: &str) -> Option<String> {
    if value.is_empty() || is_qualified_name_part(value) {
        None
    } else {
        Some(format!(
            "label value {value:?}: must be empty or 1-63 characters of alphanumerics, '-', '_' or '.', \
             starting and ending with an alphanumeric"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_syntax_follows_kubernetes() {
        assert!(label_key_error("environment").is_none());
        assert!(label_key_error("kratix.io/work").is_none());
        assert!(label_key_error("Kratix.IO/work").is_some());
        assert!(label_key_error("-bad").is_some());
        assert!(label_key_error("").is_some());
        assert!(label_value_error("").is_none());
        assert!(label_value_error("prod-1").is_none());
        assert!(label_value_error("has space").is_some());
        assert!(label_value_error(&"a".repeat(64)).is_some());
    }

    #[test]
    fn dns_subdomains_are_lowercase_dotted_labels() {
        assert!(is_dns_subdomain("worker-1"));
        assert!(is_dns_subdomain("rr-work.dev-1-5058f"));
        assert!(!is_dns_subdomain("Worker"));
        assert!(!is_dns_subdomain("a..b"));
        assert!(!is_dns_subdomain(&"a".repeat(254)));
    }
}
