//! Bucket state stores against a real S3-compatible server on loopback (issue 4): every filepath mode,
//! deletion and `cleanup: all`, wrong keys, a missing bucket, a server that goes away, no re-upload of
//! unchanged content, and no secret in any output.

mod common;

use common::*;
use waybill_core::api::*;
use waybill_core::{Kind, ObjectRef};
use waybill_testsupport::s3::{ACCESS_KEY, S3Server, SECRET_KEY};

fn bucket_store(name: &str, server: &S3Server, bucket: &str, secret: &str) -> BucketStateStore {
    BucketStateStore::new(
        name,
        BucketStateStoreSpec {
            bucket_name: bucket.into(),
            endpoint: server.endpoint(),
            insecure: true,
            secret_ref: Some(SecretRef { name: secret.into(), namespace: "default".into() }),
            ..Default::default()
        },
    )
}

fn keys_secret(name: &str, access: &str, secret: &str) -> Secret {
    Secret::new("default", name).with("accessKeyID", access).with("secretAccessKey", secret)
}

fn on_bucket(mut d: Destination, store: &str) -> Destination {
    d.spec.state_store_ref = Some(StateStoreRef { kind: "BucketStateStore".into(), name: store.into() });
    d
}

async fn store_ready(h: &Harness, name: &str) -> (String, String, String) {
    let s: BucketStateStore = h.get("", name).await.unwrap();
    ready_of(&s.status.unwrap_or_default().conditions).unwrap()
}

fn uploads(h: &Harness) -> u64 {
    h.engine.stores.all().iter().map(|(_, w)| w.stats().uploads()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filepath_mode_writes_the_kratix_keys_and_deletion_cleans_up() {
    let Some(server) = S3Server::start() else { return };
    server.create_bucket("kratix");
    let mut h = Harness::new();
    h.apply(keys_secret("minio", ACCESS_KEY, SECRET_KEY));
    h.apply(bucket_store("default", &server, "kratix", "minio"));
    h.apply(on_bucket(destination("nested", "default", "nested", &[("env", "dev")]), "default"));
    h.apply(on_bucket(
        with_mode(destination("flat", "default", "flat", &[("env", "dev")]), FilepathMode::None, ""),
        "default",
    ));
    h.apply(on_bucket(
        with_mode(
            destination("aggregated-yaml", "default", "aggregated-yaml", &[("env", "dev")]),
            FilepathMode::AggregatedYaml,
            "catalog.yaml",
        ),
        "default",
    ));
    let mut cleanup = on_bucket(destination("cleanup-all", "default", "cleanup-all", &[("env", "ops")]), "default");
    cleanup.spec.cleanup = Cleanup::All;
    h.apply(cleanup);
    // Two dependency Works of two promises (one promise's dependencies share one directory).
    let mut req1 = work(
        "default",
        "req-1",
        "",
        vec![(
            ".",
            vec![("env", "dev")],
            vec![workload("ns.yaml", "kind: Namespace\nmetadata: {name: aggregate-test-ns}\n")],
        )],
    );
    req1.spec.promise_name = "first".into();
    let mut req2 = work(
        "default",
        "req-2",
        "",
        vec![(".", vec![("env", "dev")], vec![workload("cm.yaml", "kind: ConfigMap\nmetadata: {name: req-2}\n")])],
    );
    req2.spec.promise_name = "second".into();
    h.apply(req1);
    h.apply(req2);
    h.apply(work(
        "default",
        "ops",
        "",
        vec![(".", vec![("env", "ops")], vec![workload("ns.yaml", "n"), workload("sub/configmap.yaml", "c")])],
    ));
    h.converge().await;
    assert_eq!(store_ready(&h, "default").await.1, "StateStoreReady");

    let keys = server.keys("kratix");
    // Compatibility C7: the aggregated Destination holds exactly its file and the two canaries.
    let aggregated: Vec<&String> = keys.iter().filter(|k| k.starts_with("aggregated-yaml/")).collect();
    assert_eq!(
        aggregated,
        vec![
            "aggregated-yaml/catalog.yaml",
            "aggregated-yaml/kratix-canary-configmap.yaml",
            "aggregated-yaml/kratix-canary-namespace.yaml"
        ]
    );
    let catalog = server.read("kratix", "aggregated-yaml/catalog.yaml").unwrap();
    assert!(catalog.contains("aggregate-test-ns") && catalog.contains("req-2"));
    assert!(keys.contains(&"nested/dependencies/first/5058f/ns.yaml".to_string()));
    assert!(keys.contains(&"nested/dependencies/second/5058f/cm.yaml".to_string()));
    assert!(keys.contains(&"nested/dependencies/kratix-canary-namespace.yaml".to_string()));
    assert!(keys.contains(&"flat/.kratix/default-req-1.flat-5058f.yaml".to_string()));
    assert_eq!(
        server.read("kratix", "flat/.kratix/default-req-1.flat-5058f.yaml").unwrap(),
        "files:\n- flat/ns.yaml\n"
    );
    // Compatibility C9: the cleanup-all Destination's documents and canaries.
    for k in [
        "cleanup-all/dependencies/promise/5058f/ns.yaml",
        "cleanup-all/dependencies/promise/5058f/sub/configmap.yaml",
        "cleanup-all/dependencies/kratix-canary-namespace.yaml",
        "cleanup-all/resources/kratix-canary-configmap.yaml",
    ] {
        assert!(keys.contains(&k.to_string()), "{k} in {keys:?}");
    }
    assert!(keys.iter().all(|k| !k.starts_with('/')), "compatibility D2");

    // Deleting req-1 leaves the namespace out of the aggregate and removes its flat files.
    h.remove::<Work>("default", "req-1");
    h.converge().await;
    let catalog = server.read("kratix", "aggregated-yaml/catalog.yaml").unwrap();
    assert!(!catalog.contains("aggregate-test-ns") && catalog.contains("req-2"));
    let keys = server.keys("kratix");
    assert!(
        !keys.contains(&"flat/ns.yaml".to_string())
            && !keys.contains(&"flat/.kratix/default-req-1.flat-5058f.yaml".to_string())
    );
    assert!(keys.contains(&"flat/cm.yaml".to_string()));
    h.remove::<Work>("default", "req-2");
    h.converge().await;
    let aggregated: Vec<String> =
        server.keys("kratix").into_iter().filter(|k| k.starts_with("aggregated-yaml/")).collect();
    assert_eq!(
        aggregated,
        vec!["aggregated-yaml/kratix-canary-configmap.yaml", "aggregated-yaml/kratix-canary-namespace.yaml"]
    );

    h.remove::<Destination>("", "cleanup-all");
    h.converge().await;
    assert!(server.keys("kratix").iter().all(|k| !k.starts_with("cleanup-all/")), "{:?}", server.keys("kratix"));

    // Nothing changed: nothing is uploaded.
    let before = uploads(&h);
    for d in ["nested", "flat", "aggregated-yaml"] {
        h.engine.reconcile(&ObjectRef::cluster(Kind::Destination, d)).await.unwrap();
    }
    h.engine.reconcile(&ObjectRef::new(Kind::WorkPlacement, "default", "ops.nested-5058f")).await.unwrap_or_default();
    assert_eq!(uploads(&h), before, "a rerun with nothing changed makes no PUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_a_missing_bucket_and_missing_secret_keys_each_say_so() {
    let Some(server) = S3Server::start() else { return };
    server.create_bucket("kratix");
    let mut h = Harness::new();
    h.apply(keys_secret("wrong", ACCESS_KEY, "not-the-secret"));
    h.apply(keys_secret("right", ACCESS_KEY, SECRET_KEY));
    h.apply(Secret::new("default", "no-id").with("secretAccessKey", SECRET_KEY));
    h.apply(Secret::new("default", "no-secret").with("accessKeyID", ACCESS_KEY));
    h.apply(bucket_store("wrong-keys", &server, "kratix", "wrong"));
    h.apply(bucket_store("no-bucket", &server, "missing", "right"));
    h.apply(bucket_store("no-id", &server, "kratix", "no-id"));
    h.apply(bucket_store("no-secret", &server, "kratix", "no-secret"));
    h.apply(on_bucket(destination("d", "wrong-keys", "d", &[]), "wrong-keys"));
    h.converge().await;
    let (status, reason, message) = store_ready(&h, "wrong-keys").await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "ErrorValidatingPermissions"));
    assert!(
        message.starts_with("Error validating state store permissions: write permission validation failed"),
        "{message}"
    );
    let (_, reason, message) = store_ready(&h, "no-bucket").await;
    assert_eq!(reason, "BucketNotFound", "{message}");
    assert_eq!(store_ready(&h, "no-id").await.2, "unable to create bucket writer: secret is missing key: accessKeyID");
    assert_eq!(
        store_ready(&h, "no-secret").await.2,
        "unable to create bucket writer: secret is missing key: secretAccessKey"
    );
    let d: Destination = h.get("", "d").await.unwrap();
    assert_eq!(ready_of(d.conditions()).unwrap().2, "BucketStateStore/wrong-keys: not ready");

    let mut haystack = String::new();
    for obj in h.snapshot().into_iter().filter(|o| o.kind() != Kind::Secret) {
        haystack.push_str(&obj.to_json().to_string());
        for e in h.store.events_of(&obj.object_ref()) {
            haystack.push_str(&e.message);
        }
    }
    assert!(
        !haystack.contains(SECRET_KEY) && !haystack.contains("not-the-secret"),
        "no secret key in any status or event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_is_surfaced_and_recovered() {
    let Some(mut server) = S3Server::start() else { return };
    server.create_bucket("kratix");
    let mut h = Harness::new();
    h.apply(keys_secret("minio", ACCESS_KEY, SECRET_KEY));
    h.apply(bucket_store("default", &server, "kratix", "minio"));
    h.apply(on_bucket(destination("d", "default", "d", &[]), "default"));
    h.apply(work("default", "w", "r", vec![(".", vec![], vec![workload("cm.yaml", "v: 1\n")])]));
    h.converge().await;
    server.stop();
    h.apply(work("default", "w", "r", vec![(".", vec![], vec![workload("cm.yaml", "v: 2\n")])]));
    h.converge().await;
    let (status, reason, message) = store_ready(&h, "default").await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "StateStoreUnreachable"), "{message}");
    let d: Destination = h.get("", "d").await.unwrap();
    assert_eq!(ready_of(d.conditions()).unwrap().1, "StateStoreUnreachable");

    server.restart();
    h.engine.reconcile(&ObjectRef::cluster(Kind::BucketStateStore, "default")).await.unwrap();
    h.converge().await;
    assert_eq!(store_ready(&h, "default").await.1, "StateStoreReady");
    assert_eq!(server.read("kratix", "d/resources/default/promise/r/5058f/cm.yaml").unwrap(), "v: 2\n");
}
