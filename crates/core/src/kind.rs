//! The kinds Waybill knows and the identity of an object.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The API group of the Kratix kinds.
pub const KRATIX_GROUP: &str = "platform.kratix.io";
pub const KRATIX_API_VERSION: &str = "platform.kratix.io/v1alpha1";

/// Every kind Waybill reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Secret,
    GitStateStore,
    BucketStateStore,
    Destination,
    Work,
    WorkPlacement,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Secret, Kind::GitStateStore, Kind::BucketStateStore, Kind::Destination, Kind::Work, Kind::WorkPlacement];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Secret => "Secret",
            Kind::GitStateStore => "GitStateStore",
            Kind::BucketStateStore => "BucketStateStore",
            Kind::Destination => "Destination",
            Kind::Work => "Work",
            Kind::WorkPlacement => "WorkPlacement",
        }
    }

    pub fn parse(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Secret => "v1",
            _ => KRATIX_API_VERSION,
        }
    }

    /// The resource name in API paths (`destinations`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::GitStateStore => "gitstatestores",
            Kind::BucketStateStore => "bucketstatestores",
            Kind::Destination => "destinations",
            Kind::Work => "works",
            Kind::WorkPlacement => "workplacements",
        }
    }

    /// The CRD's short names (`kubectl get dest`).
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Destination => &["dest", "dests"],
            Kind::WorkPlacement => &["wp", "wps"],
            _ => &[],
        }
    }

    /// A kind as typed on a command line, by kubectl's rules: its name, plural or a short name, in any
    /// case (`destination`, `Destinations`, `dest`, `wp`).
    pub fn from_cli(text: &str) -> Option<Kind> {
        let text = text.to_ascii_lowercase();
        Kind::ALL.into_iter().find(|k| {
            k.as_str().eq_ignore_ascii_case(&text) || k.plural() == text || k.short_names().contains(&text.as_str())
        })
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        matches!(self, Kind::Secret | Kind::Work | Kind::WorkPlacement)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identity of one object: kind, namespace (empty for cluster-scoped kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        let namespace = if kind.namespaced() { namespace.to_string() } else { String::new() };
        ObjectRef { kind, namespace, name: name.to_string() }
    }

    pub fn cluster(kind: Kind, name: &str) -> Self {
        ObjectRef::new(kind, "", name)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_read_from_a_command_line_as_kubectl_reads_them() {
        for (typed, kind) in [
            ("destination", Some(Kind::Destination)),
            ("Destinations", Some(Kind::Destination)),
            ("dest", Some(Kind::Destination)),
            ("WP", Some(Kind::WorkPlacement)),
            ("workplacements", Some(Kind::WorkPlacement)),
            ("work", Some(Kind::Work)),
            ("gitstatestore", Some(Kind::GitStateStore)),
            ("bucketstatestores", Some(Kind::BucketStateStore)),
            ("promise", None),
            ("", None),
        ] {
            assert_eq!(Kind::from_cli(typed), kind, "{typed}");
        }
    }
}
