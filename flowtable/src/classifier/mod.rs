//! The classifier: finds the highest-priority rule matching a key, and says which bits of the
//! key that answer depended on (the megaflow mask).
//!
//! # What it does
//!
//! A [`Classifier`] holds [`Rule`]s: a [`Match`] (a key and a mask), a priority and a payload.
//! [`Classifier::lookup`] returns the rule with the highest priority whose match covers a
//! [`FlowKey`], and ORs into a [`FlowMask`] the bits of the key it examined. The datapath caches
//! the decision for every packet that agrees with this key on those bits, so the correctness rule
//! for the mask is the one Open vSwitch states: a 1-bit too many is harmless (the cached entry is
//! narrower than it could be), a 1-bit missing is a bug (the cached entry would apply to a packet
//! that this classifier would send elsewhere). The aim is to set as few bits as the decision
//! allows, so that one megaflow covers as much traffic as possible.
//!
//! # Tuple space search
//!
//! Rules are grouped by mask into subtables (one per distinct mask). A subtable is a hash table
//! keyed by the masked key, so a lookup costs one hash probe per subtable, whatever the number of
//! rules: cost follows the number of masks, not the number of rules. Subtables are visited in
//! order of the highest priority they hold, and the visit stops when the best rule found so far
//! beats everything the remaining subtables can offer; the subtables it did not visit add nothing
//! to the mask.
//!
//! # Staged lookup
//!
//! Within a subtable the masked key is hashed stage by stage ([`Stage`]: metadata, L2, L3, L4),
//! and after every stage but the last a counting index of partial hashes says whether any rule
//! agrees with the key so far. The first stage without a candidate ends the visit, and only the
//! stages hashed so far enter the mask: a packet of another ethertype is rejected by a subtable of
//! TCP rules on L2 alone, without un-wildcarding its ports.
//!
//! # Prefix tracking
//!
//! For `nw_src`, `nw_dst`, `ipv6_src` and `ipv6_dst`, the classifier tracks the prefixes of all
//! rules whose subtable masks the field with a CIDR prefix, in a trie (`trie.rs`) and in a
//! counting set of (prefix, length) hashes. When a subtable misses at the stage that holds such a
//! field, the bits recording the miss are chosen at the end of the lookup, when the mask already
//! holds what the answer needed:
//!
//! 1. if the bits of the stages hashed are in the mask already, nothing is added;
//! 2. if the prefix set shows that no rule at all has the key's `/p` prefix (`p` being the
//!    subtable's prefix length), the subtable could not match whatever its other fields: if the
//!    `p` leading bits are in the mask already nothing is added, otherwise a trie walk (at most one
//!    per field and lookup) tells how many leading bits prove it, and only those are added;
//! 3. otherwise the bits of the stages hashed are added.
//!
//! With a rule for `10.0.0.0/24` and one for `10.0.1.7/32`, a packet to `10.0.0.5` gets a `/24`
//! mask on `nw_dst`, not an exact one.
//!
//! # Ties
//!
//! OpenFlow leaves undefined which of two overlapping rules of equal priority a packet hits. This
//! classifier decides deterministically: the rule inserted first (the lowest [`Rule::seq`]) wins.
//! Replacing a rule (inserting the same match and priority again) gives it a new sequence number.
//! The decision does not depend on how rules are spread over subtables, so the reference
//! [`linear::Linear`] classifier makes exactly the same choices.
//!
//! # Copies and thread safety
//!
//! A classifier is a value with no interior mutability: lookups take `&self` and may run on any
//! number of threads at once, changes take `&mut self`. The flow table layer publishes immutable
//! snapshots and changes a clone, so cloning must be cheap: subtables, their hash tables (split
//! into shards), the rules and the trie nodes are all reference-counted and copied on write, so
//! a clone shares everything with its original until one of them changes.
//!
//! # Complexity
//!
//! - `lookup`: O(subtables visited × words of their masks), plus one prefix-set probe per miss
//!   at a prefix-tracked stage and at most one trie walk (O(address bits)) per tracked field;
//!   independent of the number of rules, apart from cache misses.
//! - `insert`, `remove`, `find_exact`: O(words of the mask + address bits + log(priorities of
//!   the subtable) + subtables), the last term for keeping the visiting order.
//! - `iter_loose`, `has_overlap`: a scan of the subtables whose mask can hold such rules (one
//!   hash probe instead of a scan where the mask allows it).
//! - `clone`: O(subtables); the first change to a subtable after a clone copies its bookkeeping,
//!   one shard (1/64) of each of its hash tables, and the trie paths it touches.

pub mod linear;
mod subtable;
mod trie;

use crate::key::{FlowKey, FlowMask};
use crate::matching::Match;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;
use subtable::{Sharded, Subtable, Visit};
use trie::{Trie, TrieMatch, N_TRIES, TRIE_FIELDS};

#[cfg(doc)]
use crate::key::Stage;

/// A rule of a classifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule<T> {
    /// The packets the rule applies to.
    pub match_: Match,
    /// Higher wins.
    pub priority: u16,
    /// What the rule means to its owner (the flow table stores its flow entry here).
    pub value: T,
    /// Insertion order, set by the classifier: among equal priorities, the lowest wins.
    pub seq: u64,
}

/// A rule reads as its value too, so that an owner's fields (a flow table's cookie, actions,
/// ...) and the rule's own (match, priority) are reached the same way: `rule.cookie` next to
/// `rule.priority`.
impl<T> std::ops::Deref for Rule<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> Rule<T> {
    /// Whether this rule beats `other` for a key both match: higher priority, then older.
    pub fn beats(&self, other: &Rule<T>) -> bool {
        (Reverse(self.priority), self.seq) < (Reverse(other.priority), other.seq)
    }
}

/// Tuple space search over [`Match`] rules, returning the megaflow mask of every lookup.
///
/// See the [module documentation](self) for the algorithm and its guarantees.
pub struct Classifier<T> {
    /// Subtables in visiting order: highest priority first, then by the (lower bound of the)
    /// oldest rule at that priority, then by creation.
    subtables: Vec<Arc<Subtable<T>>>,
    /// The subtable id of each mask.
    by_mask: HashMap<FlowMask, u64, ahash::RandomState>,
    /// One trie per field of [`TRIE_FIELDS`].
    tries: [Trie; N_TRIES],
    /// The same prefixes as `tries`, as counts by [`trie::TrieField::prefix_hash`]: whether a
    /// prefix length is absent costs one probe, and the trie is walked only when the bits it
    /// would save are not in the megaflow already.
    prefixes: [Sharded<u32>; N_TRIES],
    n_rules: usize,
    next_seq: u64,
    next_subtable_id: u64,
}

impl<T> Clone for Classifier<T> {
    fn clone(&self) -> Self {
        Classifier {
            subtables: self.subtables.clone(),
            by_mask: self.by_mask.clone(),
            tries: self.tries.clone(),
            prefixes: self.prefixes.clone(),
            n_rules: self.n_rules,
            next_seq: self.next_seq,
            next_subtable_id: self.next_subtable_id,
        }
    }
}

impl<T> std::fmt::Debug for Classifier<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("rules", &self.n_rules)
            .field("subtables", &self.subtables.len())
            .finish()
    }
}

impl<T> Default for Classifier<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Prefix tracking during one lookup: prefix-set probes, and trie walks done at most once per
/// field and only when a subtable's miss needs them.
pub(crate) struct TrieCtx<'a> {
    tries: &'a [Trie; N_TRIES],
    prefixes: &'a [Sharded<u32>; N_TRIES],
    done: [Option<TrieMatch>; N_TRIES],
    /// Per field, the prefix lengths (bit `p - 1`) already probed, and those found present.
    probed: [(u128, u128); N_TRIES],
}

impl TrieCtx<'_> {
    /// Whether some rule's prefix of length `plen` on trie field `t` equals `key`'s (one hash
    /// probe; a hash collision can only make it claim a prefix that is not there).
    pub fn has_prefix(&mut self, t: usize, key: &FlowKey, plen: u8) -> bool {
        let bit = 1u128 << (plen.saturating_sub(1) & 127);
        let Some((probed, present)) = self.probed.get_mut(t) else {
            return true;
        };
        if *probed & bit != 0 {
            return *present & bit != 0;
        }
        let found = match (self.prefixes.get(t), TRIE_FIELDS.get(t)) {
            (Some(set), Some(field)) => set.contains(field.prefix_hash(key, u32::from(plen))),
            _ => true,
        };
        *probed |= bit;
        if found {
            *present |= bit;
        }
        found
    }

    /// Whether trie `t` has been walked already in this lookup.
    pub fn is_walked(&self, t: usize) -> bool {
        matches!(self.done.get(t), Some(Some(_)))
    }

    /// The walk of trie `t` for `key`.
    pub fn get(&mut self, t: usize, key: &FlowKey) -> TrieMatch {
        if let Some(Some(m)) = self.done.get(t) {
            return *m;
        }
        let m = match (self.tries.get(t), TRIE_FIELDS.get(t)) {
            (Some(trie), Some(field)) => trie.lookup((field.get)(key)),
            // Unreachable: subtables only name tries that exist. Asking for every bit keeps the
            // caller's mask sound anyway.
            _ => TrieMatch {
                plens: 0,
                maskbits: 128,
            },
        };
        if let Some(slot) = self.done.get_mut(t) {
            *slot = Some(m);
        }
        m
    }
}

/// Subtable misses waiting for [`Subtable::resolve_miss`]: (subtable position, stage).
struct Pending {
    items: [(usize, usize); Pending::CAPACITY],
    len: usize,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            items: [(0, 0); Pending::CAPACITY],
            len: 0,
        }
    }
}

impl Pending {
    /// Beyond this many, misses are resolved at once (correct, possibly with more bits).
    const CAPACITY: usize = 64;

    /// Adds a miss; false when full.
    fn push(&mut self, subtable: usize, stage: usize) -> bool {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = (subtable, stage);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn items(&self) -> &[(usize, usize)] {
        self.items.get(..self.len).unwrap_or_default()
    }
}

/// `m` with no key bit outside its mask. [`Match`]'s constructors keep that invariant, but its
/// fields are public; the classifier compares and hashes keys as they are, so it makes sure.
fn normalized(m: &Match) -> Match {
    Match::new(m.key, m.mask)
}

/// The order subtables are visited in.
fn visit_order<T>(s: &Subtable<T>) -> (Reverse<u16>, u64, u64) {
    (Reverse(s.max_priority()), s.min_seq_bound(), s.id)
}

impl<T> Classifier<T> {
    /// An empty classifier.
    pub fn new() -> Self {
        Classifier {
            subtables: Vec::new(),
            by_mask: HashMap::default(),
            tries: Default::default(),
            prefixes: std::array::from_fn(|_| Sharded::new()),
            n_rules: 0,
            next_seq: 0,
            next_subtable_id: 0,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.n_rules
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    /// Number of subtables (distinct masks).
    pub fn n_subtables(&self) -> usize {
        self.subtables.len()
    }

    fn subtable_pos(&self, mask: &FlowMask) -> Option<usize> {
        let id = *self.by_mask.get(mask)?;
        self.subtables.iter().position(|s| s.id == id)
    }

    fn subtable(&self, mask: &FlowMask) -> Option<&Subtable<T>> {
        self.subtable_pos(mask)
            .and_then(|p| self.subtables.get(p))
            .map(|s| &**s)
    }

    /// The rule with exactly this match and priority (ovs-ofctl's `--strict`).
    pub fn find_exact(&self, match_: &Match, priority: u16) -> Option<&Arc<Rule<T>>> {
        let match_ = &normalized(match_);
        self.subtable(&match_.mask)?.find(match_, priority)
    }

    /// The highest-priority rule matching `key` (the oldest among equals), ORing into `wc` every
    /// bit of `key` the answer depended on.
    ///
    /// Bits already set in `wc` count as examined: where they suffice to explain a miss, the
    /// lookup relies on them instead of adding others. So `wc` must go into the megaflow as a
    /// whole, as it does when one mask accumulates over a pipeline's tables; pass a fresh mask to
    /// learn what this lookup alone needs.
    pub fn lookup(&self, key: &FlowKey, wc: &mut FlowMask) -> Option<&Arc<Rule<T>>> {
        let mut tries = TrieCtx {
            tries: &self.tries,
            prefixes: &self.prefixes,
            done: [None; N_TRIES],
            probed: [(0, 0); N_TRIES],
        };
        let mut best: Option<&Arc<Rule<T>>> = None;
        // Misses whose bits are chosen at the end, when `wc` holds what the answer needs anyway:
        // often the bits a miss would add are in it already, and no trie walk is needed.
        let mut pending = Pending::default();
        for (i, st) in self.subtables.iter().enumerate() {
            if let Some(b) = best {
                // Subtables come by descending maximum priority, and among equal maxima by
                // ascending oldest rule: once one cannot beat `b`, none of the rest can. Skipping
                // them depends on no bit of the key.
                let max = st.max_priority();
                if max < b.priority || (max == b.priority && st.min_seq_bound() > b.seq) {
                    break;
                }
            }
            match st.lookup(key, wc) {
                Visit::Match(r) => {
                    if best.is_none_or(|b| r.beats(b)) {
                        best = Some(r);
                    }
                }
                Visit::Miss => {}
                Visit::MissAt(stage) => {
                    if !pending.push(i, stage) {
                        st.resolve_miss(stage, key, wc, &mut tries);
                    }
                }
            }
        }
        for &(i, stage) in pending.items() {
            if let Some(st) = self.subtables.get(i) {
                st.resolve_miss(stage, key, wc, &mut tries);
            }
        }
        best
    }

    /// Every rule, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Rule<T>>> {
        self.subtables.iter().flat_map(|s| s.iter())
    }

    /// Every rule whose match is covered by `match_`: the rules a non-strict `ovs-ofctl
    /// del-flows`/`mod-flows` with that match selects (any priority).
    pub fn iter_loose<'a>(
        &'a self,
        match_: &'a Match,
    ) -> impl Iterator<Item = &'a Arc<Rule<T>>> + 'a {
        self.subtables
            .iter()
            .filter(move |s| match_.mask.is_subset_of(&s.mask))
            .flat_map(
                move |s| -> Box<dyn Iterator<Item = &'a Arc<Rule<T>>> + 'a> {
                    if s.mask == match_.mask {
                        // Same mask: covered means same masked key, one bucket.
                        Box::new(
                            s.candidates(&match_.key)
                                .iter()
                                .filter(move |r| r.match_ == *match_ || match_.covers(&r.match_)),
                        )
                    } else {
                        Box::new(s.iter().filter(move |r| match_.covers(&r.match_)))
                    }
                },
            )
    }

    /// Whether another rule of priority `priority` shares a packet with `match_` (a rule with the
    /// same match counts): OpenFlow's `check_overlap`.
    pub fn has_overlap(&self, match_: &Match, priority: u16) -> bool {
        self.subtables
            .iter()
            .filter(|s| s.has_priority(priority))
            .any(|s| {
                if s.mask.is_subset_of(&match_.mask) {
                    // Every bit a rule here examines is fixed by `match_`: the only rules that
                    // can overlap have `match_`'s key under this mask, one bucket.
                    s.candidates(&match_.key.masked(&s.mask))
                        .iter()
                        .any(|r| r.priority == priority && r.match_.overlaps(match_))
                } else {
                    s.iter()
                        .any(|r| r.priority == priority && r.match_.overlaps(match_))
                }
            })
    }

    /// Moves the subtable at `pos` to its place in the visiting order after its priorities
    /// changed.
    fn reorder(&mut self, pos: usize) {
        let mut pos = pos;
        while pos > 0 && self.out_of_order(pos - 1, pos) {
            self.subtables.swap(pos - 1, pos);
            pos -= 1;
        }
        while pos + 1 < self.subtables.len() && self.out_of_order(pos, pos + 1) {
            self.subtables.swap(pos, pos + 1);
            pos += 1;
        }
    }

    fn out_of_order(&self, a: usize, b: usize) -> bool {
        match (self.subtables.get(a), self.subtables.get(b)) {
            (Some(a), Some(b)) => visit_order(a) > visit_order(b),
            _ => false,
        }
    }
}

impl<T: Clone> Classifier<T> {
    /// Adds a rule. A rule with the same match and priority is replaced, and its value returned.
    ///
    /// `T: Clone` because changes are copy-on-write: a rule shared with a clone of this
    /// classifier is copied before it is handed back.
    pub fn insert(&mut self, match_: Match, priority: u16, value: T) -> Option<T> {
        self.insert_with(match_, priority, |_| value)
            .map(|r| Arc::unwrap_or_clone(r).value)
    }

    /// [`Self::insert`] of the value `make` builds from the rule it replaces, if any, which it
    /// returns as it was (shared with clones of the classifier, never copied): one search for
    /// the rule's place serves both, where a [`Self::find_exact`] followed by an insert would
    /// search twice.
    pub fn insert_with(
        &mut self,
        match_: Match,
        priority: u16,
        make: impl FnOnce(Option<&Rule<T>>) -> T,
    ) -> Option<Arc<Rule<T>>> {
        let match_ = normalized(&match_);
        let seq = self.next_seq;
        self.next_seq += 1;
        let pos = match self.subtable_pos(&match_.mask) {
            Some(pos) => pos,
            None => {
                let id = self.next_subtable_id;
                self.next_subtable_id += 1;
                self.by_mask.insert(match_.mask, id);
                self.subtables
                    .push(Arc::new(Subtable::new(match_.mask, id)));
                self.subtables.len() - 1
            }
        };
        let st = Arc::make_mut(self.subtables.get_mut(pos)?);
        let old = st.insert_with(&match_, priority, |old| {
            Arc::new(Rule {
                match_,
                priority,
                value: make(old),
                seq,
            })
        });
        if old.is_none() {
            self.n_rules += 1;
            let plens = st.trie_plens;
            self.track_prefixes(&plens, &match_.key, true);
        }
        self.reorder(pos);
        old
    }

    /// Adds (or removes) the prefixes of a rule with key `key` in a subtable with prefix lengths
    /// `plens` to (from) the tries and prefix sets.
    fn track_prefixes(&mut self, plens: &[u8; N_TRIES], key: &FlowKey, add: bool) {
        let fields = self
            .tries
            .iter_mut()
            .zip(&mut self.prefixes)
            .zip(&TRIE_FIELDS);
        for (((trie, set), field), &plen) in fields.zip(plens) {
            if plen == 0 {
                continue;
            }
            let plen = u32::from(plen);
            let (value, hash) = ((field.get)(key), field.prefix_hash(key, plen));
            if add {
                trie.insert(value, plen);
                set.add(hash);
            } else {
                trie.remove(value, plen);
                set.sub(hash);
            }
        }
    }

    /// Removes the rule with exactly this match and priority and returns its value.
    pub fn remove(&mut self, match_: &Match, priority: u16) -> Option<T> {
        self.remove_rule(match_, priority)
            .map(|r| Arc::unwrap_or_clone(r).value)
    }

    /// [`Self::remove`], returning the rule as it was (shared with clones of the classifier,
    /// never copied).
    pub fn remove_rule(&mut self, match_: &Match, priority: u16) -> Option<Arc<Rule<T>>> {
        let match_ = &normalized(match_);
        let pos = self.subtable_pos(&match_.mask)?;
        let shared = self.subtables.get_mut(pos)?;
        // Look before copying: removing an absent rule must not unshare anything.
        shared.find(match_, priority)?;
        let st = Arc::make_mut(shared);
        let old = st.remove(match_, priority)?;
        self.n_rules -= 1;
        let plens = st.trie_plens;
        let emptied = st.is_empty();
        self.track_prefixes(&plens, &match_.key, false);
        if emptied {
            self.subtables.remove(pos);
            self.by_mask.remove(&match_.mask);
        } else {
            self.reorder(pos);
        }
        Some(old)
    }

    /// The value of the rule with exactly this match and priority, for changing it in place
    /// (OpenFlow's modify: the rule keeps its place and sequence number). Only the value is
    /// exposed, because changing a rule's match or priority would break the classifier's index.
    pub fn find_exact_mut(&mut self, match_: &Match, priority: u16) -> Option<&mut T> {
        let match_ = &normalized(match_);
        let pos = self.subtable_pos(&match_.mask)?;
        let shared = self.subtables.get_mut(pos)?;
        shared.find(match_, priority)?;
        let rule = Arc::make_mut(shared).find_mut(match_, priority)?;
        Some(&mut Arc::make_mut(rule).value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Field;

    fn ip_dst(addr: u32, len: u32) -> Match {
        let mut m = Match::any();
        m.set(Field::DlType, 0x0800);
        m.set_masked(Field::NwDst, addr.into(), trie::leading_bits(len) >> 96);
        m
    }

    fn tcp_dst(port: u16) -> Match {
        let mut m = Match::any();
        m.set(Field::DlType, 0x0800);
        m.set(Field::NwProto, 6);
        m.set(Field::TpDst, port.into());
        m
    }

    fn ip_packet(dst: u32) -> FlowKey {
        let mut k = FlowKey::zero();
        k.dl_type = 0x0800;
        k.nw_dst = dst;
        k.nw_proto = 6;
        k.tp_dst = 80;
        k.in_port = 3;
        k
    }

    fn lookup<T: Copy>(c: &Classifier<T>, k: &FlowKey) -> (Option<T>, FlowMask) {
        let mut wc = FlowMask::none();
        let r = c.lookup(k, &mut wc).map(|r| r.value);
        (r, wc)
    }

    #[test]
    fn prefix_tracking_keeps_the_shorter_prefix() {
        let mut c = Classifier::new();
        c.insert(ip_dst(0x0a00_0000, 24), 10, "net");
        c.insert(ip_dst(0x0a00_0107, 32), 20, "host");
        let (r, wc) = lookup(&c, &ip_packet(0x0a00_0005));
        assert_eq!(r, Some("net"));
        assert_eq!(wc.0.nw_dst, 0xffff_ff00);
        assert_eq!(wc.0.dl_type, 0xffff);
        assert_eq!(wc.0.tp_dst, 0);
        let (r, wc) = lookup(&c, &ip_packet(0x0a00_0107));
        assert_eq!(r, Some("host"));
        assert_eq!(wc.0.nw_dst, 0xffff_ffff);
    }

    #[test]
    fn staged_lookup_stops_at_the_first_stage_without_candidates() {
        let mut c = Classifier::new();
        c.insert(tcp_dst(80), 10, "web");
        let mut arp = FlowKey::zero();
        arp.dl_type = 0x0806;
        arp.tp_dst = 80;
        let (r, wc) = lookup(&c, &arp);
        assert_eq!(r, None);
        assert_eq!(wc.0.dl_type, 0xffff);
        assert!(!wc.touches(crate::key::Stage::L3));
        assert!(!wc.touches(crate::key::Stage::L4));
        let (r, wc) = lookup(&c, &ip_packet(1));
        assert_eq!(r, Some("web"));
        assert_eq!(wc, tcp_dst(80).mask);
    }

    #[test]
    fn higher_priority_hit_skips_lower_subtables() {
        let mut c = Classifier::new();
        c.insert(tcp_dst(80), 100, "web");
        let mut by_port = Match::any();
        by_port.set(Field::InPort, 3);
        c.insert(by_port, 1, "port3");
        let (r, wc) = lookup(&c, &ip_packet(1));
        assert_eq!(r, Some("web"));
        assert_eq!(wc.0.in_port, 0, "the in_port subtable was never visited");
        let mut k = ip_packet(1);
        k.tp_dst = 22;
        let (r, wc) = lookup(&c, &k);
        assert_eq!(r, Some("port3"));
        assert_eq!(Field::InPort.get_mask(&wc), Field::InPort.full_mask());
        assert_eq!(wc.0.tp_dst, 0xffff);
    }

    #[test]
    fn equal_priorities_go_to_the_oldest_rule() {
        let mut c = Classifier::new();
        c.insert(Match::any(), 5, "any");
        c.insert(tcp_dst(80), 5, "web");
        assert_eq!(lookup(&c, &ip_packet(1)).0, Some("any"));
        // Replacing "any" makes it the newest rule.
        assert_eq!(c.insert(Match::any(), 5, "any again"), Some("any"));
        assert_eq!(lookup(&c, &ip_packet(1)).0, Some("web"));
        assert_eq!(c.len(), 2);
        assert_eq!(c.n_subtables(), 2);
    }

    #[test]
    fn find_remove_and_modify() {
        let mut c = Classifier::new();
        assert!(c.is_empty());
        c.insert(tcp_dst(80), 5, 1);
        c.insert(tcp_dst(80), 6, 2);
        c.insert(tcp_dst(443), 5, 3);
        assert_eq!(c.find_exact(&tcp_dst(80), 6).map(|r| r.value), Some(2));
        assert!(c.find_exact(&tcp_dst(80), 7).is_none());
        if let Some(v) = c.find_exact_mut(&tcp_dst(80), 5) {
            *v = 10;
        }
        assert_eq!(c.remove(&tcp_dst(80), 6), Some(2));
        assert_eq!(c.remove(&tcp_dst(80), 6), None);
        assert_eq!(lookup(&c, &ip_packet(1)).0, Some(10));
        assert_eq!(c.remove(&tcp_dst(80), 5), Some(10));
        assert_eq!(c.remove(&tcp_dst(443), 5), Some(3));
        assert!(c.is_empty());
        assert_eq!(c.n_subtables(), 0);
        assert_eq!(lookup(&c, &ip_packet(1)), (None, FlowMask::none()));
    }

    #[test]
    fn clones_are_snapshots() {
        let mut a = Classifier::new();
        for p in 0..100u16 {
            a.insert(tcp_dst(p), 5, u32::from(p));
        }
        a.insert(ip_dst(0x0a00_0000, 8), 1, 1000);
        let b = a.clone();
        a.remove(&tcp_dst(80), 5);
        if let Some(v) = a.find_exact_mut(&tcp_dst(81), 5) {
            *v = 7;
        }
        a.remove(&ip_dst(0x0a00_0000, 8), 1);
        assert_eq!(lookup(&b, &ip_packet(0x0a00_0001)).0, Some(80));
        let mut k = ip_packet(0x0a00_0001);
        k.tp_dst = 81;
        assert_eq!(lookup(&b, &k).0, Some(81));
        assert_eq!(lookup(&a, &k).0, Some(7));
        k.tp_dst = 1000;
        assert_eq!(lookup(&b, &k).0, Some(1000));
        assert_eq!(lookup(&a, &k).0, None);
        assert_eq!((a.len(), b.len()), (99, 101));
    }

    #[test]
    fn loose_selection_and_overlap() {
        let mut c = Classifier::new();
        c.insert(tcp_dst(80), 5, "web");
        c.insert(tcp_dst(22), 5, "ssh");
        c.insert(ip_dst(0x0a00_0000, 8), 5, "net");
        c.insert(Match::any(), 0, "default");
        let mut ip = Match::any();
        ip.set(Field::DlType, 0x0800);
        let mut loose: Vec<_> = c.iter_loose(&ip).map(|r| r.value).collect();
        loose.sort_unstable();
        assert_eq!(loose, ["net", "ssh", "web"]);
        assert_eq!(c.iter_loose(&tcp_dst(80)).count(), 1);
        assert_eq!(c.iter_loose(&Match::any()).count(), 4);
        assert_eq!(c.iter().count(), 4);
        // Same match counts; a different port does not overlap; a wider match does.
        assert!(c.has_overlap(&tcp_dst(80), 5));
        assert!(!c.has_overlap(&tcp_dst(80), 6));
        assert!(c.has_overlap(&ip, 5));
        let mut other_net = ip_dst(0x0b00_0000, 8);
        other_net.set(Field::NwProto, 17);
        assert!(!c.has_overlap(&other_net, 5));
        assert!(c.has_overlap(&other_net, 0));
    }
}
