//! Prefix tracking: a path-compressed binary trie of the address prefixes that rules match on.
//!
//! One trie exists per tracked field (`nw_src`, `nw_dst`, `ipv6_src`, `ipv6_dst`). It holds the
//! prefix of every rule whose subtable masks that field with a CIDR prefix. A lookup walks the
//! trie with a packet's address and reports two things:
//!
//! - `plens`: the set of prefix lengths `p` for which some rule's `/p` prefix equals the first `p`
//!   bits of the address;
//! - `maskbits`: how many leading bits of the address the walk had to read before it could stop.
//!
//! A subtable that masks the field with a `/p` prefix and whose `p` is not in `plens` cannot hold
//! a matching rule. That conclusion depends only on the first `min(p, maskbits)` bits of the
//! address (the walk is identical for every address that shares its first `maskbits` bits, and
//! whether a `/p` prefix lies on the path depends only on the first `p` bits), so the megaflow
//! needs only those bits: this is what keeps a `/24` rule next to a `/32` rule from forcing an
//! exact-match megaflow on every packet of the `/24`.
//!
//! Values are `u128`s aligned to the left (bit 127 is the first bit of the field), so IPv4 and
//! IPv6 share the code. Nodes (and the table of sub-tries by first byte) are reference counted and
//! copied on write, so cloning a trie is O(1) and a change after a clone copies only the
//! 256-entry table and the path it touches.

use crate::field::Field;
use crate::key::{FlowKey, FlowMask, Stage};
use std::sync::Arc;

/// A set of prefix lengths 1..=128: bit `p - 1` stands for length `p`.
pub(crate) type PlenSet = u128;

/// The set holding only the prefix length `plen` (1..=128).
#[cfg(test)]
fn plen_bit(plen: u8) -> PlenSet {
    1u128 << (plen.saturating_sub(1) & 127)
}

/// The `n` leftmost bits set (`n` up to 128).
pub(crate) fn leading_bits(n: u32) -> u128 {
    match n {
        0 => 0,
        n if n >= 128 => u128::MAX,
        n => !(u128::MAX >> n),
    }
}

/// `v` shifted left by `n` bits, zero when `n` is 128 or more.
fn shl(v: u128, n: u32) -> u128 {
    v.checked_shl(n).unwrap_or(0)
}

/// Bit `i` of `v`, counting from the left (0 = most significant), as a child index.
fn bit_at(v: u128, i: u32) -> usize {
    usize::from(shl(v, i) >> 127 == 1)
}

/// Length of the common prefix of `a` and `b` (both left-aligned), capped at `limit`.
fn common_prefix(a: u128, b: u128, limit: u32) -> u32 {
    (a ^ b).leading_zeros().min(limit)
}

#[derive(Clone, Debug)]
struct Node {
    /// This node's segment of the path, left-aligned; bits past `len` are zero.
    bits: u128,
    /// Number of bits in the segment. Only the root may have an empty segment.
    len: u32,
    /// Rules whose prefix ends exactly at the end of this segment.
    n_rules: u32,
    /// Subtries continuing with a 0 bit and with a 1 bit.
    children: [Option<Arc<Node>>; 2],
}

impl Node {
    fn leaf(bits: u128, len: u32) -> Node {
        Node {
            bits: bits & leading_bits(len),
            len,
            n_rules: 1,
            children: [None, None],
        }
    }
}

/// What a trie lookup learned about one address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TrieMatch {
    /// Prefix lengths that some rule's prefix matches the address with.
    pub plens: PlenSet,
    /// Leading bits of the address the lookup depended on.
    pub maskbits: u32,
}

/// A multiset of prefixes of one field.
///
/// Prefixes of 8 bits or more live in one of 256 sub-tries chosen by their first byte, the
/// shorter ones in a head trie: a walk then starts 8 levels down, which halves the depth (and
/// the cache misses) of a walk through a large, dense trie of host routes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Trie {
    /// Prefixes shorter than 8 bits.
    head: Patricia,
    /// Prefixes of 8 bits or more, by first byte (empty until the first such prefix).
    by_first_byte: Option<Arc<[Patricia; 256]>>,
    /// Which sub-tries are non-empty, bit `b` of word `b / 64`.
    present: [u64; 4],
}

/// The first byte of a left-aligned value.
fn first_byte(value: u128) -> usize {
    usize::from(value.to_be_bytes()[0])
}

impl Trie {
    /// Adds one rule with prefix `value/plen` (`plen` 1..=128; bits past `plen` are ignored).
    pub fn insert(&mut self, value: u128, plen: u32) {
        if plen < 8 {
            self.head.insert(value, plen);
            return;
        }
        let b = first_byte(value);
        let subs = self
            .by_first_byte
            .get_or_insert_with(|| Arc::new(std::array::from_fn(|_| Patricia::default())));
        if let Some(sub) = Arc::make_mut(subs).get_mut(b) {
            sub.insert(value, plen);
        }
        if let Some(w) = self.present.get_mut(b / 64) {
            *w |= 1 << (b % 64);
        }
    }

    /// Removes one rule with prefix `value/plen`. Does nothing if there is none.
    pub fn remove(&mut self, value: u128, plen: u32) {
        if plen < 8 {
            self.head.remove(value, plen);
            return;
        }
        let b = first_byte(value);
        let Some(subs) = self.by_first_byte.as_mut() else {
            return;
        };
        if subs.get(b).is_none_or(Patricia::is_empty) {
            return;
        }
        if let Some(sub) = Arc::make_mut(subs).get_mut(b) {
            sub.remove(value, plen);
            if sub.is_empty() {
                if let Some(w) = self.present.get_mut(b / 64) {
                    *w &= !(1 << (b % 64));
                }
            }
        }
    }

    /// Walks the trie with the address `value`: the same answer as one trie holding every
    /// prefix, since the walk of a union of tries goes as deep as the deepest of them.
    pub fn lookup(&self, value: u128) -> TrieMatch {
        let head = self.head.lookup(value);
        let b = first_byte(value);
        let sub = match self.by_first_byte.as_ref().and_then(|s| s.get(b)) {
            Some(sub) if !sub.is_empty() => sub.lookup(value),
            // No prefix of 8 bits or more starts with `b`: those that start with another byte
            // are told apart from `value` within the first byte.
            _ => TrieMatch {
                plens: 0,
                maskbits: self.first_byte_maskbits(b),
            },
        };
        TrieMatch {
            plens: head.plens | sub.plens,
            maskbits: head.maskbits.max(sub.maskbits),
        }
    }

    /// With no sub-trie for byte `b`: the bits of `b` needed to tell it from every first byte
    /// that has one (1 + the longest common prefix with any of them), 0 when there is none.
    fn first_byte_maskbits(&self, b: usize) -> u32 {
        // The bytes sharing exactly `j` leading bits with `b` form an aligned block of
        // 2^(7 - j) values: `b`'s first `j` bits, then the opposite of `b`'s bit `j`.
        for j in (0..8u32).rev() {
            let size = 1usize << (7 - j);
            let lo = (b & !(2 * size - 1)) | (!b & size);
            if self.any_present(lo, size) {
                return j + 1;
            }
        }
        0
    }

    /// Whether a sub-trie exists for some byte in the aligned block `lo..lo + size`.
    fn any_present(&self, lo: usize, size: usize) -> bool {
        if size >= 64 {
            let words = self.present.get(lo / 64..(lo + size) / 64);
            return words.is_some_and(|w| w.iter().any(|&w| w != 0));
        }
        let bits = ((1u64 << size) - 1) << (lo % 64);
        self.present.get(lo / 64).is_some_and(|w| w & bits != 0)
    }

    /// Whether the trie holds no prefix.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.present == [0; 4]
    }
}

/// A path-compressed binary trie: a multiset of prefixes.
#[derive(Clone, Debug, Default)]
struct Patricia {
    root: Option<Arc<Node>>,
}

impl Patricia {
    /// Adds one rule with prefix `value/plen` (`plen` 1..=128; bits past `plen` are ignored).
    fn insert(&mut self, value: u128, plen: u32) {
        let value = value & leading_bits(plen);
        let mut slot = &mut self.root;
        let mut depth = 0;
        loop {
            let Some(arc) = slot else {
                *slot = Some(Arc::new(Node::leaf(shl(value, depth), plen - depth)));
                return;
            };
            let node = Arc::make_mut(arc);
            let rest = shl(value, depth);
            let common = common_prefix(node.bits, rest, node.len.min(plen - depth));
            if common < node.len {
                // The new prefix leaves this segment part way: split it.
                let tail = Node {
                    bits: shl(node.bits, common),
                    len: node.len - common,
                    n_rules: node.n_rules,
                    children: std::mem::take(&mut node.children),
                };
                let side = bit_at(node.bits, common);
                node.bits &= leading_bits(common);
                node.len = common;
                node.n_rules = 0;
                if let Some(child) = node.children.get_mut(side) {
                    *child = Some(Arc::new(tail));
                }
            }
            depth += common;
            if depth == plen {
                node.n_rules += 1;
                return;
            }
            let side = bit_at(value, depth);
            match node.children.get_mut(side) {
                Some(child) => slot = child,
                None => return,
            }
        }
    }

    /// Removes one rule with prefix `value/plen`. Does nothing if there is none.
    fn remove(&mut self, value: u128, plen: u32) {
        let value = value & leading_bits(plen);
        remove_at(&mut self.root, value, plen, 0);
    }

    /// Walks the trie with the address `value`.
    fn lookup(&self, value: u128) -> TrieMatch {
        let mut out = TrieMatch::default();
        let mut node = match &self.root {
            Some(n) => n,
            None => return out,
        };
        let mut depth = 0;
        loop {
            let rest = shl(value, depth);
            let common = common_prefix(node.bits, rest, node.len);
            if common < node.len {
                // Bit `depth + common` differs from every prefix below: reading it was needed.
                out.maskbits = depth + common + 1;
                return out;
            }
            depth += node.len;
            if node.n_rules > 0 && depth > 0 {
                out.plens |= 1u128 << ((depth - 1) & 127);
            }
            if node.children.iter().all(Option::is_none) {
                // Nothing continues: the next bit would not change the answer.
                out.maskbits = depth;
                return out;
            }
            match node.children.get(bit_at(value, depth)) {
                Some(Some(child)) if depth < 128 => node = child,
                _ => {
                    out.maskbits = (depth + 1).min(128);
                    return out;
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.root.is_none()
    }
}

/// Removes `value/plen` below `slot` (whose segment starts at `depth`), pruning nodes that no
/// longer hold a rule and merging a node with its only child.
fn remove_at(slot: &mut Option<Arc<Node>>, value: u128, plen: u32, depth: u32) {
    let Some(arc) = slot else { return };
    let rest = shl(value, depth);
    // Check this node's segment before copying it: an absent prefix usually leaves the path here.
    if arc.len > plen - depth || common_prefix(arc.bits, rest, arc.len) < arc.len {
        return;
    }
    let end = depth + arc.len;
    if end == plen {
        if arc.n_rules == 0 {
            return;
        }
        Arc::make_mut(arc).n_rules -= 1;
    } else {
        let side = bit_at(value, end);
        let node = Arc::make_mut(arc);
        if let Some(child) = node.children.get_mut(side) {
            remove_at(child, value, plen, end);
        }
    }
    compact(slot);
}

/// Removes an empty node, or merges a rule-less node with its only child.
fn compact(slot: &mut Option<Arc<Node>>) {
    let Some(arc) = slot else { return };
    if arc.n_rules > 0 {
        return;
    }
    match (&arc.children[0], &arc.children[1]) {
        (None, None) => *slot = None,
        (Some(only), None) | (None, Some(only)) => {
            let only = Arc::clone(only);
            let merged = Node {
                bits: arc.bits | (only.bits >> arc.len),
                len: arc.len + only.len,
                n_rules: only.n_rules,
                children: only.children.clone(),
            };
            *slot = Some(Arc::new(merged));
        }
        (Some(_), Some(_)) => {}
    }
}

/// A field with prefix tracking, and how to read it left-aligned.
#[derive(Debug)]
pub(crate) struct TrieField {
    /// The field.
    pub field: Field,
    /// The lookup stage the field's words belong to: the trie can explain a subtable's miss at
    /// that stage.
    pub stage: Stage,
    /// Reads the field from a key (or a mask), left-aligned.
    pub get: fn(&FlowKey) -> u128,
}

/// The fields with prefix tracking, in the order of [`Classifier`](super::Classifier)'s tries.
pub(crate) const TRIE_FIELDS: [TrieField; N_TRIES] = [
    TrieField {
        field: Field::NwSrc,
        stage: Stage::L3,
        get: |k| u128::from(k.nw_src) << 96,
    },
    TrieField {
        field: Field::NwDst,
        stage: Stage::L3,
        get: |k| u128::from(k.nw_dst) << 96,
    },
    TrieField {
        field: Field::Ipv6Src,
        stage: Stage::L3,
        get: |k| u128::from_be_bytes(k.ipv6_src),
    },
    TrieField {
        field: Field::Ipv6Dst,
        stage: Stage::L3,
        get: |k| u128::from_be_bytes(k.ipv6_dst),
    },
];

/// Number of fields with prefix tracking.
pub(crate) const N_TRIES: usize = 4;

impl TrieField {
    /// The prefix length of `mask` on this field: `Some(0)` when the field is wildcarded,
    /// `None` when the mask is not a CIDR prefix (such subtables do not use the trie).
    pub fn plen(&self, mask: &FlowMask) -> Option<u8> {
        let m = (self.get)(&mask.0);
        let n = m.leading_ones();
        (m == leading_bits(n))
            .then(|| u8::try_from(n).ok())
            .flatten()
    }

    /// Whether the `n` leading bits of this field are all set in `mask`.
    pub fn is_covered(&self, mask: &FlowMask, n: u32) -> bool {
        let want = leading_bits(n.min(self.field.bits()));
        (self.get)(&mask.0) & want == want
    }

    /// The `plen` leading bits of this field in `key`, hashed with `plen`: the key of the
    /// classifier's prefix sets.
    pub fn prefix_hash(&self, key: &FlowKey, plen: u32) -> u64 {
        super::subtable::SEEDS.hash_one(((self.get)(key) & leading_bits(plen), plen))
    }

    /// Marks the `n` leading bits of this field as examined.
    pub fn unwildcard(&self, mask: &mut FlowMask, n: u32) {
        let width = self.field.bits();
        let bits = leading_bits(n.min(width)) >> (128 - width);
        self.field.unwildcard(mask, bits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u32) -> u128 {
        u128::from(a) << 96
    }

    #[test]
    fn slash24_beside_slash32_needs_24_bits() {
        let mut t = Trie::default();
        t.insert(v4(0x0a00_0000), 24);
        t.insert(v4(0x0a00_0107), 32);
        let m = t.lookup(v4(0x0a00_0005));
        assert_eq!(m.plens, plen_bit(24));
        assert_eq!(m.maskbits, 24);
        let m = t.lookup(v4(0x0a00_0107));
        assert_eq!(m.plens, plen_bit(32));
        assert_eq!(m.maskbits, 32);
        // 10.0.1.8 leaves the /32's path at its last bits.
        let m = t.lookup(v4(0x0a00_0108));
        assert_eq!(m.plens, 0);
        assert_eq!(m.maskbits, 29);
    }

    #[test]
    fn nested_prefixes_all_reported() {
        let mut t = Trie::default();
        t.insert(v4(0x0a00_0000), 8);
        t.insert(v4(0x0a01_0000), 16);
        t.insert(v4(0x0a01_0200), 24);
        let m = t.lookup(v4(0x0a01_0203));
        assert_eq!(m.plens, plen_bit(8) | plen_bit(16) | plen_bit(24));
        assert_eq!(m.maskbits, 24);
        let m = t.lookup(v4(0x0a02_0000));
        assert_eq!(m.plens, plen_bit(8));
        // 10.2 differs from 10.1 at bit 14 (0-based): 15 bits were read.
        assert_eq!(m.maskbits, 15);
    }

    #[test]
    fn remove_prunes_and_merges() {
        let mut t = Trie::default();
        t.insert(v4(0x0a00_0000), 24);
        t.insert(v4(0x0a00_0000), 24);
        t.insert(v4(0x0a00_0107), 32);
        t.remove(v4(0x0a00_0000), 24);
        assert_eq!(t.lookup(v4(0x0a00_0005)).plens, plen_bit(24));
        t.remove(v4(0x0a00_0000), 24);
        let m = t.lookup(v4(0x0a00_0005));
        assert_eq!(m.plens, 0);
        // Only the /32 is left, as one merged segment: the first differing bit decides.
        assert_eq!(m.maskbits, 24);
        // Removing something absent changes nothing.
        t.remove(v4(0x0b00_0000), 8);
        t.remove(v4(0x0a00_0107), 31);
        assert_eq!(t.lookup(v4(0x0a00_0107)).plens, plen_bit(32));
        t.remove(v4(0x0a00_0107), 32);
        assert!(t.is_empty());
    }

    #[test]
    fn clones_are_independent() {
        let mut a = Trie::default();
        a.insert(v4(0xc0a8_0000), 16);
        let b = a.clone();
        a.insert(v4(0xc0a8_0100), 24);
        a.remove(v4(0xc0a8_0000), 16);
        assert_eq!(b.lookup(v4(0xc0a8_0101)).plens, plen_bit(16));
        assert_eq!(a.lookup(v4(0xc0a8_0101)).plens, plen_bit(24));
    }

    /// The walk's answer from its definition: `plens` holds the lengths of the stored prefixes of
    /// `addr`; with `l` the longest common prefix of `addr` and any stored prefix, `maskbits` is
    /// `l + 1` if some stored prefix goes on past `l` (so bit `l` had to be read), else `l`.
    fn brute_force(stored: &[(u128, u32)], addr: u128) -> TrieMatch {
        let lcp = |&(v, len): &(u128, u32)| (v ^ addr).leading_zeros().min(len);
        let l = stored.iter().map(lcp).max().unwrap_or(0);
        let plens = stored
            .iter()
            .filter(|q| lcp(q) == q.1)
            .fold(0, |acc, q| acc | 1u128 << (q.1 - 1));
        let goes_on = stored.iter().any(|q| q.1 > l && lcp(q) >= l);
        TrieMatch {
            plens,
            maskbits: if goes_on { l + 1 } else { l },
        }
    }

    proptest::proptest! {
        #[test]
        fn walk_matches_its_definition(
            ops in proptest::collection::vec(
                (0usize..4, proptest::prelude::any::<u128>(), 0u32..40, 1u32..=34, proptest::prelude::any::<bool>()),
                0..60,
            ),
            addrs in proptest::collection::vec((0usize..4, proptest::prelude::any::<u128>(), 0u32..40), 1..20),
        ) {
            // A few bases with random low bits, so prefixes nest and share first bytes; lengths
            // mostly IPv4-sized, some IPv6-sized.
            const BASES: [u128; 4] = [0x0a00_0000 << 96, 0x0a01_0000 << 96, 0xc0a8_0000 << 96, 0];
            let near = |base: usize, noise: u128, bits: u32| BASES[base] ^ (noise >> (128 - bits.max(1)));
            let mut trie = Trie::default();
            let mut stored: Vec<(u128, u32)> = Vec::new();
            for &(base, noise, bits, len, add) in &ops {
                let len = if len > 32 { 64 + len } else { len };
                let v = near(base, noise, 128 - bits) & leading_bits(len);
                if add {
                    trie.insert(v, len);
                    stored.push((v, len));
                } else if let Some(i) = stored.iter().position(|&q| q == (v, len)) {
                    trie.remove(v, len);
                    stored.swap_remove(i);
                } else {
                    trie.remove(v, len);
                }
            }
            for &(base, noise, bits) in &addrs {
                let addr = near(base, noise, 128 - bits);
                proptest::prop_assert_eq!(trie.lookup(addr), brute_force(&stored, addr), "addr {:#x}", addr);
            }
            for &(v, len) in &stored {
                let m = trie.lookup(v);
                proptest::prop_assert!(m.plens & plen_bit(u8::try_from(len).unwrap_or(0)) != 0);
            }
            proptest::prop_assert_eq!(trie.is_empty(), stored.is_empty());
        }
    }

    #[test]
    fn trie_fields_lie_in_their_stage() {
        for t in &TRIE_FIELDS {
            let mut m = FlowMask::none();
            t.field.set_all_bits(&mut m);
            assert_eq!((t.get)(&m.0), leading_bits(t.field.bits()), "{}", t.field);
            for stage in Stage::ALL {
                assert_eq!(
                    m.touches(stage),
                    stage == t.stage,
                    "{} in {stage:?}",
                    t.field
                );
            }
            assert_eq!(t.plen(&m), u8::try_from(t.field.bits()).ok());
            let mut half = FlowMask::none();
            t.unwildcard(&mut half, 16);
            assert_eq!(t.plen(&half), Some(16));
            assert_eq!(t.plen(&FlowMask::none()), Some(0));
            let mut holey = FlowMask::none();
            t.field.unwildcard(&mut holey, 0xff00_00ff);
            assert_eq!(t.plen(&holey), None);
        }
    }

    #[test]
    fn full_width_ipv6_prefixes() {
        let mut t = Trie::default();
        let a: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
        t.insert(a, 128);
        t.insert(a, 64);
        let m = t.lookup(a);
        assert_eq!(m.plens, plen_bit(128) | plen_bit(64));
        assert_eq!(m.maskbits, 128);
        let m = t.lookup(a ^ 1);
        assert_eq!(m.plens, plen_bit(64));
        assert_eq!(m.maskbits, 128);
    }
}
