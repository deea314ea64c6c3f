//! A small builder for the OpenAPI v3 schemas of CustomResourceDefinitions: structural schemas only
//! (every node typed), as the API server requires of CRDs.

use serde_json::{Map, Value, json};

/// One schema node. Built with the constructors below and turned into JSON by [`Schema::into_value`].
#[derive(Debug, Clone)]
pub struct Schema(Map<String, Value>);

impl Schema {
    fn typed(type_: &str) -> Self {
        let mut m = Map::new();
        m.insert("type".into(), json!(type_));
        Schema(m)
    }

    pub fn string() -> Self {
        Schema::typed("string")
    }

    pub fn boolean() -> Self {
        Schema::typed("boolean")
    }

    pub fn integer() -> Self {
        Schema::typed("integer")
    }

    /// A 64-bit integer (`format: int64`), as Go's `int64` fields are declared.
    pub fn int64() -> Self {
        Schema::integer().with("format", json!("int64"))
    }

    /// An RFC 3339 timestamp (`format: date-time`).
    pub fn date_time() -> Self {
        Schema::string().with("format", json!("date-time"))
    }

    /// A string limited to `values`.
    pub fn one_of(values: &[&str]) -> Self {
        Schema::string().with("enum", json!(values))
    }

    /// An object with the given properties, in the order given.
    pub fn object(properties: Vec<(&str, Schema)>) -> Self {
        let props: Map<String, Value> = properties.into_iter().map(|(k, v)| (k.to_string(), v.into_value())).collect();
        Schema::typed("object").with("properties", Value::Object(props))
    }

    /// An object without declared properties (`metadata`, whose schema the API server owns).
    pub fn any_object() -> Self {
        Schema::typed("object")
    }

    /// A map from string keys to values of one schema.
    pub fn map_of(values: Schema) -> Self {
        Schema::typed("object").with("additionalProperties", values.into_value())
    }

    pub fn array(items: Schema) -> Self {
        Schema::typed("array").with("items", items.into_value())
    }

    pub fn describe(self, text: &str) -> Self {
        self.with("description", json!(text))
    }

    pub fn required(self, fields: &[&str]) -> Self {
        self.with("required", json!(fields))
    }

    pub fn default(self, value: Value) -> Self {
        self.with("default", value)
    }

    /// A CEL validation rule with the message the API server returns when it fails.
    pub fn rule(self, rule: &str, message: &str) -> Self {
        self.with("x-kubernetes-validations", json!([{ "message": message, "rule": rule }]))
    }

    /// Any other keyword (`maxLength`, `pattern`, `x-kubernetes-map-type`, ...).
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.0.insert(key.to_string(), value);
        self
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}
