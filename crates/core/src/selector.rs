//! Destination selectors: precedence between selector sources (compatibility C10), Waybill's
//! `matchExpressions` extension (compatibility D16), and matching against a Destination's labels.

use std::collections::BTreeMap;

use crate::api::{DestinationSelector, LabelSelectorRequirement};

/// A resolved selector: the AND of every label and every requirement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub match_labels: BTreeMap<String, String>,
    pub requirements: Vec<Requirement>,
}

/// A set-based requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

pub const OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];

impl Requirement {
    /// Parses a `matchExpressions` entry; the error says what is wrong with it.
    pub fn parse(raw: &LabelSelectorRequirement) -> Result<Requirement, String> {
        let key = raw.key.clone();
        let values = raw.values.clone();
        match raw.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => Err(format!("operator {} needs at least one value", raw.operator)),
            "In" => Ok(Requirement::In(key, values)),
            "NotIn" => Ok(Requirement::NotIn(key, values)),
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                Err(format!("operator {} takes no values", raw.operator))
            }
            "Exists" => Ok(Requirement::Exists(key)),
            "DoesNotExist" => Ok(Requirement::DoesNotExist(key)),
            _ => Err(format!("must be one of {}", OPERATORS.join(", "))),
        }
    }

    fn matches(&self, labels: &crate::meta::Labels) -> bool {
        match self {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// Rank of a selector's `source`: later ranks win key conflicts (promise > promise-workflow > rest).
fn rank(source: &str) -> u8 {
    match source {
        "promise" => 2,
        "promise-workflow" => 1,
        _ => 0,
    }
}

/// Merges a workload group's selectors: `matchLabels` by precedence (stable order, lowest rank first,
/// later entries overwrite), `matchExpressions` all ANDed. Invalid expressions are skipped here; Work
/// validation reports them.
pub fn resolve(selectors: &[DestinationSelector]) -> Selector {
    let mut ordered: Vec<&DestinationSelector> = selectors.iter().collect();
    ordered.sort_by_key(|s| rank(&s.source));
    let mut out = Selector::default();
    for s in ordered {
        for (k, v) in &s.match_labels {
            out.match_labels.insert(k.clone(), v.clone());
        }
        out.requirements.extend(s.match_expressions.iter().filter_map(|r| Requirement::parse(r).ok()));
    }
    out
}

impl Selector {
    /// A selector requiring exactly these labels.
    pub fn labels<const N: usize>(pairs: [(&str, &str); N]) -> Selector {
        Selector {
            match_labels: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            requirements: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &crate::meta::Labels) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector pins `key` to `value` (used for the dry-run rule of compatibility C10).
    pub fn requires(&self, key: &str, value: &str) -> bool {
        self.match_labels.get(key).is_some_and(|v| v == value)
            || self
                .requirements
                .iter()
                .any(|r| matches!(r, Requirement::In(k, vs) if k == key && vs.iter().all(|v| v == value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(source: &str, labels: &[(&str, &str)]) -> DestinationSelector {
        DestinationSelector {
            match_labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            match_expressions: vec![],
            source: source.to_string(),
        }
    }

    fn labels<M: FromIterator<(String, String)>>(pairs: &[(&str, &str)]) -> M {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn promise_selectors_win_over_workflow_selectors() {
        let cases: Vec<(Vec<DestinationSelector>, BTreeMap<String, String>)> = vec![
            (
                vec![
                    sel("resource-workflow", &[("environment", "production"), ("region", "europe")]),
                    sel("promise-workflow", &[("workflow", "label")]),
                    sel("promise", &[("environment", "dev")]),
                ],
                labels(&[("environment", "dev"), ("region", "europe"), ("workflow", "label")]),
            ),
            (
                vec![
                    sel("promise-workflow", &[("environment", "dev")]),
                    sel("promise", &[("environment", "prod")]),
                    sel("resource-workflow", &[("environment", "staging")]),
                ],
                labels(&[("environment", "prod")]),
            ),
            (vec![sel("", &[("a", "1")]), sel("other", &[("a", "2")])], labels(&[("a", "2")])),
            (vec![], labels(&[])),
        ];
        for (selectors, want) in cases {
            assert_eq!(resolve(&selectors).match_labels, want);
        }
    }

    #[test]
    fn match_expressions_follow_kubernetes_semantics() {
        let dev: crate::meta::Labels = labels(&[("env", "dev"), ("tier", "gold")]);
        let req = |op: &str, key: &str, values: &[&str]| {
            Requirement::parse(&LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: values.iter().map(|v| v.to_string()).collect(),
            })
            .unwrap()
        };
        let cases = [
            (req("In", "env", &["dev", "prod"]), true),
            (req("In", "env", &["prod"]), false),
            (req("NotIn", "env", &["prod"]), true),
            (req("NotIn", "missing", &["x"]), true),
            (req("Exists", "tier", &[]), true),
            (req("DoesNotExist", "tier", &[]), false),
        ];
        for (r, want) in cases {
            let s = Selector { match_labels: BTreeMap::new(), requirements: vec![r.clone()] };
            assert_eq!(s.matches(&dev), want, "{r:?}");
        }
    }

    #[test]
    fn malformed_expressions_are_refused_with_a_reason() {
        let bad = [("Near", vec!["x"]), ("In", vec![]), ("Exists", vec!["x"])];
        for (op, values) in bad {
            let raw = LabelSelectorRequirement {
                key: "k".into(),
                operator: op.into(),
                values: values.iter().map(|v| v.to_string()).collect(),
            };
            assert!(Requirement::parse(&raw).is_err(), "{op}");
        }
    }
}
