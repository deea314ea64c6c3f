//! Kubernetes object metadata and standard conditions, as the Kratix CRDs carry them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::small_map::SmallMap;

/// An object's labels: most objects carry a handful, held in a map sized to them (a `BTreeMap` node
/// holds eleven; see [`crate::small_map`]).
pub type Labels = SmallMap<String, String>;

/// `metav1.ObjectMeta`, limited to the fields Waybill reads or writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl ObjectMeta {
    /// Metadata with a name and, for namespaced kinds, a namespace.
    pub fn named(name: impl Into<String>, namespace: Option<&str>) -> Self {
        ObjectMeta { name: name.into(), namespace: namespace.map(str::to_string), ..Default::default() }
    }

    /// True once deletion was requested (the object waits for its finalizers).
    pub fn is_deleting(&self) -> bool {
        self.deletion_timestamp.is_some()
    }

    pub fn has_finalizer(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }

    /// Adds a finalizer; reports whether it was missing.
    pub fn add_finalizer(&mut self, finalizer: &str) -> bool {
        if self.has_finalizer(finalizer) {
            return false;
        }
        self.finalizers.push(finalizer.to_string());
        true
    }

    /// Removes a finalizer; reports whether it was present.
    pub fn remove_finalizer(&mut self, finalizer: &str) -> bool {
        let before = self.finalizers.len();
        self.finalizers.retain(|f| f != finalizer);
        before != self.finalizers.len()
    }

    /// The namespace, or the empty string for cluster-scoped objects.
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
}

/// `metav1.OwnerReference`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// Status of a condition, as Kubernetes spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn from_bool(ok: bool) -> Self {
        if ok { ConditionStatus::True } else { ConditionStatus::False }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// `metav1.Condition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    #[serde(default)]
    pub observed_generation: i64,
    #[serde(default)]
    pub last_transition_time: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

impl Condition {
    /// A condition of `type_` with no transition time yet (it is stamped when set).
    pub fn new(type_: &str, status: ConditionStatus, reason: &str, message: impl Into<String>) -> Self {
        Condition {
            type_: type_.to_string(),
            status,
            observed_generation: 0,
            last_transition_time: String::new(),
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    pub fn with_generation(mut self, generation: i64) -> Self {
        self.observed_generation = generation;
        self
    }

    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// `meta.SetStatusCondition`: keyed by type; the transition time only moves when the status flips.
/// Returns whether status, reason, message or observedGeneration changed.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition, now: &str) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        None => {
            if new.last_transition_time.is_empty() {
                new.last_transition_time = now.to_string();
            }
            conditions.push(new);
            true
        }
        Some(existing) => {
            let mut changed = false;
            if existing.status != new.status {
                existing.status = new.status;
                existing.last_transition_time =
                    if new.last_transition_time.is_empty() { now.to_string() } else { new.last_transition_time };
                changed = true;
            }
            if existing.reason != new.reason {
                existing.reason = new.reason;
                changed = true;
            }
            if existing.message != new.message {
                existing.message = new.message;
                changed = true;
            }
            if existing.observed_generation != new.observed_generation {
                existing.observed_generation = new.observed_generation;
                changed = true;
            }
            changed
        }
    }
}

/// The condition of `type_`, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Removes the condition of `type_`; reports whether it was present.
pub fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    before != conditions.len()
}

/// The current time in the Kubernetes wire format (`2006-01-02T15:04:05Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_condition_only_moves_the_transition_time_when_the_status_flips() {
        let mut conds = Vec::new();
        assert!(set_condition(&mut conds, Condition::new("Ready", ConditionStatus::False, "A", "a"), "t1"));
        assert_eq!(conds[0].last_transition_time, "t1");
        assert!(set_condition(&mut conds, Condition::new("Ready", ConditionStatus::False, "B", "b"), "t2"));
        assert_eq!(conds[0].last_transition_time, "t1", "reason change keeps the time");
        assert!(!set_condition(&mut conds, Condition::new("Ready", ConditionStatus::False, "B", "b"), "t3"));
        assert!(set_condition(&mut conds, Condition::new("Ready", ConditionStatus::True, "B", "b"), "t4"));
        assert_eq!(conds[0].last_transition_time, "t4");
        assert!(set_condition(
            &mut conds,
            Condition::new("Ready", ConditionStatus::True, "B", "b").with_generation(2),
            "t5"
        ));
        assert_eq!(conds.len(), 1);
    }

    #[test]
    fn finalizers_are_added_and_removed_once() {
        let mut meta = ObjectMeta::named("x", None);
        assert!(meta.add_finalizer("f"));
        assert!(!meta.add_finalizer("f"));
        assert_eq!(meta.finalizers, vec!["f"]);
        assert!(meta.remove_finalizer("f"));
        assert!(!meta.remove_finalizer("f"));
    }
}
