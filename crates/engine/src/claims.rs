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
    /// Every path of the live holders, to its holder (live holders never overlap): a conflict is a
    /// lookup of a path's ancestors and of the range below it, not a scan of every holder, so a
    /// burst of N placements on one Destination claims in O(N log N).
    live: BTreeMap<String, ObjectRef>,
}

/// A path and every directory above it, up to the root (`""`).
fn self_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = if current.is_empty() { None } else { Some(current.rfind('/').map_or("", |i| &current[..i])) };
        Some(current)
    })
}

impl DestinationClaims {
    /// The first live holder (in identity order) other than `me` with a path overlapping one of
    /// `paths`, and the first such path of its own.
    fn conflict(&self, me: &ObjectRef, paths: &[StorePath]) -> Option<InUse> {
        let mut found: Option<&ObjectRef> = None;
        let mut consider = |r| {
            if r != me && found.is_none_or(|f| r < f) {
                found = Some(r);
            }
        };
        for p in paths {
            let path = p.as_str();
            for above in self_and_ancestors(path) {
                if let Some(r) = self.live.get(above) {
                    consider(r);
                }
            }
            if path.is_empty() {
                self.live.values().for_each(&mut consider);
            } else {
                // Exactly the strings that start with "path/": '0' follows '/'.
                let (below, end) = (format!("{path}/"), format!("{path}0"));
                self.live.range(below..end).for_each(|(_, r)| consider(r));
            }
        }
        let holder = found?;
        let path = self.holders.get(holder)?.paths.iter().find(|held| paths.iter().any(|p| p.overlaps(held)))?;
        Some(InUse { holder: holder.clone(), path: path.clone() })
    }

    fn unindex(&mut self, r: &ObjectRef) {
        if let Some(h) = self.holders.get(r).filter(|h| !h.deleting) {
            for p in &h.paths {
                if self.live.get(p.as_str()) == Some(r) {
                    self.live.remove(p.as_str());
                }
            }
        }
    }

    fn insert(&mut self, r: ObjectRef, held: Held) {
        self.unindex(&r);
        if !held.deleting {
            for p in &held.paths {
                self.live.insert(p.as_str().to_string(), r.clone());
            }
        }
        self.holders.insert(r, held);
    }

    fn set_deleting(&mut self, r: &ObjectRef) {
        self.unindex(r);
        if let Some(h) = self.holders.get_mut(r) {
            h.deleting = true;
        }
    }

    fn remove(&mut self, r: &ObjectRef) {
        self.unindex(r);
        self.holders.remove(r);
    }
}

/// What live placements other than the one being deleted own on its Destination.
pub(crate) struct Owned<'a> {
    live: &'a BTreeMap<String, ObjectRef>,
}

impl Owned<'_> {
    /// Whether a live placement owns `path`, something above it or something below it.
    pub(crate) fn overlaps(&self, path: &StorePath) -> bool {
        let p = path.as_str();
        self_and_ancestors(p).any(|above| self.live.contains_key(above))
            || (p.is_empty() && !self.live.is_empty())
            || self.live.range(format!("{p}/")..format!("{p}0")).next().is_some()
    }

    /// The owned paths below `dir` (all of them for the root).
    pub(crate) fn below(&self, dir: &StorePath) -> Vec<StorePath> {
        self.live.keys().filter_map(|k| StorePath::parse(k).ok()).filter(|k| dir.contains(k)).collect()
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
                claims.insert(e.placement, Held { paths: e.paths, deleting: e.deleting });
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
        claims.insert(me.clone(), Held { paths, deleting: false });
        Ok(then())
    }

    /// Marks `me` as being deleted (its paths can be claimed at once) and, holding the claim lock, runs
    /// `then` with what live placements own on the Destination: the deletion must leave those.
    pub(crate) fn deleting_then<R>(&self, destination: &str, me: &ObjectRef, then: impl FnOnce(Owned<'_>) -> R) -> R {
        let mut map = self.lock();
        let claims = map.entry(destination.to_string()).or_default();
        claims.set_deleting(me);
        then(Owned { live: &claims.live })
    }

    /// Records that `holder` is being deleted (found so when checking a conflict).
    pub(crate) fn mark_deleting(&self, destination: &str, holder: &ObjectRef) {
        if let Some(d) = self.lock().get_mut(destination) {
            d.set_deleting(holder);
        }
    }

    /// Forgets `placement` (its deletion is done, or it no longer exists).
    pub(crate) fn forget(&self, destination: &str, placement: &ObjectRef) {
        if let Some(d) = self.lock().get_mut(destination) {
            d.remove(placement);
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
        let owned = claims.deleting_then("d", &wp("a"), |owned| owned.below(&StorePath::root()));
        assert_eq!(owned, vec![p("d/x/5058g")]);
        assert!(claims.claim_then("d", &wp("c"), vec![p("d/x/5058f")], || ()).is_ok());
        let owned = claims.deleting_then("d", &wp("a"), |owned| owned.below(&StorePath::root()));
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

    /// The definition the index must agree with: every live holder but `me`, in identity order, the
    /// first with a path overlapping one of `paths`.
    fn scanned(claims: &DestinationClaims, me: &ObjectRef, paths: &[StorePath]) -> Option<InUse> {
        claims.holders.iter().filter(|(r, h)| *r != me && !h.deleting).find_map(|(r, h)| {
            h.paths
                .iter()
                .find(|held| paths.iter().any(|p| p.overlaps(held)))
                .map(|path| InUse { holder: r.clone(), path: path.clone() })
        })
    }

    fn arb_path() -> impl proptest::strategy::Strategy<Value = StorePath> {
        use proptest::prelude::*;
        // Few names, so paths often nest and collide; "a-b" and "a0" sort around "a/" on purpose.
        prop::collection::vec(prop::sample::select(vec!["a", "b", "a-b", "a0", "c.d"]), 0..4)
            .prop_map(|parts| StorePath::parse(&parts.join("/")).unwrap_or_else(|_| StorePath::root()))
    }

    proptest::proptest! {
        #[test]
        fn the_path_index_finds_exactly_the_conflict_a_scan_of_every_holder_finds(
            steps in proptest::collection::vec(
                (0..6usize, proptest::collection::vec(arb_path(), 1..3), 0..4u8),
                1..40,
            )
        ) {
            let mut claims = DestinationClaims::default();
            for (who, paths, action) in steps {
                let me = wp(&format!("p{who}"));
                match action {
                    // Claim (as claim_then does): refused exactly when the scan finds a conflict.
                    0 | 1 => {
                        let indexed = claims.conflict(&me, &paths);
                        proptest::prop_assert_eq!(&indexed, &scanned(&claims, &me, &paths));
                        if indexed.is_none() {
                            claims.insert(me, Held { paths, deleting: false });
                        }
                    }
                    2 => claims.set_deleting(&me),
                    _ => claims.remove(&me),
                }
                // What a deletion is told others own agrees with the holders too.
                let live: Vec<StorePath> = claims.holders.values().filter(|h| !h.deleting).flat_map(|h| h.paths.clone()).collect();
                let owned = Owned { live: &claims.live };
                let mut below = owned.below(&StorePath::root());
                below.sort();
                let mut expected = live.clone();
                expected.sort();
                expected.dedup();
                proptest::prop_assert_eq!(below, expected);
                for probe in live.iter().chain(std::iter::once(&StorePath::root())) {
                    proptest::prop_assert_eq!(owned.overlaps(probe), live.iter().any(|l| l.overlaps(probe)));
                }
            }
        }
    }
}
