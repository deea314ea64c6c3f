//! Command-line interface definitions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Waybill writes Kratix Works to Destinations' Git repositories and buckets, in Kratix's layout.
///
/// Embedded mode needs no cluster: point `--platform` at a directory of manifests (Destinations,
/// GitStateStores, BucketStateStores, Works, Secrets) and Waybill converges them, keeping its own
/// state under `<platform>/.waybill/`.
#[derive(Debug, Parser)]
#[command(name = "waybill", version, propagate_version = true, max_term_width = 110)]
pub struct Cli {
    /// More log output (-v: info, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reconcile every manifest under a platform directory.
    ///
    /// Without --once, keeps running: reacts to file changes and requeues, and stops cleanly on
    /// SIGINT or SIGTERM. With --once, runs until nothing is left to do, prints a summary and exits
    /// 0 when every object is Ready, 2 when something is not (unscheduled, failing, invalid
    /// manifest), 1 on a fatal error.
    Run(RunArgs),
    /// Show every object with its conditions (reads the state a run left; never blocks a run).
    Status(StatusArgs),
    /// Check manifests: exits 1 with one line per problem, 0 when all are valid.
    Validate(ValidateArgs),
    /// Show, per state store, the files a run would write or delete. Writes nothing.
    Plan(PlatformArgs),
}

#[derive(Debug, clap::Args)]
pub struct PlatformArgs {
    /// Directory of manifests (`.yaml`/`.yml`, multi-document, searched recursively).
    #[arg(long, short = 'p', env = "WAYBILL_PLATFORM", default_value = ".")]
    pub platform: PathBuf,
    /// Where durable state lives [default: <platform>/.waybill].
    #[arg(long, env = "WAYBILL_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Run until nothing is left to do, print a summary and exit (0: all Ready, 2: not, 1: fatal).
    #[arg(long)]
    pub once: bool,
    /// Reconciles in flight at most.
    #[arg(long, default_value_t = 1024)]
    pub concurrency: usize,
    /// How often every placement is rewritten to correct drift (Kratix's
    /// stateStoreReconciliationInterval), e.g. 10h, 30m, 0 to disable.
    #[arg(long, default_value = "10h", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// Fetch a remote Git store at most this often before writing (Kratix's
    /// git.minimumFetchInterval); a rejected push always fetches.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub fetch_interval: Duration,
    /// Never show the progress line.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Output format; json and yaml print a Kubernetes List.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Manifest files, or directories to search recursively.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Parses `90s`, `5m`, `10h`, `1h30m`, `250ms` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let value: u64 =
            number.parse().map_err(|_| format!("invalid duration {text:?}: expected e.g. 30s, 5m, 10h"))?;
        number.clear();
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            Duration::from_millis(1)
        } else {
            match c {
                's' => Duration::from_secs(1),
                'm' => Duration::from_secs(60),
                'h' => Duration::from_secs(3600),
                _ => return Err(format!("invalid duration {text:?}: unknown unit {c:?} (use ms, s, m or h)")),
            }
        };
        total += unit * value as u32;
    }
    if !number.is_empty() {
        return Err(format!("invalid duration {text:?}: a number needs a unit (ms, s, m or h)"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        let cases =
            [("10h", 36_000_000), ("30m", 1_800_000), ("1h30m", 5_400_000), ("250ms", 250), ("0", 0), ("45", 45_000)];
        for (text, ms) in cases {
            assert_eq!(parse_duration(text).unwrap(), Duration::from_millis(ms), "{text}");
        }
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("5m3").is_err());
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
