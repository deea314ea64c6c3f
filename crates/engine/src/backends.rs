//! Building a state store's backend from its spec and secret.

use std::path::Path;

use sha2::{Digest, Sha256};
use waybill_core::api::{BucketStateStore, GitStateStore, Secret};
use waybill_core::layout::StorePath;
use waybill_stores::StoreError;
use waybill_stores::git::location::{self, Location};
use waybill_stores::git::{Author, GitBackend, GitSettings};
use waybill_stores::port::Backend;

/// A digest of everything a writer is built from: a different one means the writer must be rebuilt.
pub fn fingerprint(spec: &serde_json::Value, secret: Option<&Secret>) -> String {
    let mut h = Sha256::new();
    h.update(spec.to_string().as_bytes());
    h.update([0]);
    if let Some(s) = secret {
        h.update(s.fingerprint().as_bytes());
    }
    hex_string(&h.finalize())
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Builds the Git backend of `store`. `base_dir` resolves relative local paths.
pub async fn git_backend(
    store: &GitStateStore,
    _secret: Option<&Secret>,
    base_dir: &Path,
    dry_run: bool,
) -> Result<Box<dyn Backend>, StoreError> {
    let root =
        StorePath::from_store_path(&store.spec.path).map_err(|e| StoreError::Config(format!("spec.path: {e}")))?;
    let settings = GitSettings {
        branch: store.branch().to_string(),
        root,
        author: Author { name: store.spec.git_author.name.clone(), email: store.spec.git_author.email.clone() },
        dry_run,
    };
    match location::classify(&store.spec.url, base_dir)? {
        Location::Local(path) => {
            let backend = tokio::task::spawn_blocking(move || GitBackend::open_local(&path, settings))
                .await
                .map_err(|e| StoreError::Other(format!("failed to open the repository: {e}")))??;
            Ok(Box::new(backend))
        }
        Location::Remote { url, .. } => {
            Err(StoreError::Config(format!("remote Git URL {url:?} is not supported by this build")))
        }
    }
}

/// Builds the bucket backend of `store`.
pub async fn bucket_backend(
    store: &BucketStateStore,
    _secret: Option<&Secret>,
    _dry_run: bool,
) -> Result<Box<dyn Backend>, StoreError> {
    Err(StoreError::Config(format!("bucket endpoint {:?} is not supported by this build", store.spec.endpoint)))
}
