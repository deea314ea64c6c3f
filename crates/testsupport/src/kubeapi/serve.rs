//! HTTP for the stand-in: routing Kubernetes API paths to the object rules, discovery documents, and
//! watch streams.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

use super::Shared;
use super::objects::{RESOURCES, Refusal, ResourceType, resource};

type Body = BoxBody<Bytes, Infallible>;

pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

pub(crate) fn publish(shared: &Shared) {
    let rv = shared.lock().resource_version();
    shared.changes.send_replace(rv);
}

fn full(status: u16, body: &Value) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    resp
}

fn refused(r: Refusal) -> Response<Body> {
    full(r.0, &r.status_body())
}

/// A parsed resource path.
struct Target {
    resource: &'static ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn parse_path(path: &str) -> Result<Target, Option<Value>> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => {
            return Err(Some(json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})));
        }
        ["apis"] => return Err(Some(group_list())),
        ["version"] => {
            return Err(Some(
                json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-waybill-standin", "platform": "linux/amd64"}),
            ));
        }
        ["api", "v1"] => return Err(Some(resource_list("", "v1"))),
        ["apis", g, v] => return Err(Some(resource_list(g, v))),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(None),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let (plural, name, status) = match rest {
        [plural] => (*plural, None, false),
        [plural, name] => (*plural, Some(name.to_string()), false),
        [plural, name, "status"] => (*plural, Some(name.to_string()), true),
        _ => return Err(None),
    };
    let resource = resource(group, version, plural).ok_or(None)?;
    Ok(Target { resource, namespace, name, status })
}

fn group_list() -> Value {
    let mut groups: BTreeMap<&str, &str> = BTreeMap::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        groups.insert(r.group, r.version);
    }
    let groups: Vec<Value> = groups
        .iter()
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group && r.version == version) {
        let verbs = ["create", "delete", "get", "list", "patch", "update", "watch"];
        let short: &[&str] = match r.plural {
            "destinations" => &["dest", "dests"],
            "workplacements" => &["wp", "wps"],
            _ => &[],
        };
        let categories: &[&str] = if r.group == "platform.kratix.io" { &["kratix"] } else { &[] };
        resources.push(json!({
            "name": r.plural, "singularName": r.kind.to_lowercase(), "namespaced": r.namespaced, "kind": r.kind,
            "verbs": verbs, "shortNames": short, "categories": categories,
        }));
        if r.status {
            resources.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn query(req: &Request<Incoming>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in req.uri().query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(decode(k), decode(v));
    }
    out
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Equality-based label and field selectors (`a=b,c!=d,e`), as the controller uses them.
fn selected(obj: &Value, labels: Option<&String>, fields: Option<&String>) -> bool {
    let label_ok = labels.is_none_or(|sel| {
        sel.split(',').filter(|t| !t.is_empty()).all(|term| {
            let l = &obj["metadata"]["labels"];
            if let Some((k, v)) = term.split_once("!=") {
                l[k.trim()].as_str() != Some(v.trim())
            } else if let Some((k, v)) = term.split_once('=') {
                l[k.trim().trim_end_matches('=')].as_str() == Some(v.trim())
            } else if let Some(k) = term.strip_prefix('!') {
                l.get(k.trim()).is_none()
            } else {
                l.get(term.trim()).is_some()
            }
        })
    });
    let field_ok = fields.is_none_or(|sel| {
        sel.split(',').filter(|t| !t.is_empty()).all(|term| match term.split_once('=') {
            Some(("metadata.name", v)) => obj["metadata"]["name"].as_str() == Some(v.trim_start_matches('=')),
            Some(("metadata.namespace", v)) => obj["metadata"]["namespace"].as_str() == Some(v.trim_start_matches('=')),
            _ => true,
        })
    });
    label_ok && field_ok
}

fn verb_and_resource(method: &Method, t: &Target, watch: bool) -> (String, String) {
    let verb = match (method.as_str(), t.name.is_some()) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        (m, _) => m,
    };
    let mut resource = t.resource.plural.to_string();
    if t.status {
        resource.push_str("/status");
    }
    if !t.resource.group.is_empty() {
        resource = format!("{resource}.{}", t.resource.group);
    }
    (verb.to_string(), resource)
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let target = match parse_path(req.uri().path()) {
        Ok(t) => t,
        Err(Some(doc)) => return Ok(full(200, &doc)),
        Err(None) => {
            return Ok(refused(Refusal(404, "NotFound", format!("the server could not find {}", req.uri().path()))));
        }
    };
    let q = query(&req);
    let watch = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    shared.requests.lock().unwrap_or_else(|e| e.into_inner()).push(verb_and_resource(req.method(), &target, watch));
    let fault = {
        let mut faults = shared.faults.lock().unwrap_or_else(|e| e.into_inner());
        if faults.is_empty() { None } else { Some(faults.remove(0)) }
    };
    if let Some(code) = fault {
        return Ok(refused(Refusal(code, "InternalError", format!("injected failure {code}"))));
    }
    let method = req.method().clone();
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(refused(Refusal(400, "BadRequest", format!("failed to read the body: {e}")))),
    };
    let r = target.resource;
    let ns = if r.namespaced { target.namespace.clone().unwrap_or_default() } else { String::new() };
    let parsed =
        || serde_json::from_slice::<Value>(&body).map_err(|e| Refusal(400, "BadRequest", format!("invalid JSON: {e}")));
    let result = match (&method, target.name.as_deref()) {
        (&Method::GET, None) if watch => return Ok(watch_stream(shared, &target, &q)),
        (&Method::GET, None) => {
            let objects = shared.lock();
            let items: Vec<Value> = objects
                .list(r, target.namespace.as_deref())
                .into_iter()
                .filter(|o| selected(o, q.get("labelSelector"), q.get("fieldSelector")))
                .collect();
            Ok(json!({
                "apiVersion": r.api_version(), "kind": format!("{}List", r.kind),
                "metadata": {"resourceVersion": objects.resource_version().to_string()}, "items": items,
            }))
        }
        (&Method::GET, Some(name)) => shared
            .lock()
            .get(r, &ns, name)
            .cloned()
            .ok_or_else(|| Refusal(404, "NotFound", format!("{}.{} \"{name}\" not found", r.plural, r.group))),
        (&Method::POST, None) => parsed().and_then(|obj| shared.lock().create(r, &ns, obj)),
        (&Method::PUT, Some(name)) => parsed().and_then(|obj| shared.lock().replace(r, &ns, name, obj, target.status)),
        (&Method::PATCH, Some(name)) => parsed().and_then(|patch| {
            let mut objects = shared.lock();
            let Some(mut obj) = objects.get(r, &ns, name).cloned() else {
                // Server-side apply creates what does not exist yet.
                if content_type.starts_with("application/apply-patch") {
                    return objects.create(r, &ns, patch);
                }
                return Err(Refusal(404, "NotFound", format!("{}.{} \"{name}\" not found", r.plural, r.group)));
            };
            // Without a precondition in the patch, a patch applies to whatever is stored.
            let precondition = patch["metadata"]["resourceVersion"].as_str().map(str::to_string);
            if content_type.starts_with("application/json-patch+json") {
                let ops: json_patch::Patch = serde_json::from_value(patch)
                    .map_err(|e| Refusal(400, "BadRequest", format!("invalid JSON patch: {e}")))?;
                json_patch::patch(&mut obj, &ops).map_err(|e| Refusal(422, "Invalid", format!("{e}")))?;
            } else {
                json_patch::merge(&mut obj, &patch);
            }
            match precondition {
                Some(rv) => obj["metadata"]["resourceVersion"] = json!(rv),
                None => {
                    if let Some(m) = obj["metadata"].as_object_mut() {
                        m.remove("resourceVersion");
                    }
                }
            }
            objects.replace(r, &ns, name, obj, target.status)
        }),
        (&Method::DELETE, Some(name)) => shared.lock().delete(r, &ns, name),
        _ => Err(Refusal(405, "MethodNotAllowed", format!("{method} is not served here"))),
    };
    publish(&shared);
    Ok(match result {
        Ok(v) => full(if method == Method::POST { 201 } else { 200 }, &v),
        Err(r) => refused(r),
    })
}

fn watch_stream(shared: Arc<Shared>, t: &Target, q: &BTreeMap<String, String>) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(256);
    let r = t.resource;
    let ns = t.namespace.clone();
    let (labels, fields) = (q.get("labelSelector").cloned(), q.get("fieldSelector").cloned());
    let timeout = Duration::from_secs(q.get("timeoutSeconds").and_then(|s| s.parse().ok()).unwrap_or(300).min(300));
    let from: Option<u64> = q.get("resourceVersion").and_then(|v| v.parse().ok()).filter(|v| *v > 0);
    tokio::spawn(async move {
        let send = |v: Value| {
            let tx = tx.clone();
            async move { tx.send(Ok(Frame::data(Bytes::from(format!("{v}\n"))))).await.is_ok() }
        };
        let mut wake = shared.changes.subscribe();
        let mut end = shared.end_watches.subscribe();
        let mut last = match from {
            Some(rv) => rv,
            None => {
                // No resource version: the current objects first, as synthetic ADDED events.
                let (items, rv) = {
                    let o = shared.lock();
                    (o.list(r, ns.as_deref()), o.resource_version())
                };
                for obj in items.into_iter().filter(|o| selected(o, labels.as_ref(), fields.as_ref())) {
                    if !send(json!({"type": "ADDED", "object": obj})).await {
                        return;
                    }
                }
                rv
            }
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changes = shared.lock().changes_since(last);
            let Some(changes) = changes else {
                let gone = Refusal(410, "Expired", format!("too old resource version: {last}"));
                send(json!({"type": "ERROR", "object": gone.status_body()})).await;
                return;
            };
            for c in changes {
                last = c.resource_version;
                let in_ns = ns.as_deref().is_none_or(|ns| c.object["metadata"]["namespace"].as_str() == Some(ns));
                if c.resource == r
                    && in_ns
                    && selected(&c.object, labels.as_ref(), fields.as_ref())
                    && !send(json!({"type": c.type_, "object": c.object})).await
                {
                    return;
                }
            }
            tokio::select! {
                changed = wake.changed() => if changed.is_err() { return },
                _ = end.recv() => return,
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    });
    let stream = tokio_stream_from(rx);
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    resp.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    resp
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, Infallible>>,
) -> impl futures::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + Sync + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
