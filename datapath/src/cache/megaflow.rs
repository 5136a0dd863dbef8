//! A PMD thread's megaflow cache: tuple space search over one hash table per mask.
//!
//! Megaflows with the same mask live in one [`Subtable`], a hash map from the hash of the
//! masked key to the megaflows with that hash (almost always one). A lookup tries the
//! subtables in order until one has a live megaflow containing the key; the order is by hits,
//! re-sorted every [`RESORT_LOOKUPS`] lookups, so the masks that most traffic needs come first.
//!
//! Megaflows of one PMD thread never overlap (a miss is the only way in, and it installs a
//! megaflow only when no live one contains the key), so the first match is the match.
//!
//! Cost: a hit costs one hash of the masked key words and one key comparison per subtable
//! tried; a miss tries every subtable.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use flowtable::{FlowKey, FlowMask};

use super::{hash_masked, Megaflow};

/// Lookups between two re-sorts of the subtables.
pub const RESORT_LOOKUPS: u64 = 16_384;

/// A hasher for keys that already are good 64-bit hashes.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashIndex = HashMap<u64, Vec<Arc<Megaflow>>, BuildHasherDefault<PassThrough>>;

/// The megaflows of one mask.
#[derive(Debug)]
pub struct Subtable {
    mask: FlowMask,
    /// Indices of the nonzero words of `mask`.
    words: Vec<usize>,
    map: HashIndex,
    len: usize,
    /// Hits since the last re-sort (a `Cell`: lookups take `&self`; the cache belongs to one
    /// thread).
    hits: Cell<u64>,
}

impl Subtable {
    fn new(mask: FlowMask) -> Subtable {
        let words = mask
            .words()
            .iter()
            .enumerate()
            .filter(|(_, w)| **w != 0)
            .map(|(i, _)| i)
            .collect();
        Subtable {
            mask,
            words,
            map: HashIndex::default(),
            len: 0,
            hits: Cell::new(0),
        }
    }

    #[inline]
    fn lookup(&self, key: &FlowKey) -> Option<&Arc<Megaflow>> {
        let h = hash_masked(key, &self.mask, &self.words);
        let (k, m) = (key.words(), self.mask.words());
        // Only the mask's nonzero words can differ under it.
        let same = |f: &Megaflow| {
            let fk = f.key.words();
            self.words
                .iter()
                .all(|&i| match (k.get(i), fk.get(i), m.get(i)) {
                    (Some(a), Some(b), Some(m)) => (a ^ b) & m == 0,
                    _ => false,
                })
        };
        self.map.get(&h)?.iter().find(|f| !f.is_dead() && same(f))
    }
}

/// The megaflow cache of one PMD thread.
#[derive(Debug, Default)]
pub struct MegaflowCache {
    subtables: Vec<Subtable>,
    lookups: u64,
}

impl MegaflowCache {
    /// An empty cache.
    pub fn new() -> MegaflowCache {
        MegaflowCache::default()
    }

    /// The live megaflow that contains `key`.
    #[inline]
    pub fn lookup(&mut self, key: &FlowKey) -> Option<&Arc<Megaflow>> {
        self.lookups += 1;
        if self.lookups.is_multiple_of(RESORT_LOOKUPS) {
            self.resort();
        }
        self.subtables.iter().find_map(|st| {
            let f = st.lookup(key)?;
            st.hits.set(st.hits.get() + 1);
            Some(f)
        })
    }

    /// Adds a megaflow.
    pub fn insert(&mut self, flow: Arc<Megaflow>) {
        let idx = match self.subtables.iter().position(|s| s.mask == flow.mask) {
            Some(i) => i,
            None => {
                self.subtables.push(Subtable::new(flow.mask));
                self.subtables.len() - 1
            }
        };
        let Some(st) = self.subtables.get_mut(idx) else {
            return;
        };
        let h = hash_masked(&flow.key, &st.mask, &st.words);
        st.map.entry(h).or_default().push(flow);
        st.len += 1;
    }

    /// Removes dead megaflows and empty subtables.
    pub fn sweep(&mut self) {
        for st in &mut self.subtables {
            let mut removed = 0;
            st.map.retain(|_, flows| {
                let before = flows.len();
                flows.retain(|f| !f.is_dead());
                removed += before - flows.len();
                !flows.is_empty()
            });
            st.len -= removed;
        }
        self.subtables.retain(|s| s.len > 0);
    }

    /// Orders subtables by hits since the last sort, most first, and restarts the counts.
    pub fn resort(&mut self) {
        self.subtables
            .sort_by_key(|s| std::cmp::Reverse(s.hits.get()));
        for st in &mut self.subtables {
            st.hits.set(0);
        }
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.subtables.clear();
    }

    /// Number of subtables (distinct masks).
    pub fn subtables(&self) -> usize {
        self.subtables.len()
    }

    /// Number of megaflows (dead ones not yet swept included).
    pub fn len(&self) -> usize {
        self.subtables.iter().map(|s| s.len).sum()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Decision;
    use flowtable::field::Field;

    fn flow(id: u64, key: FlowKey, fields: &[Field]) -> Arc<Megaflow> {
        let mut mask = FlowMask::none();
        for f in fields {
            f.set_all_bits(&mut mask);
        }
        let d = Decision {
            version: 1,
            actions: Vec::new(),
            drop: None,
            rules: Vec::new(),
        };
        Arc::new(Megaflow::new(id, key, mask, d, 1))
    }

    fn key(in_port: u32, nw_dst: u32) -> FlowKey {
        let mut k = FlowKey::zero();
        k.in_port = in_port;
        k.dl_type = 0x0800;
        k.nw_dst = nw_dst;
        k
    }

    #[test]
    fn lookup_insert_sweep_resort() {
        let mut c = MegaflowCache::new();
        c.insert(flow(1, key(1, 5), &[Field::InPort]));
        c.insert(flow(2, key(2, 5), &[Field::InPort, Field::NwDst]));
        c.insert(flow(3, key(2, 6), &[Field::InPort, Field::NwDst]));
        assert_eq!(c.subtables(), 2);
        assert_eq!(c.len(), 3);
        assert_eq!(c.lookup(&key(1, 99)).map(|f| f.id), Some(1));
        assert_eq!(c.lookup(&key(2, 6)).map(|f| f.id), Some(3));
        assert_eq!(c.lookup(&key(2, 7)).map(|f| f.id), None);
        for _ in 0..3 {
            c.lookup(&key(2, 5));
        }
        c.resort();
        let hot = c.lookup(&key(2, 5)).map(|f| f.mask).unwrap_or_default();
        assert_eq!(c.subtables[0].mask, hot);
        if let Some(f) = c.lookup(&key(2, 5)) {
            f.kill();
        }
        assert!(c.lookup(&key(2, 5)).is_none());
        c.sweep();
        assert_eq!(c.len(), 2);
        if let Some(f) = c.lookup(&key(1, 0)) {
            f.kill();
        }
        c.sweep();
        assert_eq!(c.subtables(), 1);
        c.clear();
        assert!(c.is_empty());
    }
}
