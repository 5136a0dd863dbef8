//! The multi-table pipeline: translating a [`FlowKey`] through the flow tables into datapath
//! actions and the megaflow mask that says which bits of the key the result depended on.
//!
//! # What a translation returns
//!
//! [`translate`] starts in table 0 (or, for a recirculated packet, in the table frozen under
//! its `recirc_id`), looks the key up, executes the rule's actions and instructions (which may
//! change the key seen by later tables, resubmit to other tables, or go to a later table), and
//! returns a [`Translation`]: the [`DpAction`]s, the megaflow mask, the rules hit (to credit
//! their counters) and, when the packet is dropped, the [`DropReason`].
//!
//! # The megaflow mask
//!
//! The mask is the union of everything the translation examined: the masks returned by every
//! classifier lookup, the sources of `move` and `output:reg`, the TTL read by `dec_ttl`, the
//! addresses `NORMAL` learns from, and always `in_port`, `recirc_id`, `dl_type` and, for IP,
//! `nw_frag`. Every packet that agrees with this one on those bits gets the same datapath
//! actions, which is what lets the datapath cache one entry for all of them. Registers and
//! metadata are cleared from the final mask: datapath keys never carry them (they are zero at
//! the start of a pass and restored from the `recirc_id` after a recirculation).
//!
//! # Recirculation
//!
//! `ct(table=N)` hands the packet to conntrack and continues in table N once its connection
//! state is known. The translation freezes the registers, metadata and N under a
//! recirculation ID ([`RecircIds`]) and emits `ct(...)`, `recirc(ID)`. Actions after the `ct`
//! keep going on the original packet, so when more actions follow, the `ct` and `recirc` run
//! on a clone.
//!
//! # Drops
//!
//! A packet with no datapath action is dropped for a reason counted by the datapath: a table
//! miss, actions that say drop, an expired TTL, or a translation that was abandoned because of
//! too deep or looping resubmits or an unknown recirculation ID.

mod commit;
mod dpaction;
mod recirc;
mod trace;

use std::fmt;
use std::sync::Arc;

use crate::action::{Action, CtAction, OfPort};
use crate::field::Field;
use crate::key::{FlowKey, FlowMask, VLAN_PRESENT};
use crate::table::{FlowRule, Tables};

use commit::Commit;
pub use dpaction::{DpAction, DpActions, DpCt};
pub use recirc::{Frozen, RecircIds};
pub use trace::{Trace, TraceEvent};

/// How deep resubmits may nest before the translation gives up.
pub const MAX_RESUBMIT_DEPTH: usize = 64;

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// A table had no matching rule (OpenFlow 1.3's default table-miss behaviour).
    TableMiss,
    /// The matching rules' actions send the packet nowhere.
    NoOutput,
    /// `dec_ttl` found a TTL of 0 or 1.
    TtlExpired,
    /// Resubmits nested deeper than [`MAX_RESUBMIT_DEPTH`].
    ResubmitDepth,
    /// A resubmit came back to a table with the same key: an endless loop.
    ResubmitLoop,
    /// The packet carried a recirculation ID that no translation allocated.
    UnknownRecirc,
    /// The recirculation ID space is exhausted.
    RecircExhausted,
}

impl DropReason {
    /// Every reason, for counters.
    pub const ALL: [DropReason; 7] = [
        DropReason::TableMiss,
        DropReason::NoOutput,
        DropReason::TtlExpired,
        DropReason::ResubmitDepth,
        DropReason::ResubmitLoop,
        DropReason::UnknownRecirc,
        DropReason::RecircExhausted,
    ];

    /// The reason's name in counters and traces.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::TableMiss => "table_miss",
            DropReason::NoOutput => "no_output",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::ResubmitDepth => "resubmit_depth",
            DropReason::ResubmitLoop => "resubmit_loop",
            DropReason::UnknownRecirc => "unknown_recirc",
            DropReason::RecircExhausted => "recirc_exhausted",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The result of translating one key.
#[derive(Clone, Debug)]
pub struct Translation {
    /// What the datapath does with the packet; empty for a drop.
    pub actions: Vec<DpAction>,
    /// The bits of the key the result depended on.
    pub mask: FlowMask,
    /// Why the packet is dropped, when `actions` is empty.
    pub drop: Option<DropReason>,
    /// The rules that matched, in order, to credit with the packet.
    pub rules: Vec<Arc<FlowRule>>,
    /// The key as the last table saw it.
    pub final_key: FlowKey,
}

/// Translates `key` through `tables`.
pub fn translate(tables: &Tables, recirc: &RecircIds, key: &FlowKey) -> Translation {
    Xlate::new(tables, recirc, *key, false).run()
}

/// Translates `key` through `tables`, recording every step.
pub fn trace(tables: &Tables, recirc: &RecircIds, key: &FlowKey) -> Trace {
    let mut x = Xlate::new(tables, recirc, *key, true);
    let translation = x.run_inner();
    Trace {
        flow: *key,
        events: x.events.unwrap_or_default(),
        translation,
    }
}

/// Whether translation goes on after an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// Next action.
    Continue,
    /// Stop this action list (an expired TTL).
    StopList,
    /// Stop everything (`exit`, or a translation error).
    Exit,
}

struct Xlate<'a> {
    tables: &'a Tables,
    recirc: &'a RecircIds,
    state: Commit,
    mask: FlowMask,
    out: Vec<DpAction>,
    rules: Vec<Arc<FlowRule>>,
    action_set: Vec<Action>,
    /// (table, key) of every resubmit in progress, for loop detection.
    stack: Vec<(u8, FlowKey)>,
    /// Table and cookie of the rule whose actions run, for controller actions.
    current: (u8, u64),
    /// The rule whose actions run, for traces.
    current_rule: Option<Arc<FlowRule>>,
    error: Option<DropReason>,
    last_miss: bool,
    ttl_expired: bool,
    events: Option<Vec<TraceEvent>>,
}

impl<'a> Xlate<'a> {
    fn new(tables: &'a Tables, recirc: &'a RecircIds, key: FlowKey, trace: bool) -> Xlate<'a> {
        Xlate {
            tables,
            recirc,
            state: Commit::new(key),
            mask: FlowMask::none(),
            out: Vec::new(),
            rules: Vec::new(),
            action_set: Vec::new(),
            stack: Vec::new(),
            current: (0, 0),
            current_rule: None,
            error: None,
            last_miss: false,
            ttl_expired: false,
            events: trace.then(Vec::new),
        }
    }

    fn run(mut self) -> Translation {
        self.run_inner()
    }

    fn run_inner(&mut self) -> Translation {
        let key = self.state.key;
        for field in [Field::InPort, Field::RecircId, Field::DlType] {
            field.set_all_bits(&mut self.mask);
        }
        if key.is_ipv4() || key.is_ipv6() {
            Field::NwFrag.set_all_bits(&mut self.mask);
        }
        let start = if key.recirc_id == 0 {
            Some(0)
        } else if let Some(frozen) = self.recirc.state(key.recirc_id) {
            self.state.key.metadata = frozen.metadata;
            self.state.key.regs = frozen.regs;
            self.state.base = self.state.key;
            self.note(
                0,
                format!(
                    "resume from recirc_id {:#x} in table {}",
                    key.recirc_id, frozen.table
                ),
            );
            Some(frozen.table)
        } else {
            self.error = Some(DropReason::UnknownRecirc);
            self.note(0, format!("unknown recirc_id {:#x}", key.recirc_id));
            None
        };
        if let Some(table) = start {
            // `exit` stops the tables but, as in Open vSwitch, not the action set.
            let _ = self.table(table, 0);
            if self.error.is_none() {
                self.run_action_set();
            }
        }
        self.finish()
    }

    fn finish(&mut self) -> Translation {
        let mut actions = std::mem::take(&mut self.out);
        if self.error.is_some() {
            actions.clear();
        }
        // A clone at the very end needs no copy of the packet: nothing runs after it.
        if let Some(DpAction::Clone(_)) = actions.last() {
            if let Some(DpAction::Clone(inner)) = actions.pop() {
                actions.extend(inner);
            }
        }
        let drop = if actions.is_empty() {
            Some(self.error.unwrap_or(if self.ttl_expired {
                DropReason::TtlExpired
            } else if self.last_miss {
                DropReason::TableMiss
            } else {
                DropReason::NoOutput
            }))
        } else {
            None
        };
        let mut mask = self.mask;
        mask.0.metadata = 0;
        mask.0.regs = [0; 16];
        Translation {
            actions,
            mask,
            drop,
            rules: std::mem::take(&mut self.rules),
            final_key: self.state.key,
        }
    }

    fn note(&mut self, depth: usize, text: String) {
        if let Some(events) = &mut self.events {
            events.push(TraceEvent::Note { depth, text });
        }
    }

    /// Looks the current key up in `table` and runs the rule found.
    fn table(&mut self, table: u8, depth: usize) -> Flow {
        let Some(t) = self.tables.table(table) else {
            self.note(depth, format!("table {table} does not exist"));
            self.last_miss = true;
            return Flow::Continue;
        };
        let hit = t
            .classifier()
            .lookup(&self.state.key, &mut self.mask)
            .cloned();
        if let Some(events) = &mut self.events {
            events.push(TraceEvent::Table {
                depth,
                table,
                rule: hit.clone(),
            });
        }
        let Some(rule) = hit else {
            self.last_miss = true;
            return Flow::Continue;
        };
        self.last_miss = false;
        self.rules.push(rule.clone());
        let saved = (self.current, self.current_rule.take());
        self.current = (table, rule.cookie);
        if self.events.is_some() {
            self.current_rule = Some(rule.clone());
        }
        let mut goto = None;
        let mut flow = Flow::Continue;
        for action in rule.actions.iter() {
            if action.is_instruction() {
                // Instructions other than apply-actions run in OpenFlow's order whatever their
                // place in the list; they are traced where they run.
                self.trace_action(action, depth + 1);
            }
            match action {
                Action::GotoTable(next) => goto = Some(*next),
                Action::ClearActions => self.action_set.clear(),
                Action::WriteActions(list) => self.write_actions(list),
                Action::WriteMetadata { value, mask } => {
                    let m = &mut self.state.key.metadata;
                    *m = (*m & !mask) | (value & mask);
                }
                Action::Meter(id) => {
                    self.note(depth + 1, format!("meter:{id} (meters are not enforced)"))
                }
                _ if flow == Flow::Continue => flow = self.action(action, depth + 1),
                _ => {}
            }
        }
        (self.current, self.current_rule) = saved;
        match (flow, goto) {
            (Flow::Exit, _) => Flow::Exit,
            (_, Some(next)) => self.table(next, depth),
            _ => Flow::Continue,
        }
    }

    /// Runs a list of actions, stopping early where an action says so.
    fn actions(&mut self, actions: &[Action], depth: usize) -> Flow {
        for action in actions {
            match self.action(action, depth) {
                Flow::Continue => {}
                Flow::StopList => return Flow::Continue,
                Flow::Exit => return Flow::Exit,
            }
        }
        Flow::Continue
    }

    fn commit(&mut self) {
        self.state.commit(&mut self.out, &mut self.mask);
    }

    fn output(&mut self, port: OfPort, max_len: Option<u32>, depth: usize) {
        let in_port = self.state.key.in_port;
        let action = match port {
            OfPort::IN_PORT => DpAction::Output(in_port),
            OfPort::NORMAL => {
                for field in [Field::DlSrc, Field::DlDst, Field::VlanTci] {
                    field.set_all_bits(&mut self.mask);
                }
                DpAction::Normal
            }
            OfPort::FLOOD => DpAction::Flood,
            OfPort::ALL => DpAction::All,
            OfPort::CONTROLLER => {
                self.controller_action(crate::action::ControllerReason::Action, u16::MAX, 0)
            }
            OfPort::TABLE | OfPort::ANY => {
                self.note(
                    depth,
                    format!("output to {port} is only meaningful in packet-out, ignored"),
                );
                return;
            }
            OfPort(p) if p == in_port => {
                self.note(
                    depth,
                    format!("skipping output to input port {p} (use in_port to send it back)"),
                );
                return;
            }
            OfPort(p) => DpAction::Output(p),
        };
        self.commit();
        match (action, max_len) {
            (DpAction::Output(port), Some(max_len)) => {
                self.out.push(DpAction::OutputTrunc { port, max_len })
            }
            (action, _) => self.out.push(action),
        }
    }

    fn controller_action(
        &self,
        reason: crate::action::ControllerReason,
        max_len: u16,
        id: u16,
    ) -> DpAction {
        let (table, cookie) = self.current;
        DpAction::Controller {
            reason,
            max_len,
            id,
            table,
            cookie,
        }
    }

    fn trace_action(&mut self, action: &Action, depth: usize) {
        if let Some(events) = &mut self.events {
            events.push(TraceEvent::Action {
                depth,
                action: action.clone(),
                rule: self.current_rule.clone(),
            });
        }
    }

    /// Runs one action.
    fn action(&mut self, action: &Action, depth: usize) -> Flow {
        self.trace_action(action, depth);
        match action {
            Action::Output(port) => self.output(*port, None, depth),
            Action::OutputTrunc { port, max_len } => self.output(*port, Some(*max_len), depth),
            Action::OutputReg { src, max_len } => {
                src.unwildcard(&mut self.mask);
                let port = OfPort(u32::try_from(src.get(&self.state.key)).unwrap_or(u32::MAX));
                // `max_len` only limits what goes to the controller.
                if port == OfPort::CONTROLLER {
                    let reason = crate::action::ControllerReason::Action;
                    self.commit();
                    let action = self.controller_action(reason, *max_len, 0);
                    self.out.push(action);
                } else {
                    self.output(port, None, depth);
                }
            }
            Action::Controller(c) => {
                self.commit();
                let action = self.controller_action(c.reason, c.max_len, c.controller_id);
                self.out.push(action);
            }
            Action::SetQueue(_) | Action::PopQueue => {
                self.note(
                    depth,
                    "queues are not implemented: the packet keeps its priority".into(),
                );
            }
            Action::PushVlan(tpid) => self.push_vlan(*tpid),
            Action::PopVlan => {
                Field::VlanTci.unwildcard(&mut self.mask, u128::from(VLAN_PRESENT));
                let k = &mut self.state.key;
                if k.vlan_tci & VLAN_PRESENT != 0 {
                    k.vlan_tci = k.inner_vlan_tci;
                    k.vlan_tpid = k.inner_vlan_tpid;
                    k.inner_vlan_tci = 0;
                    k.inner_vlan_tpid = 0;
                    self.state.vlan_restructured = true;
                }
            }
            Action::SetVlanVid(vid) => self.set_vlan_bits(0x0fff, *vid & 0x0fff),
            Action::SetVlanPcp(pcp) => self.set_vlan_bits(0xe000, u16::from(*pcp & 7) << 13),
            Action::SetField { field, value, mask } => self.set_field(*field, *value, *mask),
            Action::Load { dst, value } => {
                self.set_field(dst.field, *value << dst.ofs, dst.field_mask());
            }
            Action::Move { src, dst } => {
                src.unwildcard(&mut self.mask);
                let value = src.get(&self.state.key);
                self.set_field(dst.field, value << dst.ofs, dst.field_mask());
            }
            Action::SetNwTtl(ttl) => {
                if self.state.key.is_ipv4() || self.state.key.is_ipv6() {
                    self.state.write(Field::NwTtl, u128::from(*ttl), 0xff);
                }
            }
            Action::DecTtl(_) => {
                let key = &self.state.key;
                if !(key.is_ipv4() || key.is_ipv6()) {
                    return Flow::Continue;
                }
                Field::NwTtl.set_all_bits(&mut self.mask);
                let ttl = key.nw_ttl;
                if ttl <= 1 {
                    self.ttl_expired = true;
                    self.note(
                        depth,
                        format!(
                            "TTL {ttl} expired: the packet goes no further in this action list"
                        ),
                    );
                    return Flow::StopList;
                }
                self.state.write(Field::NwTtl, u128::from(ttl - 1), 0xff);
            }
            Action::Resubmit { port, table, ct } => {
                if *ct {
                    self.note(depth, "resubmit(...,ct) uses the packet's own fields: conntrack tuples are not in the key".into());
                }
                return self.resubmit(*port, *table, depth);
            }
            Action::Clone(actions) => {
                let saved_state = self.state.clone();
                let saved_out = std::mem::take(&mut self.out);
                let flow = self.actions(actions, depth + 1);
                self.commit();
                let inner = std::mem::replace(&mut self.out, saved_out);
                self.state = saved_state;
                if !inner.is_empty() {
                    self.out.push(DpAction::Clone(inner));
                }
                if flow == Flow::Exit && self.error.is_some() {
                    return Flow::Exit;
                }
            }
            Action::Ct(ct) => return self.ct(ct, depth),
            Action::CtClear => {
                let k = &mut self.state.key;
                k.ct_state = 0;
                k.ct_zone = 0;
                k.ct_mark = 0;
                k.ct_label = [0; 16];
                self.state.base.ct_state = 0;
                self.state.base.ct_zone = 0;
                self.state.base.ct_mark = 0;
                self.state.base.ct_label = [0; 16];
                self.out.push(DpAction::CtClear);
            }
            Action::Exit => return Flow::Exit,
            Action::Group(id) => {
                self.note(
                    depth,
                    format!("group:{id}: groups are not implemented, the packet is not sent"),
                );
            }
            Action::Meter(id) => self.note(depth, format!("meter:{id} (meters are not enforced)")),
            Action::Note(_) => {}
            Action::WriteMetadata { value, mask } => {
                let m = &mut self.state.key.metadata;
                *m = (*m & !mask) | (value & mask);
            }
            // Instructions inside an action list (write_actions(goto_table...) is refused by
            // validation); in an action set they have no meaning.
            Action::GotoTable(_) | Action::ClearActions | Action::WriteActions(_) => {}
        }
        Flow::Continue
    }

    // The casts narrow values to the width of the VLAN fields they are written to; the registry
    // guarantees that the values and masks of those fields fit.
    #[allow(clippy::cast_possible_truncation)]
    fn set_field(&mut self, field: Field, value: u128, mask: u128) {
        match field {
            Field::VlanTci => {
                let (value, mask) = (value as u16, mask as u16);
                self.set_vlan_tci(value, mask);
            }
            Field::VlanVid => {
                // OpenFlow 1.3's vlan_vid includes the present bit.
                let (value, mask) = ((value as u16) & 0x1fff, (mask as u16) & 0x1fff);
                self.set_vlan_tci(value, mask);
            }
            Field::DlVlan => self.set_vlan_bits(0x0fff & mask as u16, value as u16 & 0x0fff),
            Field::DlVlanPcp => {
                self.set_vlan_bits((mask as u16 & 7) << 13, (value as u16 & 7) << 13)
            }
            Field::CtMark | Field::CtLabel => {
                // Outside ct(exec(...)) these are read-only; validation refuses such writes.
            }
            _ => self.state.write(field, value, mask),
        }
    }

    /// Writes `value` under `mask` into the outer TCI, pushing or popping a tag when the
    /// present bit changes.
    fn set_vlan_tci(&mut self, value: u16, mask: u16) {
        Field::VlanTci.unwildcard(&mut self.mask, u128::from(VLAN_PRESENT));
        let k = &mut self.state.key;
        let was_present = k.vlan_tci & VLAN_PRESENT != 0;
        k.vlan_tci = (k.vlan_tci & !mask) | (value & mask);
        let present = k.vlan_tci & VLAN_PRESENT != 0;
        if present != was_present {
            self.state.vlan_restructured = true;
            if present && k.vlan_tpid == 0 {
                k.vlan_tpid = crate::ethertype::VLAN;
            }
            if !present {
                k.vlan_tci = 0;
            }
        } else if present {
            Field::VlanTci.unwildcard(&mut self.state.written, u128::from(mask & !VLAN_PRESENT));
        }
    }

    /// Writes TCI bits (VID or PCP) as `mod_vlan_vid`/`mod_vlan_pcp` do: on an untagged packet,
    /// first push a tag with the other bits zero.
    fn set_vlan_bits(&mut self, mask: u16, value: u16) {
        self.set_vlan_tci(VLAN_PRESENT | value, VLAN_PRESENT | mask);
    }

    fn push_vlan(&mut self, tpid: u16) {
        Field::VlanTci.unwildcard(&mut self.mask, u128::from(VLAN_PRESENT));
        let k = &mut self.state.key;
        if k.vlan_tci & VLAN_PRESENT != 0 {
            if k.inner_vlan_tci & VLAN_PRESENT != 0 {
                // The key holds two tags; a third would be invisible to every later match.
                let note =
                    "push_vlan on a packet with two tags: not supported, ignored".to_string();
                self.note(0, note);
                return;
            }
            k.inner_vlan_tci = k.vlan_tci;
            k.inner_vlan_tpid = k.vlan_tpid;
        }
        // The new tag copies the VID and PCP of the tag it covers (zero when there was none).
        k.vlan_tci |= VLAN_PRESENT;
        k.vlan_tpid = tpid;
        self.state.vlan_restructured = true;
    }

    fn write_actions(&mut self, list: &[Action]) {
        for action in list {
            let slot = action_set_slot(action);
            self.action_set.retain(|a| action_set_slot(a) != slot);
            self.action_set.push(action.clone());
        }
    }

    /// Executes the action set at the end of the pipeline, in OpenFlow's order.
    fn run_action_set(&mut self) {
        if self.action_set.is_empty() {
            return;
        }
        let mut set = std::mem::take(&mut self.action_set);
        set.sort_by_key(action_set_slot);
        self.note(0, "executing the action set".into());
        let _ = self.actions(&set, 1);
    }

    fn resubmit(&mut self, port: Option<OfPort>, table: Option<u8>, depth: usize) -> Flow {
        if self.stack.len() >= MAX_RESUBMIT_DEPTH {
            self.error = Some(DropReason::ResubmitDepth);
            self.note(
                depth,
                format!("resubmits nested more than {MAX_RESUBMIT_DEPTH} deep: dropping"),
            );
            return Flow::Exit;
        }
        let table = table.unwrap_or(self.current.0);
        let saved_in_port = self.state.key.in_port;
        if let Some(port) = port.filter(|p| *p != OfPort::IN_PORT) {
            self.state.key.in_port = port.0;
        }
        let frame = (table, self.state.key);
        if self.stack.contains(&frame) {
            self.error = Some(DropReason::ResubmitLoop);
            self.note(depth, format!("resubmit to table {table} loops: dropping"));
            self.state.key.in_port = saved_in_port;
            return Flow::Exit;
        }
        self.stack.push(frame);
        let saved_current = self.current;
        let flow = self.table(table, depth);
        self.current = saved_current;
        self.stack.pop();
        self.state.key.in_port = saved_in_port;
        flow
    }

    // ct_mark is 32 bits wide: the casts keep exactly its bits.
    #[allow(clippy::cast_possible_truncation)]
    fn ct(&mut self, ct: &CtAction, depth: usize) -> Flow {
        self.commit();
        let key = &self.state.key;
        let zone = ct.zone.resolve(key);
        if let crate::action::CtZone::Field(sf) = &ct.zone {
            sf.unwildcard(&mut self.mask);
        }
        let mut step = DpCt {
            zone,
            commit: ct.commit,
            force: ct.force,
            nat: ct.nat,
            mark: None,
            label: None,
            alg: ct.alg,
        };
        for action in &ct.actions {
            if let Action::SetField { field, value, mask } = action {
                match field {
                    Field::CtMark => step.mark = Some(((*value & *mask) as u32, *mask as u32)),
                    Field::CtLabel => step.label = Some((*value & *mask, *mask)),
                    _ => {}
                }
            }
        }
        let Some(table) = ct.table else {
            self.out.push(DpAction::Ct(Box::new(step)));
            return Flow::Continue;
        };
        let frozen = Frozen {
            table,
            metadata: self.state.key.metadata,
            regs: self.state.key.regs,
        };
        let Some(id) = self.recirc.id_of(frozen) else {
            self.error = Some(DropReason::RecircExhausted);
            return Flow::Exit;
        };
        self.note(
            depth,
            format!("recirculate to table {table} as recirc_id {id:#x} after conntrack"),
        );
        // Conntrack and the recirculation work on a copy, so the actions after this one see
        // the packet as it was.
        self.out.push(DpAction::Clone(vec![
            DpAction::Ct(Box::new(step)),
            DpAction::Recirc(id),
        ]));
        Flow::Continue
    }
}

/// The position of an action in an OpenFlow action set, and its identity there: writing an
/// action replaces the one with the same slot.
fn action_set_slot(action: &Action) -> (u8, u32) {
    match action {
        Action::PopVlan => (1, 0),
        Action::PushVlan(_) => (2, 0),
        Action::DecTtl(_) => (3, 0),
        Action::SetField { field, .. } => (4, *field as u32),
        Action::Load { dst, .. } => (4, dst.field as u32),
        Action::SetVlanVid(_) => (4, Field::DlVlan as u32),
        Action::SetVlanPcp(_) => (4, Field::DlVlanPcp as u32),
        Action::SetNwTtl(_) => (4, Field::NwTtl as u32),
        Action::SetQueue(_) => (5, 0),
        Action::Group(_) => (6, 0),
        Action::Output(_)
        | Action::OutputTrunc { .. }
        | Action::OutputReg { .. }
        | Action::Controller(_) => (7, 0),
        _ => (8, 0),
    }
}

#[cfg(test)]
mod tests;
