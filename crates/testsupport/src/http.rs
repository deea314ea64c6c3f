//! Git over HTTP(S): `git http-backend` behind lighttpd with basic auth, and `git daemon`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{Proc, free_port, git_exec_path, require, wait_for_port};
use crate::tls::TestCa;

/// A lighttpd serving every bare repository under its `repos/` directory at `/git/<name>.git`.
pub struct GitHttp {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub tls: Option<TestCa>,
    proc: Proc,
}

impl GitHttp {
    /// Starts a server that accepts the given `(user, password)` pairs (every request needs one).
    /// With `tls`, it serves HTTPS with a certificate from a fresh test CA.
    pub fn start(users: &[(&str, &str)], tls: bool) -> Option<GitHttp> {
        let lighttpd = require("lighttpd")?;
        let backend = git_exec_path().join("git-http-backend");
        if !backend.is_file() {
            require(backend.to_str().unwrap_or("git-http-backend"))?;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("repos")).expect("mkdir repos");
        std::fs::create_dir_all(root.join("www")).expect("mkdir www");
        let users_file: String = users.iter().map(|(u, p)| format!("{u}:{p}\n")).collect();
        std::fs::write(root.join("users"), users_file).expect("write users");
        let port = free_port();
        let ca = tls.then(|| TestCa::generate(root));
        let mut modules = vec!["mod_auth", "mod_authn_file", "mod_cgi", "mod_alias", "mod_setenv"];
        let mut ssl = String::new();
        if let Some(ca) = &ca {
            modules.push("mod_openssl");
            ssl = format!("ssl.engine = \"enable\"\nssl.pemfile = \"{}\"\n", ca.server_pem.display());
        }
        let modules = modules.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", ");
        let conf = format!(
            r#"server.modules = ( {modules} )
server.document-root = "{root}/www"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{root}/error.log"
server.pid-file = "{root}/lighttpd.pid"
server.max-request-size = 0
server.stream-request-body = 0
{ssl}alias.url = ( "/git/" => "{backend}/" )
$HTTP["url"] =~ "^/git/" {{
  cgi.assign = ( "" => "" )
  setenv.add-environment = ( "GIT_PROJECT_ROOT" => "{root}/repos", "GIT_HTTP_EXPORT_ALL" => "1" )
}}
auth.backend = "plain"
auth.backend.plain.userfile = "{root}/users"
auth.require = ( "/git/" => ( "method" => "basic", "realm" => "git", "require" => "valid-user" ) )
"#,
            root = root.display(),
            backend = backend.display(),
        );
        std::fs::write(root.join("lighttpd.conf"), conf).expect("write lighttpd.conf");
        let proc = Proc::spawn(
            "lighttpd",
            Command::new(lighttpd)
                .args(["-D", "-f"])
                .arg(root.join("lighttpd.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "lighttpd did not start: {}",
            std::fs::read_to_string(root.join("error.log")).unwrap_or_default()
        );
        Some(GitHttp { dir, port, tls: ca, proc })
    }

    /// Creates a bare repository `name` with HEAD on `branch`; returns its path on disk.
    pub fn repo(&self, name: &str, branch: &str) -> PathBuf {
        crate::bare_repo(&self.dir.path().join("repos").join(format!("{name}.git")), branch)
    }

    pub fn url(&self, name: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/git/{name}.git", self.port)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("repos").join(format!("{name}.git"))
    }

    /// Stops the server (it "goes away").
    pub fn stop(&mut self) {
        self.proc.kill();
    }

    /// Starts the stopped server again, on the same port with the same repositories.
    pub fn restart(&mut self) {
        self.proc.kill();
        let root = self.dir.path();
        self.proc = Proc::spawn(
            "lighttpd",
            Command::new("lighttpd")
                .args(["-D", "-f"])
                .arg(root.join("lighttpd.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        assert!(wait_for_port(self.port, Duration::from_secs(10)), "lighttpd did not restart");
    }
}

/// `git daemon` exporting every repository under its base path, receive-pack enabled.
pub struct GitDaemon {
    pub dir: tempfile::TempDir,
    pub port: u16,
    _proc: Proc,
}

impl GitDaemon {
    pub fn start() -> Option<GitDaemon> {
        require("git")?;
        let daemon = git_exec_path().join("git-daemon");
        if !daemon.is_file() {
            require(daemon.to_str().unwrap_or("git-daemon"))?;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let proc = Proc::spawn(
            "git daemon",
            Command::new("git")
                .args(["daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1"])
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", dir.path().display()))
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        assert!(wait_for_port(port, Duration::from_secs(10)), "git daemon did not start");
        Some(GitDaemon { dir, port, _proc: proc })
    }

    pub fn repo(&self, name: &str, branch: &str) -> PathBuf {
        crate::bare_repo(&self.dir.path().join(format!("{name}.git")), branch)
    }

    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.git"))
    }
}

/// Reads a file on `branch` of a bare repository with the `git` CLI (independent of Waybill's code).
pub fn show(repo: &Path, branch: &str, path: &str) -> Option<String> {
    let out = Command::new("git").args(["show", &format!("{branch}:{path}")]).current_dir(repo).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every file on `branch`, with the `git` CLI.
pub fn ls_tree(repo: &Path, branch: &str) -> Vec<String> {
    let out = Command::new("git").args(["ls-tree", "-r", "--name-only", branch]).current_dir(repo).output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// Commit subjects on `branch`, newest first, with the `git` CLI.
pub fn log(repo: &Path, branch: &str) -> Vec<String> {
    let out = Command::new("git").args(["log", "--format=%s", branch]).current_dir(repo).output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}
