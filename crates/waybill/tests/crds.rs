//! `waybill crds` prints exactly the CRDs the core builds, as YAML documents and as a JSON List.

use std::process::Command;

fn crds(format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_waybill")).args(["crds", "-o", format]).output().expect("run waybill");
    assert!(out.status.success(), "waybill crds -o {format} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn crds_prints_one_yaml_document_per_kind_equal_to_the_generated_crds() {
    let text = crds("yaml");
    let docs: Vec<serde_json::Value> = text
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str(d).expect("each document is YAML"))
        .collect();
    assert_eq!(docs, waybill_core::crd::crds());
    let names: Vec<&str> = docs.iter().filter_map(|d| d["metadata"]["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "bucketstatestores.platform.kratix.io",
            "destinations.platform.kratix.io",
            "gitstatestores.platform.kratix.io",
            "workplacements.platform.kratix.io",
            "works.platform.kratix.io"
        ]
    );
}

#[test]
fn crds_as_json_is_a_kubernetes_list_of_the_same_crds() {
    let list: serde_json::Value = serde_json::from_str(&crds("json")).expect("JSON");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"], serde_json::Value::Array(waybill_core::crd::crds()));
}
