//! `waybill crds` is Kratix's CRDs field for field, plus the declared Waybill extensions; and every
//! field the API types write is declared, so an API server never prunes what Waybill stores.
//!
//! `fixtures/kratix-crds.facts` lists every fact of Kratix's published CRDs except descriptions, one
//! `crd path = value` line each. With `WAYBILL_KRATIX_CRDS` naming a directory of Kratix's CRD files,
//! `the_facts_file_is_what_kratixs_published_crds_say` checks the list against them.

use std::collections::BTreeSet;

use serde_json::Value;
use waybill_core::crd::{WAYBILL_EXTENSIONS, crd, crds};
use waybill_core::{AnyObject, Kind};

const FACTS: &str = include_str!("fixtures/kratix-crds.facts");
const SCHEMA: &str = ".spec.versions[0].schema.openAPIV3Schema";

fn flatten(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if m.is_empty() => out.push(format!("{path} = {{}}")),
        Value::Object(m) => {
            for (k, v) in m {
                if k != "description" && !(path == ".metadata" && k == "annotations") {
                    flatten(v, &format!("{path}.{k}"), out);
                }
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            out.push(format!("{path} = {v}"))
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(item, &format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(format!("{path} = {v}")),
    }
}

/// Every fact of a CRD, prefixed with its name, sorted.
fn facts(crd: &Value) -> BTreeSet<String> {
    let name = crd["metadata"]["name"].as_str().expect("a CRD has a name").to_string();
    let mut out = Vec::new();
    flatten(crd, "", &mut out);
    out.into_iter().map(|l| format!("{name} {l}")).collect()
}

fn schema_path(extension: &str) -> String {
    let mut out = String::from(SCHEMA);
    for part in extension.trim_start_matches('.').split('.') {
        match part.strip_suffix("[]") {
            Some(name) => out.push_str(&format!(".properties.{name}.items")),
            None => out.push_str(&format!(".properties.{part}")),
        }
    }
    out
}

fn is_extension(line: &str) -> bool {
    WAYBILL_EXTENSIONS.iter().any(|(kind, path, _)| {
        let crd = crd(*kind).expect("a CRD kind");
        let prefix = format!("{} {}", crd["metadata"]["name"].as_str().unwrap_or_default(), schema_path(path));
        line.strip_prefix(&prefix).is_some_and(|rest| rest.starts_with('.') || rest.starts_with(' '))
    })
}

#[test]
fn the_crds_are_kratixs_field_for_field_plus_the_declared_extensions() {
    let expected: BTreeSet<String> = FACTS.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
    let ours: BTreeSet<String> = crds().iter().flat_map(facts).collect();
    let missing: Vec<&String> = expected.difference(&ours).collect();
    let extra: Vec<&String> = ours.difference(&expected).filter(|l| !is_extension(l)).collect();
    assert!(missing.is_empty(), "facts of Kratix's CRDs that ours lack:\n{missing:#?}");
    assert!(extra.is_empty(), "facts of ours that are neither Kratix's nor declared extensions:\n{extra:#?}");
    for (kind, path, _) in WAYBILL_EXTENSIONS {
        assert!(ours.iter().any(|l| is_extension(l) && l.contains(&schema_path(path))), "{kind:?} {path} is declared");
    }
}

#[test]
fn the_facts_file_is_what_kratixs_published_crds_say() {
    let Ok(dir) = std::env::var("WAYBILL_KRATIX_CRDS") else {
        eprintln!("skipped: set WAYBILL_KRATIX_CRDS to a directory holding Kratix's CRD files to check the facts");
        return;
    };
    let mut theirs = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("the Kratix CRD directory") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("a CRD file");
            let value: Value = serde_saphyr::from_str(&text).expect("CRD YAML");
            theirs.extend(facts(&value));
        }
    }
    let ours: BTreeSet<String> = FACTS.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
    if std::env::var_os("WAYBILL_BLESS").is_some() {
        let text: String = theirs.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kratix-crds.facts"), text)
            .expect("write the facts");
        return;
    }
    assert_eq!(ours, theirs, "the facts file differs from Kratix's CRDs");
}

/// The schema node that `path` (a list of object keys and array steps) falls under, if declared.
fn declared<'a>(mut node: &'a Value, path: &[String]) -> Option<&'a Value> {
    for step in path {
        if node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
            return Some(node);
        }
        node = if step == "[]" {
            node.get("items")?
        } else if let Some(p) = node.get("properties") {
            p.get(step)?
        } else {
            node.get("additionalProperties")?
        };
    }
    Some(node)
}

fn undeclared(schema: &Value, value: &Value, path: &mut Vec<String>, out: &mut Vec<String>) {
    let Some(node) = declared(schema, path) else {
        out.push(path.join("."));
        return;
    };
    let type_ok = match (node["type"].as_str(), value) {
        (Some("object"), Value::Object(_)) | (Some("array"), Value::Array(_)) => true,
        (Some("string"), Value::String(_)) | (Some("boolean"), Value::Bool(_)) => true,
        (Some("integer"), Value::Number(n)) => n.is_i64(),
        (None, _) => path.first().is_some_and(|p| p == "metadata"),
        _ => false,
    };
    if !type_ok {
        out.push(format!("{} (declared {}, written {value})", path.join("."), node["type"]));
        return;
    }
    if path.first().is_some_and(|p| p == "metadata") {
        return;
    }
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                path.push(k.clone());
                undeclared(schema, v, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for item in items {
                path.push("[]".into());
                undeclared(schema, item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[test]
fn every_field_the_api_types_write_is_declared_in_its_crd() {
    let text = include_str!("fixtures/every-field.yaml");
    let mut seen = BTreeSet::new();
    for doc in text.split("\n---\n") {
        let raw: Value = serde_saphyr::from_str(doc).expect("fixture YAML");
        let kind = Kind::parse(raw["kind"].as_str().expect("a kind")).expect("a Waybill kind");
        let object = AnyObject::from_json(kind, raw).expect("a Waybill object");
        seen.insert(format!("{kind:?}"));
        let written = object.to_json();
        let crd = crd(kind).expect("a CRD kind");
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut out = Vec::new();
        undeclared(schema, &written, &mut Vec::new(), &mut out);
        assert!(
            out.is_empty(),
            "{kind:?} writes fields its CRD does not declare (the API server would prune them): {out:?}"
        );
    }
    let expected: BTreeSet<String> =
        [Kind::BucketStateStore, Kind::Destination, Kind::GitStateStore, Kind::Work, Kind::WorkPlacement]
            .iter()
            .map(|k| format!("{k:?}"))
            .collect();
    assert_eq!(seen, expected, "the fixture covers every CRD kind");
}
