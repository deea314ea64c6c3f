//! `sshd` on a high port with its own host key, one authorized client key, and the `known_hosts` line
//! that pins it. Git runs over it as the current user.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{Proc, free_port, require, wait_for_port};

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub user: String,
    /// The client's private key (OpenSSH format).
    pub client_key: String,
    /// `known_hosts` pinning this server's host key.
    pub known_hosts: String,
    /// `known_hosts` pinning some other key for the same host.
    pub wrong_known_hosts: String,
    _proc: Proc,
}

fn keygen(path: &std::path::Path, kind: &str) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "waybill-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "ssh-keygen failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn public(path: &std::path::Path) -> String {
    std::fs::read_to_string(path.with_extension("pub")).expect("public key")
}

impl Sshd {
    pub fn start() -> Option<Sshd> {
        let sshd = require("/usr/sbin/sshd")?;
        require("ssh-keygen")?;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let host_key = root.join("host_ed25519");
        let other_key = root.join("other_ed25519");
        let client_key = root.join("client_ed25519");
        keygen(&host_key, "ed25519");
        keygen(&other_key, "ed25519");
        keygen(&client_key, "ed25519");
        std::fs::write(root.join("authorized_keys"), public(&client_key)).expect("authorized_keys");
        let user =
            String::from_utf8_lossy(&Command::new("id").arg("-un").output().expect("id").stdout).trim().to_string();
        let port = free_port();
        let entry = |key: &std::path::Path| {
            let pubkey = public(key);
            let mut parts = pubkey.split_whitespace();
            format!("[127.0.0.1]:{port} {} {}\n", parts.next().unwrap_or_default(), parts.next().unwrap_or_default())
        };
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {root}/authorized_keys\nPidFile {root}/sshd.pid\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nAllowUsers {user}\nLogLevel ERROR\n",
            host = host_key.display(),
            root = root.display(),
        );
        std::fs::write(root.join("sshd_config"), config).expect("sshd_config");
        // sshd refuses to start without its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let proc = Proc::spawn(
            "sshd",
            Command::new(sshd)
                .args(["-D", "-e", "-f"])
                .arg(root.join("sshd_config"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        assert!(wait_for_port(port, Duration::from_secs(10)), "sshd did not start");
        Some(Sshd {
            port,
            user,
            client_key: std::fs::read_to_string(&client_key).expect("client key"),
            known_hosts: entry(&host_key),
            wrong_known_hosts: entry(&other_key),
            dir,
            _proc: proc,
        })
    }

    /// A bare repository served at [`Sshd::url`].
    pub fn repo(&self, name: &str, branch: &str) -> PathBuf {
        crate::bare_repo(&self.path(name), branch)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("repos").join(format!("{name}.git"))
    }

    pub fn url(&self, name: &str) -> String {
        format!("ssh://{}@127.0.0.1:{}{}", self.user, self.port, self.path(name).display())
    }
}
