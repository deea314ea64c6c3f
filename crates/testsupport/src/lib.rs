//! Real servers on loopback for tests and benchmarks, started and stopped by the caller: Git over
//! HTTP(S) (`git http-backend` behind lighttpd with basic auth), `git daemon`, `sshd` on a high port
//! with its own host key, and helpers to make repositories and certificates.
//!
//! A server whose program is missing makes [`require`] fail the test when `CI=true`, and skip it
//! (loudly) elsewhere.

pub mod github;
pub mod http;
pub mod kubeapi;
pub mod latency;
pub mod process;
pub mod s3;
pub mod sshd;
pub mod tls;

pub use process::{free_port, git, http_get, require};

use std::path::{Path, PathBuf};

/// Creates a bare repository at `path` whose HEAD names `branch` (no commit yet).
pub fn bare_repo(path: &Path, branch: &str) -> PathBuf {
    std::fs::create_dir_all(path).expect("create repository directory");
    git(path, &["init", "--bare", "--quiet", &format!("--initial-branch={branch}")]);
    git(path, &["config", "http.receivepack", "true"]);
    git(path, &["config", "daemon.receivepack", "true"]);
    path.to_path_buf()
}

/// Commits `files` on `branch` of the bare repository at `repo`, as a third party would: a clone,
/// a commit, a push. Returns the new commit.
pub fn third_party_commit(repo: &Path, branch: &str, files: &[(&str, Option<&str>)], message: &str) -> String {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("clone");
    let url = repo.display().to_string();
    let cloned = std::process::Command::new("git")
        .args(["clone", "--quiet", "--branch", branch, &url, dir.to_str().unwrap_or_default()])
        .output()
        .expect("git clone");
    if !cloned.status.success() {
        std::fs::create_dir_all(&dir).expect("mkdir");
        git(&dir, &["init", "--quiet", &format!("--initial-branch={branch}")]);
        git(&dir, &["remote", "add", "origin", &url]);
    }
    for (path, content) in files {
        let full = dir.join(path);
        match content {
            Some(c) => {
                std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
                std::fs::write(&full, c).expect("write");
            }
            None => {
                if full.is_dir() {
                    std::fs::remove_dir_all(&full).expect("rm -r");
                } else {
                    let _ = std::fs::remove_file(&full);
                }
            }
        }
    }
    git(&dir, &["add", "-A"]);
    git(
        &dir,
        &["-c", "user.name=third party", "-c", "user.email=third@example.com", "commit", "--quiet", "-m", message],
    );
    // Like any other writer, the third party rebases on a branch that moved meanwhile and pushes again.
    let refspec = format!("HEAD:refs/heads/{branch}");
    for _ in 0..20 {
        let pushed = std::process::Command::new("git")
            .args(["push", "--quiet", "origin", &refspec])
            .current_dir(&dir)
            .output()
            .expect("git push");
        if pushed.status.success() {
            return git(&dir, &["rev-parse", "HEAD"]).trim().to_string();
        }
        git(
            &dir,
            &[
                "-c",
                "user.name=third party",
                "-c",
                "user.email=third@example.com",
                "pull",
                "--quiet",
                "--rebase",
                "origin",
                branch,
            ],
        );
    }
    panic!("the third party could not push to {branch} in 20 attempts");
}
