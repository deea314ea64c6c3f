//! JSON merge patches (RFC 7386) computed from two versions of an object as Waybill models it: only
//! what Waybill changed is sent, so fields it does not model (other controllers', newer API
//! versions') are never dropped.

use serde_json::{Map, Value};

/// The merge patch that turns `before` into `after`; `None` when they are equal. Arrays are replaced
/// whole (merge patches cannot address their items); a key `after` lacks is set to null.
pub fn merge_patch(before: &Value, after: &Value) -> Option<Value> {
    if before == after {
        return None;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut out = Map::new();
            for (k, av) in a {
                match b.get(k) {
                    Some(bv) => {
                        if let Some(p) = merge_patch(bv, av) {
                            out.insert(k.clone(), p);
                        }
                    }
                    None => {
                        out.insert(k.clone(), av.clone());
                    }
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.insert(k.clone(), Value::Null);
            }
            Some(Value::Object(out))
        }
        _ => Some(after.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge_patch;

    fn apply(target: &mut serde_json::Value, patch: &serde_json::Value) {
        match (target.as_object_mut(), patch.as_object()) {
            (Some(t), Some(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        apply(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                    }
                }
            }
            _ => *target = patch.clone(),
        }
    }

    #[test]
    fn a_patch_carries_only_what_changed_and_applying_it_gives_the_new_version() {
        let cases = [
            (json!({"a": 1, "b": {"c": 2, "d": 3}}), json!({"a": 1, "b": {"c": 2, "d": 4}}), json!({"b": {"d": 4}})),
            (json!({"a": [1, 2]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!({"a": 1, "b": 2}), json!({"a": 1}), json!({"b": null})),
            (json!({"a": 1}), json!({"a": 1, "n": {"x": true}}), json!({"n": {"x": true}})),
        ];
        for (before, after, expected) in cases {
            let patch = merge_patch(&before, &after).expect("a change");
            assert_eq!(patch, expected, "{before} -> {after}");
            let mut applied = before.clone();
            apply(&mut applied, &patch);
            assert_eq!(applied, after, "applying {patch} to {before}");
        }
        assert_eq!(merge_patch(&json!({"a": 1}), &json!({"a": 1})), None);
    }

    #[test]
    fn fields_only_the_server_knows_survive_a_patch() {
        let server = json!({"spec": {"path": "a", "futureField": "kept"}, "metadata": {"name": "d"}});
        let before = json!({"spec": {"path": "a"}, "metadata": {"name": "d"}});
        let after = json!({"spec": {"path": "b"}, "metadata": {"name": "d"}});
        let mut stored = server.clone();
        apply(&mut stored, &merge_patch(&before, &after).expect("a change"));
        assert_eq!(stored["spec"]["futureField"], "kept");
        assert_eq!(stored["spec"]["path"], "b");
    }
}
