//! Hostile and unlucky input through the binary: what a tenant or an operator can do to the files it
//! reads, and what it must never do in return. The catalogue is `docs/hostile-inputs.md`.

mod common;

use common::*;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Trust defect 7: a malformed Secret is reported by key and type; its values reach no output, no
/// status, no plan, no validate line and no byte of the state directory.
#[test]
fn a_malformed_secret_never_shows_its_values() {
    let site = Site::quickstart();
    let secrets = "apiVersion: v1\nkind: Secret\nmetadata: {name: s1}\nstringData:\n  password: 98765432101234\n---\n\
                   apiVersion: v1\nkind: Secret\nmetadata: {name: s2}\ndata: \"c3VwZXJzZWNyZXQ=\"\n---\n\
                   apiVersion: v1\nkind: Secret\nmetadata: {name: s3}\nstringData:\n  token: \"hunter2-unterminated\n";
    site.write("secrets.yaml", secrets);
    let values = ["98765432101234", "c3VwZXJzZWNyZXQ", "hunter2"];
    let run = site.run_once();
    assert_eq!(code(&run), 2, "{}", text(&run));
    let runs = [
        run,
        site.waybill(&["status", "--platform", site.dir_arg(), "-o", "json"]),
        site.waybill(&["status", "--platform", site.dir_arg()]),
        site.waybill(&["plan", "--platform", site.dir_arg()]),
        site.waybill(&["validate", site.dir_arg()]),
    ];
    let all: String = runs.iter().map(text).collect();
    assert!(all.contains("stringData.password: must be a string, not a number"), "{all}");
    assert!(all.contains("data: must be a map, not a string"), "{all}");
    for value in values {
        assert!(!all.contains(value), "{value} leaked:\n{all}");
        assert!(!contains(&site.state_bytes(), value), "{value} is in the state directory");
    }
}
