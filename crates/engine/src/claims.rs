//! Which WorkPlacement owns which paths of a Destination's directory (`docs/hostile-inputs.md`).
//!
//! Two distinct placements can map to the same directory (two Works of one promise, a Work renamed,
//! group ids alike in their first five characters) or to the same flat file. Writing both would let one
//! replace the other's files while both report Ready, and deleting one would delete the other's. So
//! every path a placement writes is claimed first: the first placement to claim it owns it, a later one
//! is refused with `PathConflict` until the owner is gone, and an owner being deleted gives its paths
//! up at once (its deletion then leaves them alone). Claims are taken and change sets queued under one
//! lock, so the writer sees them in claim order.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use waybill_core::ObjectRef;
use waybill_core::layout::StorePath;

/// A placement whose paths overlap the claimant's, and the first such path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InUse {
    pub holder: ObjectRef,
    pub path: StorePath,
}

#[derive(Debug, Clone)]
struct Held {
    paths: Vec<StorePath>,
    deleting: bool,
}

#[derive(Default)]
struct DestinationClaims {
    seeded: bool,
    holders: BTreeMap<ObjectRef, Held>,
}

impl DestinationClaims {
    /// The first live holder other than `me` with a path overlapping one of `paths`.
    fn conflict(&self, me: &ObjectRef, paths: &[StorePath]) -> Option<InUse> {
        self.holders.iter().filter(|(r, h)| *r != me && !h.deleting).find_map(|(r, h)| {
            h.paths
                .iter()
                .find(|held| paths.iter().any(|p| p.overlaps(held)))
                .map(|path| InUse { holder: r.clone(), path: path.clone() })
        })
    }
}

/// One placement as found when a Destination's claims are first built.
#[derive(Debug, Clone)]
pub(crate) struct Existing {
    pub placement: ObjectRef,
    pub paths: Vec<StorePath>,
    pub deleting: bool,
    /// It was refused before (its `WriteSucceeded` reason is `PathConflict`): it owns nothing.
    pub refused: bool,
    pub created: String,
}

/// The claims of every Destination; see the module documentation.
#[derive(Default)]
pub(crate) struct Claims {
    inner: Mutex<HashMap<String, DestinationClaims>>,
}

impl Claims {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, DestinationClaims>> {
        // Every change leaves the map consistent before anything can panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the claims of `destination` were built from its placements yet.
    pub(crate) fn is_seeded(&self, destination: &str) -> bool {
        self.lock().get(destination).is_some_and(|d| d.seeded)
    }

    /// Builds the claims of `destination` from its placements, unless built already: owners first,
    /// then by creation time and name, each owning its paths when no earlier one holds them. So the
    /// owner after a restart is the owner before it.
    pub(crate) fn seed(&self, destination: &str, mut existing: Vec<Existing>) {
        let mut map = self.lock();
        let claims = map.entry(destination.to_string()).or_default();
        if claims.seeded {
            return;
        }
        claims.seeded = true;
        existing.sort_by(|a, b| (a.refused, &a.created, &a.placement).cmp(&(b.refused, &b.created, &b.placement)));
        for e in existing {
            if claims.holders.contains_key(&e.placement) {
                continue;
            }
            if e.deleting || claims.conflict(&e.placement, &e.paths).is_none() {
                claims.holders.insert(e.placement, Held { paths: e.paths, deleting: e.deleting });
            }
        }
    }

    /// Claims `paths` for `me` and, holding the claim lock, runs `then` (which queues the write). Fails
    /// with the live owner of an overlapping path.
    pub(crate) fn claim_then<R>(
        &self,
        destination: &str,
        me: &ObjectRef,
        paths: Vec<StorePath>,
        then: impl FnOnce() -> R,
    ) -> Result<R, InUse> {
        let mut map = self.lock();
        let claims = map.entry(destination.to_string()).or_default();
        if let Some(conflict) = claims.conflict(me, &paths) {
            return Err(conflict);
        }
        claims.holders.insert(me.clone(), Held { paths, deleting: false });
        Ok(then())
    }

    /// Marks `me` as being deleted (its paths can be claimed at once) and, holding the claim lock, runs
    /// `then` with the paths live placements own on the Destination: the deletion must leave those.
    pub(crate) fn deleting_then<R>(
        &self,
        destination: &str,
        me: &ObjectRef,
        then: impl FnOnce(Vec<StorePath>) -> R,
    ) -> R {
        let mut map = self.lock();
        let claims = map.entry(destination.to_string()).or_default();
        if let Some(h) = claims.holders.get_mut(me) {
            h.deleting = true;
        }
        let owned: Vec<StorePath> = claims
            .holders
            .iter()
            .filter(|(r, h)| *r != me && !h.deleting)
            .flat_map(|(_, h)| h.paths.iter().cloned())
            .collect();
        then(owned)
    }

    /// Records that `holder` is being deleted (found so when checking a conflict).
    pub(crate) fn mark_deleting(&self, destination: &str, holder: &ObjectRef) {
        if let Some(h) = self.lock().get_mut(destination).and_then(|d| d.holders.get_mut(holder)) {
            h.deleting = true;
        }
    }

    /// Forgets `placement` (its deletion is done, or it no longer exists).
    pub(crate) fn forget(&self, destination: &str, placement: &ObjectRef) {
        if let Some(d) = self.lock().get_mut(destination) {
            d.holders.remove(placement);
        }
    }

    /// Forgets every claim on `destination` (it is gone, or moved: claims are rebuilt).
    pub(crate) fn forget_destination(&self, destination: &str) {
        self.lock().remove(destination);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::Kind;

    fn wp(name: &str) -> ObjectRef {
        ObjectRef::new(Kind::WorkPlacement, "default", name)
    }

    fn p(s: &str) -> StorePath {
        StorePath::parse(s).unwrap()
    }

    #[test]
    fn the_first_claim_owns_a_path_until_its_owner_is_deleted() {
        let claims = Claims::default();
        assert!(claims.claim_then("d", &wp("a"), vec![p("d/x/5058f")], || ()).is_ok());
        // Again by the owner: fine. Overlapping, equal or nested, by another: refused.
        assert!(claims.claim_then("d", &wp("a"), vec![p("d/x/5058f")], || ()).is_ok());
        for other in ["d/x/5058f", "d/x", "d/x/5058f/sub"] {
            let err = claims.claim_then("d", &wp("b"), vec![p(other)], || ()).unwrap_err();
            assert_eq!(err.holder, wp("a"), "{other}");
        }
        assert!(claims.claim_then("d", &wp("b"), vec![p("d/x/5058g")], || ()).is_ok());
        assert!(claims.claim_then("other", &wp("c"), vec![p("d/x/5058f")], || ()).is_ok(), "per Destination");
        // Deleting: its paths are free at once, and its deletion is told what others own.
        let owned = claims.deleting_then("d", &wp("a"), |owned| owned);
        assert_eq!(owned, vec![p("d/x/5058g")]);
        assert!(claims.claim_then("d", &wp("c"), vec![p("d/x/5058f")], || ()).is_ok());
        let owned = claims.deleting_then("d", &wp("a"), |owned| owned);
        assert!(owned.contains(&p("d/x/5058f")), "the new owner's path is kept: {owned:?}");
    }

    #[test]
    fn seeding_keeps_the_owner_a_restart_had_before() {
        let e = |name: &str, created: &str, refused: bool| Existing {
            placement: wp(name),
            paths: vec![p("d/same")],
            deleting: false,
            refused,
            created: created.into(),
        };
        let claims = Claims::default();
        // "b" is older and first by name, but it was the one refused: "c" keeps owning.
        claims.seed("d", vec![e("b", "2026-01-01T00:00:00Z", true), e("c", "2026-01-02T00:00:00Z", false)]);
        assert!(claims.is_seeded("d"));
        assert_eq!(claims.claim_then("d", &wp("b"), vec![p("d/same")], || ()).unwrap_err().holder, wp("c"));
        // Without a record, the oldest owns.
        let claims = Claims::default();
        claims.seed("d", vec![e("z", "2026-01-02T00:00:00Z", false), e("y", "2026-01-01T00:00:00Z", false)]);
        assert_eq!(claims.claim_then("d", &wp("z"), vec![p("d/same")], || ()).unwrap_err().holder, wp("y"));
    }
}
