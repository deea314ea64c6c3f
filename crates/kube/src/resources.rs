//! The Kubernetes resource of each kind, and the conversions between API objects and Waybill's types.

use kube::api::{ApiResource, DynamicObject};
use serde_json::Value;
use waybill_core::{Kind, ObjectRef, Resource};
use waybill_engine::CpError;

/// The API resource (group, version, kind, plural) of `kind`.
pub fn api_resource(kind: Kind) -> ApiResource {
    let api_version = kind.api_version();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: api_version.to_string(),
        kind: kind.as_str().to_string(),
        plural: kind.plural().to_string(),
    }
}

/// An API object as Waybill's type `K`, with the error naming the object when it does not fit.
pub fn typed<K: Resource>(about: &ObjectRef, value: Value) -> Result<K, CpError> {
    serde_json::from_value::<K>(value).map_err(|e| CpError::Invalid(about.clone(), format!("failed to read: {e}")))
}

/// A dynamic object's JSON.
pub fn json_of(obj: &DynamicObject) -> Result<Value, CpError> {
    serde_json::to_value(obj).map_err(|e| CpError::Other(format!("failed to encode an object: {e}")))
}

/// JSON as a dynamic object, for the client's typed calls.
pub fn dynamic(value: Value) -> Result<DynamicObject, CpError> {
    serde_json::from_value(value).map_err(|e| CpError::Other(format!("failed to encode an object: {e}")))
}

/// A Waybill object's JSON (its type's fields only).
pub fn json_of_typed<K: Resource>(obj: &K) -> Result<Value, CpError> {
    serde_json::to_value(obj).map_err(|e| CpError::Other(format!("failed to encode an object: {e}")))
}
