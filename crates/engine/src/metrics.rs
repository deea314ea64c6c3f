//! What the engine counts, for Prometheus: Kratix's two WorkPlacement counters with Kratix's labels,
//! and Waybill's own per kind and per state store (no per-object labels on Waybill's metrics).

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use waybill_core::Kind;

use crate::registry::StoreRegistry;

/// Label names are Kratix's fixed set, so only the values are owned: one allocation per label, not two.
type Labels = Vec<(&'static str, String)>;

fn reconcile_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 4.0, 10))
}

/// The engine's metrics; [`Metrics::encode`] renders them with the state stores' counters.
pub struct Metrics {
    registry: Mutex<Registry>,
    writes: Family<Labels, Counter>,
    outcomes: Family<Labels, Counter>,
    reconciles: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    durations: Family<Labels, Histogram, fn() -> Histogram>,
    leader: Gauge<i64, AtomicI64>,
}

/// Kratix's label set: each label omitted when its value is empty.
fn kratix_labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (*k, v.to_string())).collect()
}

fn kind_label(kind: Kind) -> Labels {
    vec![("kind", kind.as_str().to_string())]
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let writes = Family::<Labels, Counter>::default();
        let outcomes = Family::<Labels, Counter>::default();
        let reconciles = Family::<Labels, Counter>::default();
        let errors = Family::<Labels, Counter>::default();
        let durations = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(reconcile_buckets);
        let leader = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "kratix_workplacement_writes",
            "Total number of WorkPlacement write attempts",
            writes.clone(),
        );
        registry.register(
            "kratix_workplacement_outcomes",
            "Total number of WorkPlacement scheduling outcomes",
            outcomes.clone(),
        );
        registry.register("waybill_reconciles", "Reconciles run, per kind", reconciles.clone());
        registry.register(
            "waybill_reconcile_errors",
            "Reconciles that failed and will be retried, per kind",
            errors.clone(),
        );
        registry.register(
            "waybill_reconcile_duration_seconds",
            "How long reconciles took, per kind",
            durations.clone(),
        );
        registry.register(
            "waybill_leader",
            "1 while this replica leads (or runs without leader election)",
            leader.clone(),
        );
        leader.set(1);
        Metrics { registry: Mutex::new(registry), writes, outcomes, reconciles, errors, durations, leader }
    }
}

impl Metrics {
    /// A WorkPlacement write attempt (`success` or `failure`).
    pub fn write(&self, success: bool, promise: &str, resource: &str, destination: &str, pipeline: &str) {
        let result = if success { "success" } else { "failure" };
        let labels = kratix_labels(&[
            ("result", result),
            ("promise", promise),
            ("resource", resource),
            ("destination", destination),
            ("pipeline", pipeline),
        ]);
        self.writes.get_or_create(&labels).inc();
    }

    /// A scheduling decision (`scheduled`, `unscheduled` or `misplaced`).
    pub fn outcome(&self, result: &str, promise: &str, resource: &str, namespace: &str, destination: &str) {
        let labels = kratix_labels(&[
            ("result", result),
            ("promise", promise),
            ("resource", resource),
            ("namespace", namespace),
            ("destination", destination),
        ]);
        self.outcomes.get_or_create(&labels).inc();
    }

    /// A reconcile of `kind` finished after `took`.
    pub fn reconciled(&self, kind: Kind, took: Duration, failed: bool) {
        let labels = kind_label(kind);
        self.reconciles.get_or_create(&labels).inc();
        if failed {
            self.errors.get_or_create(&labels).inc();
        }
        self.durations.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// Whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The OpenMetrics text of every metric, the state stores' writers included.
    pub fn encode(&self, stores: &StoreRegistry) -> String {
        let mut text = String::new();
        {
            let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
            // Writing into a String cannot fail.
            let _ = encode(&mut text, &registry);
        }
        let body = text.strip_suffix("# EOF\n").unwrap_or(&text).to_string();
        body + &store_metrics(stores) + "# EOF\n"
    }
}

/// A per-store counter: name, help, and how to read it from a writer's statistics.
type StoreFamily = (&'static str, &'static str, fn(&waybill_stores::WriterStats) -> f64);

/// Per-store counters from the writers' statistics, read at scrape time.
fn store_metrics(stores: &StoreRegistry) -> String {
    let mut writers = stores.all();
    writers.sort_by(|a, b| (a.0.kind.as_str(), &a.0.name).cmp(&(b.0.kind.as_str(), &b.0.name)));
    let families: [StoreFamily; 6] = [
        ("waybill_store_batches", "Batches a store's writer applied", |s| s.batches.load(Ordering::Relaxed) as f64),
        ("waybill_store_commits", "Commits (Git, each pushed once to a remote) or version steps (buckets)", |s| {
            s.revisions() as f64
        }),
        ("waybill_store_change_sets", "Change sets (one per placement write) applied", |s| s.change_sets() as f64),
        ("waybill_store_puts", "Objects uploaded to a bucket", |s| s.uploads() as f64),
        ("waybill_store_removals", "Objects removed from a bucket", |s| s.removals.load(Ordering::Relaxed) as f64),
        ("waybill_store_write_seconds", "Time spent applying batches (commit and push, or uploads)", |s| {
            s.busy().as_secs_f64()
        }),
    ];
    let mut out = String::new();
    out.push_str("# HELP waybill_store_pending_changes Change sets queued on a store's writer, not applied yet.\n");
    out.push_str("# TYPE waybill_store_pending_changes gauge\n");
    for (key, writer) in &writers {
        let pending = writer.stats().pending.load(Ordering::Relaxed);
        out.push_str(&format!(
            "waybill_store_pending_changes{{kind=\"{}\",name=\"{}\"}} {pending}\n",
            key.kind.as_str(),
            key.name
        ));
    }
    for (name, help, value) in families {
        out.push_str(&format!("# HELP {name} {help}.\n# TYPE {name} counter\n"));
        for (key, writer) in &writers {
            let labels = format!("kind=\"{}\",name=\"{}\"", key.kind.as_str(), key.name);
            out.push_str(&format!("{name}_total{{{labels}}} {}\n", value(writer.stats())));
        }
    }
    out
}
