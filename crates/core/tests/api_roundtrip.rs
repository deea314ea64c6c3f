//! Every field of the five kinds and Secrets (compatibility C1, C2) survives a parse, a serialisation
//! and a second parse; defaults are Kratix's; the BucketStateStore webhook's messages (compatibility C16).

use waybill_core::api::*;
use waybill_core::manifest;
use waybill_core::validation::validate;

const ALL_KINDS: &str = r#"
apiVersion: platform.kratix.io/v1alpha1
kind: Destination
metadata:
  name: worker-1
  labels: {environment: dev}
  annotations: {note: x}
spec:
  path: clusters/worker-1
  strictMatchLabels: true
  cleanup: all
  initWorkloads: {enabled: false}
  filepath: {mode: aggregatedYAML, filename: catalog.yaml}
  stateStoreRef: {kind: GitStateStore, name: default}
---
apiVersion: platform.kratix.io/v1alpha1
kind: GitStateStore
metadata: {name: default}
spec:
  url: https://github.com/org/repo.git
  path: /clusters/
  branch: test
  authMethod: ssh
  secretRef: {name: git, namespace: flux-system}
  gitAuthor: {name: a-user, email: test@example.com}
---
apiVersion: platform.kratix.io/v1alpha1
kind: BucketStateStore
metadata: {name: minio}
spec:
  bucketName: kratix
  endpoint: minio.example.com:9000
  path: state
  insecure: true
  useDualStack: true
  authMethod: IAM
---
apiVersion: platform.kratix.io/v1alpha1
kind: Work
metadata:
  name: redis-my-redis
  namespace: default
  labels: {kratix.io/pipeline-name: instance-configure}
spec:
  lastExecutionTimestamp: "2026-01-02T03:04:05Z"
  promiseName: redis
  resourceName: my-redis
  workloadGroups:
  - directory: foo
    id: acbd18db4cc2f85cedef654fccc4a4d8
    destinationSelectors:
    - matchLabels: {environment: dev}
      source: promise
    - matchExpressions: [{key: tier, operator: In, values: [gold]}]
    workloads:
    - {filepath: foo/x.yaml, content: "a: 1"}
---
apiVersion: platform.kratix.io/v1alpha1
kind: WorkPlacement
metadata: {name: wp, namespace: default}
spec:
  targetDestinationName: worker-1
  promiseName: redis
  resourceName: my-redis
  id: acbd18db4cc2f85cedef654fccc4a4d8
  generation: 3
  workloads:
  - {filepath: x.yaml, content: "b: 2"}
---
apiVersion: v1
kind: Secret
metadata: {name: git, namespace: flux-system}
data: {username: dXNlcg==}
stringData: {password: secret}
"#;

#[test]
fn every_kind_round_trips_through_json() {
    let docs = manifest::parse(ALL_KINDS);
    assert_eq!(docs.len(), 6);
    for doc in docs {
        let obj = doc.result.unwrap_or_else(|e| panic!("document {}: {e:?}", doc.index));
        let json = obj.to_json();
        let again = AnyObject::from_json(obj.kind(), json.clone()).unwrap();
        assert_eq!(again, obj, "{}", obj.kind());
        assert_eq!(again.to_json(), json);
    }
}

#[test]
fn fields_are_read_as_kratix_names_them() {
    let docs: Vec<AnyObject> = manifest::parse(ALL_KINDS).into_iter().map(|d| d.result.unwrap()).collect();
    let AnyObject::Destination(d) = &docs[0] else { panic!() };
    assert_eq!(d.path(), "clusters/worker-1");
    assert!(d.spec.strict_match_labels);
    assert_eq!(d.spec.cleanup, Cleanup::All);
    assert!(!d.spec.init_workloads.enabled);
    assert_eq!((d.spec.filepath.mode, d.aggregate_filename()), (FilepathMode::AggregatedYaml, "catalog.yaml"));
    let AnyObject::GitStateStore(g) = &docs[1] else { panic!() };
    assert_eq!(
        (g.spec.auth_method, g.branch(), g.spec.git_author.email.as_str()),
        (GitAuthMethod::Ssh, "test", "test@example.com")
    );
    assert_eq!(g.spec.secret_ref.as_ref().unwrap().effective_namespace(), "flux-system");
    let AnyObject::BucketStateStore(b) = &docs[2] else { panic!() };
    assert!(b.spec.insecure && b.spec.use_dual_stack);
    assert_eq!(b.spec.auth_method, BucketAuthMethod::Iam);
    let AnyObject::Work(w) = &docs[3] else { panic!() };
    assert!(w.is_resource_request());
    assert_eq!(w.spec.workload_groups[0].destination_selectors[1].match_expressions[0].operator, "In");
    let AnyObject::WorkPlacement(p) = &docs[4] else { panic!() };
    assert_eq!(p.spec.generation, 3);
    let AnyObject::Secret(s) = &docs[5] else { panic!() };
    assert_eq!(s.value("username").unwrap(), b"user");
    assert_eq!(s.value("password").unwrap(), b"secret");
    assert!(!format!("{s:?}").contains("secret\""), "Debug never prints values");
}

#[test]
fn defaults_are_kratix_defaults() {
    let text = "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata: {name: worker-9}\nspec:\n  stateStoreRef: {kind: BucketStateStore, name: b}\n---\napiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata: {name: g}\nspec: {url: x}\n---\napiVersion: platform.kratix.io/v1alpha1\nkind: BucketStateStore\nmetadata: {name: b}\nspec: {bucketName: k, endpoint: e, secretRef: {name: s, namespace: default}}\n---\napiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {name: w}\nspec: {workloadGroups: [{workloads: []}]}\n";
    let docs: Vec<AnyObject> = manifest::parse(text).into_iter().map(|d| d.result.unwrap()).collect();
    let AnyObject::Destination(d) = &docs[0] else { panic!() };
    assert_eq!(d.path(), "worker-9", "compatibility D1: the path defaults to the name");
    assert_eq!(
        (d.spec.filepath.mode, d.spec.cleanup, d.spec.init_workloads.enabled),
        (FilepathMode::NestedByMetadata, Cleanup::None, true)
    );
    assert_eq!(d.aggregate_filename(), "aggregated.yaml");
    let AnyObject::GitStateStore(g) = &docs[1] else { panic!() };
    assert_eq!(
        (g.branch(), g.spec.auth_method, g.spec.git_author.name.as_str()),
        ("main", GitAuthMethod::BasicAuth, "kratix")
    );
    let AnyObject::BucketStateStore(b) = &docs[2] else { panic!() };
    assert_eq!(b.spec.auth_method, BucketAuthMethod::AccessKey);
    let AnyObject::Work(w) = &docs[3] else { panic!() };
    assert_eq!(w.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(w.spec.workload_groups[0].effective_id(), "5058f1af8388633f609cadb75a75dc9d");
}

#[test]
fn scenario_19_bucket_secret_refs_are_checked_for_access_keys_only() {
    let bucket = |auth: BucketAuthMethod, secret: Option<SecretRef>| {
        AnyObject::BucketStateStore(BucketStateStore::new(
            "b",
            BucketStateStoreSpec {
                bucket_name: "k".into(),
                endpoint: "e".into(),
                auth_method: auth,
                secret_ref: secret,
                ..Default::default()
            },
        ))
    };
    let reason = |o: AnyObject| validate(&o).into_iter().map(|e| e.to_string()).collect::<Vec<_>>();
    assert_eq!(
        reason(bucket(BucketAuthMethod::AccessKey, None)),
        vec!["spec.secretRef: must be set when using authentication method accessKey"]
    );
    assert_eq!(
        reason(bucket(BucketAuthMethod::AccessKey, Some(SecretRef { name: String::new(), namespace: "ns".into() }))),
        vec!["spec.secretRef: must contain secret name"]
    );
    assert_eq!(
        reason(bucket(BucketAuthMethod::AccessKey, Some(SecretRef { name: "s".into(), namespace: String::new() }))),
        vec!["spec.secretRef: must contain secret namespace"]
    );
    assert!(reason(bucket(BucketAuthMethod::Iam, None)).is_empty());
}
