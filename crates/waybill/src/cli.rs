//! Command-line interface definitions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use waybill_core::{Kind, ObjectRef};

/// The version and the commit it was built from (`WAYBILL_COMMIT` at build time overrides it, for
/// builds outside a Git checkout such as a container image).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("WAYBILL_COMMIT"), ")");

/// Waybill writes Kratix Works to Destinations' Git repositories and buckets, in Kratix's layout.
///
/// Embedded mode needs no cluster: point `--platform` at a directory of manifests (Destinations,
/// GitStateStores, BucketStateStores, Works, Secrets) and Waybill converges them, keeping its own
/// state under `<platform>/.waybill/`.
#[derive(Debug, Parser)]
#[command(name = "waybill", version = VERSION, propagate_version = true, max_term_width = 110)]
pub struct Cli {
    /// More log output (-v: info, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log lines as text for people or JSON objects for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "WAYBILL_LOG_FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
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
    ///
    /// A reference to a state store or Secret that is not among the given files is a warning, not a
    /// problem (it may be applied separately; Kratix admits such a Destination with a warning too).
    Validate(ValidateArgs),
    /// Show, per state store, the files a run would write or delete. Writes nothing.
    Plan(PlanArgs),
    /// Print the CustomResourceDefinitions of the five kinds, for `kubectl apply -f -`.
    ///
    /// They are Kratix's CRDs field for field (existing Kratix manifests apply unchanged) plus the
    /// few status and spec fields Waybill adds, which Kratix's CRDs would prune.
    Crds(CrdsArgs),
    /// Run as a Kubernetes controller for the five kinds (kubeconfig or in-cluster configuration).
    ///
    /// Watches Destinations, GitStateStores, BucketStateStores, Works, WorkPlacements and Secrets
    /// cluster-wide and runs the same reconcilers as `waybill run`; the CRDs must be installed
    /// (`waybill crds | kubectl apply -f -`). Stops cleanly on SIGINT or SIGTERM, letting the
    /// reconciles in flight finish their writes.
    Controller(ControllerArgs),
    /// List objects of one kind with their Ready condition, like `kubectl get` (reads the state a run
    /// left; never blocks a run).
    ///
    /// KIND is a kind, its plural or a short name: destination (dest), gitstatestore,
    /// bucketstatestore, work, workplacement (wp). Without NAME every object of the kind is listed,
    /// in every namespace unless -n is given.
    Get(GetArgs),
    /// Show one object with its conditions, recent events, and for a Work its placements, for a
    /// Destination its store, directory and placements, for a WorkPlacement the files it owns.
    Describe(ObjectArgs),
    /// Show the events recorded in the state, oldest first (the most recent 5,000 are kept).
    Events(EventsArgs),
    /// Show a Work (or a Destination) as a tree: each placement, its Destination and store, and the
    /// store paths it owns (like `flux tree`).
    Tree(ObjectArgs),
    /// Print a shell completion script: `waybill completions bash > /etc/bash_completion.d/waybill`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `waybill man > waybill.1 && man ./waybill.1`.
    Man,
}

#[derive(Debug, clap::Args)]
pub struct ControllerArgs {
    /// Kubeconfig to use [default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Where /metrics, /healthz and /readyz are served; empty to serve none.
    #[arg(long, default_value = "0.0.0.0:8080", env = "WAYBILL_METRICS_ADDR")]
    pub metrics_addr: String,
    /// Reconciles of one kind (state stores, Destinations, Works) running at the same time.
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// WorkPlacement reconciles running at the same time (those waiting for a commit count).
    #[arg(long, default_value_t = 1024)]
    pub placement_concurrency: u16,
    /// How often every placement is rewritten to correct drift (Kratix's
    /// stateStoreReconciliationInterval), e.g. 10h, 30m, 0 to disable.
    #[arg(long, default_value = "10h", value_parser = parse_duration, env = "WAYBILL_RESYNC_INTERVAL")]
    pub resync_interval: Duration,
    /// Fetch a remote Git store at most this often before writing (Kratix's git.minimumFetchInterval).
    #[arg(long, default_value = "5s", value_parser = parse_duration, env = "WAYBILL_FETCH_INTERVAL")]
    pub fetch_interval: Duration,
    /// Watch only Secrets labelled app.kubernetes.io/part-of=kratix (Kratix's selectiveCache): a
    /// change to another Secret does not rebuild the stores that use it until they are next reconciled.
    #[arg(long, env = "WAYBILL_SELECTIVE_CACHE")]
    pub selective_cache: bool,
    /// Directory for the Git stores' cache repositories [default: a temporary directory].
    #[arg(long, env = "WAYBILL_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// This replica's name in events and in the leader Lease [default: $POD_NAME, else the host name].
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
    /// Run only while holding the leader Lease (coordination.k8s.io/v1), so several replicas can run
    /// and only one writes; a replica that loses the lease stops writing and exits 1.
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "kratix-platform-system")]
    pub leader_elect_namespace: String,
    /// How long the Lease holds without renewal before a follower may take it over.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub leader_elect_lease_duration: Duration,
    /// How long the leader keeps writing without a successful renewal (less than the lease duration).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub leader_elect_renew_deadline: Duration,
    /// How often the leader renews and a follower retries.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub leader_elect_retry_period: Duration,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, clap::Args)]
pub struct CrdsArgs {
    /// Output format: yaml prints one document per CRD, json a Kubernetes List.
    #[arg(long, short = 'o', value_enum, default_value_t = ManifestFormat::Yaml)]
    pub output: ManifestFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ManifestFormat {
    Json,
    Yaml,
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
pub struct PlanArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Exit 2 when a run would change something, 0 when it would change nothing (1 on error), for CI.
    #[arg(long)]
    pub exit_code: bool,
    /// text for people, json for scripts (stores, changes, problems and objects not Ready).
    #[arg(long, short = 'o', value_enum, default_value_t = PlanOutput::Text)]
    pub output: PlanOutput,
    /// Show each changed file's content as a unified diff (in json, a `diff` field per change).
    #[arg(long)]
    pub diff: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Run until nothing is left to do, print a summary and exit (0: all Ready, 2: not, 1: fatal).
    #[arg(long)]
    pub once: bool,
    /// Reconciles doing work at the same time, at most (those waiting for a state store commit do not count).
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
    /// What `--once` prints at the end: a summary (counts per kind and every object not Ready), or
    /// wide (every object).
    #[arg(long, short = 'o', value_enum, default_value_t = RunOutput::Summary)]
    pub output: RunOutput,
    /// Serve /metrics, /healthz and /readyz on this address (e.g. 127.0.0.1:8080) [default: none].
    #[arg(long, env = "WAYBILL_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// How long a manifest must stay unchanged before the objects it no longer holds are deleted (a file
    /// rewritten in two steps must not delete live workloads in between); a file renamed into place
    /// applies at once. 0 deletes at once.
    #[arg(long, default_value = "3s", value_parser = parse_duration, env = "WAYBILL_SETTLE")]
    pub settle: Duration,
    /// Delete this WorkPlacement (NAMESPACE/NAME) before reconciling, as `kubectl delete workplacement`
    /// does: a misplaced placement (its Destination relabelled or gone) is let go and its Work is
    /// scheduled afresh. Its files are removed only if its Destination still exists. Repeatable.
    #[arg(long, value_name = "NAMESPACE/NAME", value_parser = parse_namespaced)]
    pub delete_placement: Vec<(String, String)>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Parses `NAMESPACE/NAME`.
pub fn parse_namespaced(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(format!("expected NAMESPACE/NAME (e.g. default/my-work.dev-5058f), not {text:?}")),
    }
}

/// Size limits on what a Work may write (a larger placement fails with InvalidWorkloadContent).
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Largest file a workload may hold once decompressed, e.g. 64MiB, 512KiB, 1GiB.
    #[arg(long, default_value = "64MiB", value_parser = parse_size, env = "WAYBILL_MAX_FILE_SIZE")]
    pub max_file_size: u64,
    /// Largest total of the files a Work writes to one Destination, decompressed.
    #[arg(long, default_value = "256MiB", value_parser = parse_size, env = "WAYBILL_MAX_WORK_SIZE")]
    pub max_work_size: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> waybill_engine::ContentLimits {
        waybill_engine::ContentLimits { max_file_bytes: self.max_file_size, max_work_bytes: self.max_work_size }
    }
}

/// Parses `64MiB`, `512KiB`, `1GiB`, `10MB`, `4096` (bytes) or `2k`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().map_err(|_| format!("invalid size {text:?}: expected e.g. 64MiB or 4096"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" | "ki" => 1 << 10,
        "m" | "mb" | "mib" | "mi" => 1 << 20,
        "g" | "gb" | "gib" | "gi" => 1 << 30,
        other => return Err(format!("invalid size {text:?}: unknown unit {other:?} (use KiB, MiB or GiB)")),
    };
    value.checked_mul(scale).filter(|v| *v > 0).ok_or_else(|| format!("invalid size {text:?}: out of range"))
}

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// destination (dest), gitstatestore, bucketstatestore, work or workplacement (wp); plurals too.
    #[arg(value_parser = parse_kind)]
    pub kind: Kind,
    /// One object: NAME, or NAMESPACE/NAME for Works and WorkPlacements.
    pub name: Option<String>,
    /// Namespace of Works and WorkPlacements [default: every namespace; `default` with NAME].
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// table, wide (more columns per kind), json, yaml (whole objects) or name.
    #[arg(long, short = 'o', value_enum, default_value_t = GetOutput::Table)]
    pub output: GetOutput,
    /// Keep printing the table whenever it changes (read every second) until interrupted.
    #[arg(long, short = 'w')]
    pub watch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunOutput {
    Summary,
    Wide,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanOutput {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GetOutput {
    Table,
    Wide,
    Json,
    Yaml,
    Name,
}

#[derive(Debug, clap::Args)]
pub struct ObjectArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// destination (dest), gitstatestore, bucketstatestore, work or workplacement (wp).
    #[arg(value_parser = parse_kind)]
    pub kind: Kind,
    /// NAME, or NAMESPACE/NAME for Works and WorkPlacements.
    pub name: String,
    /// Namespace of a Work or WorkPlacement given by NAME alone.
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Only the events of one object: KIND/NAME, or KIND/NAMESPACE/NAME (e.g. work/default/redis).
    #[arg(long = "for", value_name = "KIND/NAME")]
    pub for_object: Option<String>,
}

/// Parses a kind as `kubectl` does (name, plural or short name, any case); Secrets are refused, since
/// the state never holds them.
pub fn parse_kind(text: &str) -> Result<Kind, String> {
    match Kind::from_cli(text) {
        Some(Kind::Secret) => Err("Secrets are never kept in the state directory; read them in the manifests".into()),
        Some(kind) => Ok(kind),
        None => Err(format!(
            "unknown kind {text:?}: expected destination (dest), gitstatestore, bucketstatestore, work or \
             workplacement (wp)"
        )),
    }
}

/// The object NAME (or NAMESPACE/NAME) of `kind` names, with `namespace` for a bare name.
pub fn object_ref(kind: Kind, name: &str, namespace: &str) -> Result<ObjectRef, String> {
    match (kind.namespaced(), name.split_once('/')) {
        (true, Some((ns, n))) if !ns.is_empty() && !n.is_empty() && !n.contains('/') => Ok(ObjectRef::new(kind, ns, n)),
        (true, None) if !name.is_empty() => Ok(ObjectRef::new(kind, namespace, name)),
        (false, None) if !name.is_empty() => Ok(ObjectRef::cluster(kind, name)),
        (false, Some(_)) => Err(format!("{kind} is cluster-scoped: give NAME, not {name:?}")),
        _ => Err(format!("expected NAME or NAMESPACE/NAME for {kind}, not {name:?}")),
    }
}

/// Parses `--for KIND/NAME` or `KIND/NAMESPACE/NAME`.
pub fn parse_for(text: &str) -> Result<ObjectRef, String> {
    let (kind, name) = text.split_once('/').ok_or_else(|| format!("expected KIND/NAME, not {text:?}"))?;
    let kind = parse_kind(kind)?;
    object_ref(kind, name, "default")
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
    /// Exit 2 when an object is not Ready or a manifest has a problem (0 when all is Ready), for scripts.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Manifest files, or directories to search recursively.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Parses a duration as Go's `time.ParseDuration` does (`90s`, `1.5h`, `1h30m`, `250ms`, `10us`,
/// `5ns`; units ns, us/µs, ms, s, m, h; fractions allowed), or a bare number of seconds. Negative and
/// overflowing values are refused, never truncated.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let invalid = |why: &str| format!("invalid duration {text:?}: {why} (e.g. 30s, 1.5h, 1h30m, 250ms)");
    if text.is_empty() || text.starts_with('-') {
        return Err(invalid(if text.is_empty() { "empty" } else { "it is negative" }));
    }
    let mut nanos: u128 = 0;
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(invalid("a number needs a unit (ns, us, ms, s, m or h)")),
            other => return Err(invalid(&format!("unknown unit {other:?} (use ns, us, ms, s, m or h)"))),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(invalid("expected a number before each unit"));
        }
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| invalid("it is too large"))? };
        let mut value = whole.checked_mul(per_unit).ok_or_else(|| invalid("it is too large"))?;
        // The fraction, exactly: only its first digits can matter below a nanosecond.
        let mut scale = per_unit;
        for d in fraction.chars().take(30) {
            scale /= 10;
            value += u128::from(d.to_digit(10).unwrap_or(0)) * scale;
        }
        nanos = nanos.checked_add(value).ok_or_else(|| invalid("it is too large"))?;
        rest = tail;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| invalid("it is too large"))?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        for (text, nanos) in [
            ("10h", 36_000_000_000_000u128),
            ("30m", 1_800_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("1.5h", 5_400_000_000_000),
            (".5s", 500_000_000),
            ("2.25m", 135_000_000_000),
            ("250ms", 250_000_000),
            ("10us", 10_000),
            ("10µs", 10_000),
            ("7ns", 7),
            ("1h0.5s", 3_600_500_000_000),
            ("0", 0),
            ("45", 45_000_000_000),
            ("0.000000001s", 1),
        ] {
            assert_eq!(parse_duration(text).unwrap().as_nanos(), nanos, "{text}");
        }
        for (text, why) in [
            ("10x", "unknown unit \"x\""),
            ("5m3", "a number needs a unit"),
            ("-1h", "negative"),
            ("", "empty"),
            ("h", "expected a number"),
            ("1..5h", "expected a number"),
            ("99999999999999999999999h", "too large"),
            ("9999999999999999h", "too large"),
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        let cases = [("64MiB", 64 << 20), ("512KiB", 512 << 10), ("1GiB", 1 << 30), ("4096", 4096), ("2k", 2048)];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text).unwrap(), bytes, "{text}");
        }
        for bad in ["", "MiB", "10XB", "0", "99999999999999GiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
