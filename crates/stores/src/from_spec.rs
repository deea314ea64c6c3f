//! Building a state store's backend from its spec and secret, with Kratix's messages for missing or
//! malformed credentials and Waybill's added transports.
//! Both control planes build writers through it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::StoreError;
use crate::bucket::{BucketBackend, BucketCredentials, BucketSettings};
use crate::git::github_app::{GITHUB_API, GithubApp};
use crate::git::known_hosts::KnownHosts;
use crate::git::location::{self, Location, Transport};
use crate::git::tls::TlsSettings;
use crate::git::{Access, Author, GitAuth, GitBackend, GitSettings, RemoteOptions};
use crate::port::Backend;
use sha2::{Digest, Sha256};
use waybill_core::api::{BucketAuthMethod, BucketStateStore, GitAuthMethod, GitStateStore, Resource, Secret};
use waybill_core::conditions::store as s;
use waybill_core::layout::StorePath;

/// Annotation that turns TLS verification off for a GitStateStore (the explicit opt-out).
pub const INSECURE_SKIP_TLS_VERIFY: &str = "waybill.io/insecure-skip-tls-verify";
/// Annotation giving the GitHub API base URL for `githubApp` (GitHub Enterprise).
pub const GITHUB_API_URL: &str = "waybill.io/github-api-url";

/// Where and how writers are built.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    pub base_dir: PathBuf,
    /// Bare cache repositories of remote stores live below it (temporary ones when `None`).
    pub cache_dir: Option<PathBuf>,
    pub fetch_interval: Duration,
    pub dry_run: bool,
}

/// Why a writer could not be built: the store's Ready reason and message.
#[derive(Debug, Clone)]
pub struct BuildError {
    pub reason: &'static str,
    pub message: String,
}

/// A built backend and what the reconciler should tell the user about it (as warning events).
pub struct Built {
    pub backend: Box<dyn Backend>,
    pub warnings: Vec<String>,
}

/// A digest of everything a writer is built from: a different one means the writer must be rebuilt.
pub fn fingerprint(store: &impl Resource, secret: Option<&Secret>) -> String {
    let mut h = Sha256::new();
    h.update(store.spec_value().to_string().as_bytes());
    for key in [INSECURE_SKIP_TLS_VERIFY, GITHUB_API_URL] {
        h.update([0]);
        h.update(store.meta().annotations.get(key).map(String::as_str).unwrap_or("").as_bytes());
    }
    h.update([0]);
    if let Some(s) = secret {
        h.update(s.fingerprint().as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn init_error(message: String) -> BuildError {
    BuildError { reason: s::ERROR_INITIALISING_WRITER, message }
}

fn auth_error(message: impl std::fmt::Display) -> BuildError {
    init_error(format!("unable to create git writer: could not create auth method: {message}"))
}

/// Reads secret key `key`, trimming surrounding whitespace (the classic pasted-newline mistake, Kratix
/// #624) and noting that it did, by key name only.
fn secret_value(secret: &Secret, key: &str, trimmed: &mut Vec<String>) -> Option<String> {
    let raw = secret.value(key)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let clean = text.trim();
    if clean.len() != text.len() {
        trimmed.push(key.to_string());
    }
    Some(clean.to_string())
}

/// Builds the Git backend of `store`.
pub async fn git_backend(
    store: &GitStateStore,
    secret: Option<&Secret>,
    opts: &BackendOptions,
) -> Result<Built, BuildError> {
    let root = StorePath::from_store_path(&store.spec.path)
        .map_err(|e| init_error(format!("unable to create git writer: spec.path: {e}")))?;
    let settings = GitSettings {
        branch: store.branch().to_string(),
        root,
        author: Author { name: store.spec.git_author.name.clone(), email: store.spec.git_author.email.clone() },
        dry_run: opts.dry_run,
    };
    let url = store.spec.url.trim().to_string();
    let location = location::classify(&url, &opts.base_dir)
        .map_err(|e| init_error(format!("unable to create git writer: {e}")))?;
    let (transport, remote_url) = match location {
        Location::Local(path) => {
            let backend = tokio::task::spawn_blocking(move || GitBackend::open_local(&path, settings))
                .await
                .map_err(|e| init_error(format!("unable to create git writer: {e}")))?
                .map_err(|e| init_error(format!("unable to create git writer: {e}")))?;
            return Ok(Built { backend: Box::new(backend), warnings: Vec::new() });
        }
        Location::Remote { url, transport } => (transport, url),
    };

    let (host, port) = location::host_and_port(&remote_url, transport);
    let mut warnings = Vec::new();
    let skip_verify = store.metadata.annotations.get(INSECURE_SKIP_TLS_VERIFY).is_some_and(|v| v == "true");
    if skip_verify && transport == Transport::Https {
        warnings
            .push(format!("TLS certificate verification is disabled for {remote_url} ({INSECURE_SKIP_TLS_VERIFY})"));
    }
    let mut tls = TlsSettings { ca_pem: None, skip_verify };
    let secret_name = store.spec.secret_ref.as_ref().map(|r| format!("{}/{}", r.namespace, r.name)).unwrap_or_default();
    let needs_secret = transport != Transport::Git;
    let secret = match (secret, needs_secret) {
        (Some(secret), _) => Some(secret),
        (None, false) => None,
        (None, true) => {
            return Err(BuildError {
                reason: s::SECRET_NOT_FOUND,
                message: format!(
                    "GitStateStore {:?} needs spec.secretRef for authMethod {} over {remote_url}",
                    store.metadata.name, store.spec.auth_method
                ),
            });
        }
    };
    let mut trimmed = Vec::new();
    if let Some(secret) = secret
        && let Some(ca) = secret.value("caFile")
    {
        tls.ca_pem = Some(ca);
        tls.validate().map_err(auth_error)?;
    }
    let missing = |key: &str| auth_error(format!("{key} not found in secret {secret_name}"));
    let auth = match (transport, store.spec.auth_method) {
        (Transport::Git, _) => GitAuth::None,
        (Transport::Https | Transport::Http, GitAuthMethod::BasicAuth) => {
            let secret = secret.ok_or_else(|| missing("password"))?;
            let password = secret_value(secret, "password", &mut trimmed).ok_or_else(|| missing("password"))?;
            let mut username = secret_value(secret, "username", &mut trimmed).unwrap_or_default();
            if username.is_empty() && remote_url.to_ascii_lowercase().contains("github") {
                username = "x-access-token".to_string();
            }
            GitAuth::Basic { username, password }
        }
        (Transport::Https | Transport::Http, GitAuthMethod::GithubApp) => {
            let secret = secret.ok_or_else(|| missing("appID"))?;
            let app_id = secret_value(secret, "appID", &mut trimmed).ok_or_else(|| missing("appID"))?;
            let installation =
                secret_value(secret, "installationID", &mut trimmed).ok_or_else(|| missing("installationID"))?;
            let key = secret.value("privateKey").ok_or_else(|| missing("privateKey"))?;
            let api = store.metadata.annotations.get(GITHUB_API_URL).map(String::as_str).unwrap_or(GITHUB_API);
            let app = GithubApp::new(&app_id, &installation, &key, api, tls.clone()).map_err(auth_error)?;
            GitAuth::GithubApp(Arc::new(app))
        }
        (Transport::Ssh, GitAuthMethod::Ssh) => {
            let secret = secret.ok_or_else(|| missing("sshPrivateKey"))?;
            // Kratix's order: the key present, knownHosts present, and only then the key parsed.
            let key = secret_value(secret, "sshPrivateKey", &mut trimmed).ok_or_else(|| missing("sshPrivateKey"))?;
            let known = secret_value(secret, "knownHosts", &mut trimmed).ok_or_else(|| missing("knownHosts"))?;
            check_private_key(&key).map_err(auth_error)?;
            let known_hosts = KnownHosts::parse(&known);
            warnings.extend(known_hosts.ignored().iter().map(|w| format!("{w} (secret {secret_name})")));
            GitAuth::Ssh {
                username: location::ssh_user(&remote_url),
                private_key: format!("{key}\n"),
                known_hosts: Arc::new(known_hosts),
            }
        }
        // Kratix's wording: basicAuth and githubApp are its HTTPS auth methods.
        (Transport::Ssh, _) => return Err(auth_error(format!("invalid URL for HTTPS auth method: {remote_url}"))),
        (_, GitAuthMethod::Ssh) => return Err(auth_error(format!("invalid URL for SSH auth method: {remote_url}"))),
    };
    if !trimmed.is_empty() {
        warnings.push(format!(
            "leading or trailing whitespace was trimmed from {} in secret {secret_name}",
            trimmed.join(", ")
        ));
    }
    let cache_dir = opts.cache_dir.as_ref().map(|dir| {
        let digest: String = Sha256::digest(remote_url.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect();
        dir.join(format!("{}-{digest}.git", store.metadata.name))
    });
    let options = RemoteOptions { cache_dir, fetch_interval: opts.fetch_interval, ..RemoteOptions::default() };
    let access = Access { auth, tls, host, port };
    let backend = tokio::task::spawn_blocking(move || GitBackend::open_remote(&remote_url, settings, access, options))
        .await
        .map_err(|e| init_error(format!("unable to clone repository: {e}")))?
        .map_err(|e| BuildError {
            reason: if matches!(e, StoreError::Unreachable(_)) { s::UNREACHABLE } else { s::ERROR_INITIALISING_WRITER },
            message: format!("unable to clone repository: {e}"),
        })?;
    Ok(Built { backend: Box::new(backend), warnings })
}

/// Refuses keys libssh2 cannot use without a passphrase, with Kratix's message prefix.
fn check_private_key(key: &str) -> Result<(), String> {
    if !key.contains("PRIVATE KEY-----") {
        return Err("error parsing ssh private key: no PEM block found".into());
    }
    let encrypted_pem = key.contains("Proc-Type: 4,ENCRYPTED") || key.contains("BEGIN ENCRYPTED PRIVATE KEY");
    let encrypted_openssh = key.contains("BEGIN OPENSSH PRIVATE KEY") && {
        use base64::Engine;
        let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map(|bytes| bytes.windows(6).take(64).any(|w| w == b"bcrypt"))
            .unwrap_or(false)
    };
    if encrypted_pem || encrypted_openssh {
        return Err("error parsing ssh private key: passphrase-protected keys are not supported".into());
    }
    Ok(())
}

/// Builds the bucket backend of `store` (compatibility C2): static keys for `accessKey`, the standard AWS credential
/// chain for `IAM`. No request is made here; the permission check is the first.
pub async fn bucket_backend(
    store: &BucketStateStore,
    secret: Option<&Secret>,
    opts: &BackendOptions,
) -> Result<Built, BuildError> {
    let fail = |e: String| init_error(format!("unable to create bucket writer: {e}"));
    let root = StorePath::from_store_path(&store.spec.path).map_err(|e| fail(format!("spec.path: {e}")))?;
    let mut trimmed = Vec::new();
    let credentials = match store.spec.auth_method {
        BucketAuthMethod::Iam => BucketCredentials::Iam,
        BucketAuthMethod::AccessKey => {
            let secret = secret.ok_or_else(|| fail("secret not provided".into()))?;
            let access_key_id = secret_value(secret, "accessKeyID", &mut trimmed)
                .ok_or_else(|| fail("secret is missing key: accessKeyID".into()))?;
            let secret_access_key = secret_value(secret, "secretAccessKey", &mut trimmed)
                .ok_or_else(|| fail("secret is missing key: secretAccessKey".into()))?;
            BucketCredentials::Static { access_key_id, secret_access_key }
        }
    };
    let mut warnings = Vec::new();
    if !trimmed.is_empty() {
        let name = store.spec.secret_ref.as_ref().map(|r| format!("{}/{}", r.namespace, r.name)).unwrap_or_default();
        warnings
            .push(format!("leading or trailing whitespace was trimmed from {} in secret {name}", trimmed.join(", ")));
    }
    let settings = BucketSettings {
        bucket: store.spec.bucket_name.clone(),
        endpoint: store.spec.endpoint.clone(),
        insecure: store.spec.insecure,
        dual_stack: store.spec.use_dual_stack,
        region: store.spec.region.clone(),
        root,
        credentials,
        dry_run: opts.dry_run,
        list_interval: opts.fetch_interval,
        concurrency: 32,
    };
    let backend = BucketBackend::new(settings).map_err(|e| fail(e.to_string()))?;
    let backend = if opts.dry_run {
        backend.into_dry_run().await.map_err(|e| BuildError {
            reason: if matches!(e, StoreError::Unreachable(_)) { s::UNREACHABLE } else { s::ERROR_INITIALISING_WRITER },
            message: format!("unable to create bucket writer: {e}"),
        })?
    } else {
        backend
    };
    Ok(Built { backend: Box::new(backend), warnings })
}

/// The directory of remote caches for embedded mode.
pub fn cache_dir_in(state_dir: &Path) -> PathBuf {
    state_dir.join("git-cache")
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::api::{GitStateStoreSpec, SecretRef};

    fn store(url: &str, auth_method: GitAuthMethod) -> GitStateStore {
        let secret_ref = Some(SecretRef { name: "git".into(), namespace: "default".into() });
        GitStateStore::new(
            "default",
            GitStateStoreSpec { url: url.into(), auth_method, secret_ref, ..Default::default() },
        )
    }

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        let mut s = Secret::new("default", "git");
        s.string_data = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        s
    }

    fn error_of(store: &GitStateStore, secret: &Secret) -> String {
        let opts = BackendOptions {
            base_dir: std::env::temp_dir(),
            cache_dir: None,
            fetch_interval: Duration::from_secs(5),
            dry_run: true,
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        match runtime.block_on(git_backend(store, Some(secret), &opts)) {
            Ok(_) => panic!("{} built a backend", store.spec.url),
            Err(e) => e.message,
        }
    }

    #[test]
    fn an_auth_method_that_does_not_fit_the_url_is_refused_in_kratix_words() {
        let ssh_secret = secret(&[("sshPrivateKey", "not a key"), ("knownHosts", "host ssh-ed25519 AAAA")]);
        let basic = secret(&[("password", "pw")]);
        for (store, secret, expected) in [
            (
                store("https://git.example/r.git", GitAuthMethod::Ssh),
                &ssh_secret,
                "invalid URL for SSH auth method: https://git.example/r.git",
            ),
            (
                store("ssh://git@git.example/r.git", GitAuthMethod::BasicAuth),
                &basic,
                "invalid URL for HTTPS auth method: ssh://git@git.example/r.git",
            ),
            (
                store("git@git.example:r.git", GitAuthMethod::GithubApp),
                &basic,
                "invalid URL for HTTPS auth method: git@git.example:r.git",
            ),
        ] {
            let message = error_of(&store, secret);
            assert!(message.ends_with(expected), "{message}");
            assert!(!message.contains("pw"), "no secret in the message: {message}");
        }
    }

    #[test]
    fn an_ssh_secret_is_checked_in_kratix_order_key_then_known_hosts_then_the_key_parsed() {
        let store = store("ssh://git@git.example/r.git", GitAuthMethod::Ssh);
        for (pairs, expected) in [
            (vec![("knownHosts", "h ssh-ed25519 AAAA")], "sshPrivateKey not found in secret default/git"),
            // An unparseable key with knownHosts missing: knownHosts is named first.
            (vec![("sshPrivateKey", "not a key")], "knownHosts not found in secret default/git"),
        ] {
            let message = error_of(&store, &secret(&pairs));
            assert!(message.ends_with(expected), "{message}");
        }
        let message =
            error_of(&store, &secret(&[("sshPrivateKey", "not a key"), ("knownHosts", "h ssh-ed25519 AAAA")]));
        assert!(!message.contains("not found in secret"), "both present: the key itself is refused: {message}");
        assert!(!message.contains("not a key"), "no key material in the message: {message}");
    }
}
