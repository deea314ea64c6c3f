//! What decoding workload content costs: N files in Kratix's encoding (base64 of gzip, the benchmark's
//! 300-byte ConfigMaps) decoded by Waybill's decoder, which keeps one inflater per thread, and by a
//! fresh `flate2` multi-member reader per file (the decoder Waybill used before), in the same process.
//! Both must give the same bytes. A rerun decodes every file of every placement, so this is on its path.
//!
//! cargo run --release -p waybill-bench --bin decode -- [FILES] [ROUNDS]

use std::io::Read;
use std::time::{Duration, Instant};

use base64::Engine;
use waybill_core::content;

fn best_of(rounds: usize, mut f: impl FnMut() -> anyhow::Result<usize>) -> anyhow::Result<(Duration, usize)> {
    let mut best = Duration::MAX;
    let mut bytes = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        bytes = f()?;
        best = best.min(started.elapsed());
    }
    Ok((best, bytes))
}

fn main() -> anyhow::Result<()> {
    let args = waybill_bench::start();
    let files = args.first().copied().unwrap_or(30_000).max(1);
    let rounds = args.get(1).copied().unwrap_or(5).max(1);
    let encoded: Vec<String> =
        (0..files).map(|i| content::encode(waybill_bench::document(i, i % 3, 300, 1).as_bytes())).collect();
    let (ours, ours_bytes) = best_of(rounds, || {
        let mut total = 0;
        for e in &encoded {
            total += content::decode_limited(e, content::DEFAULT_MAX_FILE_BYTES)?.len();
        }
        Ok(total)
    })?;
    let (fresh, fresh_bytes) = best_of(rounds, || {
        let mut total = 0;
        for e in &encoded {
            let gz = base64::engine::general_purpose::STANDARD.decode(e)?;
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(gz.as_slice()).read_to_end(&mut out)?;
            total += out.len();
        }
        Ok(total)
    })?;
    anyhow::ensure!(ours_bytes == fresh_bytes, "the decoders disagree: {ours_bytes} bytes against {fresh_bytes}");
    let per = |d: Duration| d.as_secs_f64() * 1e6 / files as f64;
    println!("{files} files, {ours_bytes} bytes decoded, best of {rounds} rounds");
    println!("waybill (one inflater per thread): {:>8.3} ms  {:>6.2} us/file", ours.as_secs_f64() * 1e3, per(ours));
    println!("a fresh flate2 reader per file:    {:>8.3} ms  {:>6.2} us/file", fresh.as_secs_f64() * 1e3, per(fresh));
    println!("ratio (waybill / fresh reader): {:.2}", ours.as_secs_f64() / fresh.as_secs_f64());
    Ok(())
}
