//! What `waybill status` and the end of `waybill run --once` show: every object with its conditions,
//! as a table, or as a Kubernetes `List` in JSON or YAML.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use waybill_core::conditions::{INVALID_MANIFEST, READY};
use waybill_core::meta::{Condition, ConditionStatus, find_condition, set_condition};
use waybill_core::{AnyObject, Kind, ObjectRef};

/// One row of the status view.
#[derive(Debug, Clone)]
pub struct Row {
    pub object: ObjectRef,
    pub api_version: &'static str,
    pub metadata: Value,
    pub conditions: Vec<Condition>,
    pub status: Value,
}

impl Row {
    pub fn ready(&self) -> Option<&Condition> {
        find_condition(&self.conditions, READY)
    }

    pub fn is_ready(&self) -> bool {
        self.ready().is_some_and(Condition::is_true)
    }
}

/// `text` on one table line: control characters (a newline in a message, say) are escaped, so a row is
/// always one line.
pub fn one_line(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// Lines of cells as aligned columns, each line prefixed with `indent`; the last cell is not padded
/// (a long message never pushes the others apart).
pub fn columns(lines: &[Vec<String>], indent: &str) -> String {
    let count = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|i| lines.iter().filter_map(|l| l.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for line in lines {
        out.push_str(indent);
        for (i, cell) in line.iter().enumerate() {
            if i + 1 == line.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

/// The whole view: rows and the manifest problems that belong to no object.
#[derive(Debug, Clone, Default)]
pub struct StatusView {
    pub rows: Vec<Row>,
    pub problems: Vec<String>,
}

/// Builds the view. A refused manifest turns its object's `Ready` into `False`/`InvalidManifest`
/// (an object that never got accepted still gets a row).
///
/// With `detail` false, rows carry no `metadata` and `status` JSON (`Null`): enough for the table and
/// the summary of a run, without a second copy of every object's status in memory.
pub fn build<'a>(
    objects: impl IntoIterator<Item = &'a AnyObject>,
    rejections: &BTreeMap<ObjectRef, String>,
    problems: &[String],
    detail: bool,
) -> StatusView {
    let mut rows = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for obj in objects.into_iter().filter(|o| o.kind() != Kind::Secret) {
        let r = obj.object_ref();
        // Metadata and status only: a row never copies a spec (a Work's files can be large).
        let metadata = if detail { serde_json::to_value(obj.meta()).unwrap_or(Value::Null) } else { Value::Null };
        let mut conditions = obj.conditions().to_vec();
        let mut status = if detail { obj.status_value() } else { Value::Null };
        if let Some(msg) = rejections.get(&r) {
            reject(&mut conditions, msg, obj.meta().generation);
            if detail {
                match &mut status {
                    Value::Object(m) => {
                        m.insert("conditions".into(), serde_json::to_value(&conditions).unwrap_or(Value::Null));
                    }
                    _ => status = json!({ "conditions": conditions }),
                }
            }
        }
        seen.insert(r.clone());
        rows.push(Row { object: r, api_version: obj.kind().api_version(), metadata, conditions, status });
    }
    for (r, msg) in rejections.iter().filter(|(r, _)| !seen.contains(*r) && r.kind != Kind::Secret) {
        let mut conditions = Vec::new();
        reject(&mut conditions, msg, 0);
        let mut metadata = json!({ "name": r.name });
        if !r.namespace.is_empty() {
            metadata["namespace"] = json!(r.namespace);
        }
        rows.push(Row {
            object: r.clone(),
            api_version: r.kind.api_version(),
            metadata,
            status: json!({ "conditions": conditions }),
            conditions,
        });
    }
    rows.sort_by(|a, b| a.object.cmp(&b.object));
    StatusView { rows, problems: problems.to_vec() }
}

pub(crate) fn reject(conditions: &mut Vec<Condition>, message: &str, generation: i64) {
    let msg = format!("manifest refused; the last accepted version stays in effect: {message}");
    set_condition(
        conditions,
        Condition::new(READY, ConditionStatus::False, INVALID_MANIFEST, msg).with_generation(generation),
        "",
    );
}

impl StatusView {
    /// Whether everything is Ready and no manifest had a problem.
    pub fn all_ready(&self) -> bool {
        self.problems.is_empty() && self.rows.iter().all(Row::is_ready)
    }

    /// A Kubernetes `List` of the objects, each with `apiVersion`, `kind`, `metadata` and `status`, and
    /// the manifest problems that belong to no object under `problems` (kubectl ignores the field).
    pub fn to_list(&self) -> Value {
        let items: Vec<Value> = self
            .rows
            .iter()
            .map(|r| json!({ "apiVersion": r.api_version, "kind": r.object.kind.as_str(), "metadata": r.metadata, "status": r.status }))
            .collect();
        json!({ "apiVersion": "v1", "kind": "List", "items": items, "problems": self.problems })
    }

    /// The table of the objects that are not Ready (and the problems): what needs a look at the end of
    /// a run; empty when everything is Ready.
    pub fn to_summary(&self) -> String {
        let rows: Vec<Row> = self.not_ready().cloned().collect();
        if rows.is_empty() && self.problems.is_empty() {
            return String::new();
        }
        StatusView { rows, problems: self.problems.clone() }.to_table()
    }

    /// A table with one line per object, then one line per problem.
    pub fn to_table(&self) -> String {
        let mut lines = vec![["KIND".to_string(), "NAME".into(), "READY".into(), "REASON".into(), "MESSAGE".into()]];
        for r in &self.rows {
            let name = if r.object.namespace.is_empty() {
                r.object.name.clone()
            } else {
                format!("{}/{}", r.object.namespace, r.object.name)
            };
            let (ready, reason, message) = match r.ready() {
                Some(c) => (c.status.as_str().to_string(), c.reason.clone(), c.message.clone()),
                None => ("Unknown".to_string(), String::new(), String::new()),
            };
            lines.push([
                r.object.kind.as_str().to_string(),
                one_line(&name),
                ready,
                one_line(&reason),
                one_line(&message),
            ]);
        }
        let lines: Vec<Vec<String>> = lines.into_iter().map(Vec::from).collect();
        let mut out = columns(&lines, "");
        if !self.problems.is_empty() {
            out.push_str(&format!("\n{} manifest problem(s):\n", self.problems.len()));
            for p in &self.problems {
                out.push_str(&format!("  {}\n", one_line(p)));
            }
        }
        out
    }

    /// Ready/total per kind, for the end of a run: `Destination 3/3, Work 2/2, …`.
    pub fn counts(&self) -> String {
        let mut by_kind: BTreeMap<Kind, (usize, usize)> = BTreeMap::new();
        for r in &self.rows {
            let e = by_kind.entry(r.object.kind).or_default();
            e.1 += 1;
            if r.is_ready() {
                e.0 += 1;
            }
        }
        by_kind.iter().map(|(k, (ok, all))| format!("{k} {ok}/{all} ready")).collect::<Vec<_>>().join(", ")
    }

    /// Rows that are not Ready.
    pub fn not_ready(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| !r.is_ready())
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;

    #[test]
    fn a_row_is_always_one_line() {
        assert_eq!(one_line("plain message"), "plain message");
        assert_eq!(one_line("two\nlines\tand\r\u{1b}[31mred"), "two\\nlines\\tand\\r\\u{1b}[31mred");
        let view = StatusView { rows: Vec::new(), problems: vec!["a.yaml: bad\nname".into()] };
        assert!(view.to_table().lines().any(|l| l.contains("a.yaml: bad\\nname")));
    }
}
