//! A subtable: the rules of one mask, hashed by their masked key, with a staged index.
//!
//! The words of the mask are hashed stage by stage (metadata, L2, L3, L4, skipping stages the
//! mask does not touch). For every stage but the last, a counting index holds the partial hash of
//! every rule up to that stage; the last stage's hash keys the rules themselves. A lookup that
//! finds no rule with its partial hash stops there, and only the stages it hashed are needed in
//! the megaflow. A partial hash that collides only makes a lookup go on to the next stage (and
//! un-wildcard more than needed): correctness never rests on the absence of collisions, because a
//! candidate rule's match is always compared in full.
//!
//! The hash tables are split into [`SHARDS`] reference-counted shards, chosen by hash bits that
//! the tables themselves do not use, so that a change to a cloned subtable copies one shard of
//! each table it touches rather than all of them.

use super::trie::{TrieMatch, N_TRIES, TRIE_FIELDS};
use super::{Rule, TrieCtx};
use crate::key::{FlowKey, FlowMask, Stage};
use crate::matching::Match;
use ahash::RandomState;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Fixed seeds: hashing is deterministic from run to run, so megaflow masks (which may include
/// extra bits after a partial-hash collision) are reproducible. Rules are configured, not taken
/// from packets, so the usual reason for random seeds (hash flooding) does not apply to the
/// tables; packets only probe them.
pub(super) static SEEDS: RandomState = RandomState::with_seeds(
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
);

/// A hasher for keys that already are well-mixed 64-bit hashes.
#[derive(Clone, Copy, Debug, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the keys are `u64`); this keeps the hasher total anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type ByHash<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// log2 of the number of shards of each hash table.
const SHARD_BITS: u32 = 6;
/// Number of shards of each hash table.
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;

/// The shard of a hash: bits 32.. are used neither by the table's bucket index (low bits) nor by
/// its control bytes (the top 7 bits).
fn shard_of(hash: u64) -> usize {
    usize::from((hash >> 32).to_le_bytes()[0]) & (SHARDS - 1)
}

/// A hash table keyed by 64-bit hashes, split into copy-on-write shards.
#[derive(Debug)]
pub(super) struct Sharded<V> {
    /// Allocated on first use, so that small tables cost little.
    shards: [Option<Arc<ByHash<V>>>; SHARDS],
}

impl<V> Clone for Sharded<V> {
    fn clone(&self) -> Self {
        Sharded {
            shards: self.shards.clone(),
        }
    }
}

impl<V> Sharded<V> {
    pub(super) fn new() -> Self {
        Sharded {
            shards: std::array::from_fn(|_| None),
        }
    }

    fn get(&self, hash: u64) -> Option<&V> {
        self.shards.get(shard_of(hash))?.as_ref()?.get(&hash)
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flatten().flat_map(|s| s.values())
    }
}

impl<V: Clone> Sharded<V> {
    /// The shard of `hash`, copied first if another clone of the table shares it.
    fn shard_mut(&mut self, hash: u64) -> Option<&mut ByHash<V>> {
        let slot = self.shards.get_mut(shard_of(hash))?;
        Some(Arc::make_mut(
            slot.get_or_insert_with(|| Arc::new(ByHash::default())),
        ))
    }
}

impl Sharded<u32> {
    /// Counts one more item with hash `hash`.
    pub(super) fn add(&mut self, hash: u64) {
        if let Some(shard) = self.shard_mut(hash) {
            *shard.entry(hash).or_insert(0) += 1;
        }
    }

    /// Counts one item fewer with hash `hash`, forgetting the hash at zero.
    pub(super) fn sub(&mut self, hash: u64) {
        if let Some(shard) = self.shard_mut(hash) {
            if let Some(n) = shard.get_mut(&hash) {
                *n -= 1;
                if *n == 0 {
                    shard.remove(&hash);
                }
            }
        }
    }

    /// Whether some item has hash `hash`.
    pub(super) fn contains(&self, hash: u64) -> bool {
        self.get(hash).is_some()
    }
}

/// Rules with the same hash, best first: priority descending, then insertion order.
#[derive(Debug)]
enum Bucket<T> {
    One(Arc<Rule<T>>),
    Many(Vec<Arc<Rule<T>>>),
}

impl<T> Clone for Bucket<T> {
    fn clone(&self) -> Self {
        match self {
            Bucket::One(r) => Bucket::One(Arc::clone(r)),
            Bucket::Many(v) => Bucket::Many(v.clone()),
        }
    }
}

fn rank<T>(r: &Rule<T>) -> (Reverse<u16>, u64) {
    (Reverse(r.priority), r.seq)
}

impl<T> Bucket<T> {
    fn rules(&self) -> &[Arc<Rule<T>>] {
        match self {
            Bucket::One(r) => std::slice::from_ref(r),
            Bucket::Many(v) => v,
        }
    }

    fn rules_mut(&mut self) -> &mut [Arc<Rule<T>>] {
        match self {
            Bucket::One(r) => std::slice::from_mut(r),
            Bucket::Many(v) => v,
        }
    }

    fn add(&mut self, rule: Arc<Rule<T>>) {
        let mut v = match std::mem::replace(self, Bucket::Many(Vec::new())) {
            Bucket::One(r) => vec![r],
            Bucket::Many(v) => v,
        };
        let at = v.partition_point(|r| rank(r) < rank(&rule));
        v.insert(at, rule);
        *self = Bucket::Many(v);
    }

    /// Removes and returns the rule at `at`, leaving an empty `Many` when it was the last one.
    fn take(&mut self, at: usize) -> Option<Arc<Rule<T>>> {
        let taken;
        *self = match std::mem::replace(self, Bucket::Many(Vec::new())) {
            Bucket::One(r) if at == 0 => {
                taken = Some(r);
                Bucket::Many(Vec::new())
            }
            Bucket::One(r) => {
                taken = None;
                Bucket::One(r)
            }
            Bucket::Many(mut v) => {
                taken = (at < v.len()).then(|| v.remove(at));
                match (v.len(), v.pop()) {
                    (1, Some(last)) => Bucket::One(last),
                    (_, last) => {
                        v.extend(last);
                        Bucket::Many(v)
                    }
                }
            }
        };
        taken
    }

    fn is_empty(&self) -> bool {
        matches!(self, Bucket::Many(v) if v.is_empty())
    }

    /// Restores the order after a rule got a new sequence number.
    fn resort(&mut self) {
        if let Bucket::Many(v) = self {
            v.sort_by_key(|r| rank(r));
        }
    }
}

/// How many rules a subtable holds at one priority.
#[derive(Clone, Copy, Debug)]
struct PriorityCount {
    n_rules: u32,
    /// At most the smallest sequence number among them (exact until one is removed).
    min_seq: u64,
}

/// The non-empty stages of a subtable's mask.
#[derive(Clone, Debug)]
struct StagePlan {
    /// End of this stage's words in [`Subtable::words`] (the start is the previous stage's end).
    end: usize,
    /// Prefix-tracked fields of this stage: (trie, prefix length of this subtable), consulted
    /// when a lookup misses at this stage.
    tries: Vec<(usize, u8)>,
}

/// The rules of one mask.
#[derive(Debug)]
pub(crate) struct Subtable<T> {
    /// Creation order, to order subtables deterministically.
    pub id: u64,
    /// The mask every rule of this subtable has.
    pub mask: FlowMask,
    /// The nonzero words of the mask: (word index, mask word), in key order.
    words: Box<[(usize, u64)]>,
    /// Non-empty stages, in lookup order.
    stages: Box<[StagePlan]>,
    /// Prefix length of the mask on each trie field, 0 when the subtable does not use that trie.
    pub trie_plens: [u8; N_TRIES],
    /// Rule counts per priority.
    priorities: BTreeMap<u16, PriorityCount>,
    /// The last entry of `priorities` (priority, min_seq), kept next to the mask because every
    /// lookup reads it.
    top: (u16, u64),
    /// Partial-hash counts, one index per stage but the last.
    indices: Box<[Sharded<u32>]>,
    /// The rules, by the hash of their whole masked key.
    rules: Sharded<Bucket<T>>,
    n_rules: usize,
}

impl<T> Clone for Subtable<T> {
    fn clone(&self) -> Self {
        Subtable {
            id: self.id,
            mask: self.mask,
            words: self.words.clone(),
            stages: self.stages.clone(),
            trie_plens: self.trie_plens,
            priorities: self.priorities.clone(),
            top: self.top,
            indices: self.indices.clone(),
            rules: self.rules.clone(),
            n_rules: self.n_rules,
        }
    }
}

/// The outcome of visiting one subtable.
#[derive(Debug)]
pub(crate) enum Visit<'a, T> {
    /// The best rule of the subtable for the key; the whole mask is in the megaflow.
    Match(&'a Arc<Rule<T>>),
    /// No rule; the bits that show it are in the megaflow.
    Miss,
    /// No rule, found at the given stage, which holds a prefix-tracked field; the bits that show
    /// it are left to [`Subtable::resolve_miss`].
    MissAt(usize),
}

/// Hashes after each non-empty stage of a subtable (at most one per stage).
struct StageHashes {
    hashes: [u64; Stage::ALL.len()],
    n: usize,
}

impl StageHashes {
    fn partial(&self) -> &[u64] {
        self.hashes
            .get(..self.n.saturating_sub(1))
            .unwrap_or_default()
    }

    fn full(&self) -> u64 {
        match self.n.checked_sub(1).and_then(|i| self.hashes.get(i)) {
            Some(&h) => h,
            None => SEEDS.build_hasher().finish(),
        }
    }
}

/// The word `i` of `words`, masked with `m` (0 for an index out of range, which the subtable's
/// construction rules out).
#[inline]
fn masked_word(words: &[u64; FlowKey::WORDS], i: usize, m: u64) -> u64 {
    words.get(i).map_or(0, |w| w & m)
}

impl<T> Subtable<T> {
    /// An empty subtable for `mask`.
    pub fn new(mask: FlowMask, id: u64) -> Self {
        let mut words = Vec::new();
        let mut stages = Vec::new();
        for stage in Stage::ALL {
            let before = words.len();
            for i in stage.words() {
                match mask.words().get(i) {
                    Some(&m) if m != 0 => words.push((i, m)),
                    _ => {}
                }
            }
            if words.len() > before {
                let tries = TRIE_FIELDS
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.stage == stage)
                    .filter_map(|(i, t)| match t.plen(&mask) {
                        Some(p) if p > 0 => Some((i, p)),
                        _ => None,
                    })
                    .collect();
                stages.push(StagePlan {
                    end: words.len(),
                    tries,
                });
            }
        }
        let trie_plens =
            std::array::from_fn(|i| TRIE_FIELDS.get(i).and_then(|t| t.plen(&mask)).unwrap_or(0));
        let n_indices = stages.len().saturating_sub(1);
        Subtable {
            id,
            mask,
            words: words.into(),
            stages: stages.into(),
            trie_plens,
            priorities: BTreeMap::new(),
            top: (0, 0),
            indices: (0..n_indices).map(|_| Sharded::new()).collect(),
            rules: Sharded::new(),
            n_rules: 0,
        }
    }

    /// Whether the subtable holds no rule.
    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    /// The highest priority of a rule here (0 when empty).
    pub fn max_priority(&self) -> u16 {
        self.top.0
    }

    /// A lower bound of the sequence numbers of the rules at [`Self::max_priority`].
    pub fn min_seq_bound(&self) -> u64 {
        self.top.1
    }

    fn refresh_top(&mut self) {
        self.top = self
            .priorities
            .last_key_value()
            .map_or((0, 0), |(&p, c)| (p, c.min_seq));
    }

    /// Whether some rule here has priority `priority`.
    pub fn has_priority(&self, priority: u16) -> bool {
        self.priorities.contains_key(&priority)
    }

    fn hashes(&self, key: &FlowKey) -> StageHashes {
        let kw = key.words();
        let mut out = StageHashes {
            hashes: [0; Stage::ALL.len()],
            n: 0,
        };
        let mut hasher = SEEDS.build_hasher();
        let mut start = 0;
        for (slot, stage) in out.hashes.iter_mut().zip(self.stages.iter()) {
            for &(i, m) in self.words.get(start..stage.end).unwrap_or_default() {
                hasher.write_u64(masked_word(kw, i, m));
            }
            start = stage.end;
            *slot = hasher.finish();
            out.n += 1;
        }
        out
    }

    /// Whether `key` agrees with `rule`'s match on this subtable's mask.
    #[inline]
    fn matches(&self, rule: &Rule<T>, kw: &[u64; FlowKey::WORDS]) -> bool {
        let rw = rule.match_.key.words();
        self.words
            .iter()
            .all(|&(i, m)| masked_word(kw, i, m) == masked_word(rw, i, u64::MAX))
    }

    /// Rules whose masked key equals `key` masked with this subtable's mask (plus, in the
    /// unlikely case of a full hash collision, other rules of the same hash).
    pub fn candidates(&self, key: &FlowKey) -> &[Arc<Rule<T>>] {
        self.rules
            .get(self.hashes(key).full())
            .map_or(&[], Bucket::rules)
    }

    /// The rule with exactly this match and priority.
    pub fn find(&self, m: &Match, priority: u16) -> Option<&Arc<Rule<T>>> {
        self.candidates(&m.key)
            .iter()
            .find(|r| r.priority == priority && r.match_ == *m)
    }

    /// Every rule.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Rule<T>>> {
        self.rules.values().flat_map(Bucket::rules)
    }

    /// Looks `key` up. On a match, ORs the whole mask into `wc`. On a miss, either ORs into `wc`
    /// the stages hashed so far, or, when the stage that failed holds a prefix-tracked field,
    /// returns [`Visit::MissAt`] and leaves the choice of bits to [`Self::resolve_miss`], which
    /// the classifier calls once the rest of the lookup has shown which bits are needed anyway.
    pub fn lookup(&self, key: &FlowKey, wc: &mut FlowMask) -> Visit<'_, T> {
        let kw = key.words();
        let mut hasher = SEEDS.build_hasher();
        let mut start = 0;
        let last = self.stages.len().saturating_sub(1);
        for (n, stage) in self.stages.iter().enumerate() {
            for &(i, m) in self.words.get(start..stage.end).unwrap_or_default() {
                hasher.write_u64(masked_word(kw, i, m));
            }
            start = stage.end;
            let hash = hasher.finish();
            let found = if n < last {
                if self.indices.get(n).is_some_and(|ix| ix.contains(hash)) {
                    continue;
                }
                None
            } else {
                self.best_in(hash, kw)
            };
            return match found {
                Some(rule) => {
                    self.unwildcard(wc, stage.end);
                    Visit::Match(rule)
                }
                None if !stage.tries.is_empty() => Visit::MissAt(n),
                None => {
                    self.unwildcard(wc, stage.end);
                    Visit::Miss
                }
            };
        }
        // Only the subtable of the empty mask has no stage: every key has the same hash.
        match self.best_in(hasher.finish(), kw) {
            Some(rule) => Visit::Match(rule),
            None => Visit::Miss,
        }
    }

    /// Records in `wc` why the lookup of `key` failed at stage `n` (see [`Visit::MissAt`]): the
    /// stages hashed so far, unless they are all in `wc` already, or a trie proves with fewer
    /// bits that no rule of this subtable can match (only its leading address bits are needed).
    pub fn resolve_miss(
        &self,
        n: usize,
        key: &FlowKey,
        wc: &mut FlowMask,
        tries: &mut TrieCtx<'_>,
    ) {
        let Some(stage) = self.stages.get(n) else {
            self.unwildcard(wc, self.words.len());
            return;
        };
        if self.is_covered(wc, stage.end) {
            return;
        }
        // A trie field proves the miss when no rule has the key's prefix of the subtable's length
        // (one probe). Among the fields that do, prefer one whose bits are in `wc` already (no
        // new bits, no walk), then one already walked, then any.
        let mut proof: Option<(usize, u32)> = None;
        for &(t, plen) in &stage.tries {
            let Some(field) = TRIE_FIELDS.get(t) else {
                continue;
            };
            if tries.has_prefix(t, key, plen) {
                continue;
            }
            let plen = u32::from(plen);
            if field.is_covered(wc, plen) {
                return;
            }
            if proof.is_none() || tries.is_walked(t) {
                proof = Some((t, plen));
            }
        }
        if let Some((t, plen)) = proof {
            if let Some(field) = TRIE_FIELDS.get(t) {
                let TrieMatch { maskbits, .. } = tries.get(t, key);
                field.unwildcard(wc, plen.min(maskbits));
                return;
            }
        }
        self.unwildcard(wc, stage.end);
    }

    /// Whether the mask words `..end` are all in `wc` already.
    fn is_covered(&self, wc: &FlowMask, end: usize) -> bool {
        let wcw = wc.words();
        self.words
            .get(..end)
            .unwrap_or_default()
            .iter()
            .all(|&(i, m)| masked_word(wcw, i, m) == m)
    }

    fn best_in(&self, hash: u64, kw: &[u64; FlowKey::WORDS]) -> Option<&Arc<Rule<T>>> {
        self.rules
            .get(hash)?
            .rules()
            .iter()
            .find(|r| self.matches(r, kw))
    }

    /// ORs the mask words `..end` (the stages hashed so far) into `wc`.
    fn unwildcard(&self, wc: &mut FlowMask, end: usize) {
        let wcw = wc.words_mut();
        for &(i, m) in self.words.get(..end).unwrap_or_default() {
            if let Some(w) = wcw.get_mut(i) {
                *w |= m;
            }
        }
    }
}

impl<T: Clone> Subtable<T> {
    /// Adds the rule `make` builds for match `m` (normalized, with this subtable's mask) and
    /// `priority`, or replaces the rule with the same match and priority and returns it; `make`
    /// sees the rule it replaces.
    pub fn insert_with(
        &mut self,
        m: &Match,
        priority: u16,
        make: impl FnOnce(Option<&Rule<T>>) -> Arc<Rule<T>>,
    ) -> Option<Arc<Rule<T>>> {
        let hashes = self.hashes(&m.key);
        let full = hashes.full();
        let shard = self.rules.shard_mut(full)?;
        if let Some(bucket) = shard.get_mut(&full) {
            let same = bucket
                .rules_mut()
                .iter_mut()
                .find(|r| r.priority == priority && r.match_ == *m);
            if let Some(slot) = same {
                let rule = make(Some(slot));
                let old = std::mem::replace(slot, rule);
                bucket.resort();
                return Some(old);
            }
        }
        let rule = make(None);
        let seq = rule.seq;
        match shard.get_mut(&full) {
            Some(bucket) => bucket.add(rule),
            None => {
                shard.insert(full, Bucket::One(rule));
            }
        }
        for (index, &h) in self.indices.iter_mut().zip(hashes.partial()) {
            index.add(h);
        }
        let count = self.priorities.entry(priority).or_insert(PriorityCount {
            n_rules: 0,
            min_seq: seq,
        });
        count.n_rules += 1;
        count.min_seq = count.min_seq.min(seq);
        self.refresh_top();
        self.n_rules += 1;
        None
    }

    /// Removes and returns the rule with exactly this match and priority.
    pub fn remove(&mut self, m: &Match, priority: u16) -> Option<Arc<Rule<T>>> {
        let hashes = self.hashes(&m.key);
        let full = hashes.full();
        let shard = self.rules.shard_mut(full)?;
        let bucket = shard.get_mut(&full)?;
        let at = bucket
            .rules()
            .iter()
            .position(|r| r.priority == priority && r.match_ == *m)?;
        let old = bucket.take(at)?;
        if bucket.is_empty() {
            shard.remove(&full);
        }
        for (index, &h) in self.indices.iter_mut().zip(hashes.partial()) {
            index.sub(h);
        }
        if let Some(count) = self.priorities.get_mut(&priority) {
            count.n_rules -= 1;
            if count.n_rules == 0 {
                self.priorities.remove(&priority);
            }
        }
        self.refresh_top();
        self.n_rules -= 1;
        Some(old)
    }

    /// The rule with exactly this match and priority, for changing its value.
    pub fn find_mut(&mut self, m: &Match, priority: u16) -> Option<&mut Arc<Rule<T>>> {
        let full = self.hashes(&m.key).full();
        self.rules
            .shard_mut(full)?
            .get_mut(&full)?
            .rules_mut()
            .iter_mut()
            .find(|r| r.priority == priority && r.match_ == *m)
    }
}
