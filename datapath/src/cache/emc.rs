//! The exact-match cache (EMC) of a PMD thread: full key to megaflow, in front of the megaflow
//! cache.
//!
//! A fixed array of entries, two-way associative: a key may sit in one of two slots chosen by
//! two halves of its full-key hash. A hit costs one hash of the key and at most two key
//! comparisons, independent of the number of masks; an entry keeps its key's hash, so a slot
//! that holds another key (the common case when there are more flows than entries) costs one
//! integer comparison instead of comparing two 256-byte keys.
//!
//! Insertion is probabilistic: a megaflow hit inserts its key with probability
//! 1/[`INSERT_INV_PROB`], so only flows with many packets displace others and a flood of short
//! flows does not thrash the cache (Open vSwitch's `emc-insert-inv-prob`).
//!
//! Entries hold their megaflow; a dead megaflow makes its entries misses until they are
//! overwritten.

use std::sync::Arc;

use flowtable::FlowKey;

use super::{hash_full, Megaflow};

/// The inverse of the insertion probability.
pub const INSERT_INV_PROB: u32 = 100;

/// `repr(C)`, in this order: what a lookup reads first (whether the slot is used, the hash)
/// is in the slot's first cache line, the one [`Emc::prefetch`] asks for.
#[derive(Debug)]
#[repr(C)]
struct Entry {
    flow: Arc<Megaflow>,
    hash: u64,
    key: FlowKey,
}

impl Entry {
    #[inline]
    fn holds(&self, key: &FlowKey, hash: u64) -> bool {
        self.hash == hash && self.key.words() == key.words()
    }
}

/// An exact-match cache.
#[derive(Debug)]
pub struct Emc {
    slots: Vec<Option<Entry>>,
    mask: usize,
    rng: u32,
}

impl Emc {
    /// A cache of `entries` slots rounded down to a power of two; 0 disables the cache.
    pub fn new(entries: usize) -> Emc {
        let n = if entries == 0 {
            0
        } else {
            1usize << (usize::BITS - 1 - entries.leading_zeros())
        };
        let mut slots = Vec::with_capacity(n);
        slots.resize_with(n, || None);
        Emc {
            slots,
            mask: n.saturating_sub(1),
            rng: 0x2545_f491,
        }
    }

    /// Whether the cache has any slot.
    #[inline]
    pub fn enabled(&self) -> bool {
        !self.slots.is_empty()
    }

    #[inline]
    fn slots_of(&self, hash: u64) -> [usize; 2] {
        // Truncation intended: each half of the hash picks a slot.
        #[allow(clippy::cast_possible_truncation)]
        let (a, b) = (hash as usize, (hash >> 32) as usize);
        [a & self.mask, b & self.mask]
    }

    /// Asks the CPU to start loading the slots where `hash`'s key may sit, so that a lookup
    /// made a little later finds them in its cache: the PMD thread hashes a whole batch, with a
    /// prefetch per packet, before it looks the batch up.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        #[cfg(target_arch = "x86_64")]
        for i in self.slots_of(hash) {
            if let Some(slot) = self.slots.get(i) {
                // The slot's first cache line: its hash, which a lookup compares first (asking
                // for the whole 272-byte slot measured no faster).
                let p = std::ptr::from_ref(slot).cast::<i8>();
                // SAFETY: a prefetch is only a hint to the CPU: it cannot fault and changes
                // nothing the program can observe. `p` points into `self.slots`.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p);
                }
            }
        }
    }

    /// The megaflow cached for exactly `key` (`hash` = [`hash_full`] of it), if it is live.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: u64) -> Option<&Arc<Megaflow>> {
        if !self.enabled() {
            return None;
        }
        for i in self.slots_of(hash) {
            if let Some(Some(e)) = self.slots.get(i) {
                if e.holds(key, hash) && !e.flow.is_dead() {
                    return Some(&e.flow);
                }
            }
        }
        None
    }

    /// Inserts `key` → `flow` with probability 1/[`INSERT_INV_PROB`].
    #[inline]
    pub fn maybe_insert(&mut self, key: &FlowKey, hash: u64, flow: &Arc<Megaflow>) {
        if !self.enabled() {
            return;
        }
        // xorshift32: cheap, and the quality needed here is low.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        if x.is_multiple_of(INSERT_INV_PROB) {
            self.insert(key, hash, flow);
        }
    }

    /// Inserts `key` → `flow`: into a free, dead or same-key slot of the two, else over the
    /// second one.
    pub fn insert(&mut self, key: &FlowKey, hash: u64, flow: &Arc<Megaflow>) {
        let [a, b] = self.slots_of(hash);
        let pick = [a, b]
            .into_iter()
            .find(|&i| match self.slots.get(i) {
                Some(Some(e)) => e.holds(key, hash) || e.flow.is_dead(),
                Some(None) => true,
                None => false,
            })
            .unwrap_or(b);
        if let Some(slot) = self.slots.get_mut(pick) {
            *slot = Some(Entry {
                hash,
                key: *key,
                flow: flow.clone(),
            });
        }
    }

    /// Empties the cache.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }

    /// Computes the hash used by [`Emc::lookup`] and [`Emc::insert`].
    #[inline]
    pub fn hash(key: &FlowKey) -> u64 {
        hash_full(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Decision;
    use flowtable::FlowMask;

    fn flow(id: u64) -> Arc<Megaflow> {
        let d = Decision {
            version: 1,
            actions: Vec::new(),
            drop: None,
            rules: Vec::new(),
        };
        Arc::new(Megaflow::new(id, FlowKey::zero(), FlowMask::none(), d, 1))
    }

    #[test]
    fn insert_lookup_and_dead_entries() {
        let mut emc = Emc::new(1000);
        assert_eq!(emc.slots.len(), 512);
        let mut k = FlowKey::zero();
        k.in_port = 3;
        let h = Emc::hash(&k);
        let f = flow(1);
        assert!(emc.lookup(&k, h).is_none());
        emc.insert(&k, h, &f);
        assert_eq!(emc.lookup(&k, h).map(|f| f.id), Some(1));
        let mut other = k;
        other.in_port = 4;
        assert!(emc.lookup(&other, Emc::hash(&other)).is_none());
        f.kill();
        assert!(emc.lookup(&k, h).is_none());
        emc.clear();
        assert!(Emc::new(0).lookup(&k, h).is_none());
    }

    #[test]
    fn insertion_is_probabilistic() {
        let mut emc = Emc::new(1 << 16);
        let f = flow(1);
        let mut inserted = 0;
        for i in 0..10_000u32 {
            let mut k = FlowKey::zero();
            k.nw_src = i;
            let h = Emc::hash(&k);
            emc.maybe_insert(&k, h, &f);
            if emc.lookup(&k, h).is_some() {
                inserted += 1;
            }
        }
        assert!((50..200).contains(&inserted), "{inserted} of 10000");
    }
}
