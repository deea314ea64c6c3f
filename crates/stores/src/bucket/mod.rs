//! The bucket backend: any S3-compatible server through `object_store`.
//!
//! A batch is resolved against a listing of the store's prefix (refreshed at most every
//! `list_interval`, and kept up to date with Waybill's own writes): objects whose content is unchanged
//! are not uploaded, a replaced directory deletes exactly its stale keys, and the remaining puts and
//! deletes run concurrently with a bound. Keys never start with `/` (compatibility D2) and never leave
//! the store's prefix (compatibility D3).

pub mod endpoint;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use object_store::aws::AmazonS3Builder;
use object_store::client::{HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use sha2::Sha256;
use waybill_core::changeset::{self, Blob, ChangeSet, Step};
use waybill_core::layout::StorePath;

use crate::error::StoreError;
use crate::port::{Applied, Backend, BeforeAfter, FileChange};

/// The key Kratix probes write permission with (a multipart upload, started and aborted).
pub const PERMISSION_CHECK_KEY: &str = ".kratix-write-permission-check";
/// Longest object key S3 accepts, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// The object path of `key`, byte for byte as Kratix writes it: `ObjectPath::from` would percent-encode
/// characters such as `?`, `*` or `~` into a different key. Keys are clean store paths; one that
/// `parse` still refuses (a control character, which workload paths cannot hold) is encoded instead.
fn object_path(key: &str) -> ObjectPath {
    ObjectPath::parse(key).unwrap_or_else(|_| ObjectPath::from(key))
}

/// How to reach the bucket's server.
#[derive(Clone)]
pub enum BucketCredentials {
    /// `authMethod: accessKey`.
    Static { access_key_id: String, secret_access_key: String },
    /// `authMethod: IAM`: the standard chain (environment, web identity token file, container and
    /// instance metadata).
    Iam,
}

impl std::fmt::Debug for BucketCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BucketCredentials::Static { access_key_id, .. } => write!(f, "Static({access_key_id:?})"),
            BucketCredentials::Iam => f.write_str("Iam"),
        }
    }
}

/// What a bucket backend needs from its BucketStateStore.
#[derive(Debug, Clone)]
pub struct BucketSettings {
    pub bucket: String,
    pub endpoint: String,
    pub insecure: bool,
    pub dual_stack: bool,
    pub region: Option<String>,
    /// The store's `spec.path`, already validated.
    pub root: StorePath,
    pub credentials: BucketCredentials,
    pub dry_run: bool,
    /// List the prefix at most this often (Waybill's own writes keep the listing current meanwhile).
    pub list_interval: Duration,
    /// Puts and deletes in flight at most.
    pub concurrency: usize,
}

/// Counts every HTTP request the client makes (for benchmarks and tests).
#[derive(Debug)]
struct Counting {
    inner: HttpClient,
    count: Arc<AtomicU64>,
}

#[async_trait]
impl HttpService for Counting {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inner.execute(req).await
    }
}

#[derive(Debug)]
struct CountingConnector(Arc<AtomicU64>);

impl HttpConnector for CountingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = object_store::client::ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(Counting { inner, count: self.0.clone() }))
    }
}

/// What one key holds, as far as a batch is concerned: absent, whatever the bucket has, or content with
/// its MD5.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Absent,
    Base,
    Present(String),
}

/// A bucket state store backend.
pub struct BucketBackend {
    store: Arc<dyn ObjectStore>,
    settings: BucketSettings,
    requests: Arc<AtomicU64>,
    /// Key → MD5 (or ETag) of the objects under the root, and when it was listed.
    listing: Option<(Instant, BTreeMap<String, String>)>,
    /// Plan mode: the listing as it was, and the virtual content since.
    dry: Option<(BTreeMap<String, String>, BTreeMap<String, String>)>,
    /// Plan mode: what the planned batches put (`Some`) or deleted (`None`), read back by later ones.
    planned: BTreeMap<String, Option<Blob>>,
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn etag(raw: Option<&str>) -> String {
    raw.unwrap_or_default().trim_matches('"').to_ascii_lowercase()
}

/// Turns an `object_store` failure into the store's semantic error, by its kind: the HTTP status
/// object_store maps (404, 401, 403), then the transport failure of the request, if any, underneath.
fn classify(context: &str, e: &object_store::Error) -> StoreError {
    use object_store::client::{HttpError, HttpErrorKind};
    let msg = format!("{context}: {e}");
    match e {
        object_store::Error::NotFound { .. } => return StoreError::NotFound(msg),
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            return StoreError::PermissionDenied(msg);
        }
        _ => {}
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(http) = c.downcast_ref::<HttpError>() {
            return match http.kind() {
                HttpErrorKind::Connect | HttpErrorKind::Timeout | HttpErrorKind::Interrupted => {
                    StoreError::Unreachable(msg)
                }
                _ => StoreError::Other(msg),
            };
        }
        cause = c.source();
    }
    // A failed listing comes back as a generic error whose status object_store keeps in a private
    // type: read the status it prints.
    let text = e.to_string();
    let status = text.split_once("status code: ").and_then(|(_, rest)| rest.get(..3)?.parse::<u16>().ok());
    match status {
        Some(404) => StoreError::NotFound(msg),
        Some(401 | 403) => StoreError::PermissionDenied(msg),
        _ => StoreError::Other(msg),
    }
}

impl BucketBackend {
    /// Builds the client; no request is made yet.
    pub fn new(settings: BucketSettings) -> Result<BucketBackend, StoreError> {
        let resolved = endpoint::resolve(
            &settings.endpoint,
            &settings.bucket,
            settings.insecure,
            settings.dual_stack,
            settings.region.as_deref(),
        )
        .map_err(|e| StoreError::Config(format!("error initialising S3 client: {e}")))?;
        let requests = Arc::new(AtomicU64::new(0));
        let mut builder = match &settings.credentials {
            BucketCredentials::Iam => AmazonS3Builder::from_env(),
            BucketCredentials::Static { .. } => AmazonS3Builder::new(),
        };
        builder = builder
            .with_bucket_name(&settings.bucket)
            .with_region(&resolved.region)
            .with_endpoint(&resolved.url)
            .with_virtual_hosted_style_request(resolved.virtual_hosted)
            .with_http_connector(CountingConnector(requests.clone()))
            .with_retry(RetryConfig {
                backoff: object_store::BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(5),
                    base: 2.0,
                },
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(resolved.allow_http)
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(60)),
            );
        if let BucketCredentials::Static { access_key_id, secret_access_key } = &settings.credentials {
            builder = builder.with_access_key_id(access_key_id).with_secret_access_key(secret_access_key);
        }
        let store = builder.build().map_err(|e| StoreError::Config(format!("error initialising S3 client: {e}")))?;
        Ok(BucketBackend {
            store: Arc::new(store),
            settings,
            requests,
            listing: None,
            dry: None,
            planned: BTreeMap::new(),
        })
    }

    fn key(&self, path: &StorePath) -> String {
        path.under(&self.settings.root).to_string()
    }

    fn root_prefix(&self) -> Option<ObjectPath> {
        (!self.settings.root.is_root()).then(|| object_path(self.settings.root.as_str()))
    }

    /// The listing of the store's prefix, refreshed when older than the interval (or `force`).
    async fn listing(&mut self, force: bool) -> Result<BTreeMap<String, String>, StoreError> {
        if let Some((_, virtual_state)) = &self.dry {
            return Ok(virtual_state.clone());
        }
        if !force
            && let Some((at, listing)) = &self.listing
            && at.elapsed() < self.settings.list_interval
        {
            return Ok(listing.clone());
        }
        let prefix = self.root_prefix();
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| classify(&format!("failed to list objects in bucket {}", self.settings.bucket), &e))?;
        let map: BTreeMap<String, String> =
            listed.into_iter().map(|m| (m.location.to_string(), etag(m.e_tag.as_deref()))).collect();
        self.listing = Some((Instant::now(), map.clone()));
        Ok(map)
    }

    /// Every key below `prefix` (outside the store's root), with its MD5 or ETag.
    async fn list_prefix(&self, prefix: &StorePath) -> Result<BTreeMap<String, String>, StoreError> {
        let prefix = (!prefix.is_root()).then(|| object_path(prefix.as_str()));
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| classify(&format!("failed to list objects in bucket {}", self.settings.bucket), &e))?;
        Ok(listed.into_iter().map(|m| (m.location.to_string(), etag(m.e_tag.as_deref()))).collect())
    }

    /// An object as the store (or, in plan mode, the planned batches) hold it.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.planned.get(key) {
            Some(planned) => Ok(planned.as_ref().map(|b| b.to_vec())),
            None => self.get_stored(key).await,
        }
    }

    async fn get_stored(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.store.get(&object_path(key)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| classify(&format!("failed to read {key}"), &e))?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(classify(&format!("failed to read {key}"), &e)),
        }
    }
}

/// A batch being resolved: what every touched key will hold, over the listing.
struct Overlay {
    base: BTreeMap<String, String>,
    changes: BTreeMap<String, Option<Blob>>,
}

impl Overlay {
    fn state(&self, key: &str) -> State {
        match self.changes.get(key) {
            Some(Some(blob)) => State::Present(md5_hex(blob)),
            Some(None) => State::Absent,
            None if self.base.contains_key(key) => State::Base,
            None => State::Absent,
        }
    }

    /// A state with `Base` replaced by what the bucket holds.
    fn resolve(&self, key: &str, state: &State) -> State {
        match state {
            State::Base => self.base.get(key).map(|e| State::Present(e.clone())).unwrap_or(State::Absent),
            other => other.clone(),
        }
    }

    /// Every key that exists now at `key` or below `key/`.
    fn keys_under(&self, key: &str) -> Vec<String> {
        let prefix = format!("{key}/");
        let mut keys: Vec<String> = self
            .base
            .keys()
            .chain(self.changes.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k))
            .filter(|k| *k == key || k.starts_with(&prefix))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys.retain(|k| self.state(k) != State::Absent);
        keys
    }
}

#[async_trait]
impl Backend for BucketBackend {
    async fn apply(&mut self, batch: &[ChangeSet]) -> Result<Applied, StoreError> {
        let mut base = self.listing(false).await?;
        // Change sets under another root (a moved Destination's old tree) need its keys too.
        let mut other_roots: Vec<&StorePath> = batch.iter().filter_map(|s| s.root.as_ref()).collect();
        other_roots.sort();
        other_roots.dedup();
        for root in other_roots.into_iter().filter(|r| !self.settings.root.contains(r)) {
            base.extend(self.list_prefix(root).await?);
        }
        let mut overlay = Overlay { base, changes: BTreeMap::new() };
        // Per change set: every key it touched, as it was before and after it.
        let mut touched: Vec<Result<Vec<(String, State, State)>, StoreError>> = Vec::with_capacity(batch.len());
        for set in batch {
            let root = set.root_or(&self.settings.root).clone();
            match self.expand(&overlay, set, &root).await.and_then(decoded) {
                Ok(steps) => {
                    let mut before: BTreeMap<String, State> = BTreeMap::new();
                    for step in steps {
                        match step {
                            Decoded::Put(path, blob) => {
                                let key = path.under(&root).to_string();
                                before.entry(key.clone()).or_insert_with(|| overlay.state(&key));
                                overlay.changes.insert(key, Some(blob));
                            }
                            Decoded::Delete(path) => {
                                for key in overlay.keys_under(&path.under(&root).to_string()) {
                                    before.entry(key.clone()).or_insert_with(|| overlay.state(&key));
                                    overlay.changes.insert(key, None);
                                }
                            }
                        }
                    }
                    touched.push(Ok(before
                        .into_iter()
                        .map(|(k, b)| {
                            let after = overlay.state(&k);
                            (k, b, after)
                        })
                        .collect()));
                }
                Err(e) => touched.push(Err(e)),
            }
        }
        self.fill_missing_etags(&mut overlay).await?;
        let outcomes: Vec<Result<bool, StoreError>> = touched
            .into_iter()
            .map(|t| t.map(|keys| keys.iter().any(|(k, b, a)| overlay.resolve(k, b) != overlay.resolve(k, a))))
            .collect();
        let base = overlay.base.clone();

        // Only what differs from the bucket is sent.
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        for (key, change) in &overlay.changes {
            match change {
                Some(blob) if base.get(key) != Some(&md5_hex(blob)) => puts.push((key.clone(), blob.clone())),
                None if base.contains_key(key) => deletes.push(key.clone()),
                _ => {}
            }
        }
        if puts.is_empty() && deletes.is_empty() {
            return Ok(Applied { version: None, outcomes, ..Applied::default() });
        }
        if let Some((_, virtual_state)) = &mut self.dry {
            for (key, blob) in &puts {
                virtual_state.insert(key.clone(), md5_hex(blob));
                self.planned.insert(key.clone(), Some(blob.clone()));
            }
            for key in &deletes {
                virtual_state.remove(key);
                self.planned.insert(key.clone(), None);
            }
            return Ok(Applied { version: Some(version_of(&puts, &[])), outcomes, ..Applied::default() });
        }
        let store = self.store.clone();
        let bucket = self.settings.bucket.clone();
        let uploads: Vec<(String, Option<String>)> = futures::stream::iter(puts.clone())
            .map(|(key, blob)| {
                let store = store.clone();
                let bucket = bucket.clone();
                async move {
                    let result = store
                        .put(&object_path(&key), PutPayload::from_bytes(bytes::Bytes::copy_from_slice(&blob)))
                        .await
                        .map_err(|e| classify(&format!("failed to write {key} to bucket {bucket}"), &e))?;
                    Ok::<_, StoreError>((key, result.version))
                }
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .try_collect()
            .await?;
        futures::stream::iter(deletes.clone())
            .map(|key| {
                let store = store.clone();
                let bucket = bucket.clone();
                async move {
                    match store.delete(&object_path(&key)).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                        Err(e) => Err(classify(&format!("failed to delete {key} from bucket {bucket}"), &e)),
                    }
                }
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        if let Some((_, listing)) = &mut self.listing {
            for (key, blob) in &puts {
                listing.insert(key.clone(), md5_hex(blob));
            }
            for key in &deletes {
                listing.remove(key);
            }
        }
        let versions: Vec<String> = uploads.into_iter().filter_map(|(_, v)| v).collect();
        Ok(Applied {
            version: Some(version_of(&puts, &versions)),
            outcomes,
            uploads: puts.len() as u64,
            removals: deletes.len() as u64,
        })
    }

    async fn read(&mut self, path: &StorePath) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(&self.key(path)).await
    }

    async fn list(&mut self, dir: &StorePath) -> Result<Vec<StorePath>, StoreError> {
        let listing = self.listing(true).await?;
        let root = self.settings.root.clone();
        let dir_key = self.key(dir);
        let prefix = if dir_key.is_empty() { String::new() } else { format!("{dir_key}/") };
        Ok(listing
            .keys()
            .filter(|k| prefix.is_empty() || k.starts_with(&prefix) || **k == dir_key)
            .filter_map(|k| StorePath::parse(k).ok())
            .filter_map(|p| p.strip_prefix(&root).and_then(|rel| StorePath::parse(rel).ok()))
            .collect())
    }

    async fn check_write_permission(&mut self) -> Result<(), StoreError> {
        if self.dry.is_some() {
            return Ok(());
        }
        let key = self.key(&StorePath::parse(PERMISSION_CHECK_KEY).map_err(|e| StoreError::Config(e.to_string()))?);
        let prefix = "write permission validation failed";
        // The bucket must exist (Kratix's diagnostic BucketExists); a listing says so unambiguously.
        if let Err(e) = self.store.list_with_delimiter(self.root_prefix().as_ref()).await {
            return Err(match classify(prefix, &e) {
                StoreError::NotFound(_) => StoreError::NotFound(format!(
                    "{prefix}: bucket {:?} does not exist at {}",
                    self.settings.bucket, self.settings.endpoint
                )),
                other => other,
            });
        }
        let mut upload = self.store.put_multipart(&object_path(&key)).await.map_err(|e| classify(prefix, &e))?;
        if let Err(e) = upload.abort().await {
            tracing::debug!("failed to abort the permission-check upload: {e}");
        }
        tracing::debug!(bucket = %self.settings.bucket, "successfully validated bucket write permissions via multipart upload");
        Ok(())
    }

    fn request_counter(&self) -> Option<Arc<AtomicU64>> {
        Some(self.requests.clone())
    }

    async fn planned_contents(&mut self, key: &str) -> Result<BeforeAfter, StoreError> {
        let Some((base, _)) = &self.dry else { return Ok((None, None)) };
        let before = if base.contains_key(key) { self.get_stored(key).await? } else { None };
        let after = match self.planned.get(key) {
            Some(planned) => planned.as_ref().map(|b| b.to_vec()),
            None => before.clone(),
        };
        Ok((before, after))
    }

    async fn pending_changes(&mut self) -> Result<Vec<FileChange>, StoreError> {
        let Some((base, virtual_state)) = &self.dry else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for (k, v) in virtual_state {
            match base.get(k) {
                None => out.push(FileChange::Added(k.clone())),
                Some(old) if old != v => out.push(FileChange::Modified(k.clone())),
                _ => {}
            }
        }
        out.extend(base.keys().filter(|k| !virtual_state.contains_key(*k)).map(|k| FileChange::Deleted(k.clone())));
        out.sort();
        Ok(out)
    }
}

impl BucketBackend {
    /// Lists the bucket once and switches to plan mode: nothing is written from now on.
    pub async fn into_dry_run(mut self) -> Result<BucketBackend, StoreError> {
        let listing = self.listing(true).await?;
        self.dry = Some((listing.clone(), listing));
        Ok(self)
    }

    /// Expands one change set's operations against the overlay (tracked ones read their state file).
    async fn expand(&self, overlay: &Overlay, set: &ChangeSet, root: &StorePath) -> Result<Vec<Step>, StoreError> {
        let mut steps = Vec::new();
        for op in &set.ops {
            if let changeset::Op::Unchanged { dir, .. } = op {
                // A bucket keeps no directory ids: the sender sends the full change set.
                return Err(StoreError::Changed(format!(
                    "failed to check {dir}: a bucket cannot tell it is unchanged"
                )));
            }
            let previous = match op.state_file() {
                Some(file) => self.read_through(overlay, &file.under(root).to_string()).await?,
                None => None,
            };
            let expanded = changeset::expand(op, previous.as_deref()).map_err(|e| {
                StoreError::InvalidState(format!(
                    "{e} ({})",
                    op.state_file().map(ToString::to_string).unwrap_or_default()
                ))
            })?;
            steps.extend(expanded);
        }
        changeset::check_paths(&steps, root).map_err(|e| StoreError::InvalidPath(e.to_string()))?;
        for step in &steps {
            if let Step::Put(path, _) = step
                && path.under(root).as_str().len() > MAX_KEY_BYTES
            {
                return Err(StoreError::InvalidPath(format!(
                    "path {} is too long: an object key is at most {MAX_KEY_BYTES} bytes",
                    waybill_core::pathrules::shown(path.as_str())
                )));
            }
        }
        Ok(steps)
    }

    /// Servers that list no ETag (or one that is not an MD5) are asked with HEAD for the objects a batch
    /// would overwrite, so unchanged content is still not uploaded again.
    async fn fill_missing_etags(&mut self, overlay: &mut Overlay) -> Result<(), StoreError> {
        let unknown: Vec<String> = overlay
            .changes
            .iter()
            .filter(|(k, v)| v.is_some() && overlay.base.get(*k).is_some_and(|e| e.len() != 32))
            .map(|(k, _)| k.clone())
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let store = self.store.clone();
        let heads: Vec<(String, Option<String>)> = futures::stream::iter(unknown)
            .map(|key| {
                let store = store.clone();
                async move {
                    match store.head(&object_path(&key)).await {
                        Ok(meta) => Ok((key, Some(etag(meta.e_tag.as_deref())))),
                        Err(object_store::Error::NotFound { .. }) => Ok((key, None)),
                        Err(e) => Err(classify(&format!("failed to read the metadata of {key}"), &e)),
                    }
                }
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .try_collect()
            .await?;
        for (key, tag) in heads {
            match tag {
                Some(tag) => overlay.base.insert(key.clone(), tag.clone()),
                None => overlay.base.remove(&key),
            };
            if let Some((_, listing)) = &mut self.listing {
                match overlay.base.get(&key) {
                    Some(tag) => listing.insert(key, tag.clone()),
                    None => listing.remove(&key),
                };
            }
        }
        Ok(())
    }

    /// A file (by key) as the batch sees it: pending content first, then the bucket.
    async fn read_through(&self, overlay: &Overlay, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_string();
        match overlay.changes.get(&key) {
            Some(Some(blob)) => Ok(Some(blob.to_vec())),
            Some(None) => Ok(None),
            None if !overlay.base.contains_key(&key) => Ok(None),
            None => self.get(&key).await,
        }
    }
}

/// A step with its content decoded: a change set joining a batch is decoded then, so queued change sets
/// hold no decoded copies, and content that does not decode fails its change set alone.
enum Decoded {
    Put(StorePath, Blob),
    Delete(StorePath),
}

fn decoded(steps: Vec<Step>) -> Result<Vec<Decoded>, StoreError> {
    steps
        .into_iter()
        .map(|step| match step {
            Step::Put(path, content) => match content.to_blob() {
                Ok(blob) => Ok(Decoded::Put(path, blob)),
                Err(e) => Err(StoreError::undecodable(&path, e)),
            },
            Step::Delete(path) => Ok(Decoded::Delete(path)),
        })
        .collect()
}

/// Kratix's version chain (compatibility C15, D29): `sha256(previous + versionID)` over the uploads, over the objects'
/// versions when the bucket is versioned and over the new contents' digests otherwise.
fn version_of(puts: &[(String, Blob)], versions: &[String]) -> String {
    let mut chain = String::new();
    let items: Vec<String> = if versions.is_empty() {
        puts.iter().map(|(k, b)| format!("{k}:{}", md5_hex(b))).collect()
    } else {
        versions.to_vec()
    };
    for item in items {
        chain = hex::encode(Sha256::digest(format!("{chain}{item}").as_bytes()));
    }
    if chain.is_empty() { hex::encode(Sha256::digest(b"")) } else { chain }
}
