//! Flow tables: rules with priorities, cookies, timeouts and counters, and the flow-mod
//! semantics of `ovs-ofctl` (add, modify and delete, strict and loose).
//!
//! # Snapshots
//!
//! A [`Tables`] value is one immutable version of a bridge's 255 tables. A change never edits a
//! version that packets may be using: the caller clones the current version (cheap: each table
//! is an `Arc`, and inside a table the classifier shares its subtables), applies flow mods to
//! the clone with [`Tables::apply`], and publishes the clone as the new version. A failed flow
//! mod leaves the clone as it was, so a bundle is "clone, apply every mod, publish only if all
//! succeeded".
//!
//! # Rules and their counters
//!
//! Rules are shared between versions as `Arc<FlowRule>`, the very allocation the classifier
//! indexes (a [`FlowRule`] is the classifier's rule of a [`FlowEntry`]), so a rule's match is
//! stored once and an add allocates one rule, not a rule and a classifier entry. Their packet,
//! byte and last-used counters are atomics inside a separately shared [`RuleStats`], so the
//! datapath can credit a rule from any thread while the control plane builds the next version,
//! and a modify that keeps the counters (no `reset_counts`) hands the same `RuleStats` to the
//! new rule.
//!
//! # Time
//!
//! Nothing here reads a clock. Times are milliseconds on a monotonic clock chosen by the caller
//! ([`Millis`]); [`Tables::expired`] says which rules' timeouts have passed at a given time and
//! the caller removes them with flow mods, so expiry goes through the same path as every
//! other change.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::action::{self, Action, ActionError, OfPort};
use crate::classifier::{Classifier, Rule};
use crate::matching::Match;
use crate::syntax::flow::{FlowCommand, FlowMod, FlowModFlags};

/// Milliseconds on the caller's monotonic clock.
pub type Millis = u64;

/// Number of flow tables of a bridge: tables `0..=254` (OpenFlow's table 255 means "all").
pub const N_TABLES: usize = 255;

/// The table number that selects every table in modify and delete.
pub const TABLE_ALL: u8 = 255;

/// Packet, byte and last-use counters of a rule, updatable from any thread.
#[derive(Debug, Default)]
pub struct RuleStats {
    packets: AtomicU64,
    bytes: AtomicU64,
    used: AtomicU64,
}

impl RuleStats {
    /// Credits `packets` packets of `bytes` bytes in total, seen at `now`.
    pub fn credit(&self, packets: u64, bytes: u64, now: Millis) {
        // Relaxed: these are statistics; no other memory is published through them.
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        // Most credits come within the millisecond of the last one: no locked instruction then.
        if self.used.load(Ordering::Relaxed) < now {
            self.used.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// Packets credited so far.
    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    /// Bytes credited so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The latest time a packet was credited, or 0 if none was.
    pub fn last_used(&self) -> Millis {
        self.used.load(Ordering::Relaxed)
    }
}

/// One rule of a flow table: the classifier's [`Rule`] (match, priority, insertion order) of a
/// [`FlowEntry`] (everything else). The entry's fields read as the rule's own through `Deref`
/// (`rule.cookie`, `rule.actions`), so a rule is one allocation, shared by the classifier and
/// every holder of an `Arc<FlowRule>`, and its match is stored once.
pub type FlowRule = Rule<FlowEntry>;

/// What a flow table keeps about a rule besides its match and priority.
#[derive(Clone, Debug)]
pub struct FlowEntry {
    /// The table the rule is in.
    pub table: u8,
    /// Opaque controller-chosen identifier.
    pub cookie: u64,
    /// Seconds without a packet after which the rule expires; 0 for never.
    pub idle_timeout: u16,
    /// Seconds after installation after which the rule expires; 0 for never.
    pub hard_timeout: u16,
    /// Eviction importance (kept and reported; eviction is not implemented).
    pub importance: u16,
    /// The flow-mod flags the rule was added with.
    pub flags: FlowModFlags,
    /// The actions (and instructions) executed for a matching packet.
    pub actions: Arc<[Action]>,
    /// When the rule was added (a modify keeps it).
    pub created: Millis,
    /// Counters, shared with the rule this one replaced unless the counters were reset.
    pub stats: Arc<RuleStats>,
}

impl Rule<FlowEntry> {
    /// The time after which the rule's timeouts count idleness: its last packet, or its
    /// creation if it has seen none.
    pub fn idle_since(&self) -> Millis {
        self.stats.last_used().max(self.created)
    }

    /// Why the rule has expired at `now`, if it has. A hard timeout wins over an idle one when
    /// both have passed, as in Open vSwitch.
    pub fn expiry(&self, now: Millis) -> Option<RemovedReason> {
        let passed = |since: Millis, secs: u16| {
            secs != 0 && now.saturating_sub(since) >= u64::from(secs) * 1000
        };
        if passed(self.created, self.hard_timeout) {
            Some(RemovedReason::HardTimeout)
        } else if passed(self.idle_since(), self.idle_timeout) {
            Some(RemovedReason::IdleTimeout)
        } else {
            None
        }
    }

    /// Whether any of the rule's actions, including those nested in `ct(exec(...))`, outputs
    /// to `port` (the `out_port` filter of modify and delete).
    pub fn outputs_to(&self, port: OfPort) -> bool {
        let mut found = false;
        action::walk(&self.actions, &mut |a| {
            found |= match a {
                Action::Output(p) | Action::OutputTrunc { port: p, .. } => *p == port,
                Action::Controller(_) => port == OfPort::CONTROLLER,
                _ => false,
            }
        });
        found
    }

    /// Whether any of the rule's actions forwards to `group` (the `out_group` filter).
    pub fn sends_to_group(&self, group: u32) -> bool {
        let mut found = false;
        action::walk(&self.actions, &mut |a| {
            found |= matches!(a, Action::Group(g) if *g == group)
        });
        found
    }
}

/// Why a rule left its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovedReason {
    /// Its idle timeout passed without a packet.
    IdleTimeout,
    /// Its hard timeout passed.
    HardTimeout,
    /// A delete flow mod removed it.
    Delete,
}

impl RemovedReason {
    /// The name OpenFlow gives the reason.
    pub fn name(self) -> &'static str {
        match self {
            RemovedReason::IdleTimeout => "idle",
            RemovedReason::HardTimeout => "hard",
            RemovedReason::Delete => "delete",
        }
    }
}

/// A rule removed by a flow mod, with why, for flow-removed events.
#[derive(Clone, Debug)]
pub struct Removed {
    /// The rule as it was.
    pub rule: Arc<FlowRule>,
    /// Why it left.
    pub reason: RemovedReason,
}

/// What one flow mod changed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Rules added (an add that replaced an identical rule counts as a modify).
    pub added: usize,
    /// Rules whose actions, cookie or timeouts changed.
    pub modified: usize,
    /// Rules removed.
    pub removed: Vec<Removed>,
}

impl Outcome {
    /// Whether the flow mod changed anything.
    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.modified == 0 && self.removed.is_empty()
    }
}

/// A flow mod the tables refused; the tables are unchanged.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FlowModError {
    /// An add or strict operation named table 255 (all tables), or a table past the last.
    #[error("table {0} is out of range (tables are 0 to 254)")]
    BadTable(u8),
    /// `check_overlap` found a rule at the same priority that some packet would also match.
    #[error("flow overlaps an existing flow at priority {priority} in table {table}")]
    Overlap {
        /// The table of the existing rule.
        table: u8,
        /// The common priority.
        priority: u16,
    },
    /// The actions are not valid for the match or the table.
    #[error(transparent)]
    BadActions(#[from] ActionError),
}

/// One flow table: a classifier of rules.
#[derive(Clone, Debug, Default)]
pub struct FlowTable {
    rules: Classifier<FlowEntry>,
}

impl FlowTable {
    /// The classifier holding the rules, for lookups.
    pub fn classifier(&self) -> &Classifier<FlowEntry> {
        &self.rules
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the table has no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every rule, in no particular order.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<FlowRule>> {
        self.rules.iter()
    }
}

/// One version of a bridge's flow tables.
///
/// Clone is cheap (an `Arc` per table) and a clone is independent: changing it never changes
/// the original.
#[derive(Clone, Debug)]
pub struct Tables {
    tables: Vec<Arc<FlowTable>>,
}

impl Default for Tables {
    fn default() -> Self {
        Tables::new()
    }
}

/// The rules a modify or delete selects, in one table.
struct Selector<'a> {
    fm: &'a FlowMod,
    strict: bool,
}

impl Selector<'_> {
    fn selects(&self, rule: &FlowRule) -> bool {
        let fm = self.fm;
        if self.strict && (rule.priority != fm.priority || rule.match_ != fm.match_) {
            return false;
        }
        if !self.strict && !fm.match_.covers(&rule.match_) {
            return false;
        }
        (rule.cookie ^ fm.cookie) & fm.cookie_mask == 0
            && fm.out_port.is_none_or(|p| rule.outputs_to(p))
            && fm.out_group.is_none_or(|g| rule.sends_to_group(g))
    }
}

impl Tables {
    /// Empty tables.
    pub fn new() -> Tables {
        let empty = Arc::new(FlowTable::default());
        Tables {
            tables: vec![empty; N_TABLES],
        }
    }

    /// Table `id`, or `None` past the last table.
    pub fn table(&self, id: u8) -> Option<&FlowTable> {
        self.tables.get(usize::from(id)).map(|t| &**t)
    }

    /// Every table with its number.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &FlowTable)> {
        (0..=u8::MAX).zip(self.tables.iter().map(|t| &**t))
    }

    /// Every rule of every table, in table order.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<FlowRule>> {
        self.tables.iter().flat_map(|t| t.rules())
    }

    /// Total number of rules.
    pub fn len(&self) -> usize {
        self.tables.iter().map(|t| t.len()).sum()
    }

    /// Whether no table has a rule.
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|t| t.is_empty())
    }

    /// Applies one flow mod at time `now`; `strict` selects ovs-ofctl's `--strict` semantics for
    /// modify and delete. On error nothing changed.
    pub fn apply(
        &mut self,
        fm: &FlowMod,
        strict: bool,
        now: Millis,
    ) -> Result<Outcome, FlowModError> {
        match fm.command {
            FlowCommand::Add => self.add(fm, now),
            FlowCommand::Modify => self.modify(fm, strict),
            FlowCommand::Delete => Ok(self.delete(fm, strict)),
        }
    }

    /// The rules whose timeouts have passed at `now`, with the reason.
    pub fn expired(&self, now: Millis) -> Vec<Removed> {
        self.rules()
            .filter_map(|rule| {
                rule.expiry(now).map(|reason| Removed {
                    rule: rule.clone(),
                    reason,
                })
            })
            .collect()
    }

    /// Removes exactly `rule` (same table, match and priority) if it is still present, for
    /// expiry; returns whether it was.
    pub fn remove_rule(&mut self, rule: &FlowRule) -> bool {
        let Some(slot) = self.tables.get_mut(usize::from(rule.table)) else {
            return false;
        };
        if slot.rules.find_exact(&rule.match_, rule.priority).is_none() {
            return false;
        }
        Arc::make_mut(slot)
            .rules
            .remove_rule(&rule.match_, rule.priority)
            .is_some()
    }

    fn add(&mut self, fm: &FlowMod, now: Millis) -> Result<Outcome, FlowModError> {
        let table = fm.table.unwrap_or(0);
        let slot = self
            .tables
            .get_mut(usize::from(table))
            .ok_or(FlowModError::BadTable(table))?;
        crate::action::validate(&fm.actions, &fm.match_, table)
            .map_err(FlowModError::BadActions)?;
        if fm.flags.check_overlap
            && slot.rules.find_exact(&fm.match_, fm.priority).is_none()
            && slot.rules.has_overlap(&fm.match_, fm.priority)
        {
            return Err(FlowModError::Overlap {
                table,
                priority: fm.priority,
            });
        }
        let actions: Arc<[Action]> = fm.actions.as_slice().into();
        let replaced = Arc::make_mut(slot)
            .rules
            .insert_with(fm.match_, fm.priority, |existing| {
                // Replacing an identical rule keeps its counters unless asked otherwise
                // (OpenFlow 1.3, OFPFF_RESET_COUNTS); the replacement is a new rule in every
                // other respect.
                let stats = match existing {
                    Some(old) if !fm.flags.reset_counts => old.stats.clone(),
                    _ => Arc::default(),
                };
                FlowEntry {
                    table,
                    cookie: fm.cookie,
                    idle_timeout: fm.idle_timeout,
                    hard_timeout: fm.hard_timeout,
                    importance: fm.importance,
                    flags: fm.flags,
                    actions,
                    created: now,
                    stats,
                }
            });
        Ok(match replaced {
            Some(_) => Outcome {
                modified: 1,
                ..Outcome::default()
            },
            None => Outcome {
                added: 1,
                ..Outcome::default()
            },
        })
    }

    /// The tables a modify or delete addresses.
    fn addressed(&self, fm: &FlowMod) -> Result<std::ops::RangeInclusive<u8>, FlowModError> {
        match fm.table {
            None | Some(TABLE_ALL) => Ok(0..=TABLE_ALL - 1),
            Some(t) if usize::from(t) < N_TABLES => Ok(t..=t),
            Some(t) => Err(FlowModError::BadTable(t)),
        }
    }

    fn modify(&mut self, fm: &FlowMod, strict: bool) -> Result<Outcome, FlowModError> {
        let selector = Selector { fm, strict };
        let mut outcome = Outcome::default();
        let mut staged: Vec<(u8, Match, u16, FlowEntry)> = Vec::new();
        for table in self.addressed(fm)? {
            let Some(slot) = self.tables.get(usize::from(table)) else {
                continue;
            };
            for rule in Self::selected(slot, &selector) {
                crate::action::validate(&fm.actions, &rule.match_, table)
                    .map_err(FlowModError::BadActions)?;
                // A modify replaces the actions; with cookie_mask 0 it also sets the cookie
                // (what ovs-ofctl's mod-flows does when given `cookie=` without a mask).
                let cookie = if fm.cookie_mask == 0 && fm.cookie != 0 {
                    fm.cookie
                } else {
                    rule.cookie
                };
                let stats = if fm.flags.reset_counts {
                    Arc::default()
                } else {
                    rule.stats.clone()
                };
                let new = FlowEntry {
                    table,
                    cookie,
                    idle_timeout: rule.idle_timeout,
                    hard_timeout: rule.hard_timeout,
                    importance: rule.importance,
                    flags: rule.flags,
                    actions: fm.actions.as_slice().into(),
                    created: rule.created,
                    stats,
                };
                staged.push((table, rule.match_, rule.priority, new));
            }
        }
        // Validation of every selected rule passed: only now change the tables, so a refused
        // modify changes nothing.
        for (table, match_, priority, entry) in staged {
            if let Some(slot) = self.tables.get_mut(usize::from(table)) {
                Arc::make_mut(slot)
                    .rules
                    .insert_with(match_, priority, |_| entry);
                outcome.modified += 1;
            }
        }
        Ok(outcome)
    }

    fn delete(&mut self, fm: &FlowMod, strict: bool) -> Outcome {
        let selector = Selector { fm, strict };
        let mut outcome = Outcome::default();
        // `addressed` only fails for tables past 254, which select nothing to delete.
        let Ok(tables) = self.addressed(fm) else {
            return outcome;
        };
        for table in tables {
            let Some(slot) = self.tables.get_mut(usize::from(table)) else {
                continue;
            };
            let doomed: Vec<Arc<FlowRule>> = Self::selected(slot, &selector).cloned().collect();
            if doomed.is_empty() {
                continue;
            }
            let rules = &mut Arc::make_mut(slot).rules;
            for rule in doomed {
                rules.remove_rule(&rule.match_, rule.priority);
                outcome.removed.push(Removed {
                    rule,
                    reason: RemovedReason::Delete,
                });
            }
        }
        outcome
    }

    /// The rules of `table` that `selector` picks: one exact lookup when strict, a scan of the
    /// rules the match covers otherwise.
    fn selected<'a>(
        table: &'a FlowTable,
        selector: &'a Selector<'a>,
    ) -> Box<dyn Iterator<Item = &'a Arc<FlowRule>> + 'a> {
        if selector.strict {
            let hit = table
                .rules
                .find_exact(&selector.fm.match_, selector.fm.priority);
            Box::new(hit.into_iter().filter(|r| selector.selects(r)))
        } else {
            Box::new(
                table
                    .rules
                    .iter_loose(&selector.fm.match_)
                    .filter(|r| selector.selects(r)),
            )
        }
    }
}
