//! How cost grows with the number of Works: runs `burst-local` (next to this program) for each size in
//! a process of its own (so peak memory is that size's) and prints one table row per size.
//!
//! cargo build --release -p waybill-bench && target/release/scale [SIZES...]   (default 1000 10000 50000)

use std::collections::BTreeMap;
use std::process::Command;

fn main() -> anyhow::Result<()> {
    let mut sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![1000, 10_000, 50_000];
    }
    let burst = std::env::current_exe()?.with_file_name("burst-local");
    println!(
        "| Works | Destinations | wall | CPU | commits | peak RSS | git CLI floor | wall / floor | rerun (nothing changed) | files parsed by the rerun |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for works in sizes {
        let out = Command::new(&burst).args([works.to_string(), "3".into(), "100".into()]).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "burst-local {works} failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = text.lines().find(|l| l.starts_with("figures: ")).unwrap_or_default();
        let f: BTreeMap<&str, &str> =
            line.trim_start_matches("figures: ").split(' ').filter_map(|kv| kv.split_once('=')).collect();
        let get = |k: &str| f.get(k).copied().unwrap_or("?");
        let ratio = match (get("wall").parse::<f64>(), get("floor").parse::<f64>()) {
            (Ok(w), Ok(fl)) if fl > 0.0 => format!("{:.2}", w / fl),
            _ => "?".into(),
        };
        println!(
            "| {works} | 100 | {} s | {} s | {} | {} MiB | {} s | {ratio} | {} s | {} |",
            get("wall"),
            get("cpu"),
            get("commits"),
            get("peak_mib"),
            get("floor"),
            get("rerun"),
            get("rerun_parsed")
        );
    }
    Ok(())
}
