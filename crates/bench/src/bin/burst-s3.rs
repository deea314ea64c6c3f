//! Burst against an S3-compatible server on loopback (s3s-fs): Waybill converging N resource Works of
//! F files over D Destinations (embedded mode, in process), next to the same files written the
//! Kratix's way (for every file a HEAD then a PUT, one after the other) on the same server, and the
//! ratio. Then a rerun with nothing changed, which must upload nothing.
//!
//! The comparison runs twice: straight to the server on loopback, and through a proxy that adds
//! LATENCY_MS (default 2) to every response, the round trip of a network between a controller and its
//! object store.
//!
//! cargo run --release -p waybill-bench --bin burst-s3 -- [WORKS] [FILES] [DESTINATIONS] [LATENCY_MS]

use std::path::Path;
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStoreExt, PutPayload};
use waybill_bench::{destination_manifests, peak_rss_mib, write_works};
use waybill_engine::EngineConfig;
use waybill_local::{Platform, PlatformPaths, RunOptions};
use waybill_testsupport::latency::LatencyProxy;
use waybill_testsupport::s3::{ACCESS_KEY, S3Server, SECRET_KEY};

struct Figures {
    wall: f64,
    writing: f64,
    requests: u64,
    uploads: u64,
    ready: bool,
}

async fn waybill(platform: &Path) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let mut p = Platform::open(PlatformPaths::new(platform, None)?, EngineConfig::default())?;
    p.load();
    let mut runner = p.runner();
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    p.run(&mut runner, RunOptions { once: true, concurrency: 4096 }, rx).await?;
    let wall = started.elapsed().as_secs_f64();
    let writers = p.engine.stores.all();
    Ok(Figures {
        wall,
        writing: writers.iter().map(|(_, w)| w.stats().busy().as_secs_f64()).sum(),
        requests: writers.iter().map(|(_, w)| w.stats().requests()).sum(),
        uploads: writers.iter().map(|(_, w)| w.stats().uploads()).sum(),
        ready: p.status().all_ready(),
    })
}

/// One comparison through `endpoint`: Waybill into bucket `waybill-<tag>`, then Kratix's way
/// into `reference-<tag>`.
async fn compare(
    server: &S3Server,
    endpoint: &str,
    tag: &str,
    works: usize,
    files: usize,
    dests: usize,
) -> anyhow::Result<()> {
    let (ours, theirs) = (format!("waybill-{tag}"), format!("reference-{tag}"));
    server.create_bucket(&ours);
    server.create_bucket(&theirs);
    let dir = tempfile::tempdir()?;
    let platform = dir.path().join("platform");
    std::fs::create_dir_all(&platform)?;
    std::fs::write(
        platform.join("store.yaml"),
        format!(
            "apiVersion: platform.kratix.io/v1alpha1\nkind: BucketStateStore\nmetadata: {{name: default}}\nspec:\n  bucketName: {ours}\n  endpoint: {endpoint}\n  insecure: true\n  secretRef: {{name: s3, namespace: default}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s3, namespace: default}}\nstringData: {{accessKeyID: {ACCESS_KEY}, secretAccessKey: {SECRET_KEY}}}\n"
        ),
    )?;
    std::fs::write(platform.join("destinations.yaml"), destination_manifests(dests, "BucketStateStore", "default"))?;
    write_works(&platform, works, files, 1)?;

    let a = waybill(&platform).await?;
    println!(
        "  waybill:        wall {:>8.3}s  (writing {:.3}s)  requests {:>6}  uploads {:>6}  all Ready: {}  peak RSS {:.1} MiB",
        a.wall,
        a.writing,
        a.requests,
        a.uploads,
        a.ready,
        peak_rss_mib()
    );

    // Kratix's way, on the same server: for every object Waybill wrote, a HEAD then a PUT.
    let keys = server.keys(&ours);
    let store = AmazonS3Builder::new()
        .with_bucket_name(&theirs)
        .with_endpoint(format!("http://{endpoint}"))
        .with_region("us-east-1")
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY)
        .with_client_options(ClientOptions::new().with_allow_http(true))
        .build()?;
    let started = Instant::now();
    let mut requests = 0;
    for key in &keys {
        let body = server.read(&ours, key).unwrap_or_default();
        let path = ObjectPath::from(key.as_str());
        let _ = store.head(&path).await;
        store.put(&path, PutPayload::from(body.into_bytes())).await?;
        requests += 2;
    }
    let b = started.elapsed().as_secs_f64();
    println!("  one at a time:  wall {b:>8.3}s  requests {requests:>6}  uploads {:>6}", keys.len());
    println!(
        "  ratio (one at a time)/(waybill wall) = {:.1}   (one at a time)/(waybill writing) = {:.1}",
        b / a.wall,
        b / a.writing
    );

    let again = waybill(&platform).await?;
    println!(
        "  rerun, nothing changed: wall {:.3}s  requests {}  uploads {}  all Ready: {}",
        again.wall, again.requests, again.uploads, again.ready
    );
    if again.uploads != 0 {
        anyhow::bail!("a rerun with nothing changed uploaded {} objects", again.uploads);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = waybill_bench::start();
    let (works, files, dests) =
        (args.first().copied().unwrap_or(1000), args.get(1).copied().unwrap_or(3), args.get(2).copied().unwrap_or(10));
    let latency = Duration::from_millis(args.get(3).copied().unwrap_or(2) as u64);
    let server = S3Server::start().ok_or_else(|| {
        anyhow::anyhow!("s3s-fs is required (cargo install s3s-fs@0.14.1 --features binary --locked)")
    })?;
    println!(
        "burst-s3: {works} resource Works x {files} files over {dests} Destinations, s3s-fs on {}",
        server.endpoint()
    );
    println!("straight to the server on loopback:");
    compare(&server, &server.endpoint(), "loopback", works, files, dests).await?;
    let proxy = LatencyProxy::start(server.port, latency);
    println!("through a proxy adding {} ms to every response:", latency.as_millis());
    compare(&server, &format!("127.0.0.1:{}", proxy.port), "latency", works, files, dests).await?;
    Ok(())
}
