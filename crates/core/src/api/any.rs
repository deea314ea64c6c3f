//! One type for "any object Waybill stores", and the trait that moves typed objects in and out of it.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{BucketStateStore, Destination, GitStateStore, Secret, Work, WorkPlacement};
use crate::kind::{Kind, ObjectRef};
use crate::meta::ObjectMeta;

/// An object of any kind Waybill knows.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyObject {
    Secret(Secret),
    GitStateStore(GitStateStore),
    BucketStateStore(BucketStateStore),
    Destination(Destination),
    Work(Work),
    WorkPlacement(WorkPlacement),
}

/// A typed API object: its kind, metadata, and the parts that decide generation bumps.
pub trait Resource: Clone + Serialize + DeserializeOwned + Send + Sync + std::fmt::Debug + 'static {
    const KIND: Kind;
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    fn into_any(self) -> AnyObject;
    fn from_any(any: AnyObject) -> Option<Self>;
    fn from_any_ref(any: &AnyObject) -> Option<&Self>;
    /// The desired state; a change to it bumps `metadata.generation`.
    fn spec_value(&self) -> Value;
    /// Whether `other` has the same desired state (compared in place: no copy of a large spec).
    fn same_spec(&self, other: &Self) -> bool;
    /// Replaces the status with `other`'s (status writes never touch spec or metadata).
    fn copy_status_from(&mut self, other: &Self);

    fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(Self::KIND, self.meta().ns(), &self.meta().name)
    }
}

macro_rules! resource {
    ($ty:ident, $spec:ident) => {
        impl Resource for $ty {
            const KIND: Kind = Kind::$ty;
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
            fn into_any(self) -> AnyObject {
                AnyObject::$ty(self)
            }
            fn from_any(any: AnyObject) -> Option<Self> {
                match any {
                    AnyObject::$ty(o) => Some(o),
                    _ => None,
                }
            }
            fn from_any_ref(any: &AnyObject) -> Option<&Self> {
                match any {
                    AnyObject::$ty(o) => Some(o),
                    _ => None,
                }
            }
            fn spec_value(&self) -> Value {
                serde_json::to_value(&self.$spec).unwrap_or(Value::Null)
            }
            fn same_spec(&self, other: &Self) -> bool {
                self.$spec == other.$spec
            }
            fn copy_status_from(&mut self, other: &Self) {
                self.status = other.status.clone();
            }
        }
    };
}

resource!(GitStateStore, spec);
resource!(BucketStateStore, spec);
resource!(Destination, spec);
resource!(Work, spec);
resource!(WorkPlacement, spec);

impl Resource for Secret {
    const KIND: Kind = Kind::Secret;
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn into_any(self) -> AnyObject {
        AnyObject::Secret(self)
    }
    fn from_any(any: AnyObject) -> Option<Self> {
        match any {
            AnyObject::Secret(o) => Some(o),
            _ => None,
        }
    }
    fn from_any_ref(any: &AnyObject) -> Option<&Self> {
        match any {
            AnyObject::Secret(o) => Some(o),
            _ => None,
        }
    }
    fn spec_value(&self) -> Value {
        // Only a digest: secret values must not travel into comparisons that may be logged.
        Value::String(self.fingerprint())
    }
    fn same_spec(&self, other: &Self) -> bool {
        (&self.data, &self.string_data, &self.type_) == (&other.data, &other.string_data, &other.type_)
    }
    fn copy_status_from(&mut self, _other: &Self) {}
}

macro_rules! each {
    ($any:expr, $o:ident => $body:expr) => {
        match $any {
            AnyObject::Secret($o) => $body,
            AnyObject::GitStateStore($o) => $body,
            AnyObject::BucketStateStore($o) => $body,
            AnyObject::Destination($o) => $body,
            AnyObject::Work($o) => $body,
            AnyObject::WorkPlacement($o) => $body,
        }
    };
}

impl AnyObject {
    pub fn kind(&self) -> Kind {
        kind_of(self)
    }

    pub fn meta(&self) -> &ObjectMeta {
        each!(self, o => &o.metadata)
    }

    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        each!(self, o => &mut o.metadata)
    }

    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(self.kind(), self.meta().ns(), &self.meta().name)
    }

    pub fn spec_value(&self) -> Value {
        each!(self, o => o.spec_value())
    }

    /// Whether `other` is of the same kind with the same desired state.
    pub fn same_spec(&self, other: &AnyObject) -> bool {
        match (self, other) {
            (AnyObject::Secret(a), AnyObject::Secret(b)) => a.same_spec(b),
            (AnyObject::GitStateStore(a), AnyObject::GitStateStore(b)) => a.same_spec(b),
            (AnyObject::BucketStateStore(a), AnyObject::BucketStateStore(b)) => a.same_spec(b),
            (AnyObject::Destination(a), AnyObject::Destination(b)) => a.same_spec(b),
            (AnyObject::Work(a), AnyObject::Work(b)) => a.same_spec(b),
            (AnyObject::WorkPlacement(a), AnyObject::WorkPlacement(b)) => a.same_spec(b),
            _ => false,
        }
    }

    /// Replaces the status with `other`'s when both are of the same kind.
    pub fn copy_status_from(&mut self, other: &AnyObject) {
        match (self, other) {
            (AnyObject::GitStateStore(a), AnyObject::GitStateStore(b)) => a.copy_status_from(b),
            (AnyObject::BucketStateStore(a), AnyObject::BucketStateStore(b)) => a.copy_status_from(b),
            (AnyObject::Destination(a), AnyObject::Destination(b)) => a.copy_status_from(b),
            (AnyObject::Work(a), AnyObject::Work(b)) => a.copy_status_from(b),
            (AnyObject::WorkPlacement(a), AnyObject::WorkPlacement(b)) => a.copy_status_from(b),
            _ => {}
        }
    }

    /// The status as JSON (`null` when absent; Secrets have none).
    pub fn status_value(&self) -> Value {
        match self {
            AnyObject::Secret(_) => Value::Null,
            AnyObject::GitStateStore(o) => serde_json::to_value(&o.status).unwrap_or(Value::Null),
            AnyObject::BucketStateStore(o) => serde_json::to_value(&o.status).unwrap_or(Value::Null),
            AnyObject::Destination(o) => serde_json::to_value(&o.status).unwrap_or(Value::Null),
            AnyObject::Work(o) => serde_json::to_value(&o.status).unwrap_or(Value::Null),
            AnyObject::WorkPlacement(o) => serde_json::to_value(&o.status).unwrap_or(Value::Null),
        }
    }

    /// The object's conditions (empty for Secrets and objects without status).
    pub fn conditions(&self) -> &[crate::meta::Condition] {
        match self {
            AnyObject::Secret(_) => &[],
            AnyObject::GitStateStore(o) => o.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or(&[]),
            AnyObject::BucketStateStore(o) => o.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or(&[]),
            AnyObject::Destination(o) => o.conditions(),
            AnyObject::Work(o) => o.conditions(),
            AnyObject::WorkPlacement(o) => o.conditions(),
        }
    }

    /// The object as the Kubernetes API would serve it.
    pub fn to_json(&self) -> Value {
        each!(self, o => serde_json::to_value(o).unwrap_or(Value::Null))
    }

    /// The object as JSON text, written in one pass (no intermediate [`Value`]).
    pub fn to_json_string(&self) -> String {
        each!(self, o => serde_json::to_string(o).unwrap_or_default())
    }

    /// Drops the status (Secrets have none).
    pub fn clear_status(&mut self) {
        match self {
            AnyObject::Secret(_) => {}
            AnyObject::GitStateStore(o) => o.status = None,
            AnyObject::BucketStateStore(o) => o.status = None,
            AnyObject::Destination(o) => o.status = None,
            AnyObject::Work(o) => o.status = None,
            AnyObject::WorkPlacement(o) => o.status = None,
        }
    }

    /// Parses an object of `kind` from JSON text, with its status given apart (`status`, when not
    /// `null`, replaces whatever status the body holds). Straight into the typed object: no [`Value`].
    pub fn from_json_parts(kind: Kind, body: &str, status: Option<&str>) -> Result<AnyObject, serde_json::Error> {
        fn parse<T: Resource>(body: &str, status: Option<&str>) -> Result<T, serde_json::Error> {
            let mut obj: T = serde_json::from_str(body)?;
            if let Some(status) = status.filter(|s| s.trim() != "null") {
                let with: T = serde_json::from_str(&format!("{{\"status\":{status}}}"))?;
                obj.copy_status_from(&with);
            }
            Ok(obj)
        }
        Ok(match kind {
            Kind::Secret => AnyObject::Secret(parse(body, None)?),
            Kind::GitStateStore => AnyObject::GitStateStore(parse(body, status)?),
            Kind::BucketStateStore => AnyObject::BucketStateStore(parse(body, status)?),
            Kind::Destination => AnyObject::Destination(parse(body, status)?),
            Kind::Work => AnyObject::Work(parse(body, status)?),
            Kind::WorkPlacement => AnyObject::WorkPlacement(parse(body, status)?),
        })
    }

    /// Parses an object of `kind` from its JSON form; the error names the field.
    pub fn from_json(kind: Kind, value: Value) -> Result<AnyObject, serde_path_to_error::Error<serde_json::Error>> {
        fn parse<T: DeserializeOwned>(value: Value) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
            serde_path_to_error::deserialize(value)
        }
        Ok(match kind {
            Kind::Secret => AnyObject::Secret(parse(value)?),
            Kind::GitStateStore => AnyObject::GitStateStore(parse(value)?),
            Kind::BucketStateStore => AnyObject::BucketStateStore(parse(value)?),
            Kind::Destination => AnyObject::Destination(parse(value)?),
            Kind::Work => AnyObject::Work(parse(value)?),
            Kind::WorkPlacement => AnyObject::WorkPlacement(parse(value)?),
        })
    }
}

fn kind_of(any: &AnyObject) -> Kind {
    match any {
        AnyObject::Secret(_) => Kind::Secret,
        AnyObject::GitStateStore(_) => Kind::GitStateStore,
        AnyObject::BucketStateStore(_) => Kind::BucketStateStore,
        AnyObject::Destination(_) => Kind::Destination,
        AnyObject::Work(_) => Kind::Work,
        AnyObject::WorkPlacement(_) => Kind::WorkPlacement,
    }
}
