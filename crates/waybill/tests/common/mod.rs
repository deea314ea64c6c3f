//! Shared by the end-to-end tests of the binary: a platform directory with the quickstart manifests,
//! and helpers to run `waybill` on it and read the repository it writes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

unsafe extern "C" {
    fn geteuid() -> u32;
}

pub struct Site {
    pub dir: tempfile::TempDir,
    pub platform: PathBuf,
}

pub fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart")
}

impl Site {
    /// A platform directory holding a copy of the quickstart manifests.
    pub fn quickstart() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let platform = dir.path().join("platform");
        std::fs::create_dir_all(&platform).unwrap();
        for entry in std::fs::read_dir(quickstart()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                std::fs::copy(&path, platform.join(path.file_name().unwrap())).unwrap();
            }
        }
        Site { dir, platform }
    }

    pub fn waybill(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_waybill")).args(args).env_remove("RUST_LOG").output().expect("run waybill")
    }

    /// Runs `waybill` without the capabilities that let root read any file (so a `chmod 000` directory
    /// is unreadable to it, as to everyone else); as another user it is the plain command.
    pub fn waybill_unprivileged(&self, args: &[&str]) -> Output {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { geteuid() } == 0;
        let mut command = if root {
            let mut c = Command::new("setpriv");
            c.args(["--bounding-set=-dac_override,-dac_read_search", "--"]).arg(env!("CARGO_BIN_EXE_waybill"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_waybill"))
        };
        command.args(args).env_remove("RUST_LOG").output().expect("run waybill (setpriv is part of util-linux)")
    }

    pub fn run_once(&self) -> Output {
        self.waybill(&["run", "--once", "--quiet", "--platform", self.platform.to_str().unwrap()])
    }

    pub fn repo(&self) -> PathBuf {
        self.platform.join("state.git")
    }

    pub fn files(&self) -> std::collections::BTreeMap<String, String> {
        files_at(&self.repo())
    }

    pub fn commits(&self) -> usize {
        let Ok(repo) = git2::Repository::open(self.repo()) else { return 0 };
        let mut walk = repo.revwalk().unwrap();
        if walk.push_ref("refs/heads/main").is_err() {
            return 0;
        }
        walk.count()
    }

    /// The platform directory as an argument.
    pub fn dir_arg(&self) -> &str {
        self.platform.to_str().expect("a UTF-8 temporary path")
    }

    /// Every file of the state directory, concatenated (to search it for what must never be stored).
    pub fn state_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.platform.join(".waybill")) {
            for entry in entries.flatten() {
                if entry.path().is_file() {
                    out.extend(std::fs::read(entry.path()).unwrap_or_default());
                }
            }
        }
        out
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.platform.join(file), text).unwrap();
    }
}

pub fn files_at(repo: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(repo) = git2::Repository::open(repo) else { return out };
    let Ok(tree) = repo.revparse_single("refs/heads/main").and_then(|o| o.peel_to_tree()) else { return out };
    tree.walk(git2::TreeWalkMode::PreOrder, |root, e| {
        if e.kind() == Some(git2::ObjectType::Blob) {
            let blob = repo.find_blob(e.id()).unwrap();
            out.insert(format!("{root}{}", e.name().unwrap()), String::from_utf8_lossy(blob.content()).into_owned());
        }
        git2::TreeWalkResult::Ok
    })
    .unwrap();
    out
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}
