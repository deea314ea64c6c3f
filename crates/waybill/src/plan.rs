//! `waybill plan`: what a run would write, per state store, without writing anything; as text, as
//! JSON for scripts, and with `--diff` each changed file's content as a unified diff.

use serde_json::json;
use tokio::sync::mpsc;
use waybill_engine::EngineConfig;
use waybill_local::{Platform, RunOptions};
use waybill_stores::FileChange;

use crate::cli::{PlanArgs, PlanOutput};
use crate::term::{out, outln};

/// Files larger than this are summarised instead of diffed.
const MAX_DIFF_BYTES: usize = 1 << 20;

pub async fn plan(args: PlanArgs) -> anyhow::Result<u8> {
    let paths = crate::paths(&args.platform)?;
    let config = EngineConfig { limits: args.limits.limits(), ..EngineConfig::default() };
    let mut platform = Platform::open_dry_run(paths, config)?;
    let report = platform.load();
    let mut runner = platform.runner();
    let (_tx, rx) = mpsc::unbounded_channel();
    platform.run(&mut runner, RunOptions { once: true, concurrency: 1024 }, rx).await?;
    let planned = platform.planned_changes().await;
    let changes_anything = planned.iter().any(|(_, changes)| !changes.is_empty());
    let view = platform.status();

    let mut stores = Vec::new();
    for (store, changes) in &planned {
        let mut listed = Vec::new();
        for change in changes {
            let (op, path) = match change {
                FileChange::Added(p) => ("add", p),
                FileChange::Modified(p) => ("modify", p),
                FileChange::Deleted(p) => ("delete", p),
            };
            let diff = if args.diff {
                let (before, after) = platform.planned_contents(store, path).await;
                Some(unified_diff(path, before.as_deref(), after.as_deref()))
            } else {
                None
            };
            listed.push((op, path.as_str(), diff));
        }
        stores.push((store.as_str(), listed));
    }
    let not_ready: Vec<(String, String, String)> = view
        .not_ready()
        .filter_map(|row| row.ready().map(|c| (row.object.to_string(), c.reason.clone(), c.message.clone())))
        .collect();

    match args.output {
        PlanOutput::Json => {
            let value = json!({
                "stores": stores.iter().map(|(store, changes)| json!({
                    "store": store,
                    "changes": changes.iter().map(|(op, path, diff)| {
                        let mut c = json!({ "op": op, "path": path });
                        if let Some(d) = diff {
                            c["diff"] = json!(d);
                        }
                        c
                    }).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "problems": report.problems,
                "notReady": not_ready.iter().map(|(object, reason, message)| {
                    json!({ "object": object, "reason": reason, "message": message })
                }).collect::<Vec<_>>(),
                "changes": changes_anything,
            });
            outln!("{}", serde_json::to_string_pretty(&value)?);
        }
        PlanOutput::Text => {
            for p in &report.problems {
                outln!("problem: {p}");
            }
            if stores.is_empty() {
                outln!("no state store is ready; nothing would be written");
            }
            for (store, changes) in &stores {
                if changes.is_empty() {
                    outln!("{store}: no changes");
                    continue;
                }
                outln!("{store}: {} change(s)", changes.len());
                for (op, path, diff) in changes {
                    let sign = match *op {
                        "add" => '+',
                        "modify" => '~',
                        _ => '-',
                    };
                    outln!("  {sign} {path}");
                    if let Some(d) = diff {
                        out!("{d}");
                    }
                }
            }
            for (object, reason, message) in &not_ready {
                outln!("not ready: {object} ({reason}: {message})");
            }
        }
    }
    Ok(if args.exit_code && changes_anything { 2 } else { 0 })
}

/// A unified diff of one file (`git diff` style headers); binary or very large content is named, not
/// shown.
fn unified_diff(path: &str, before: Option<&[u8]>, after: Option<&[u8]>) -> String {
    let size = before.map_or(0, <[u8]>::len).max(after.map_or(0, <[u8]>::len));
    let (Ok(old), Ok(new)) = (before.map(std::str::from_utf8).transpose(), after.map(std::str::from_utf8).transpose())
    else {
        return "    (binary content differs)\n".into();
    };
    if size > MAX_DIFF_BYTES {
        return format!("    (content differs; {size} bytes, too large to show)\n");
    }
    let (old, new) = (old.unwrap_or(""), new.unwrap_or(""));
    let from = if before.is_some() { format!("a/{path}") } else { "/dev/null".into() };
    let to = if after.is_some() { format!("b/{path}") } else { "/dev/null".into() };
    similar::TextDiff::from_lines(old, new).unified_diff().context_radius(3).header(&from, &to).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_read_like_git_diff() {
        for (before, after, want) in [
            (None, Some("a: 1\n"), "--- /dev/null\n+++ b/x.yaml\n@@ -0,0 +1 @@\n+a: 1\n"),
            (Some("a: 1\n"), None, "--- a/x.yaml\n+++ /dev/null\n@@ -1 +0,0 @@\n-a: 1\n"),
            (
                Some("a: 1\nb: 2\n"),
                Some("a: 1\nb: 3\n"),
                "--- a/x.yaml\n+++ b/x.yaml\n@@ -1,2 +1,2 @@\n a: 1\n-b: 2\n+b: 3\n",
            ),
        ] {
            let got = unified_diff("x.yaml", before.map(str::as_bytes), after.map(str::as_bytes));
            assert_eq!(got, want, "{before:?} -> {after:?}");
        }
        assert_eq!(unified_diff("x", Some(&[0xff, 0xfe]), Some(b"a")), "    (binary content differs)\n");
        let big = "x\n".repeat(MAX_DIFF_BYTES);
        assert!(unified_diff("x", None, Some(big.as_bytes())).contains("too large to show"));
    }
}
