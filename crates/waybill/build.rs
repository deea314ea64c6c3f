//! Records the commit the binary is built from, for `waybill --version`.

use std::process::Command;

fn main() {
    // The repository's HEAD and the branch it points at: a new commit rebuilds the version.
    for path in ["../../.git/HEAD", "../../.git/refs/heads", "../../.git/packed-refs"] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-env-changed=WAYBILL_COMMIT");
    let commit = std::env::var("WAYBILL_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| {
        let out = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        out.status.success().then(|| text.trim().to_string()).filter(|c| !c.is_empty())
    });
    println!("cargo:rustc-env=WAYBILL_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
}
