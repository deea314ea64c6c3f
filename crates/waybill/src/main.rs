//! The `waybill` binary: a thin CLI over the crates. `anyhow` lives here only.

mod cli;
mod inspect;
mod plan;
mod progress;
mod serve;
mod term;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tokio::sync::mpsc;
use tracing_subscriber::EnvFilter;
use waybill_engine::EngineConfig;
use waybill_local::{Platform, PlatformPaths, RunOptions, Signal};

use cli::{
    Cli, Command, ControllerArgs, CrdsArgs, ManifestFormat, Output, PlatformArgs, RunArgs, StatusArgs, ValidateArgs,
};
use term::{errln, out, outln};

/// mimalloc: many small objects allocated from many threads fragment glibc's arenas (a 10,000-Work
/// platform took twice the memory), and allocation is a large part of a burst's CPU time. Built
/// without transparent huge pages (`no_thp`): partly used 2 MiB pages cost a burst 10% of its memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code when something is not Ready or a manifest has a problem.
const NOT_READY: u8 = 2;

/// mimalloc 3 gives freed memory back to the system a second after it is freed (ten in its arenas). A
/// burst frees one batch while the objects and the next batch grow, so the peak held both: 10 ms,
/// mimalloc 2's delay, takes about 20 MiB off a 10,000-Work burst at no measurable CPU cost (README,
/// Benchmarks). `MIMALLOC_PURGE_DELAY` set in the environment still wins.
fn return_freed_memory_promptly() {
    /// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (the same in mimalloc 2 and 3).
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one process-wide option; mimalloc reads it when it next purges.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 10) };
    }
}

fn main() -> ExitCode {
    return_freed_memory_promptly();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.log_format);
    // libgit2 (and its OpenSSL) must be initialised before the runtime starts threads.
    waybill_stores::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: failed to start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            errln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(verbose: u8, format: cli::LogFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress::LogWriter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        cli::LogFormat::Text => builder.init(),
        cli::LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

async fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Run(args) => run(args).await,
        Command::Status(args) => status(args),
        Command::Validate(args) => Ok(validate(args)),
        Command::Plan(args) => plan::plan(args).await,
        Command::Crds(args) => crds(args),
        Command::Get(args) => inspect::get(args).await,
        Command::Describe(args) => inspect::describe(args),
        Command::Events(args) => inspect::events(args),
        Command::Tree(args) => inspect::tree(args),
        Command::Controller(args) => controller(args).await,
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "waybill", &mut out);
            out!("{}", String::from_utf8_lossy(&out));
            Ok(0)
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut out)
                .context("failed to render the manual page")?;
            out!("{}", String::from_utf8_lossy(&out));
            Ok(0)
        }
    }
}

async fn controller(args: ControllerArgs) -> anyhow::Result<u8> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let client = waybill_kube::client(args.kubeconfig.as_deref()).await?;
    let instance = args.instance.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "waybill".into())
    });
    if args.leader_elect && args.leader_elect_renew_deadline >= args.leader_elect_lease_duration {
        anyhow::bail!(
            "invalid --leader-elect-renew-deadline: it must be shorter than --leader-elect-lease-duration, \
             or two leaders could write at once"
        );
    }
    let config = EngineConfig {
        resync_interval: (!args.resync_interval.is_zero()).then_some(args.resync_interval),
        fetch_interval: args.fetch_interval,
        limits: args.limits.limits(),
        cache_dir: args.cache_dir.clone(),
        coalescing: waybill_kube::coalescing(),
        ..EngineConfig::default()
    };
    let cp = Arc::new(waybill_kube::KubeControlPlane::new(client.clone(), instance.clone()));
    let engine = Arc::new(waybill_engine::Engine::new(cp, config));
    // Probes answer from the start: a follower waiting for the lease is alive and ready to take over.
    engine.metrics.set_leader(!args.leader_elect);
    if let Some(addr) = metrics_address(&args.metrics_addr)? {
        let metrics_engine = engine.clone();
        let metrics = Arc::new(move || metrics_engine.metrics.encode(&metrics_engine.stores));
        let ready = Arc::new(AtomicBool::new(true));
        let bound = serve::spawn(addr, serve::Endpoints { metrics, ready }).await?;
        errln!("waybill: serving /metrics, /healthz and /readyz on {bound}");
    }
    let leadership = if args.leader_elect {
        errln!("waybill: waiting for the leader lease in {}", args.leader_elect_namespace);
        let options = waybill_kube::leader::LeaseOptions {
            duration: args.leader_elect_lease_duration,
            renew_deadline: args.leader_elect_renew_deadline,
            retry: args.leader_elect_retry_period,
            ..waybill_kube::leader::LeaseOptions::new(&args.leader_elect_namespace, &instance)
        };
        let lease = tokio::select! {
            lease = waybill_kube::leader::acquire(client.clone(), options) => lease,
            _ = shutdown_signal() => return Ok(0),
        };
        errln!("waybill: leading");
        engine.metrics.set_leader(true);
        Some(lease)
    } else {
        None
    };
    let options = waybill_kube::ControllerOptions {
        concurrency: args.concurrency,
        placement_concurrency: args.placement_concurrency,
        secret_selector: args.selective_cache.then(|| "app.kubernetes.io/part-of=kratix".to_string()),
        ..Default::default()
    };
    errln!("waybill: controlling platform.kratix.io/v1alpha1 objects (SIGTERM or Ctrl-C to stop)");
    let lost = Arc::new(AtomicBool::new(false));
    let (lost_flag, mut lease) = (lost.clone(), leadership);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stop = async move {
        let lease_lost = async {
            match lease.as_mut() {
                Some(l) => l.lost().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown_signal() => errln!("\nwaybill: stopping (finishing reconciles in flight)"),
            _ = lease_lost => {
                lost_flag.store(true, Ordering::SeqCst);
                errln!("waybill: lost the leader lease: stopping");
            }
        }
        let _ = tx.send(lease);
    };
    // After the lease is lost, reconciles in flight may finish only while no other replica can have
    // taken the lease over; whatever is still writing then is abandoned (a push is atomic, and the
    // next leader writes everything again).
    let margin = args.leader_elect_lease_duration.saturating_sub(args.leader_elect_renew_deadline) / 2;
    let lost_watch = lost.clone();
    let hard_stop = async move {
        while !lost_watch.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        tokio::time::sleep(margin).await;
    };
    tokio::select! {
        _ = waybill_kube::run(client, engine.clone(), options, stop) => {}
        _ = hard_stop, if args.leader_elect => {
            errln!("waybill: abandoning writes still in flight: the lease may pass to another replica");
            return Ok(1);
        }
    }
    engine.metrics.set_leader(false);
    if lost.load(Ordering::SeqCst) {
        return Ok(1);
    }
    if let Ok(Some(lease)) = rx.await {
        lease.release().await;
    }
    Ok(0)
}

/// The address of `--metrics-addr`, `None` when empty.
fn metrics_address(text: &str) -> anyhow::Result<Option<std::net::SocketAddr>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let addr = text
        .parse()
        .with_context(|| format!("invalid --metrics-addr {text:?}: expected host:port, e.g. 0.0.0.0:8080"))?;
    Ok(Some(addr))
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

fn crds(args: CrdsArgs) -> anyhow::Result<u8> {
    let crds = waybill_core::crd::crds();
    match args.output {
        ManifestFormat::Json => {
            let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": crds });
            outln!("{}", serde_json::to_string_pretty(&list).context("failed to render JSON")?);
        }
        ManifestFormat::Yaml => {
            for crd in crds {
                out!("---\n{}", serde_saphyr::to_string(&crd).context("failed to render YAML")?);
            }
        }
    }
    Ok(0)
}

pub(crate) fn paths(args: &PlatformArgs) -> anyhow::Result<PlatformPaths> {
    Ok(PlatformPaths::new(&args.platform, args.state_dir.as_deref())?)
}

async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let paths = paths(&args.platform)?;
    let config = EngineConfig {
        resync_interval: (!args.resync_interval.is_zero()).then_some(args.resync_interval),
        fetch_interval: args.fetch_interval,
        limits: args.limits.limits(),
        ..EngineConfig::default()
    };
    let mut platform = Platform::open(paths.clone(), config).context("failed to open the platform")?;
    platform.set_settle_period(args.settle);
    let report = platform.load();
    for p in &report.problems {
        errln!("problem: {p}");
    }
    for (namespace, name) in &args.delete_placement {
        platform.delete_placement(namespace, name).await?;
        errln!("waybill: deleting WorkPlacement {namespace}/{name}");
    }
    let empty = platform.status().rows.is_empty() && report.problems.is_empty();
    if empty {
        errln!(
            "waybill: warning: no manifests found under {} (looked for .yaml and .yml files holding \
             Destinations, GitStateStores, BucketStateStores, Works or Secrets)",
            paths.platform.display()
        );
    }
    if let Some(addr) = metrics_address(args.metrics_addr.as_deref().unwrap_or(""))? {
        let engine = platform.engine.clone();
        let metrics = std::sync::Arc::new(move || engine.metrics.encode(&engine.stores));
        let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let bound = serve::spawn(addr, serve::Endpoints { metrics, ready }).await?;
        errln!("waybill: serving /metrics, /healthz and /readyz on {bound}");
    }
    let mut runner = platform.runner();
    let (tx, rx) = mpsc::unbounded_channel();
    let _watch = if args.once {
        None
    } else {
        spawn_signal_handler(tx.clone());
        let skip = vec![paths.state_dir.clone()];
        Some(waybill_local::watch::watch(&paths.platform, skip, tx.clone(), platform.watch_hooks())?)
    };
    let progress = (!args.quiet).then(|| progress::Progress::start(runner.stats(), platform.engine.clone()));
    if !args.once {
        errln!("waybill: watching {} (Ctrl-C to stop)", paths.platform.display());
    }
    platform.run(&mut runner, RunOptions { once: args.once, concurrency: args.concurrency }, rx).await?;
    drop(progress);
    drop(tx);
    let view = platform.status();
    let commits = platform.revisions();
    if args.once && empty {
        return Ok(NOT_READY);
    }
    if args.once {
        let table = match args.output {
            cli::RunOutput::Wide => view.to_table(),
            cli::RunOutput::Summary => view.to_summary(),
        };
        if !table.trim().is_empty() {
            outln!("{}", table.trim_end());
            outln!();
        }
        outln!("{}; {commits} commit(s) this run", view.counts());
        if !view.all_ready() {
            let not_ready = view.not_ready().count();
            errln!("waybill: {not_ready} object(s) not Ready, {} manifest problem(s)", view.problems.len());
            return Ok(NOT_READY);
        }
    } else {
        errln!("waybill: stopped; {commits} commit(s) this run");
    }
    Ok(0)
}

fn spawn_signal_handler(tx: mpsc::UnboundedSender<Signal>) {
    tokio::spawn(async move {
        shutdown_signal().await;
        errln!("\nwaybill: stopping (finishing reconciles in flight)");
        let _ = tx.send(Signal::Shutdown);
    });
}

fn status(args: StatusArgs) -> anyhow::Result<u8> {
    let paths = paths(&args.platform)?;
    let view = waybill_local::stored_status(&paths)?;
    match args.output {
        Output::Table => out!("{}", view.to_table()),
        Output::Json => outln!("{}", serde_json::to_string_pretty(&view.to_list())?),
        Output::Yaml => out!("{}", serde_saphyr::to_string(&view.to_list()).context("failed to render YAML")?),
    }
    Ok(if args.check && !view.all_ready() { NOT_READY } else { 0 })
}

fn validate(args: ValidateArgs) -> u8 {
    let found = waybill_local::validate::validate_paths(&args.paths);
    for p in &found.problems {
        outln!("{p}");
    }
    for w in &found.warnings {
        outln!("warning: {w}");
    }
    let warned = match found.warnings.len() {
        0 => String::new(),
        n => format!(", {n} warning(s)"),
    };
    if found.problems.is_empty() {
        errln!("all manifests are valid{warned}");
        0
    } else {
        errln!("{} problem(s){warned}", found.problems.len());
        1
    }
}
