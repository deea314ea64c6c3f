//! An S3-compatible server on loopback: `s3s-fs` (it checks SigV4 signatures) over a temporary
//! directory, one sub-directory per bucket.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{Proc, free_port, require, wait_for_port};

pub const ACCESS_KEY: &str = "waybill-access-key";
pub const SECRET_KEY: &str = "waybill-secret-key-0123456789";

pub struct S3Server {
    pub dir: tempfile::TempDir,
    pub port: u16,
    binary: PathBuf,
    proc: Proc,
}

impl S3Server {
    pub fn start() -> Option<S3Server> {
        let binary = require("s3s-fs").or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            let cargo_bin = home.join(".cargo/bin/s3s-fs");
            cargo_bin.is_file().then_some(cargo_bin)
        })?;
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let proc = spawn(&binary, dir.path(), port);
        Some(S3Server { dir, port, binary, proc })
    }

    /// `host:port`, Kratix's endpoint form (use with `insecure: true`).
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn create_bucket(&self, name: &str) {
        std::fs::create_dir_all(self.dir.path().join(name)).expect("create bucket");
    }

    /// Every object key in `bucket`, sorted.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let root = self.dir.path().join(bucket);
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }

    pub fn read(&self, bucket: &str, key: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join(bucket).join(key)).ok()
    }

    /// Stops the server (it "goes away").
    pub fn stop(&mut self) {
        self.proc.kill();
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.proc.kill();
        self.proc = spawn(&self.binary, self.dir.path(), self.port);
    }
}

fn spawn(binary: &Path, root: &Path, port: u16) -> Proc {
    let proc = Proc::spawn(
        "s3s-fs",
        Command::new(binary)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--access-key",
                ACCESS_KEY,
                "--secret-key",
                SECRET_KEY,
            ])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(wait_for_port(port, Duration::from_secs(15)), "s3s-fs did not start");
    proc
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let key = rel.to_string_lossy().into_owned();
            // s3s-fs keeps its own bookkeeping beside the objects.
            if !key.split('/').any(|part| part.starts_with(".s3s")) {
                out.push(key);
            }
        }
    }
}
