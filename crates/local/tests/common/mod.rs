//! Test harness: the embedded control plane in memory, the real engine, and a real bare Git repository
//! per state store on the local disk.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use waybill_core::api::*;
use waybill_core::meta::{Condition, find_condition};
use waybill_core::{AnyObject, Kind, ObjectRef, Resource};
use waybill_engine::{ControlPlane, Engine, EngineConfig, Event};
use waybill_local::objects::ObjectStore;
use waybill_local::{RunOptions, Runner};

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub store: Arc<ObjectStore>,
    pub engine: Arc<Engine<ObjectStore>>,
    runner: Runner,
    started: bool,
}

impl Harness {
    pub fn new() -> Harness {
        waybill_stores::init();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("TEST_LOG"))
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(ObjectStore::new(Vec::new(), None));
        let config =
            EngineConfig { base_dir: dir.path().to_path_buf(), resync_interval: None, ..EngineConfig::default() };
        let engine = Arc::new(Engine::new(store.clone(), config));
        let runner = Runner::new(engine.clone());
        Harness { dir, store, engine, runner, started: false }
    }

    /// Path of the bare repository of GitStateStore `name`.
    pub fn repo_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.git"))
    }

    /// A GitStateStore writing to a local bare repository named after it.
    pub fn git_store(&self, name: &str) -> GitStateStore {
        GitStateStore::new(
            name,
            GitStateStoreSpec { url: self.repo_path(name).display().to_string(), ..Default::default() },
        )
    }

    /// Admits an object as if it came from a manifest.
    pub fn apply(&self, obj: impl Resource) {
        self.store.apply_manifest(obj.into_any(), "test.yaml");
    }

    /// Deletes an object as if its manifest disappeared.
    pub fn remove<K: Resource>(&self, namespace: &str, name: &str) {
        self.store.delete_ref(&ObjectRef::new(K::KIND, namespace, name)).expect("object to delete");
    }

    /// Runs every reconcile there is to run (the first call starts with all objects, like a controller).
    pub async fn converge(&mut self) {
        self.converge_with(256).await;
    }

    /// Like [`Harness::converge`], with at most `concurrency` reconciles doing work at once.
    pub async fn converge_with(&mut self, concurrency: usize) {
        if !self.started {
            self.runner.enqueue_all();
            self.started = true;
        }
        let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.runner.run(RunOptions { once: true, concurrency }, rx, || None).await;
    }

    pub async fn get<K: Resource>(&self, namespace: &str, name: &str) -> Option<K> {
        self.store.get::<K>(namespace, name).await.expect("get")
    }

    pub async fn list<K: Resource>(&self) -> Vec<K> {
        self.store.list::<K>(None, &[]).await.expect("list")
    }

    pub fn events(&self, kind: Kind, namespace: &str, name: &str) -> Vec<Event> {
        self.store.events_of(&ObjectRef::new(kind, namespace, name))
    }

    pub fn event_messages(&self, kind: Kind, namespace: &str, name: &str) -> Vec<String> {
        self.events(kind, namespace, name).into_iter().map(|e| e.message).collect()
    }

    /// Files on `main` of store `name`: path → content.
    pub fn files(&self, store: &str) -> BTreeMap<String, String> {
        files_at(&self.repo_path(store), "main")
    }

    pub fn commits(&self, store: &str) -> usize {
        commit_messages(&self.repo_path(store), "main").len()
    }

    pub fn last_commit_message(&self, store: &str) -> String {
        commit_messages(&self.repo_path(store), "main").into_iter().next().unwrap_or_default()
    }

    pub fn snapshot(&self) -> Vec<AnyObject> {
        self.store.snapshot()
    }
}

/// Every file on `branch` of the repository at `repo`.
pub fn files_at(repo: &Path, branch: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(repo) = git2::Repository::open(repo) else { return out };
    let Ok(commit) = repo.revparse_single(&format!("refs/heads/{branch}")).and_then(|o| o.peel_to_commit()) else {
        return out;
    };
    let tree = commit.tree().expect("tree");
    tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            let blob = repo.find_blob(entry.id()).expect("blob");
            out.insert(
                format!("{root}{}", entry.name().unwrap_or("?")),
                String::from_utf8_lossy(blob.content()).into_owned(),
            );
        }
        git2::TreeWalkResult::Ok
    })
    .expect("walk");
    out
}

/// Commit messages on `branch`, newest first.
pub fn commit_messages(repo: &Path, branch: &str) -> Vec<String> {
    let Ok(repo) = git2::Repository::open(repo) else { return Vec::new() };
    let Ok(mut walk) = repo.revwalk() else { return Vec::new() };
    if walk.push_ref(&format!("refs/heads/{branch}")).is_err() {
        return Vec::new();
    }
    walk.filter_map(Result::ok)
        .filter_map(|oid| repo.find_commit(oid).ok().map(|c| c.message().unwrap_or_default().to_string()))
        .collect()
}

pub fn destination(name: &str, store: &str, path: &str, labels: &[(&str, &str)]) -> Destination {
    let mut d = Destination::new(
        name,
        DestinationSpec {
            path: Some(path.to_string()),
            state_store_ref: Some(StateStoreRef { kind: "GitStateStore".into(), name: store.into() }),
            ..Default::default()
        },
    );
    d.metadata.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    d
}

pub fn with_mode(mut d: Destination, mode: FilepathMode, filename: &str) -> Destination {
    d.spec.filepath = FilepathSpec { mode, filename: filename.to_string() };
    d
}

pub fn workload(filepath: &str, content: &str) -> Workload {
    Workload { filepath: filepath.into(), content: content.into() }
}

/// One workload group: directory, selector labels, workloads.
pub type Group<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<Workload>);

/// A Work with one group per `(directory, selector labels, workloads)`.
pub fn work(namespace: &str, name: &str, resource: &str, groups: Vec<Group<'_>>) -> Work {
    let groups = groups
        .into_iter()
        .map(|(dir, labels, workloads)| WorkloadGroup {
            workloads,
            directory: dir.to_string(),
            id: group_id_for_directory(dir),
            destination_selectors: if labels.is_empty() {
                vec![]
            } else {
                vec![DestinationSelector {
                    match_labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                    match_expressions: vec![],
                    source: "promise".into(),
                }]
            },
        })
        .collect();
    Work::new(
        namespace,
        name,
        WorkSpec {
            workload_groups: groups,
            promise_name: "promise".into(),
            resource_name: resource.into(),
            ..Default::default()
        },
    )
}

/// `(type, status, reason, message)` of every condition, sorted by type.
pub fn conds(conditions: &[Condition]) -> Vec<(String, String, String, String)> {
    let mut out: Vec<_> = conditions
        .iter()
        .map(|c| (c.type_.clone(), c.status.as_str().to_string(), c.reason.clone(), c.message.clone()))
        .collect();
    out.sort();
    out
}

pub fn cond(type_: &str, status: &str, reason: &str, message: &str) -> (String, String, String, String) {
    (type_.into(), status.into(), reason.into(), message.into())
}

pub fn ready_of(conditions: &[Condition]) -> Option<(String, String, String)> {
    find_condition(conditions, "Ready").map(|c| (c.status.as_str().to_string(), c.reason.clone(), c.message.clone()))
}

pub const NS_CANARY: &str =
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kratix-worker-system\nspec: {}\nstatus: {}\n";
pub const CM_CANARY: &str = "apiVersion: v1\ndata:\n  canary: this confirms your infrastructure is reading from Kratix state stores\nkind: ConfigMap\nmetadata:\n  name: kratix-info\n  namespace: kratix-worker-system\n";

/// Works `w{from}` to `w{to - 1}` in `default`, each one ConfigMap for the Destinations labelled
/// `env: dev`: the many small objects of the scale and memory tests.
pub fn configmap_works(h: &Harness, from: usize, to: usize) {
    for i in from..to {
        let content = waybill_core::content::encode(
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n").as_bytes(),
        );
        h.apply(work(
            "default",
            &format!("w{i}"),
            &format!("r{i}"),
            vec![(".", vec![("env", "dev")], vec![workload("cm.yaml", &content)])],
        ));
    }
}
