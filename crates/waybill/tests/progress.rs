//! The progress bar on a terminal (a real pseudo-terminal, through util-linux's `script`): it shows
//! totals, rate and ETA, and log lines printed while it is shown never run into it.

mod common;

use std::process::Command;

use common::*;

#[test]
fn log_lines_are_printed_above_the_progress_bar_never_through_it() {
    if Command::new("script").arg("--version").output().is_err() {
        assert!(std::env::var("CI").is_err(), "util-linux's `script` is needed to run this test on CI");
        return;
    }
    let site = Site::quickstart();
    // Enough Works to keep the bar up for a while, each failing with a Warning event (an escaping path).
    for i in 0..4000 {
        site.write(
            &format!("w{i}.yaml"),
            &format!(
                "apiVersion: platform.kratix.io/v1alpha1\nkind: Work\nmetadata: {{name: w{i}, namespace: default}}\nspec:\n  \
                 promiseName: p\n  resourceName: r{i}\n  workloadGroups:\n  - destinationSelectors: \
                 [{{matchLabels: {{environment: dev}}}}]\n    workloads:\n    - filepath: ../escape-{i}.yaml\n      \
                 content: \"x: 1\"\n"
            ),
        );
    }
    let log = site.dir.path().join("tty.log");
    let command = format!("{} run --once --platform {}", env!("CARGO_BIN_EXE_waybill"), site.dir_arg());
    let out = Command::new("script").args(["-qec", &command, log.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success() || out.status.code() == Some(2), "{}", text(&out));
    let bytes = std::fs::read(&log).unwrap();
    let tty = String::from_utf8_lossy(&bytes);

    let frames: Vec<&str> = tty.split(['\r', '\n']).filter(|s| s.contains(" reconciled ")).collect();
    assert!(!frames.is_empty(), "the bar was shown:\n{}", &tty[..tty.len().min(2000)]);
    assert!(
        frames.iter().any(|f| f.contains("/s") && f.contains("ETA") && f.contains('/')),
        "a frame has totals, rate and ETA: {:?}",
        &frames[..frames.len().min(3)]
    );
    let warnings: Vec<&str> = tty.split('\n').filter(|l| l.contains("WARN")).collect();
    assert!(warnings.len() > 10, "warnings were logged while the bar was up: {}", warnings.len());
    for line in &warnings {
        // The bar is cleared (`ESC [2K`) before a log line is written; without that, the line would
        // follow the bar's text on the same terminal line.
        let after_clear = line.rsplit("\x1b[2K").next().unwrap_or(line);
        assert!(!after_clear.contains(" reconciled "), "a log line ran into the bar: {line:?}");
    }
    assert!(tty.contains("waybill: 4000 object(s) not Ready") || tty.contains("not Ready"), "the run ended");
}
