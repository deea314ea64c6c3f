//! An ordered map for the many small maps a burst holds: a directory of one to three files in the Git
//! tree editor, the placements of one Work in the object store's label index. A `BTreeMap` allocates a
//! whole node of eleven entries for its first one (632 bytes for a directory entry, 616 for an object
//! reference), so ten thousand one-entry maps cost over 6 MB; this one stays a vector sorted by key,
//! sized to what it holds, until it outgrows [`FEW`] entries, and is a `BTreeMap` from then on (so a
//! directory of fifty thousand entries is not a vector that moves half of itself on every insert).

use std::borrow::Borrow;
use std::collections::{BTreeMap, btree_map};

/// Entries held at most as a sorted vector; one more makes the map a `BTreeMap`.
pub const FEW: usize = 16;

/// An ordered map; see the module documentation. Iteration is in key order, as a `BTreeMap`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmallMap<K, V>(Repr<K, V>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr<K, V> {
    /// Sorted by key, no key twice, at most [`FEW`] entries.
    Few(Vec<(K, V)>),
    Many(BTreeMap<K, V>),
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap(Repr::Few(Vec::new()))
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    /// An empty map; allocates nothing.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Few(v) => v.len(),
            Repr::Many(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &self.0 {
            Repr::Few(v) => v.binary_search_by(|(k, _)| k.borrow().cmp(key)).ok().map(|i| &v[i].1),
            Repr::Many(m) => m.get(key),
        }
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &mut self.0 {
            Repr::Few(v) => match v.binary_search_by(|(k, _)| k.borrow().cmp(key)) {
                Ok(i) => Some(&mut v[i].1),
                Err(_) => None,
            },
            Repr::Many(m) => m.get_mut(key),
        }
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Inserts `value` at `key`, returning the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match &mut self.0 {
            Repr::Few(v) => match v.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => Some(std::mem::replace(&mut v[i].1, value)),
                Err(i) if v.len() < FEW => {
                    // Grown one entry at a time: the point is to hold no spare room.
                    v.reserve_exact(1);
                    v.insert(i, (key, value));
                    None
                }
                Err(_) => {
                    let mut m: BTreeMap<K, V> = std::mem::take(v).into_iter().collect();
                    m.insert(key, value);
                    self.0 = Repr::Many(m);
                    None
                }
            },
            Repr::Many(m) => m.insert(key, value),
        }
    }

    /// Removes `key`, returning its value. A map shrunk to half of [`FEW`] becomes a vector again.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &mut self.0 {
            Repr::Few(v) => {
                let i = v.binary_search_by(|(k, _)| k.borrow().cmp(key)).ok()?;
                let (_, value) = v.remove(i);
                v.shrink_to_fit();
                Some(value)
            }
            Repr::Many(m) => {
                let value = m.remove(key)?;
                if m.len() <= FEW / 2 {
                    self.0 = Repr::Few(std::mem::take(m).into_iter().collect());
                }
                Some(value)
            }
        }
    }

    /// The entries in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        match &self.0 {
            Repr::Few(v) => Iter(IterRepr::Few(v.iter())),
            Repr::Many(m) => Iter(IterRepr::Many(m.iter())),
        }
    }

    /// The entries in key order, values mutable.
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        match &mut self.0 {
            Repr::Few(v) => IterMut(IterMutRepr::Few(v.iter_mut())),
            Repr::Many(m) => IterMut(IterMutRepr::Many(m.iter_mut())),
        }
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SmallMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = SmallMap::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// `map[key]`, as a `BTreeMap` has it: panics when the key is absent (the caller asserts it is there).
impl<K: Ord + Borrow<Q>, Q: Ord + ?Sized, V> std::ops::Index<&Q> for SmallMap<K, V> {
    type Output = V;

    fn index(&self, key: &Q) -> &V {
        // Index's contract, as for every std map: a missing key is the caller's bug.
        self.get(key).expect("no entry found for key")
    }
}

impl<K: Ord + serde::Serialize, V: serde::Serialize> serde::Serialize for SmallMap<K, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, K: Ord + serde::Deserialize<'de>, V: serde::Deserialize<'de>> serde::Deserialize<'de> for SmallMap<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K: Ord + serde::Deserialize<'de>, V: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visitor<K, V> {
            type Value = SmallMap<K, V>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                // A key given twice keeps its last value, as a BTreeMap would.
                let mut map = SmallMap::new();
                while let Some((k, v)) = access.next_entry()? {
                    map.insert(k, v);
                }
                Ok(map)
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// Iterator over a [`SmallMap`]'s entries in key order.
pub struct Iter<'a, K, V>(IterRepr<'a, K, V>);

enum IterRepr<'a, K, V> {
    Few(std::slice::Iter<'a, (K, V)>),
    Many(btree_map::Iter<'a, K, V>),
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Few(i) => i.next().map(|(k, v)| (k, v)),
            IterRepr::Many(i) => i.next(),
        }
    }
}

/// Iterator over a [`SmallMap`]'s entries in key order, values mutable.
pub struct IterMut<'a, K, V>(IterMutRepr<'a, K, V>);

enum IterMutRepr<'a, K, V> {
    Few(std::slice::IterMut<'a, (K, V)>),
    Many(btree_map::IterMut<'a, K, V>),
}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterMutRepr::Few(i) => i.next().map(|(k, v)| (&*k, v)),
            IterMutRepr::Many(i) => i.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u32),
        Remove(u8),
        Bump(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Keys from a range a little over twice FEW: maps cross the threshold both ways.
        let key = 0u8..40;
        prop_oneof![
            (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            key.clone().prop_map(Op::Remove),
            key.prop_map(Op::Bump),
        ]
    }

    proptest! {
        #[test]
        fn every_sequence_of_edits_leaves_what_a_btreemap_would(ops in proptest::collection::vec(op(), 0..300)) {
            let mut small = SmallMap::new();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(small.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(small.remove(&k), model.remove(&k)),
                    Op::Bump(k) => {
                        if let Some(v) = small.get_mut(&k) { *v = v.wrapping_add(1) }
                        if let Some(v) = model.get_mut(&k) { *v = v.wrapping_add(1) }
                    }
                }
                prop_assert_eq!(small.len(), model.len());
                prop_assert!(small.iter().eq(model.iter()), "{:?} vs {:?}", small, model);
                for (_, v) in small.iter_mut() { *v = v.wrapping_mul(3) }
                for (_, v) in model.iter_mut() { *v = v.wrapping_mul(3) }
                for k in 0u8..40 {
                    prop_assert_eq!(small.get(&k), model.get(&k));
                    prop_assert_eq!(small.contains_key(&k), model.contains_key(&k));
                }
                match &small.0 {
                    Repr::Few(v) => prop_assert!(v.len() <= FEW && v.capacity() == v.len()),
                    Repr::Many(m) => prop_assert!(m.len() > FEW / 2),
                }
            }
        }
    }

    #[test]
    fn it_reads_and_writes_as_a_map_in_key_order_the_last_of_a_repeated_key_winning() {
        let m: SmallMap<String, String> = serde_json::from_str(r#"{"b":"1","a":"2","b":"3"}"#).unwrap();
        assert_eq!(m["b"], "3");
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"a":"2","b":"3"}"#);
        assert!(serde_json::from_str::<SmallMap<String, String>>(r#"["a"]"#).is_err(), "not a map");
        let big: SmallMap<String, u32> = (0..40).map(|i| (format!("k{i:02}"), i)).collect();
        let back: SmallMap<String, u32> = serde_json::from_str(&serde_json::to_string(&big).unwrap()).unwrap();
        assert_eq!(back, big);
    }

    #[test]
    fn a_small_map_holds_no_spare_room_and_a_large_one_is_a_btreemap() {
        let mut m: SmallMap<String, u32> = SmallMap::new();
        assert!(matches!(&m.0, Repr::Few(v) if v.capacity() == 0), "an empty map allocates nothing");
        m.insert("b".into(), 1);
        assert!(matches!(&m.0, Repr::Few(v) if v.capacity() == 1));
        for i in 0..FEW as u32 {
            m.insert(format!("k{i:02}"), i);
        }
        assert!(matches!(&m.0, Repr::Many(_)), "{} entries are a BTreeMap", m.len());
        assert_eq!(m.get("b"), Some(&1), "looked up by a borrowed key");
        for i in 0..FEW as u32 {
            m.remove(format!("k{i:02}").as_str());
        }
        assert!(matches!(&m.0, Repr::Few(v) if v.len() == 1));
        assert_eq!(m.keys().collect::<Vec<_>>(), vec!["b"]);
    }
}
