//! Which directory of which repository or bucket a Destination owns, and when two Destinations would
//! own overlapping directories (compatibility D17, across stores too): stores on the same repository and
//! branch (`state.git` and `./state.git`, or one URL written two ways) share one tree, so the overlap
//! rule compares the store's location and the Destination's full directory, store path included.

use std::path::Path;

use waybill_core::api::Destination;
use waybill_core::layout::StorePath;
use waybill_core::{AnyObject, Kind, ObjectRef};
use waybill_stores::bucket::endpoint::bucket_identity;
use waybill_stores::git::location::repository_identity;

/// Where a Destination writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occupant {
    pub destination: String,
    /// `GitStateStore/name`, for messages.
    pub store: String,
    /// The repository and branch, or the bucket, normalised ([`repository_identity`]).
    pub location: String,
    /// The Destination's directory inside the repository or bucket (store path included).
    pub dir: StorePath,
}

/// Where `d` writes; `store` is its state store object when known (without it, only Destinations on the
/// same store can be compared). `None` when it references nothing usable or its path is invalid.
pub fn occupant(d: &Destination, store: Option<&AnyObject>, base_dir: &Path) -> Option<Occupant> {
    let r = d.spec.state_store_ref.as_ref()?;
    let kind = r.store_kind()?.kind();
    let dir = StorePath::for_destination(d).ok()?;
    let store_name = format!("{kind}/{}", r.name);
    let (location, root) = match store {
        Some(AnyObject::GitStateStore(g)) => {
            let repo = repository_identity(&g.spec.url, base_dir).ok()?;
            (format!("{repo}#{}", g.branch()), StorePath::from_store_path(&g.spec.path).ok()?)
        }
        Some(AnyObject::BucketStateStore(b)) => {
            (bucket_identity(&b.spec.endpoint, &b.spec.bucket_name), StorePath::from_store_path(&b.spec.path).ok()?)
        }
        _ => (store_name.clone(), StorePath::root()),
    };
    Some(Occupant { destination: d.metadata.name.clone(), store: store_name, location, dir: dir.under(&root) })
}

/// The reference of the store a Destination names, to look it up.
pub fn store_of(d: &Destination) -> Option<ObjectRef> {
    let r = d.spec.state_store_ref.as_ref()?;
    Some(ObjectRef::cluster(r.store_kind()?.kind(), &r.name))
}

/// The first of `accepted` whose directory overlaps `candidate`'s in the same location.
pub fn clash<'a>(accepted: &'a [Occupant], candidate: &Occupant) -> Option<&'a Occupant> {
    accepted.iter().find(|o| o.location == candidate.location && o.dir.overlaps(&candidate.dir))
}

/// Why `candidate` is refused because of `other` (the `spec.path` problem's reason).
pub fn reason(candidate: &Occupant, other: &Occupant) -> String {
    let on = if candidate.store == other.store {
        format!("on {}", other.store)
    } else {
        format!("on {} (the same repository and branch, or bucket, as {})", other.store, candidate.store)
    };
    format!(
        "directory {:?} overlaps directory {:?} of Destination {:?} {on}",
        shown(&candidate.dir),
        shown(&other.dir),
        other.destination
    )
}

fn shown(dir: &StorePath) -> String {
    if dir.is_root() { ".".to_string() } else { dir.to_string() }
}

/// Whether `kind` is a state store kind (for lookups).
pub fn is_store(kind: Kind) -> bool {
    matches!(kind, Kind::GitStateStore | Kind::BucketStateStore)
}
