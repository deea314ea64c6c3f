//! Strict field validation, as `kubectl apply --validate=strict` does it: a field the kind's schema
//! does not declare is refused, with the closest declared field suggested (`contents` → `content`).
//! A typo must not be dropped silently: `contents:` would write an empty file and report Ready.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use super::crd;
use crate::Kind;
use crate::validation::FieldError;

/// The fields of a v1 Secret.
const SECRET_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"];

fn schemas() -> &'static HashMap<Kind, Value> {
    static SCHEMAS: OnceLock<HashMap<Kind, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        Kind::ALL
            .iter()
            .filter_map(|k| crd(*k).map(|c| (*k, c["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone())))
            .collect()
    })
}

/// Edit distance between two field names (insertions, deletions, substitutions).
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The declared field closest to `unknown`, if one is close enough to be a typo.
fn suggestion<'a>(unknown: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = unknown.to_ascii_lowercase();
    known
        .map(|k| (distance(&lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn unknown(path: &str, key: &str, known: Vec<&str>) -> FieldError {
    let field = if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    let reason = match suggestion(key, known.iter().copied()) {
        Some(s) => format!("unknown field {key:?} (did you mean {s:?}?)"),
        None => format!("unknown field {key:?}; known here: {}", known.join(", ")),
    };
    FieldError::new(field, reason)
}

fn walk(schema: &Value, value: &Value, path: &str, out: &mut Vec<FieldError>) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (key, v) in map {
                    match props.get(key) {
                        Some(s) => {
                            walk(s, v, &if path.is_empty() { key.clone() } else { format!("{path}.{key}") }, out)
                        }
                        None => out.push(unknown(path, key, props.keys().map(String::as_str).collect())),
                    }
                }
            } else if let Some(items) = schema.get("additionalProperties") {
                for (key, v) in map {
                    walk(items, v, &format!("{path}.{key}"), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(s, v, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Every field of `document` (an object of `kind`) its schema does not declare. Metadata is the API
/// server's and is not checked here.
pub fn unknown_fields(kind: Kind, document: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    let Some(map) = document.as_object() else { return out };
    if kind == Kind::Secret {
        for key in map.keys().filter(|k| !SECRET_FIELDS.contains(&k.as_str())) {
            out.push(unknown("", key, SECRET_FIELDS.to_vec()));
        }
        return out;
    }
    if let Some(schema) = schemas().get(&kind) {
        walk(schema, document, "", &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::unknown_fields;
    use crate::Kind;

    #[test]
    fn each_typo_is_named_with_its_path_and_the_field_it_probably_meant() {
        let cases = [
            (
                Kind::Work,
                json!({"spec": {"workloadGroups": [{"workloads": [{"filepath": "a", "contents": "x"}]}]}}),
                "spec.workloadGroups[0].workloads[0].contents",
                "unknown field \"contents\" (did you mean \"content\"?)",
            ),
            (
                Kind::Work,
                json!({"spec": {"workloadGroups": [{"destinationSelector": [{}]}]}}),
                "spec.workloadGroups[0].destinationSelector",
                "unknown field \"destinationSelector\" (did you mean \"destinationSelectors\"?)",
            ),
            (
                Kind::Destination,
                json!({"spec": {"strictMatchLabel": true}}),
                "spec.strictMatchLabel",
                "unknown field \"strictMatchLabel\" (did you mean \"strictMatchLabels\"?)",
            ),
            (
                Kind::GitStateStore,
                json!({"spec": {"URL": "x"}}),
                "spec.URL",
                "unknown field \"URL\" (did you mean \"url\"?)",
            ),
            (Kind::Secret, json!({"datas": {}}), "datas", "unknown field \"datas\" (did you mean \"data\"?)"),
        ];
        for (kind, doc, field, reason) in cases {
            let errors = unknown_fields(kind, &doc);
            assert_eq!(errors.len(), 1, "{kind:?} {doc}: {errors:?}");
            assert_eq!((errors[0].field.as_str(), errors[0].reason.as_str()), (field, reason), "{kind:?} {doc}");
        }
    }

    #[test]
    fn declared_fields_metadata_and_map_keys_pass() {
        let doc = json!({
            "apiVersion": "platform.kratix.io/v1alpha1", "kind": "Work",
            "metadata": {"name": "w", "anything": {"goes": 1}},
            "spec": {"promiseName": "p", "workloadGroups": [{"destinationSelectors": [{"matchLabels": {"any-key": "v"}}]}]},
        });
        assert!(unknown_fields(Kind::Work, &doc).is_empty());
    }

    #[test]
    fn a_field_far_from_every_declared_one_lists_what_is_known_there() {
        let errors = unknown_fields(Kind::Destination, &json!({"spec": {"zzzzzzzz": 1}}));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].reason.starts_with("unknown field \"zzzzzzzz\"; known here: cleanup, filepath"),
            "{errors:?}"
        );
    }
}
