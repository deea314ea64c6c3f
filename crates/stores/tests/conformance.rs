//! One conformance suite, run against every backend on real servers: a local repository, Git over
//! HTTP (lighttpd + git http-backend), git daemon, and an S3-compatible server (s3s-fs).

use std::sync::Arc;
use std::time::Duration;

use waybill_core::changeset::{Action, ChangeSet, Content, Op};
use waybill_core::layout::StorePath;
use waybill_stores::bucket::{BucketBackend, BucketCredentials, BucketSettings};
use waybill_stores::git::{Access, Author, GitAuth, GitBackend, GitSettings, RemoteOptions};
use waybill_stores::{Backend, Coalescing, StoreError, StoreWriter};
use waybill_testsupport::http::{GitDaemon, GitHttp};
use waybill_testsupport::s3::{ACCESS_KEY, S3Server, SECRET_KEY};

fn p(s: &str) -> StorePath {
    StorePath::parse(s).unwrap()
}

fn put(path: &str, content: &str) -> Op {
    Op::Put { path: p(path), content: Content::from(content.as_bytes()) }
}

fn files(list: &[(&str, &str)]) -> Vec<(StorePath, Content)> {
    list.iter().map(|(k, v)| (p(k), Content::from(v.as_bytes()))).collect()
}

fn set(name: &str, ops: Vec<Op>) -> ChangeSet {
    ChangeSet::new(name, Action::Update, ops)
}

async fn read(w: &StoreWriter, path: &str) -> Option<String> {
    w.read(p(path)).await.unwrap().map(|b| String::from_utf8(b).unwrap())
}

async fn list(w: &StoreWriter, dir: &str) -> Vec<String> {
    let mut out: Vec<String> = w.list(p(dir)).await.unwrap().into_iter().map(|p| p.to_string()).collect();
    out.sort();
    out
}

/// The suite. Paths are relative to the store's root.
async fn conformance(backend: Box<dyn Backend>) {
    let w = StoreWriter::spawn(backend, Coalescing::default());
    w.check_write_permission().await.expect("write permission");

    // Puts land and read back; listing is by directory, and `ab` is not inside `a`.
    let v1 =
        w.submit(set("a", vec![put("a/x.yaml", "x"), put("a/sub/y.yaml", "y"), put("ab/z.yaml", "z")])).await.unwrap();
    assert!(v1.is_some(), "a change has a version");
    assert_eq!(read(&w, "a/x.yaml").await.as_deref(), Some("x"));
    assert_eq!(read(&w, "nope.yaml").await, None);
    assert_eq!(list(&w, "a").await, vec!["a/sub/y.yaml", "a/x.yaml"]);

    // Writing the same content again changes nothing.
    assert_eq!(w.submit(set("a", vec![put("a/x.yaml", "x")])).await.unwrap(), None);

    // A replaced directory keeps exactly its new files; its sibling with a common prefix is untouched.
    let replace = Op::ReplaceDir { dir: p("a"), files: files(&[("a/x.yaml", "x2")]) };
    assert!(w.submit(set("a", vec![replace])).await.unwrap().is_some());
    assert_eq!(list(&w, "a").await, vec!["a/x.yaml"]);
    assert_eq!(read(&w, "a/x.yaml").await.as_deref(), Some("x2"));
    assert_eq!(read(&w, "ab/z.yaml").await.as_deref(), Some("z"));

    // Tracked (mode none) writes delete only what their own state file listed.
    let tracked = |name: &str, list: &[(&str, &str)]| Op::PutTracked {
        dir: p("f"),
        state_file: p(&format!("f/.kratix/ns-{name}.yaml")),
        files: files(list),
        slash: false,
    };
    w.submit(set("pa", vec![tracked("pa", &[("f/1.yaml", "1"), ("f/2.yaml", "2")])])).await.unwrap();
    w.submit(set("pb", vec![tracked("pb", &[("f/3.yaml", "3")])])).await.unwrap();
    w.submit(set("pa", vec![tracked("pa", &[("f/1.yaml", "1")])])).await.unwrap();
    assert_eq!(list(&w, "f").await, vec!["f/.kratix/ns-pa.yaml", "f/.kratix/ns-pb.yaml", "f/1.yaml", "f/3.yaml"]);
    assert_eq!(read(&w, "f/.kratix/ns-pa.yaml").await.as_deref(), Some("files:\n- f/1.yaml\n"));
    let delete_a = Op::DeleteTracked { dir: p("f"), state_file: p("f/.kratix/ns-pa.yaml"), keep: vec![] };
    w.submit(ChangeSet::new("pa", Action::Delete, vec![delete_a])).await.unwrap();
    assert_eq!(list(&w, "f").await, vec!["f/.kratix/ns-pb.yaml", "f/3.yaml"]);
    let never_written = Op::DeleteTracked { dir: p("f"), state_file: p("f/.kratix/ns-ghost.yaml"), keep: vec![] };
    assert_eq!(w.submit(ChangeSet::new("ghost", Action::Delete, vec![never_written])).await.unwrap(), None);

    // An unreadable state file fails its own change set; the rest of the batch lands.
    w.submit(set("c", vec![put("g/.kratix/ns-c.yaml", "files: [unclosed")])).await.unwrap();
    let broken = w.submit(set(
        "c",
        vec![Op::PutTracked {
            dir: p("g"),
            state_file: p("g/.kratix/ns-c.yaml"),
            files: files(&[("g/c.yaml", "c")]),
            slash: false,
        }],
    ));
    let fine = w.submit(set("d", vec![put("g/d.yaml", "d")]));
    let (broken, fine) = tokio::join!(broken, fine);
    assert!(matches!(broken, Err(StoreError::InvalidState(_))), "{broken:?}");
    assert!(fine.unwrap().is_some());
    assert_eq!(read(&w, "g/c.yaml").await, None);

    // Content in Kratix's encoding is written decoded; content that does not decode fails its own
    // change set, and the rest of the batch lands.
    let encoded = |text: String| Content::Encoded { text: text.into(), limit: 1024 };
    let text = waybill_core::content::encode(b"kind: ConfigMap\n");
    let decodes = w.submit(set("e", vec![Op::Put { path: p("e/cm.yaml"), content: encoded(text) }]));
    let corrupt = w.submit(set("e2", vec![Op::Put { path: p("e/bad.yaml"), content: encoded("H4sIAAAA".into()) }]));
    let (decodes, corrupt) = tokio::join!(decodes, corrupt);
    assert!(decodes.unwrap().is_some());
    let err = corrupt.expect_err("content that does not decode is refused").to_string();
    assert!(err.starts_with("failed to decode e/bad.yaml: "), "{err}");
    assert_eq!(read(&w, "e/cm.yaml").await.as_deref(), Some("kind: ConfigMap\n"));
    assert_eq!(list(&w, "e").await, vec!["e/cm.yaml"]);

    // A path Git or a checkout cannot hold fails its own change set; the rest of the batch lands.
    let deep = vec!["d"; 3000].join("/");
    let long = format!("n/{}.yaml", "x".repeat(5000));
    let refused =
        [".git/config", "h/.GIT/hooks/post-checkout", "h/GIT~1/x", "h/.git::$INDEX_ALLOCATION/x", &deep, &long];
    let mut pending = Vec::new();
    for (i, path) in refused.iter().enumerate() {
        pending.push(w.submit(set(&format!("bad{i}"), vec![put(path, "evil")])));
    }
    let innocent = w.submit(set("innocent", vec![put("h/ok.yaml", "ok"), put("h/what?:*.yaml", "odd but fine")]));
    let (bad, innocent) = tokio::join!(futures::future::join_all(pending), innocent);
    for (path, result) in refused.iter().zip(bad) {
        assert!(matches!(result, Err(StoreError::InvalidPath(_))), "{}: {result:?}", &path[..path.len().min(40)]);
    }
    assert!(innocent.unwrap().is_some());
    assert_eq!(read(&w, "h/ok.yaml").await.as_deref(), Some("ok"));
    assert_eq!(list(&w, "h").await, vec!["h/ok.yaml", "h/what?:*.yaml"]);
    assert!(list(&w, "d").await.is_empty() && list(&w, "n").await.is_empty());

    // A change set may name another root (a moved Destination's old tree): its paths are there.
    let outside = StorePath::parse("outside-root").unwrap();
    let put_outside = set("mv", vec![put("old/a.yaml", "a")]).under_root(outside.clone());
    assert!(w.submit(put_outside).await.unwrap().is_some());
    assert_eq!(read(&w, "old/a.yaml").await, None, "not under the store's own root");
    let delete_outside = ChangeSet::new("mv", Action::Delete, vec![Op::Delete { path: p("old") }]).under_root(outside);
    assert!(w.submit(delete_outside.clone()).await.unwrap().is_some(), "the file was there to delete");
    assert_eq!(w.submit(delete_outside).await.unwrap(), None, "and is gone");

    // Deleting a directory removes everything below it, and only that.
    w.submit(ChangeSet::new("a", Action::Delete, vec![Op::Delete { path: p("a") }])).await.unwrap();
    assert!(list(&w, "a").await.is_empty());
    assert_eq!(read(&w, "ab/z.yaml").await.as_deref(), Some("z"));

    // Many concurrent change sets all land.
    let many: Vec<_> =
        (0..60).map(|i| w.submit(set(&format!("m{i}"), vec![put(&format!("m/{i}.yaml"), &i.to_string())]))).collect();
    for r in futures::future::join_all(many).await {
        assert!(r.unwrap().is_some());
    }
    assert_eq!(list(&w, "m").await.len(), 60);
}

fn git_settings(root: &str) -> GitSettings {
    GitSettings {
        branch: "main".into(),
        root: StorePath::from_store_path(root).unwrap(),
        author: Author { name: "kratix".into(), email: String::new() },
        dry_run: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_repository_conforms() {
    waybill_stores::init();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("state.git");
    let backend = tokio::task::spawn_blocking(move || GitBackend::open_local(&repo, git_settings("/root/")))
        .await
        .unwrap()
        .unwrap();
    conformance(Box::new(backend)).await;
    let files = waybill_testsupport::http::ls_tree(&dir.path().join("state.git"), "main");
    assert!(!files.is_empty() && files.iter().all(|f| f.starts_with("root/")), "{files:?}");
}

fn remote(url: String, auth: GitAuth) -> GitBackend {
    let access = Access { auth, tls: Default::default(), host: "127.0.0.1".into(), port: 0 };
    GitBackend::open_remote(
        &url,
        git_settings("root"),
        access,
        RemoteOptions { fetch_interval: Duration::ZERO, ..Default::default() },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_over_http_conforms() {
    waybill_stores::init();
    let Some(server) = GitHttp::start(&[("u", "p")], false) else { return };
    let repo = server.repo("state", "main");
    let url = server.url("state");
    let backend =
        tokio::task::spawn_blocking(move || remote(url, GitAuth::Basic { username: "u".into(), password: "p".into() }))
            .await
            .unwrap();
    conformance(Box::new(backend)).await;
    assert!(waybill_testsupport::http::ls_tree(&repo, "main").iter().all(|f| f.starts_with("root/")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_daemon_conforms() {
    waybill_stores::init();
    let Some(daemon) = GitDaemon::start() else { return };
    daemon.repo("state", "main");
    let url = daemon.url("state");
    let backend = tokio::task::spawn_blocking(move || remote(url, GitAuth::None)).await.unwrap();
    conformance(Box::new(backend)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_bucket_conforms() {
    let Some(server) = S3Server::start() else { return };
    server.create_bucket("kratix");
    let backend = BucketBackend::new(bucket_settings(&server, false)).unwrap();
    let requests: Arc<std::sync::atomic::AtomicU64> = backend.request_counter().unwrap();
    conformance(Box::new(backend)).await;
    let keys = server.keys("kratix");
    assert!(
        !keys.is_empty() && keys.iter().all(|k| k.starts_with("root/")),
        "compatibility D2: no leading slash: {keys:?}"
    );
    assert!(requests.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

/// Plan mode over a store `real` has written: later batches read what earlier planned batches put (a
/// state file in mode `none`), the changes are listed with their contents before and after, and the
/// store itself is untouched. `dry` opens the plan-mode backend once `real` has written.
async fn plan_conformance<F, Fut>(real: Box<dyn Backend>, dry: F, prefix: &str)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Box<dyn Backend>>,
{
    let real = StoreWriter::spawn(real, Coalescing::default());
    let tracked = |list: &[(&str, &str)]| Op::PutTracked {
        dir: p("f"),
        state_file: p("f/.kratix/ns-pa.yaml"),
        files: files(list),
        slash: false,
    };
    real.submit(set("pa", vec![put("a/x.yaml", "x\n"), tracked(&[("f/0.yaml", "0")])])).await.unwrap();

    let plan = StoreWriter::spawn(dry().await, Coalescing::default());
    plan.submit(set("pa", vec![put("a/x.yaml", "x2\n"), tracked(&[("f/1.yaml", "1")])])).await.unwrap();
    plan.submit(set("pa", vec![tracked(&[("f/2.yaml", "2")])])).await.unwrap();

    let key = |k: &str| format!("{prefix}{k}");
    let mut changes: Vec<String> = plan
        .pending_changes()
        .await
        .unwrap()
        .into_iter()
        .map(|c| match c {
            waybill_stores::FileChange::Added(p) => format!("+{p}"),
            waybill_stores::FileChange::Modified(p) => format!("~{p}"),
            waybill_stores::FileChange::Deleted(p) => format!("-{p}"),
        })
        .collect();
    changes.sort();
    let mut want = vec![
        format!("+{}", key("f/2.yaml")),
        format!("-{}", key("f/0.yaml")),
        format!("~{}", key("a/x.yaml")),
        format!("~{}", key("f/.kratix/ns-pa.yaml")),
    ];
    want.sort();
    assert_eq!(changes, want, "f/1.yaml was planned, then deleted by the second batch, which read its state file");

    let text = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8(b).unwrap());
    let (before, after) = plan.planned_contents(&key("a/x.yaml")).await.unwrap();
    assert_eq!((text(before).as_deref(), text(after).as_deref()), (Some("x\n"), Some("x2\n")));
    let (before, after) = plan.planned_contents(&key("f/0.yaml")).await.unwrap();
    assert_eq!((text(before).as_deref(), text(after)), (Some("0"), None));
    let (before, after) = plan.planned_contents(&key("f/.kratix/ns-pa.yaml")).await.unwrap();
    assert_eq!(
        (text(before).as_deref(), text(after).as_deref()),
        (Some("files:\n- f/0.yaml\n"), Some("files:\n- f/2.yaml\n"))
    );
    assert_eq!(read(&real, "a/x.yaml").await.as_deref(), Some("x\n"), "plan mode wrote nothing");
    assert_eq!(read(&real, "f/2.yaml").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_mode_lists_changes_with_their_contents_on_a_local_repository() {
    waybill_stores::init();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("state.git");
    let r = repo.clone();
    let real =
        tokio::task::spawn_blocking(move || GitBackend::open_local(&r, git_settings("root"))).await.unwrap().unwrap();
    let dry = || async move {
        let settings = GitSettings { dry_run: true, ..git_settings("root") };
        let backend =
            tokio::task::spawn_blocking(move || GitBackend::open_local(&repo, settings)).await.unwrap().unwrap();
        Box::new(backend) as Box<dyn Backend>
    };
    plan_conformance(Box::new(real), dry, "root/").await;
}

fn bucket_settings(server: &S3Server, dry_run: bool) -> BucketSettings {
    BucketSettings {
        bucket: "kratix".into(),
        endpoint: server.endpoint(),
        insecure: true,
        dual_stack: false,
        region: None,
        root: StorePath::from_store_path("/root").unwrap(),
        credentials: BucketCredentials::Static {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        },
        dry_run,
        list_interval: Duration::ZERO,
        concurrency: 8,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_mode_lists_changes_with_their_contents_on_a_bucket() {
    let Some(server) = S3Server::start() else { return };
    server.create_bucket("kratix");
    let real = BucketBackend::new(bucket_settings(&server, false)).unwrap();
    let dry = || async {
        let backend = BucketBackend::new(bucket_settings(&server, true)).unwrap().into_dry_run().await.unwrap();
        Box::new(backend) as Box<dyn Backend>
    };
    plan_conformance(Box::new(real), dry, "root/").await;
}
