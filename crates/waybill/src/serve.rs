//! The HTTP endpoints an operator scrapes and probes: `/metrics` (OpenMetrics text), `/healthz`
//! (the process answers) and `/readyz` (it has started reconciling, or waits as a follower).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};

/// What the endpoints serve.
#[derive(Clone)]
pub struct Endpoints {
    /// Renders the metrics.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
    pub ready: Arc<AtomicBool>,
}

fn respond(status: u16, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    resp.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static(content_type));
    resp
}

async fn handle(
    endpoints: Endpoints,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match req.uri().path() {
        "/metrics" => respond(200, "application/openmetrics-text; version=1.0.0; charset=utf-8", (endpoints.metrics)()),
        "/healthz" => respond(200, "text/plain", "ok\n".into()),
        "/readyz" if endpoints.ready.load(Ordering::SeqCst) => respond(200, "text/plain", "ok\n".into()),
        "/readyz" => respond(503, "text/plain", "starting\n".into()),
        _ => respond(404, "text/plain", "not found: try /metrics, /healthz or /readyz\n".into()),
    })
}

/// Binds `addr` (failing with the address named) and serves in the background.
pub async fn spawn(addr: SocketAddr, endpoints: Endpoints) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to listen on --metrics-addr {addr}"))?;
    let bound = listener.local_addr().context("failed to read the metrics address")?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let endpoints = endpoints.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(endpoints.clone(), req));
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    Ok(bound)
}
