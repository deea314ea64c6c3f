//! Parsing manifests: multi-document YAML into typed objects, with problems that say which document,
//! which object, which field and why.

use std::fmt;

use serde_json::Value;

use crate::api::AnyObject;
use crate::kind::{Kind, ObjectRef};
use crate::validation::{self, FieldError, known_kinds};

/// One document of a manifest file.
#[derive(Debug, Clone)]
pub struct Document {
    /// 1-based position among the file's non-empty documents.
    pub index: usize,
    /// 1-based line where the document starts.
    pub line: usize,
    /// The object's identity when at least kind and name could be read, even if the rest is invalid.
    pub identity: Option<ObjectRef>,
    pub result: Result<AnyObject, Vec<FieldError>>,
    /// `apiVersion kind` of a document of a kind Waybill does not handle (a Kratix `Promise`, a Flux
    /// `Kustomization`, a `ConfigMap`): it is skipped, not an error (`result` holds no error).
    pub skipped: Option<String>,
}

impl Document {
    /// Where the document is, for messages: `document 2 (line 14)`.
    pub fn position(&self) -> String {
        format!("document {} (line {})", self.index, self.line)
    }
}

/// A problem found in a manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// `document N (line L)`, or empty for a problem with the whole file.
    pub position: String,
    pub identity: Option<ObjectRef>,
    pub error: FieldError,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if !self.position.is_empty() {
            write!(f, ": {}", self.position)?;
        }
        if let Some(id) = &self.identity {
            write!(f, " ({id})")?;
        }
        write!(f, ": {}", self.error)
    }
}

/// Splits `text` into its YAML documents (on `---` lines, as kubectl does) and parses each one.
/// Documents that are empty or only comments are skipped.
pub fn parse(text: &str) -> Vec<Document> {
    let mut docs = Vec::new();
    for (start_line, body) in split_documents(text) {
        if body.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            continue;
        }
        let index = docs.len() + 1;
        let (identity, result) = parse_document(&body, start_line);
        let skipped = match &result {
            Err(errors) if errors.is_empty() => Some(kind_of(&body)),
            _ => None,
        };
        docs.push(Document { index, line: start_line, identity, result, skipped });
    }
    docs
}

fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let is_separator = line == "---" || line.starts_with("--- ") || line.starts_with("---\t") || line == "...";
        if is_separator {
            out.push((start, std::mem::take(&mut current)));
            start = i + 2;
            if let Some(rest) = line.strip_prefix("--- ") {
                current.push_str(rest);
                current.push('\n');
                start = i + 1;
            }
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    out.push((start, current));
    out
}

/// Whether a document (that may not even parse) declares itself a Secret: its errors then never quote
/// what it holds.
fn looks_like_secret(body: &str) -> bool {
    body.lines()
        .any(|l| l.trim_start().strip_prefix("kind:").is_some_and(|k| k.trim().trim_matches(['"', '\'']) == "Secret"))
}

/// A YAML syntax error as one line: `malformed YAML at line L, column C: <what>`, with the line counted
/// in the file (once), without the parser's advice to its developers, and, for a Secret, without any
/// quoted text that could be part of a value.
fn yaml_problem(e: &serde_saphyr::Error, start_line: usize, secret: bool) -> FieldError {
    let mut plain = serde_saphyr::RenderOptions::new(&serde_saphyr::UserMessageFormatter);
    plain.snippets = serde_saphyr::SnippetMode::Off;
    let rendered = first_line(&e.render_with_options(plain));
    // The location is given once, counted in the file; the parser's own (in the document) goes.
    let mut what = match rendered.find(" at line ") {
        Some(i) => rendered[..i].to_string(),
        None => rendered,
    };
    if let Some(i) = what.find(", set DuplicateKeyPolicy") {
        what.truncate(i);
    }
    if what.contains("too large or too complex") {
        // The parser's budget stopped it (an alias bomb, say); its own wording names internal limits.
        what = "the document is too large or too complex once its aliases are expanded".to_string();
    }
    if secret && what.contains(['"', '\'', '`']) {
        what = "invalid YAML syntax (details withheld: the document is a Secret)".to_string();
    }
    let at = match e.location() {
        Some(l) => format!(" at line {}, column {}", l.line() as usize + start_line - 1, l.column()),
        None => String::new(),
    };
    FieldError::new("", format!("malformed YAML{at}: {what}"))
}

/// A typed-deserialisation error of a Secret, without the value: the JSON type found where another was
/// expected (`stringData.password: must be a string, not a number`).
fn secret_type_problem(field: &str, value: &Value, message: &str) -> String {
    let mut at = Some(value);
    for (key, indices) in crate::located::segments(field) {
        at = at.and_then(|v| v.get(key));
        for i in indices.into_iter().flatten() {
            at = at.and_then(|v| v.get(i));
        }
    }
    let found = match at {
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Number(_)) => "a number",
        Some(Value::String(_)) => "a string",
        Some(Value::Array(_)) => "a list",
        Some(Value::Object(_)) => "a map",
        None => "something else",
    };
    let expected = message.split_once("expected ").map(|(_, e)| e).unwrap_or("another type");
    let expected = if expected.contains(['`', '"']) { "another type" } else { expected };
    format!("must be {expected}, not {found}")
}

/// The kind of `apiVersion` Waybill handles that `kind` is one or two letters away from, if any.
fn misspelt_kind(api_version: &str, kind: &str) -> Option<&'static str> {
    let lower = kind.to_ascii_lowercase();
    Kind::ALL
        .iter()
        .filter(|k| api_version.is_empty() || k.api_version() == api_version)
        .map(|k| k.as_str())
        .filter(|k| crate::crd::distance(&lower, &k.to_ascii_lowercase()) <= 2)
        .min_by_key(|k| crate::crd::distance(&lower, &k.to_ascii_lowercase()))
}

/// `apiVersion kind` of a document, for the note that it was skipped.
fn kind_of(body: &str) -> String {
    let value: Value = serde_saphyr::from_str(body).unwrap_or(Value::Null);
    let field = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    format!("{} {}", field("apiVersion"), field("kind")).trim().to_string()
}

fn parse_document(body: &str, start_line: usize) -> (Option<ObjectRef>, Result<AnyObject, Vec<FieldError>>) {
    let value: Value = match serde_saphyr::from_str(body) {
        Ok(v) => v,
        Err(e) => return (None, Err(vec![yaml_problem(&e, start_line, looks_like_secret(body))])),
    };
    let Value::Object(map) = &value else {
        return (None, Err(vec![FieldError::new("", "document is not a mapping")]));
    };
    let kind_text = map.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let name = map.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default();
    let namespace = map.get("metadata").and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or("default");
    if kind_text.is_empty() {
        return (None, Err(vec![FieldError::new("kind", "is required")]));
    }
    let Some(kind) = Kind::parse(&kind_text) else {
        let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        return match misspelt_kind(api_version, &kind_text) {
            // Most likely a typo of a kind Waybill handles: an error, or the object would be ignored.
            Some(meant) => (
                None,
                Err(vec![FieldError::new(
                    "kind",
                    format!("unknown kind {kind_text:?} (did you mean {meant:?}?); expected one of {}", known_kinds()),
                )]),
            ),
            // Another tool's kind: skipped (no error).
            None => (None, Err(Vec::new())),
        };
    };
    // Only a name an object can have identifies one: anything else (a newline, say) would travel into
    // every message about it.
    let identity = crate::labels::is_dns_subdomain(name)
        .then(|| ObjectRef::new(kind, namespace, name))
        .filter(|r| r.namespace.is_empty() || crate::labels::is_dns_subdomain(&r.namespace));
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if api_version != kind.api_version() {
        let reason = format!("must be {} for kind {kind}", kind.api_version());
        return (identity, Err(vec![FieldError::new("apiVersion", reason)]));
    }
    let unknown = crate::crd::unknown_fields(kind, &value);
    if !unknown.is_empty() {
        return (identity, Err(unknown.into_iter().map(|e| at_line(e, body, start_line)).collect()));
    }
    let secret_view = (kind == Kind::Secret).then(|| value.clone());
    let mut obj = match AnyObject::from_json(kind, value) {
        Ok(obj) => obj,
        Err(e) => {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            let message = e.into_inner().to_string();
            let error = match &secret_view {
                Some(v) => FieldError::new(&field, secret_type_problem(&field, v, &message)),
                None => at_line(FieldError::new(field, message), body, start_line),
            };
            return (identity, Err(vec![error]));
        }
    };
    if kind.namespaced() && obj.meta().namespace.as_deref().unwrap_or("").is_empty() {
        obj.meta_mut().namespace = Some("default".to_string());
    }
    if !kind.namespaced() {
        obj.meta_mut().namespace = None;
    }
    let errs = validation::validate(&obj);
    if errs.is_empty() { (identity, Ok(obj)) } else { (identity, Err(errs)) }
}

/// `error` with the file line of the value its field names, when the document says where it is.
fn at_line(mut error: FieldError, body: &str, start_line: usize) -> FieldError {
    if let Some(line) = crate::located::line_of(body, &error.field) {
        error.reason = format!("{} (line {})", error.reason, line + start_line - 1);
    }
    error
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse(text).into_iter().filter_map(|d| d.result.err()).flatten().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_type_error_names_the_line_of_the_value_in_the_file() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n\
                    apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata:\n  name: d\nspec:\n  \
                    path: p\n  strictMatchLabels: [1]\n  stateStoreRef: {kind: GitStateStore, name: s}\n";
        assert_eq!(
            errors(text),
            vec!["spec.strictMatchLabels: invalid type: sequence, expected a boolean (line 11)".to_string()]
        );
    }

    #[test]
    fn an_unknown_field_names_its_line_in_the_file() {
        let text = "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {name: w}\nspec:\n  promiseName: p\n  \
                    workloadGroups:\n  - workloads:\n    - filepath: a.yaml\n      contents: x\n";
        assert_eq!(
            errors(text),
            vec![
                "spec.workloadGroups[0].workloads[0].contents: unknown field \"contents\" (did you mean \"content\"?) \
                 (line 9)"
                    .to_string()
            ]
        );
    }

    #[test]
    fn documents_are_split_on_separator_lines() {
        let text = "# leading comment\n---\napiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: a}\nspec:\n  stateStoreRef: {kind: GitStateStore, name: s}\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: x}\n";
        let docs = parse(text);
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].index, docs[0].line), (1, 3));
        assert_eq!((docs[1].index, docs[1].line), (2, 12));
        assert!(docs.iter().all(|d| d.result.is_ok()));
        assert_eq!(docs[1].identity, Some(ObjectRef::new(Kind::Secret, "default", "s")));
    }

    #[test]
    fn problems_name_the_field_and_the_reason() {
        let cases = [
            (
                "apiVersion: platform.kratix.io/v1alpha1\nkind: Destinaton\nmetadata: {name: x}\n",
                "kind: unknown kind \"Destinaton\" (did you mean \"Destination\"?); expected one of",
            ),
            (
                "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: x}\nspec:\n  filepath: {mode: bogus}\n  stateStoreRef: {kind: GitStateStore, name: s}\n",
                "spec.filepath.mode: must be one of nestedByMetadata, aggregatedYAML, none",
            ),
            (
                "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: x}\nspec: {}\n",
                "spec.stateStoreRef: is required",
            ),
            (
                "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: x}\nspec:\n  path: ../x\n  stateStoreRef: {kind: GitStateStore, name: s}\n",
                "spec.path: path \"../x\" leaves the directory",
            ),
            (
                "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: x}\nspec:\n  cleanup: sometimes\n  stateStoreRef: {kind: GitStateStore, name: s}\n",
                "spec.cleanup: must be one of none, all",
            ),
            (
                "apiVersion: v1alpha1\nkind: Work\nmetadata: {name: x}\n",
                "apiVersion: must be platform.kratix.io/v1alpha1 for kind Work",
            ),
            (
                "apiVersion: platform.kratix.io/v1alpha1\nkind: BucketStateStore\nmetadata: {name: b}\nspec: {bucketName: k, endpoint: e}\n",
                "spec.secretRef: must be set when using authentication method accessKey",
            ),
            ("a: [unclosed\n", "malformed YAML"),
            ("- just\n- a list\n", "document is not a mapping"),
        ];
        for (text, want) in cases {
            let errs = errors(text);
            assert!(errs.iter().any(|e| e.starts_with(want)), "{text:?}: {errs:?} should start with {want:?}");
        }
    }

    /// Trust defect 7: errors about a Secret name the key and the type, never the value.
    #[test]
    fn secret_errors_never_quote_values() {
        let cases = [
            ("stringData:\n  password: 98765432101234\n", "stringData.password: must be a string, not a number"),
            ("data: \"c3VwZXJzZWNyZXQ=\"\n", "data: must be a map, not a string"),
            ("stringData:\n  password: [topsecret, x]\n", "stringData.password: must be a string, not a list"),
            ("data:\n  token: [c3VwZXJzZWNyZXQ=]\n", "data.token: must be a string, not a list"),
            ("stringData:\n  password: \"topsecret\n", "malformed YAML at line 6"),
            ("stringData:\n  password: hunter2\n  password: topsecret\n", "malformed YAML at line 6"),
        ];
        for (rest, want) in cases {
            let text = format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\n{rest}");
            let errs = errors(&text);
            assert!(errs.iter().any(|e| e.starts_with(want)), "{rest:?}: {errs:?}");
            for secret in ["98765432101234", "c3VwZXJzZWNyZXQ", "topsecret", "hunter2"] {
                assert!(errs.iter().all(|e| !e.contains(secret)), "{rest:?} leaked: {errs:?}");
            }
        }
    }

    #[test]
    fn yaml_errors_name_the_line_once_and_give_no_library_advice() {
        let text = "# a comment\n---\na: 1\nb: 2\na: 3\n";
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("malformed YAML at line 5, column 1: duplicate mapping key"), "{errs:?}");
        assert!(!errs[0].contains("DuplicateKeyPolicy") && errs[0].matches("line").count() == 1, "{errs:?}");
    }

    #[test]
    fn a_name_no_object_can_have_identifies_nothing() {
        let text =
            "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: \"a\\nb\"}\nspec: {}\n";
        let docs = parse(text);
        assert_eq!(docs[0].identity, None);
        let errs = errors(text);
        assert!(errs.iter().all(|e| !e.contains('\n')), "{errs:?}");
    }

    #[test]
    fn an_invalid_document_keeps_its_identity() {
        let text = "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: worker-9}\nspec: {filepath: {mode: x}}\n";
        let docs = parse(text);
        assert_eq!(docs[0].identity, Some(ObjectRef::cluster(Kind::Destination, "worker-9")));
        assert!(docs[0].result.is_err());
    }
}
