//! [`Linear`]: the reference classifier. It scans every rule, so it is obviously right and
//! slow; property tests compare [`Classifier`](super::Classifier) against it, and the benchmarks
//! use it as the baseline.

use super::Rule;
use crate::key::{FlowKey, FlowMask};
use crate::matching::Match;

/// A classifier that keeps its rules in a list and scans all of them. Like the classifier, it
/// ignores key bits outside a match's mask.
///
/// It makes the same decisions as [`Classifier`](super::Classifier): highest priority wins, and
/// among equal priorities the rule inserted first (lowest [`Rule::seq`]); replacing a rule gives
/// it a new sequence number.
#[derive(Clone, Debug)]
pub struct Linear<T> {
    rules: Vec<Rule<T>>,
    next_seq: u64,
}

impl<T> Default for Linear<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Linear<T> {
    /// An empty classifier.
    pub fn new() -> Self {
        Linear {
            rules: Vec::new(),
            next_seq: 0,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn position(&self, match_: &Match, priority: u16) -> Option<usize> {
        let match_ = &Match::new(match_.key, match_.mask);
        self.rules
            .iter()
            .position(|r| r.priority == priority && r.match_ == *match_)
    }

    /// Adds a rule, replacing (and returning the value of) one with the same match and priority.
    pub fn insert(&mut self, match_: Match, priority: u16, value: T) -> Option<T> {
        let match_ = Match::new(match_.key, match_.mask);
        let seq = self.next_seq;
        self.next_seq += 1;
        let rule = Rule {
            match_,
            priority,
            value,
            seq,
        };
        match self
            .position(&match_, priority)
            .and_then(|i| self.rules.get_mut(i))
        {
            Some(old) => Some(std::mem::replace(old, rule).value),
            None => {
                self.rules.push(rule);
                None
            }
        }
    }

    /// Removes the rule with exactly this match and priority and returns its value.
    pub fn remove(&mut self, match_: &Match, priority: u16) -> Option<T> {
        let i = self.position(match_, priority)?;
        Some(self.rules.swap_remove(i).value)
    }

    /// The rule with exactly this match and priority.
    pub fn find_exact(&self, match_: &Match, priority: u16) -> Option<&Rule<T>> {
        self.rules.get(self.position(match_, priority)?)
    }

    /// The value of the rule with exactly this match and priority, for changing it in place.
    pub fn find_exact_mut(&mut self, match_: &Match, priority: u16) -> Option<&mut T> {
        let i = self.position(match_, priority)?;
        self.rules.get_mut(i).map(|r| &mut r.value)
    }

    /// The highest-priority rule matching `key` (the oldest among equals). ORs into `wc` the mask
    /// of every rule, since every rule was examined: sound, and as wide as a megaflow can be.
    pub fn lookup(&self, key: &FlowKey, wc: &mut FlowMask) -> Option<&Rule<T>> {
        let mut best: Option<&Rule<T>> = None;
        for r in &self.rules {
            wc.union_with(&r.match_.mask);
            if r.match_.matches(key) && best.is_none_or(|b| r.beats(b)) {
                best = Some(r);
            }
        }
        best
    }

    /// Every rule, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule<T>> {
        self.rules.iter()
    }

    /// Every rule whose match is covered by `match_`.
    pub fn iter_loose<'a>(&'a self, match_: &'a Match) -> impl Iterator<Item = &'a Rule<T>> + 'a {
        self.rules.iter().filter(move |r| match_.covers(&r.match_))
    }

    /// Whether a rule of priority `priority` shares a packet with `match_`.
    pub fn has_overlap(&self, match_: &Match, priority: u16) -> bool {
        self.rules
            .iter()
            .any(|r| r.priority == priority && r.match_.overlaps(match_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Field;

    fn port(p: u16) -> Match {
        let mut m = Match::any();
        m.set(Field::DlType, 0x0800);
        m.set(Field::NwProto, 6);
        m.set(Field::TpDst, p.into());
        m
    }

    #[test]
    fn priority_then_age() {
        let mut c = Linear::new();
        c.insert(Match::any(), 1, "any");
        c.insert(port(80), 5, "web");
        c.insert(port(80), 5, "web again");
        c.insert(Match::any(), 5, "any5");
        let mut k = FlowKey::zero();
        k.dl_type = 0x0800;
        k.nw_proto = 6;
        k.tp_dst = 80;
        let mut wc = FlowMask::none();
        // "web again" replaced "web" before "any5" was inserted, so it is the older of the two.
        assert_eq!(c.lookup(&k, &mut wc).map(|r| r.value), Some("web again"));
        assert_eq!(wc.0.tp_dst, 0xffff);
        k.tp_dst = 81;
        assert_eq!(c.lookup(&k, &mut wc).map(|r| r.value), Some("any5"));
        assert_eq!(c.remove(&Match::any(), 5), Some("any5"));
        assert_eq!(c.lookup(&k, &mut wc).map(|r| r.value), Some("any"));
        assert!(c.has_overlap(&port(80), 5));
        assert!(!c.has_overlap(&port(81), 5));
        assert_eq!(c.iter_loose(&Match::any()).count(), 2);
        assert_eq!(c.len(), 2);
    }
}
