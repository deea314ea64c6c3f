//! The CustomResourceDefinitions of the five kinds Waybill reconciles, built from the API types'
//! fields and enums (`waybill crds` prints them). They are Kratix's CRDs field for field (names,
//! scope, printer columns, types, required fields, enums, defaults, the `filepath.mode` rule, the
//! status subresource), plus the few fields Waybill adds, listed in [`WAYBILL_EXTENSIONS`]: existing
//! Kratix manifests apply unchanged, and installing them over Kratix's CRDs keeps Kratix's objects.

mod schema;
mod strict;

use serde_json::{Value, json};

pub use schema::Schema;
pub(crate) use strict::distance;
pub use strict::unknown_fields;

use crate::api::{BucketAuthMethod, Cleanup, DEFAULT_AGGREGATE_FILENAME, FilepathMode, GitAuthMethod, StateStoreKind};
use crate::kind::{KRATIX_GROUP, Kind};

/// The schema paths (below `openAPIV3Schema`) that Waybill adds to Kratix's CRDs, each with why.
pub const WAYBILL_EXTENSIONS: &[(Kind, &str, &str)] = &[
    (Kind::BucketStateStore, ".spec.region", "the signing region of the bucket's endpoint"),
    (Kind::Destination, ".status.observedGeneration", "the generation the status describes"),
    (Kind::Destination, ".status.writtenTo", "where the files were last written, to remove them after a move"),
    (Kind::Work, ".spec.workloadGroups[].destinationSelectors[].matchExpressions", "set-based selectors"),
    (Kind::Work, ".status.observedGeneration", "the generation the status describes"),
    (Kind::WorkPlacement, ".status.observedGeneration", "the generation the status describes"),
];

/// The printer columns, names and scope Kratix declares for a kind.
struct Shape {
    kind: Kind,
    plural: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    columns: &'static [(&'static str, &'static str, &'static str)],
}

const READY_STATUS: &str = r#".status.conditions[?(@.type=="Ready")].status"#;
const READY_MESSAGE: &str = r#".status.conditions[?(@.type=="Ready")].message"#;

fn shape(kind: Kind) -> Shape {
    let (short_names, columns): (&'static [&'static str], &'static [_]) = match kind {
        Kind::Destination => (
            kind.short_names(),
            &[
                ("StateStoreKind", ".spec.stateStoreRef.kind", "Kind of the state store the Destination writes to"),
                ("StateStoreName", ".spec.stateStoreRef.name", "Name of the state store the Destination writes to"),
                ("Ready", READY_STATUS, "Whether the Destination's state store accepted its test documents"),
            ],
        ),
        Kind::GitStateStore => (
            &[],
            &[
                ("URL", ".spec.url", "URL of the Git repository"),
                ("Branch", ".spec.branch", "Branch of the Git repository"),
                ("Ready", READY_STATUS, "Whether the repository accepts writes"),
            ],
        ),
        Kind::BucketStateStore => (
            &[],
            &[
                ("Name", ".spec.bucketName", "Name of the bucket"),
                ("Endpoint", ".spec.endpoint", "Endpoint of the bucket"),
                ("Ready", READY_STATUS, "Whether the bucket accepts writes"),
            ],
        ),
        Kind::Work => (&[], &[("STATUS", READY_MESSAGE, "Status of this Work")]),
        Kind::WorkPlacement => (
            kind.short_names(),
            &[
                ("DESTINATION", ".spec.targetDestinationName", "Destination this WorkPlacement is scheduled to"),
                ("STATUS", READY_MESSAGE, "Status of this WorkPlacement"),
            ],
        ),
        Kind::Secret => (&[], &[]),
    };
    Shape { kind, plural: kind.plural(), short_names, namespaced: kind.namespaced(), columns }
}

/// The kinds Waybill defines, in the order `waybill crds` prints them.
pub const CRD_KINDS: [Kind; 5] =
    [Kind::BucketStateStore, Kind::Destination, Kind::GitStateStore, Kind::WorkPlacement, Kind::Work];

/// The CustomResourceDefinition of `kind`; `None` for kinds Kubernetes defines (Secret).
pub fn crd(kind: Kind) -> Option<Value> {
    let spec = match kind {
        Kind::Destination => destination_spec(),
        Kind::GitStateStore => git_spec(),
        Kind::BucketStateStore => bucket_spec(),
        Kind::Work => work_spec(),
        Kind::WorkPlacement => placement_spec(),
        Kind::Secret => return None,
    };
    let shape = shape(kind);
    let name = kind.as_str();
    let mut names = json!({
        "categories": ["kratix"],
        "kind": name,
        "listKind": format!("{name}List"),
        "plural": shape.plural,
        "singular": name.to_lowercase(),
    });
    if !shape.short_names.is_empty() {
        names["shortNames"] = json!(shape.short_names);
    }
    let columns: Vec<Value> = shape
        .columns
        .iter()
        .map(|(name, path, description)| {
            json!({ "description": description, "jsonPath": path, "name": name, "type": "string" })
        })
        .collect();
    let root = Schema::object(vec![
        ("apiVersion", Schema::string().describe("The versioned schema of this object.")),
        ("kind", Schema::string().describe("The REST resource this object represents.")),
        ("metadata", Schema::any_object()),
        ("spec", spec),
        ("status", status(shape.kind)),
    ])
    .describe(&format!("{name} of {KRATIX_GROUP}, reconciled by Waybill."));
    Some(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{}.{KRATIX_GROUP}", shape.plural) },
        "spec": {
            "group": KRATIX_GROUP,
            "names": names,
            "scope": if shape.namespaced { "Namespaced" } else { "Cluster" },
            "versions": [{
                "additionalPrinterColumns": columns,
                "name": "v1alpha1",
                "schema": { "openAPIV3Schema": root.into_value() },
                "served": true,
                "storage": true,
                "subresources": { "status": {} },
            }],
        },
    }))
}

/// Every CustomResourceDefinition, in [`CRD_KINDS`] order.
pub fn crds() -> Vec<Value> {
    CRD_KINDS.iter().filter_map(|k| crd(*k)).collect()
}

fn secret_ref() -> Schema {
    Schema::object(vec![
        ("name", Schema::string().describe("Name of the Secret.")),
        ("namespace", Schema::string().describe("Namespace of the Secret (default when empty).")),
    ])
    .with("x-kubernetes-map-type", json!("atomic"))
    .describe("The Secret holding the credentials.")
}

fn destination_spec() -> Schema {
    Schema::object(vec![
        (
            "cleanup",
            Schema::one_of(Cleanup::VALUES).default(json!(Cleanup::default().as_str())).describe(
                "What happens to the Destination's files when it is deleted: none keeps them, all removes its \
             WorkPlacements and their files.",
            ),
        ),
        (
            "filepath",
            Schema::object(vec![
                (
                    "filename",
                    Schema::string().describe(&format!(
                        "File name of the aggregate in aggregatedYAML mode (default {DEFAULT_AGGREGATE_FILENAME})."
                    )),
                ),
                (
                    "mode",
                    Schema::one_of(FilepathMode::VALUES)
                        .rule("self == oldSelf", "filepath.mode is immutable")
                        .describe("How files are laid out in the state store; immutable."),
                ),
            ])
            .default(json!({ "mode": FilepathMode::default().as_str() }))
            .describe("How the Destination's files are laid out."),
        ),
        (
            "initWorkloads",
            Schema::object(vec![(
                "enabled",
                Schema::boolean().default(json!(true)).describe("Write the two test documents on creation."),
            )])
            .default(json!({}))
            .describe("The test documents that prove the state store is writable."),
        ),
        (
            "path",
            Schema::string()
                .describe("Directory inside the state store's path that the Destination's files are written below."),
        ),
        (
            "stateStoreRef",
            Schema::object(vec![
                ("kind", Schema::one_of(StateStoreKind::VALUES).describe("Kind of the state store.")),
                ("name", Schema::string().describe("Name of the state store.")),
            ])
            .required(&["kind", "name"])
            .describe("The state store the Destination's files are written to."),
        ),
        (
            "strictMatchLabels",
            Schema::boolean()
                .describe("Only schedule Works whose selectors select this Destination (none without selectors)."),
        ),
    ])
    .required(&["path"])
    .describe("Where and how the Destination's files are written.")
}

fn git_spec() -> Schema {
    Schema::object(vec![
        (
            "authMethod",
            Schema::one_of(GitAuthMethod::VALUES)
                .default(json!(GitAuthMethod::default().as_str()))
                .describe("How Waybill authenticates to the remote."),
        ),
        ("branch", Schema::string().default(json!("main")).describe("Branch written to.")),
        (
            "gitAuthor",
            Schema::object(vec![
                ("email", Schema::string().describe("Commit author's email.")),
                ("name", Schema::string().describe("Commit author's name.")),
            ])
            .default(json!({ "name": "kratix" }))
            .describe("The author of Waybill's commits."),
        ),
        ("path", Schema::string().describe("Directory in the repository that Destinations' paths are below.")),
        ("secretRef", secret_ref()),
        ("url", Schema::string().describe("URL of the repository (https://, ssh:// or user@host:path).")),
    ])
    .describe("A Git repository that Destinations' files are committed to.")
}

fn bucket_spec() -> Schema {
    Schema::object(vec![
        (
            "authMethod",
            Schema::one_of(BucketAuthMethod::VALUES)
                .default(json!(BucketAuthMethod::default().as_str()))
                .describe("Static keys from the Secret, or the environment's credentials (IAM)."),
        ),
        ("bucketName", Schema::string().describe("Name of the bucket.")),
        ("endpoint", Schema::string().describe("host[:port] of the S3-compatible endpoint.")),
        ("insecure", Schema::boolean().describe("Use plain HTTP instead of HTTPS.")),
        ("path", Schema::string().describe("Key prefix that Destinations' paths are below.")),
        ("region", Schema::string().describe("Signing region (Waybill extension; us-east-1 when empty).")),
        ("secretRef", secret_ref()),
        ("useDualStack", Schema::boolean().describe("Use the endpoint's dual-stack host name.")),
    ])
    .required(&["bucketName", "endpoint"])
    .describe("An S3-compatible bucket that Destinations' files are uploaded to.")
}

fn workload() -> Schema {
    Schema::object(vec![
        ("content", Schema::string().describe("The file's content: base64 of gzip, or plain text.")),
        ("filepath", Schema::string().describe("Path of the file below the placement's directory.")),
    ])
}

fn work_spec() -> Schema {
    let selector = Schema::object(vec![
        (
            "matchExpressions",
            Schema::array(
                Schema::object(vec![
                    ("key", Schema::string()),
                    ("operator", Schema::string().describe("In, NotIn, Exists or DoesNotExist.")),
                    ("values", Schema::array(Schema::string())),
                ])
                .required(&["key", "operator"]),
            )
            .describe("Set-based requirements on the Destination's labels (Waybill extension)."),
        ),
        ("matchLabels", Schema::map_of(Schema::string()).describe("Labels the Destination must carry.")),
        ("source", Schema::string().describe("Where the selector came from (promise or resource).")),
    ]);
    let group = Schema::object(vec![
        ("destinationSelectors", Schema::array(selector).describe("Which Destinations the group is placed on.")),
        ("directory", Schema::string().describe("The pipeline directory the group came from.")),
        ("id", Schema::string().describe("Hex MD5 of the directory.")),
        ("workloads", Schema::array(workload()).describe("The group's files.")),
    ]);
    Schema::object(vec![
        ("lastExecutionTimestamp", Schema::date_time().describe("When the pipeline that wrote the Work last ran.")),
        ("promiseName", Schema::string().describe("The promise the Work belongs to.")),
        ("resourceName", Schema::string().describe("The resource request, empty for a promise's dependencies.")),
        ("workloadGroups", Schema::array(group).describe("Groups of files, each placed on its Destinations.")),
    ])
    .describe("Documents to place on Destinations.")
}

fn placement_spec() -> Schema {
    Schema::object(vec![
        ("generation", Schema::int64().describe("The Work's generation the placement was made from.")),
        ("id", Schema::string().describe("The workload group's id.")),
        ("promiseName", Schema::string().describe("The promise the Work belongs to.")),
        ("resourceName", Schema::string().describe("The resource request, empty for dependencies.")),
        ("targetDestinationName", Schema::string().describe("The Destination the files are written to.")),
        ("workloads", Schema::array(workload()).describe("The files.")),
    ])
    .describe("One workload group of a Work placed on one Destination.")
}

/// `metav1.Condition`, as every Kratix CRD declares it.
fn conditions() -> Schema {
    Schema::array(
        Schema::object(vec![
            ("lastTransitionTime", Schema::date_time().describe("When the status last changed.")),
            ("message", Schema::string().with("maxLength", json!(32768)).describe("What happened, for people.")),
            (
                "observedGeneration",
                Schema::int64().with("minimum", json!(0)).describe("The generation the condition describes."),
            ),
            (
                "reason",
                Schema::string()
                    .with("maxLength", json!(1024))
                    .with("minLength", json!(1))
                    .with("pattern", json!("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"))
                    .describe("Why, as an identifier."),
            ),
            ("status", Schema::one_of(&["True", "False", "Unknown"]).describe("True, False or Unknown.")),
            (
                "type",
                Schema::string()
                    .with("maxLength", json!(316))
                    .with(
                        "pattern",
                        json!(
                            r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
                        ),
                    )
                    .describe("The condition's type (Ready, WriteSucceeded, ...)."),
            ),
        ])
        .required(&["lastTransitionTime", "message", "reason", "status", "type"]),
    )
    .describe("The latest observations of the object's state.")
}

fn status(kind: Kind) -> Schema {
    let generation = || Schema::int64().describe("The generation this status describes.");
    let props = match kind {
        Kind::Destination => vec![
            ("conditions", conditions()),
            ("observedGeneration", generation()),
            (
                "writtenTo",
                Schema::object(vec![
                    ("stateStoreRef", Schema::object(vec![("kind", Schema::string()), ("name", Schema::string())])),
                    ("storePath", Schema::string()),
                    ("path", Schema::string()),
                ])
                .describe("Where the Destination's files were last written (Waybill extension)."),
            ),
        ],
        Kind::GitStateStore | Kind::BucketStateStore => {
            return Schema::object(vec![
                ("conditions", conditions()),
                ("observedGeneration", generation()),
                ("status", Schema::string().describe("Ready or NotReady.")),
            ])
            .required(&["status"])
            .describe("Whether the state store accepts writes.");
        }
        Kind::Work => vec![
            ("conditions", conditions()),
            ("observedGeneration", generation()),
            ("workPlacements", Schema::integer().describe("How many placements the Work needs.")),
            ("workPlacementsCreated", Schema::integer().describe("How many placements exist.")),
        ],
        Kind::WorkPlacement => vec![
            ("conditions", conditions()),
            ("observedGeneration", generation()),
            ("versionID", Schema::string().describe("The commit or version chain of the last write.")),
        ],
        Kind::Secret => vec![],
    };
    Schema::object(props).describe("What the controller last observed.")
}
