//! Credentials and server checks for Git remotes (compatibility C2, D6 to D8): libgit2 callbacks
//! that answer once (a rejected credential is never retried in a loop), pin SSH host keys, and verify
//! TLS certificates.

use std::cell::Cell;
use std::sync::Arc;

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};

use super::github_app::GithubApp;
use super::known_hosts::{HostKeyProblem, KnownHosts};
use super::tls::TlsSettings;

/// How to authenticate to a remote.
#[derive(Clone)]
pub enum GitAuth {
    /// `git://`, or an HTTP(S) remote that needs no credentials.
    None,
    Basic {
        username: String,
        password: String,
    },
    Ssh {
        username: String,
        private_key: String,
        known_hosts: Arc<KnownHosts>,
    },
    GithubApp(Arc<GithubApp>),
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitAuth::None => f.write_str("None"),
            GitAuth::Basic { username, .. } => write!(f, "Basic({username:?})"),
            GitAuth::Ssh { username, .. } => write!(f, "Ssh({username:?})"),
            GitAuth::GithubApp(_) => f.write_str("GithubApp"),
        }
    }
}

/// What a remote needs for one connection.
#[derive(Clone, Debug)]
pub struct Access {
    pub auth: GitAuth,
    pub tls: TlsSettings,
    /// Host and port of the remote, for host key checks.
    pub host: String,
    pub port: u16,
}

/// Remembers why a connection failed, so the error can say more than libgit2's generic text.
#[derive(Default)]
pub struct Diagnosis {
    pub credentials_rejected: Cell<bool>,
    pub host_key: Cell<Option<&'static str>>,
    pub tls: std::cell::RefCell<Option<String>>,
}

impl Access {
    /// libgit2 callbacks for one operation. `diagnosis` collects what went wrong.
    pub fn callbacks<'a>(&'a self, diagnosis: &'a Diagnosis) -> RemoteCallbacks<'a> {
        let mut cb = RemoteCallbacks::new();
        let attempts = Cell::new(0u32);
        cb.credentials(move |_url, username_from_url, allowed| {
            attempts.set(attempts.get() + 1);
            if attempts.get() > 1 {
                diagnosis.credentials_rejected.set(true);
                return Err(git2::Error::from_str("authentication failed: the remote rejected the credentials"));
            }
            match &self.auth {
                GitAuth::None => {
                    Err(git2::Error::from_str("authentication required but no credentials are configured"))
                }
                GitAuth::Basic { username, password } if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
                    Cred::userpass_plaintext(username, password)
                }
                GitAuth::GithubApp(app) if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
                    let token = app.token().map_err(|e| git2::Error::from_str(&e.to_string()))?;
                    Cred::userpass_plaintext("x-access-token", &token)
                }
                GitAuth::Ssh { username, private_key, .. } if allowed.contains(CredentialType::SSH_KEY) => {
                    let user = username_from_url.unwrap_or(username);
                    Cred::ssh_key_from_memory(user, None, private_key, None)
                }
                GitAuth::Ssh { username, .. } if allowed.contains(CredentialType::USERNAME) => Cred::username(username),
                _ => Err(git2::Error::from_str("the remote asked for a kind of credentials this store does not have")),
            }
        });
        cb.certificate_check(move |cert, host| {
            if let Some(hostkey) = cert.as_hostkey() {
                let GitAuth::Ssh { known_hosts, .. } = &self.auth else {
                    return Err(git2::Error::from_str("an SSH host key was offered to a store without known_hosts"));
                };
                let Some(key) = hostkey.hostkey() else {
                    diagnosis.host_key.set(Some("the server's host key could not be read"));
                    return Err(git2::Error::from_str("the server's host key could not be read"));
                };
                return match known_hosts.check(&self.host, self.port, key) {
                    Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                    Err(problem) => {
                        let msg = match problem {
                            HostKeyProblem::Unknown => "host key verification failed: the host is not in knownHosts",
                            HostKeyProblem::Mismatch => {
                                "host key verification failed: the host key does not match knownHosts"
                            }
                            HostKeyProblem::Revoked => {
                                "host key verification failed: the host key is revoked in knownHosts"
                            }
                        };
                        diagnosis.host_key.set(Some(msg));
                        Err(git2::Error::from_str(msg))
                    }
                };
            }
            if self.tls.skip_verify {
                return Ok(CertificateCheckStatus::CertificateOk);
            }
            match (&self.tls.ca_pem, cert.as_x509()) {
                (Some(ca), Some(x509)) => match self.tls.verify_with_ca(ca, x509.data(), host) {
                    Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                    Err(e) => {
                        *diagnosis.tls.borrow_mut() = Some(e.clone());
                        Err(git2::Error::from_str(&format!("TLS certificate verification failed: {e}")))
                    }
                },
                _ => Ok(CertificateCheckStatus::CertificatePassthrough),
            }
        });
        cb
    }
}
