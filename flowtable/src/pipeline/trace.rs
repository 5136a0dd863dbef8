//! Traces: every step of a translation, structured and as text in the style of Open vSwitch's
//! `ofproto/trace`.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::action::Action;
use crate::field::{Field, Prereq};
use crate::key::{FlowKey, FlowMask};
use crate::matching::Match;
use crate::syntax::actions::format_actions_for;
use crate::syntax::matches::format_match;
use crate::table::FlowRule;

use super::{DpActions, Translation};

/// One step of a translation.
#[derive(Clone, Debug)]
pub enum TraceEvent {
    /// A lookup in a table, and the rule it found (none for a miss).
    Table {
        /// Resubmit nesting depth.
        depth: usize,
        /// The table.
        table: u8,
        /// The rule hit.
        rule: Option<Arc<FlowRule>>,
    },
    /// An action executed.
    Action {
        /// Nesting depth.
        depth: usize,
        /// The action.
        action: Action,
        /// The rule the action belongs to (none for the action set), whose match decides how
        /// some actions are written (`mod_vlan_vid` on a tagged or an untagged match).
        rule: Option<Arc<FlowRule>>,
    },
    /// Something the translation wants to explain (a skipped output, a recirculation...).
    Note {
        /// Nesting depth.
        depth: usize,
        /// The explanation.
        text: String,
    },
}

/// A translation with its steps.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The key traced.
    pub flow: FlowKey,
    /// Every step, in order.
    pub events: Vec<TraceEvent>,
    /// The result.
    pub translation: Translation,
}

/// The fields worth showing for a key: those whose prerequisites the packet meets, and the
/// metadata fields that are not zero.
fn shown(key: &FlowKey) -> Match {
    let exact = Match::new(*key, FlowMask::exact());
    let mut mask = FlowMask::none();
    for &field in Field::ALL {
        if field.is_alias() || !field.def().prereq.is_met_by(&exact) {
            continue;
        }
        let always = matches!(
            field,
            Field::InPort | Field::DlSrc | Field::DlDst | Field::DlType
        );
        let packet_field = field.def().prereq != Prereq::None;
        if field == Field::CtState && field.get(key) != 0 {
            // Only the named state bits mean something.
            field.unwildcard(&mut mask, 0xff);
        } else if always || packet_field || field.get(key) != 0 {
            field.set_all_bits(&mut mask);
        }
    }
    Match::new(*key, mask)
}

impl Trace {
    /// The trace as text, in the layout of `ovs-appctl ofproto/trace`.
    pub fn render(&self, bridge: &str) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail: the results of `writeln!` below are ignored.
        let _ = writeln!(out, "Flow: {}", format_match(&shown(&self.flow)));
        let _ = writeln!(out);
        let title = format!("bridge(\"{bridge}\")");
        let _ = writeln!(out, "{title}\n{}", "-".repeat(title.len()));
        for event in &self.events {
            match event {
                TraceEvent::Table { depth, table, rule } => {
                    let indent = " ".repeat(depth * 4);
                    match rule {
                        Some(rule) => {
                            let m = format_match(&rule.match_);
                            let sep = if m.is_empty() { "" } else { ", " };
                            let _ = write!(
                                out,
                                "{indent}{table:2}. {m}{sep}priority {}",
                                rule.priority
                            );
                            if rule.cookie != 0 {
                                let _ = write!(out, ", cookie {:#x}", rule.cookie);
                            }
                            let _ = writeln!(out);
                            if rule.actions.is_empty() {
                                let _ = writeln!(out, "{indent}    drop");
                            }
                        }
                        None => {
                            let _ = writeln!(out, "{indent}{table:2}. No match.\n{indent}    drop");
                        }
                    }
                }
                TraceEvent::Action {
                    depth,
                    action,
                    rule,
                } => {
                    let indent = " ".repeat(depth * 4);
                    let m = rule.as_ref().map_or(Match::any(), |r| r.match_);
                    let text = format_actions_for(std::slice::from_ref(action), &m);
                    let _ = writeln!(out, "{indent}{text}");
                }
                TraceEvent::Note { depth, text } => {
                    let indent = " ".repeat((depth + 1) * 4);
                    let _ = writeln!(out, "{indent}-> {text}");
                }
            }
        }
        let t = &self.translation;
        let _ = writeln!(out);
        if t.final_key == self.flow {
            let _ = writeln!(out, "Final flow: unchanged");
        } else {
            let _ = writeln!(out, "Final flow: {}", format_match(&shown(&t.final_key)));
        }
        let _ = writeln!(
            out,
            "Megaflow: {}",
            format_match(&Match::new(self.flow, t.mask))
        );
        let _ = write!(out, "Datapath actions: {}", DpActions(&t.actions));
        if let Some(reason) = t.drop {
            let _ = write!(out, " (drop reason: {reason})");
        }
        let _ = writeln!(out);
        out
    }
}
