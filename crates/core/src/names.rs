//! WorkPlacement names: `<work>.<destination>-<first 5 of group id>`, shortened deterministically when
//! longer than Kubernetes allows (compatibility D15).

use sha2::{Digest, Sha256};

use crate::layout::short_id;

/// Longest object name Kubernetes accepts.
pub const MAX_NAME_LEN: usize = 253;
const HASH_LEN: usize = 10;

/// The name of the placement of group `group_id` of `work` on `destination`.
pub fn placement_name(work: &str, destination: &str, group_id: &str) -> String {
    let full = format!("{work}.{destination}-{}", short_id(group_id));
    if full.len() <= MAX_NAME_LEN {
        return full;
    }
    let hash = &hex::encode(Sha256::digest(full.as_bytes()))[..HASH_LEN];
    let mut prefix = &full[..MAX_NAME_LEN - HASH_LEN - 1];
    // A name must end with an alphanumeric; trimming keeps it a valid DNS subdomain.
    prefix = prefix.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{prefix}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::is_dns_subdomain;
    use proptest::prelude::*;

    #[test]
    fn names_follow_kratix_when_short() {
        assert_eq!(
            placement_name("rr-work-name", "dev-1", "5058f1af8388633f609cadb75a75dc9d"),
            "rr-work-name.dev-1-5058f"
        );
        assert_eq!(placement_name("w", "d", "abc"), "w.d-abc");
    }

    proptest! {
        #[test]
        fn long_names_are_valid_distinct_and_stable(work in "[a-z]{1,200}", a in "[a-z]{60,200}", b in "[a-z]{60,200}") {
            prop_assume!(a != b);
            let na = placement_name(&work, &a, "5058f1af");
            let nb = placement_name(&work, &b, "5058f1af");
            prop_assert!(na.len() <= MAX_NAME_LEN);
            prop_assert!(is_dns_subdomain(&na));
            prop_assert_ne!(&na, &nb);
            prop_assert_eq!(na, placement_name(&work, &a, "5058f1af"));
        }
    }
}
