//! No secret value appears in any log line (at every level), event, condition, status, error or commit,
//! whatever happens with the credentials. Its own test binary, so it can capture every log line.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use waybill_core::api::*;
use waybill_testsupport::github::{FakeGithub, app_key};
use waybill_testsupport::http::GitHttp;
use waybill_testsupport::sshd::Sshd;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn store(name: &str, url: &str, auth: GitAuthMethod, secret: &str) -> GitStateStore {
    GitStateStore::new(
        name,
        GitStateStoreSpec {
            url: url.into(),
            auth_method: auth,
            secret_ref: Some(SecretRef { name: secret.into(), namespace: "default".into() }),
            ..Default::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_ever_leaves_its_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let password = "hunter2-correct-horse";
    let wrong = "wrong-battery-staple";
    let token = "ghs_tokenthatmustnotleak";
    let (app_private, app_public) = app_key();
    let (_, other_public) = app_key();
    let Some(server) = GitHttp::start(&[("waybill", password), ("x-access-token", token)], false) else { return };
    let Some(sshd) = Sshd::start() else { return };
    server.repo("state", "main");
    sshd.repo("state", "main");
    let github = FakeGithub::start(&app_public, "1", "2", token);
    let impostor = FakeGithub::start(&other_public, "1", "2", token);

    let mut h = Harness::new();
    let secret =
        |name: &str, pairs: &[(&str, &str)]| pairs.iter().fold(Secret::new("default", name), |s, (k, v)| s.with(k, v));
    h.apply(secret("good", &[("username", "waybill"), ("password", password)]));
    h.apply(secret("bad", &[("username", "waybill"), ("password", wrong)]));
    h.apply(secret("padded", &[("username", "waybill"), ("password", &format!("{password}\n"))]));
    h.apply(secret("app", &[("appID", "1"), ("installationID", "2"), ("privateKey", &app_private)]));
    h.apply(secret("ssh", &[("sshPrivateKey", &sshd.client_key), ("knownHosts", &sshd.known_hosts)]));
    h.apply(secret("ssh-wrong", &[("sshPrivateKey", &sshd.client_key), ("knownHosts", &sshd.wrong_known_hosts)]));
    h.apply(store("good", &server.url("state"), GitAuthMethod::BasicAuth, "good"));
    h.apply(store("bad", &server.url("state"), GitAuthMethod::BasicAuth, "bad"));
    h.apply(store("padded", &server.url("state"), GitAuthMethod::BasicAuth, "padded"));
    let mut app = store("app", &server.url("state"), GitAuthMethod::GithubApp, "app");
    app.metadata.annotations.insert("waybill.io/github-api-url".into(), github.url.clone());
    h.apply(app.clone());
    app.metadata.name = "app-rejected".into();
    app.metadata.annotations.insert("waybill.io/github-api-url".into(), impostor.url.clone());
    h.apply(app);
    h.apply(store("ssh", &sshd.url("state"), GitAuthMethod::Ssh, "ssh"));
    h.apply(store("ssh-wrong", &sshd.url("state"), GitAuthMethod::Ssh, "ssh-wrong"));
    for s in ["good", "bad", "padded", "app", "app-rejected", "ssh", "ssh-wrong"] {
        h.apply(destination(&format!("d-{s}"), s, &format!("d-{s}"), &[]));
    }
    h.apply(work("default", "w", "r", vec![(".", vec![], vec![workload("cm.yaml", "a: 1\n")])]));
    h.converge().await;

    let mut haystack = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        haystack.contains("TRACE") || haystack.contains("DEBUG") || haystack.contains("INFO"),
        "logs were captured"
    );
    for obj in h.snapshot().into_iter().filter(|o| o.kind() != waybill_core::Kind::Secret) {
        haystack.push_str(&obj.to_json().to_string());
        for e in h.store.events_of(&obj.object_ref()) {
            haystack.push_str(&format!("{} {}\n", e.reason, e.message));
        }
    }
    for repo in [server.path("state"), sshd.path("state")] {
        let log = std::process::Command::new("git")
            .args(["log", "--all", "--format=%an %ae %s %b"])
            .current_dir(&repo)
            .output()
            .unwrap();
        haystack.push_str(&String::from_utf8_lossy(&log.stdout));
    }
    // Something happened worth logging: failures and successes alike.
    assert!(haystack.contains("authentication failed"), "the bad password was reported");
    assert!(haystack.contains("host key verification failed"));
    assert!(haystack.contains("bad creds"));
    let key_line = app_private.lines().nth(3).unwrap();
    let ssh_line = sshd.client_key.lines().nth(2).unwrap();
    for (what, needle) in [
        ("password", password),
        ("wrong password", wrong),
        ("token", token),
        ("App key", key_line),
        ("SSH key", ssh_line),
    ] {
        assert!(!haystack.contains(needle), "the {what} leaked");
    }
}
