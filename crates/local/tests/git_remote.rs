//! Git state stores over real remotes on loopback (issue 3): HTTP(S) with basic auth behind lighttpd,
//! `git daemon`, `sshd` with host keys, a GitHub App (token endpoint stand-in), racing writers, a file
//! deleted on the remote, a missing branch, a server that goes away, and secrets that never leak.

mod common;

use common::*;
use waybill_core::api::*;
use waybill_core::{Kind, ObjectRef};
use waybill_testsupport::github::FakeGithub;
use waybill_testsupport::http::{GitDaemon, GitHttp, log, ls_tree, show};
use waybill_testsupport::sshd::Sshd;
use waybill_testsupport::third_party_commit;
use waybill_testsupport::tls::TestCa;

const USER: &str = "waybill";
const PASSWORD: &str = "s3cr3t-pa55word";

fn remote_store(name: &str, url: &str, auth: GitAuthMethod, secret: Option<&str>) -> GitStateStore {
    GitStateStore::new(
        name,
        GitStateStoreSpec {
            url: url.to_string(),
            auth_method: auth,
            secret_ref: secret.map(|s| SecretRef { name: s.into(), namespace: "default".into() }),
            ..Default::default()
        },
    )
}

fn creds(name: &str, pairs: &[(&str, &str)]) -> Secret {
    pairs.iter().fold(Secret::new("default", name), |s, (k, v)| s.with(k, v))
}

async fn store_ready(h: &Harness, name: &str) -> (String, String, String) {
    let s: GitStateStore = h.get("", name).await.unwrap();
    ready_of(&s.status.unwrap_or_default().conditions).unwrap()
}

async fn dest_ready(h: &Harness, name: &str) -> (String, String, String) {
    let d: Destination = h.get("", name).await.unwrap();
    ready_of(d.conditions()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_over_http_writes_to_the_remote_and_a_bad_password_is_refused() {
    let Some(server) = GitHttp::start(&[(USER, PASSWORD)], false) else { return };
    let repo = server.repo("state", "main");
    let mut h = Harness::new();
    h.apply(creds("git-creds", &[("username", USER), ("password", PASSWORD)]));
    h.apply(remote_store("remote", &server.url("state"), GitAuthMethod::BasicAuth, Some("git-creds")));
    h.apply(destination("worker-1", "remote", "worker-1", &[]));
    h.apply(work("default", "w", "r", vec![(".", vec![], vec![workload("cm.yaml", "a: 1\n")])]));
    h.converge().await;
    assert_eq!(
        store_ready(&h, "remote").await,
        ("True".into(), "StateStoreReady".into(), "State store is ready".into())
    );
    assert_eq!(
        ls_tree(&repo, "main"),
        vec![
            "worker-1/dependencies/kratix-canary-namespace.yaml",
            "worker-1/resources/default/promise/r/5058f/cm.yaml",
            "worker-1/resources/kratix-canary-configmap.yaml"
        ]
    );
    assert_eq!(log(&repo, "main").len(), 1, "canaries and the placement in one push");
    assert_eq!(show(&repo, "main", "worker-1/dependencies/kratix-canary-namespace.yaml").unwrap(), NS_CANARY);

    // Compatibility C13: invalid credentials make the store not ready and the Destination report it.
    h.apply(creds("git-creds", &[("username", USER), ("password", "wrong")]));
    h.converge().await;
    let (status, reason, message) = store_ready(&h, "remote").await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "ErrorInitialisingWriter"));
    assert!(
        message.starts_with("unable to clone repository: ") && message.matches("authentication failed").count() == 1,
        "said once: {message}"
    );
    assert!(
        h.event_messages(Kind::GitStateStore, "", "remote").iter().any(|m| m.contains("unable to clone repository"))
    );
    h.engine.reconcile(&ObjectRef::cluster(Kind::Destination, "worker-1")).await.unwrap();
    assert_eq!(dest_ready(&h, "worker-1").await.2, "GitStateStore/remote: not ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_problems_have_kratix_messages_and_whitespace_is_trimmed_with_a_warning() {
    let Some(server) = GitHttp::start(&[(USER, PASSWORD)], false) else { return };
    let repo = server.repo("state", "main");
    let mut h = Harness::new();
    h.apply(creds("no-password", &[("username", USER)]));
    h.apply(remote_store("a", &server.url("state"), GitAuthMethod::BasicAuth, Some("no-password")));
    h.apply(remote_store("b", &server.url("state"), GitAuthMethod::BasicAuth, Some("missing")));
    h.apply(remote_store("c", &server.url("state"), GitAuthMethod::BasicAuth, None));
    h.apply(creds("padded", &[("username", &format!(" {USER}\n")), ("password", &format!("{PASSWORD}\n"))]));
    h.apply(remote_store("d", &server.url("state"), GitAuthMethod::BasicAuth, Some("padded")));
    h.apply(destination("dest", "d", "dest", &[]));
    h.converge().await;
    assert_eq!(
        store_ready(&h, "a").await,
        ("False".into(), "ErrorInitialisingWriter".into(), "unable to create git writer: could not create auth method: password not found in secret default/no-password".into())
    );
    assert_eq!(
        store_ready(&h, "b").await,
        ("False".into(), "SecretNotFound".into(), "Secret missing not found in namespace default".into())
    );
    let (_, reason, message) = store_ready(&h, "c").await;
    assert_eq!(reason, "SecretNotFound", "compatibility D8: no panic, a clear condition");
    assert!(message.contains("needs spec.secretRef"), "{message}");
    assert_eq!(store_ready(&h, "d").await.1, "StateStoreReady");
    let trimmed = "leading or trailing whitespace was trimmed from password, username in secret default/padded";
    let warnings = h.event_messages(Kind::GitStateStore, "", "d");
    assert!(warnings.iter().any(|m| m == trimmed), "{warnings:?}");
    assert!(ls_tree(&repo, "main").contains(&"dest/dependencies/kratix-canary-namespace.yaml".to_string()));
    // The warning stays on the store's status for as long as it holds, not only in the event of the
    // reconcile that built the writer; another pass adds no second event.
    let warning = |s: &GitStateStore| {
        s.status.as_ref().and_then(|st| st.conditions.iter().find(|c| c.type_ == "Warning").map(|c| c.message.clone()))
    };
    let d: GitStateStore = h.get("", "d").await.unwrap();
    assert_eq!(warning(&d).as_deref(), Some(trimmed));
    h.engine.reconcile(&ObjectRef::cluster(Kind::GitStateStore, "d")).await.unwrap();
    let events = h.event_messages(Kind::GitStateStore, "", "d");
    assert_eq!(events.iter().filter(|m| *m == trimmed).count(), 1, "{events:?}");
    h.apply(creds("padded", &[("username", USER), ("password", PASSWORD)]));
    h.converge().await;
    let d: GitStateStore = h.get("", "d").await.unwrap();
    assert_eq!(warning(&d), None, "gone once the secret is clean");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_verified_by_default_with_an_optional_ca_and_an_explicit_opt_out() {
    let Some(server) = GitHttp::start(&[(USER, PASSWORD)], true) else { return };
    server.repo("state", "main");
    let ca = server.tls.as_ref().unwrap().ca_pem.clone();
    let mut h = Harness::new();
    h.apply(creds("no-ca", &[("username", USER), ("password", PASSWORD)]));
    h.apply(creds("with-ca", &[("username", USER), ("password", PASSWORD), ("caFile", &ca)]));
    h.apply(creds("other-ca", &[("username", USER), ("password", PASSWORD), ("caFile", &TestCa::unrelated_ca_pem())]));
    h.apply(remote_store("system-roots", &server.url("state"), GitAuthMethod::BasicAuth, Some("no-ca")));
    h.apply(remote_store("own-ca", &server.url("state"), GitAuthMethod::BasicAuth, Some("with-ca")));
    h.apply(remote_store("wrong-ca", &server.url("state"), GitAuthMethod::BasicAuth, Some("other-ca")));
    let mut insecure = remote_store("insecure", &server.url("state"), GitAuthMethod::BasicAuth, Some("no-ca"));
    insecure.metadata.annotations.insert("waybill.io/insecure-skip-tls-verify".into(), "true".into());
    h.apply(insecure);
    h.converge().await;
    let (status, _, message) = store_ready(&h, "system-roots").await;
    assert_eq!(status, "False");
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    assert_eq!(store_ready(&h, "own-ca").await.1, "StateStoreReady", "{:?}", store_ready(&h, "own-ca").await);
    let (status, _, message) = store_ready(&h, "wrong-ca").await;
    assert_eq!(status, "False");
    assert!(message.contains("TLS certificate verification failed"), "{message}");
    assert_eq!(store_ready(&h, "insecure").await.1, "StateStoreReady");
    assert!(
        h.event_messages(Kind::GitStateStore, "", "insecure")
            .iter()
            .any(|m| m.contains("TLS certificate verification is disabled"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_daemon_needs_no_credentials() {
    let Some(daemon) = GitDaemon::start() else { return };
    let repo = daemon.repo("state", "main");
    let mut h = Harness::new();
    h.apply(remote_store("daemon", &daemon.url("state"), GitAuthMethod::BasicAuth, None));
    h.apply(destination("d", "daemon", "d", &[]));
    h.converge().await;
    assert_eq!(store_ready(&h, "daemon").await.1, "StateStoreReady");
    assert_eq!(ls_tree(&repo, "main").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_pins_the_host_key_and_refuses_a_wrong_one() {
    let Some(sshd) = Sshd::start() else { return };
    let repo = sshd.repo("state", "main");
    let mut h = Harness::new();
    h.apply(creds("ssh-good", &[("sshPrivateKey", &sshd.client_key), ("knownHosts", &sshd.known_hosts)]));
    h.apply(creds("ssh-wrong-host", &[("sshPrivateKey", &sshd.client_key), ("knownHosts", &sshd.wrong_known_hosts)]));
    h.apply(creds("ssh-no-hosts", &[("sshPrivateKey", &sshd.client_key)]));
    h.apply(creds("ssh-no-key", &[("knownHosts", &sshd.known_hosts)]));
    h.apply(remote_store("ssh", &sshd.url("state"), GitAuthMethod::Ssh, Some("ssh-good")));
    h.apply(remote_store("impostor", &sshd.url("state"), GitAuthMethod::Ssh, Some("ssh-wrong-host")));
    h.apply(remote_store("no-hosts", &sshd.url("state"), GitAuthMethod::Ssh, Some("ssh-no-hosts")));
    h.apply(remote_store("no-key", &sshd.url("state"), GitAuthMethod::Ssh, Some("ssh-no-key")));
    h.apply(destination("d", "ssh", "d", &[]));
    h.converge().await;
    assert_eq!(store_ready(&h, "ssh").await.1, "StateStoreReady", "{:?}", store_ready(&h, "ssh").await);
    assert_eq!(ls_tree(&repo, "main").len(), 2);
    let (status, _, message) = store_ready(&h, "impostor").await;
    assert_eq!(status, "False");
    assert!(message.contains("host key verification failed: the host key does not match knownHosts"), "{message}");
    assert!(store_ready(&h, "no-hosts").await.2.ends_with("knownHosts not found in secret default/ssh-no-hosts"));
    assert!(store_ready(&h, "no-key").await.2.ends_with("sshPrivateKey not found in secret default/ssh-no-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_app_gets_an_installation_token_and_pushes_with_it() {
    let (private, public) = waybill_testsupport::github::app_key();
    let token = "ghs_installationtoken123";
    let github = FakeGithub::start(&public, "123", "456", token);
    let Some(server) = GitHttp::start(&[("x-access-token", token)], false) else { return };
    let repo = server.repo("state", "main");
    let mut h = Harness::new();
    h.apply(creds("app", &[("appID", "123"), ("installationID", "456"), ("privateKey", private.as_str())]));
    h.apply(creds("wrong-app", &[("appID", "999"), ("installationID", "456"), ("privateKey", private.as_str())]));
    let mut store = remote_store("app", &server.url("state"), GitAuthMethod::GithubApp, Some("app"));
    store.metadata.annotations.insert("waybill.io/github-api-url".into(), github.url.clone());
    h.apply(store.clone());
    let mut wrong = store.clone();
    wrong.metadata.name = "wrong-app".into();
    wrong.spec.secret_ref = Some(SecretRef { name: "wrong-app".into(), namespace: "default".into() });
    h.apply(wrong);
    h.apply(destination("d", "app", "d", &[]));
    h.converge().await;
    assert_eq!(store_ready(&h, "app").await.1, "StateStoreReady", "{:?}", store_ready(&h, "app").await);
    assert_eq!(ls_tree(&repo, "main").len(), 2);
    let (status, _, message) = store_ready(&h, "wrong-app").await;
    assert_eq!(status, "False");
    assert!(message.contains("GitHub API error: status=401, message=bad creds"), "{message}");
    let calls = github.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert!(calls >= 2, "the token endpoint was used ({calls} calls)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_branch_is_created_by_the_first_push() {
    let Some(server) = GitHttp::start(&[(USER, PASSWORD)], false) else { return };
    let empty = server.repo("empty", "main");
    let other = server.repo("other", "trunk");
    third_party_commit(&other, "trunk", &[("README.md", Some("hello\n"))], "initial");
    let mut h = Harness::new();
    h.apply(creds("git-creds", &[("username", USER), ("password", PASSWORD)]));
    h.apply(remote_store("empty", &server.url("empty"), GitAuthMethod::BasicAuth, Some("git-creds")));
    let mut store = remote_store("other", &server.url("other"), GitAuthMethod::BasicAuth, Some("git-creds"));
    store.spec.branch = "waybill".into();
    h.apply(store);
    h.apply(destination("d1", "empty", "d1", &[]));
    h.apply(destination("d2", "other", "d2", &[]));
    h.converge().await;
    assert_eq!(ls_tree(&empty, "main").len(), 2);
    assert_eq!(ls_tree(&other, "waybill").len(), 2);
    assert_eq!(ls_tree(&other, "trunk"), vec!["README.md"], "other branches are untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_pushing_during_a_burst_loses_nothing_and_neither_does_waybill() {
    let Some(server) = GitHttp::start(&[(USER, PASSWORD)], false) else { return };
    let repo = server.repo("state", "main");
    third_party_commit(&repo, "main", &[("third/base.txt", Some("base\n"))], "base");
    let mut h = Harness::new();
    h.apply(creds("git-creds", &[("username", USER), ("password", PASSWORD)]));
    h.apply(remote_store("remote", &server.url("state"), GitAuthMethod::BasicAuth, Some("git-creds")));
    for d in 0..3 {
        h.apply(destination(&format!("d{d}"), "remote", &format!("d{d}"), &[("env", "dev")]));
    }
    h.converge().await;
    for i in 0..150 {
        h.apply(work(
            "default",
            &format!("w{i}"),
            &format!("r{i}"),
            vec![(".", vec![("env", "dev")], vec![workload("cm.yaml", &format!("i: {i}\n"))])],
        ));
    }
    let racer = std::thread::spawn(move || {
        for n in 0..5 {
            third_party_commit(&repo, "main", &[(&format!("third/{n}.txt"), Some("x\n"))], &format!("third party {n}"));
        }
        repo
    });
    h.converge().await;
    let repo = racer.join().unwrap();
    h.converge().await;
    let files = ls_tree(&repo, "main");
    for n in 0..5 {
        assert!(files.contains(&format!("third/{n}.txt")), "third party commit {n} survived");
    }
    let waybill_files = files.iter().filter(|f| f.ends_with("/cm.yaml")).count();
    assert_eq!(waybill_files, 150, "every placement landed");
    let subjects = log(&repo, "main");
    assert!(subjects.iter().all(|s| !s.is_empty()));
    let wps: Vec<WorkPlacement> = h.list().await;
    assert!(wps.iter().all(|p| ready_of(p.conditions()).unwrap().2 == "Ready"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_82_a_directory_deleted_on_the_remote_comes_back_with_the_next_write() {
    let Some(server) = GitHttp::start(&[(USER, PASSWORD)], false) else { return };
    let repo = server.repo("state", "main");
    let mut h = Harness::new();
    h.apply(creds("git-creds", &[("username", USER), ("password", PASSWORD)]));
    h.apply(remote_store("remote", &server.url("state"), GitAuthMethod::BasicAuth, Some("git-creds")));
    h.apply(destination("git-recovery", "remote", "git-recovery", &[]));
    let resource = |value: &str| {
        work(
            "default",
            "gitrecovery",
            "gitrecovery",
            vec![(".", vec![], vec![workload("gitrecovery-configmap.yaml", &format!("value: {value}\n"))])],
        )
    };
    h.apply(resource("one"));
    h.converge().await;
    let path = "git-recovery/resources/default/promise/gitrecovery/5058f/gitrecovery-configmap.yaml";
    assert_eq!(show(&repo, "main", path).unwrap(), "value: one\n");
    third_party_commit(&repo, "main", &[("git-recovery/resources", None)], "delete by hand");
    assert!(show(&repo, "main", path).is_none());
    h.apply(resource("two"));
    h.converge().await;
    assert_eq!(show(&repo, "main", path).unwrap(), "value: two\n");
    let p: WorkPlacement = h.get("default", "gitrecovery.git-recovery-5058f").await.unwrap();
    assert_eq!(ready_of(p.conditions()).unwrap().2, "Ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_that_goes_away_is_surfaced_and_recovered() {
    let Some(mut server) = GitHttp::start(&[(USER, PASSWORD)], false) else { return };
    let repo = server.repo("state", "main");
    let mut h = Harness::new();
    h.apply(creds("git-creds", &[("username", USER), ("password", PASSWORD)]));
    h.apply(remote_store("remote", &server.url("state"), GitAuthMethod::BasicAuth, Some("git-creds")));
    h.apply(destination("d", "remote", "d", &[]));
    h.apply(work("default", "w", "r", vec![(".", vec![], vec![workload("cm.yaml", "v: 1\n")])]));
    h.converge().await;
    server.stop();
    h.apply(work("default", "w", "r", vec![(".", vec![], vec![workload("cm.yaml", "v: 2\n")])]));
    h.converge().await;
    let p: WorkPlacement = h.get("default", "w.d-5058f").await.unwrap();
    let write = p.conditions().iter().find(|c| c.type_ == "WriteSucceeded").unwrap().clone();
    assert_eq!(write.status.as_str(), "False");
    let (status, reason, message) = store_ready(&h, "remote").await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "StateStoreUnreachable"), "{message}");
    let (_, reason, message) = dest_ready(&h, "d").await;
    assert_eq!(reason, "StateStoreUnreachable");
    assert!(message.starts_with("GitStateStore/remote: unreachable: "), "{message}");

    server.restart();
    h.engine.reconcile(&ObjectRef::cluster(Kind::GitStateStore, "remote")).await.unwrap();
    h.converge().await;
    assert_eq!(store_ready(&h, "remote").await.1, "StateStoreReady");
    assert_eq!(dest_ready(&h, "d").await.1, "TestDocumentsWritten");
    assert_eq!(show(&repo, "main", "d/resources/default/promise/r/5058f/cm.yaml").unwrap(), "v: 2\n");
}
