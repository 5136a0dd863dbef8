//! Conversions between the `vswitch.v1` messages and the flowtable types.
//!
//! Every conversion from the wire checks its input and reports what is wrong as a one-line
//! reason (the service layer turns it into `INVALID_ARGUMENT`); conversions to the wire cannot
//! fail.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::{Arc, Weak};

use flowtable::action::{
    Action, Controller, ControllerReason, CtAction, CtZone, Nat, NatAddrs, NatKind, OfPort,
};
use flowtable::field::SubField;
use flowtable::syntax::actions::{format_actions_for, parse_actions};
use flowtable::syntax::flow::{
    parse_flow_mod, FlowCommand, FlowMod, FlowModFlags, DEFAULT_PRIORITY,
};
use flowtable::syntax::matches::{format_match, parse_match};
use flowtable::syntax::value::{format_value, parse_value};
use flowtable::table::FlowRule;
use flowtable::{Field, FlowMask, Match};
use proto::v1;

/// A reason why a message could not be converted.
pub type Reason = String;

/// The flow mod a [`v1::FlowSpec`] describes, for `command`.
pub fn flow_mod(spec: &v1::FlowSpec, command: FlowCommand) -> Result<FlowMod, Reason> {
    match &spec.spec {
        Some(v1::flow_spec::Spec::Text(text)) => parse_flow_text(text, command),
        Some(v1::flow_spec::Spec::Flow(flow)) => structured_flow_mod(flow, command),
        None => Err("the flow is missing: give flow text or a structured flow".to_string()),
    }
}

/// The flow mod of `text` (Open vSwitch flow syntax), for `command`.
pub fn parse_flow_text(text: &str, command: FlowCommand) -> Result<FlowMod, Reason> {
    parse_flow_mod(text, command).map_err(|e| e.to_string())
}

/// A delete flow mod that selects every flow of every table.
pub fn delete_all() -> FlowMod {
    FlowMod {
        command: FlowCommand::Delete,
        table: None,
        priority: DEFAULT_PRIORITY,
        cookie: 0,
        cookie_mask: 0,
        idle_timeout: 0,
        hard_timeout: 0,
        importance: 0,
        flags: FlowModFlags::default(),
        out_port: None,
        out_group: None,
        match_: Match::any(),
        actions: Vec::new(),
    }
}

fn u16_of(what: &str, v: u32) -> Result<u16, Reason> {
    u16::try_from(v).map_err(|_| format!("{what} {v} is out of range (0 to 65535)"))
}

fn u8_of(what: &str, v: u32) -> Result<u8, Reason> {
    u8::try_from(v).map_err(|_| format!("{what} {v} is out of range (0 to 255)"))
}

/// A table number of a request; 255 is "all tables", larger numbers are refused.
pub fn table_of(v: u32) -> Result<u8, Reason> {
    u8::try_from(v).map_err(|_| format!("table {v} is out of range (tables are 0 to 254)"))
}

fn structured_flow_mod(flow: &v1::Flow, command: FlowCommand) -> Result<FlowMod, Reason> {
    let match_ = match &flow.r#match {
        Some(m) => match_of(m)?,
        None => Match::any(),
    };
    let table = flow.table.map(table_of).transpose()?;
    let mut actions = match (&flow.actions, command) {
        (_, FlowCommand::Delete) | (None, _) => Vec::new(),
        (Some(a), _) => actions_of(a)?,
    };
    if command != FlowCommand::Delete {
        flowtable::action::normalize(&mut actions, &match_);
        flowtable::action::validate(&actions, &match_, table.unwrap_or(0))
            .map_err(|e| e.to_string())?;
    }
    let flags = flow.flags.unwrap_or_default();
    Ok(FlowMod {
        command,
        table,
        priority: flow
            .priority
            .map(|p| u16_of("priority", p))
            .transpose()?
            .unwrap_or(DEFAULT_PRIORITY),
        cookie: flow.cookie,
        cookie_mask: flow.cookie_mask,
        idle_timeout: u16_of("idle_timeout", flow.idle_timeout)?,
        hard_timeout: u16_of("hard_timeout", flow.hard_timeout)?,
        importance: u16_of("importance", flow.importance)?,
        flags: FlowModFlags {
            send_flow_rem: flags.send_flow_rem,
            check_overlap: flags.check_overlap,
            reset_counts: flags.reset_counts,
            no_packet_counts: flags.no_packet_counts,
            no_byte_counts: flags.no_byte_counts,
        },
        out_port: flow.out_port.as_ref().map(port_of).transpose()?,
        out_group: flow.out_group,
        match_,
        actions,
    })
}

/// The match a [`v1::Match`] describes. Typed entries must bring their prerequisites.
pub fn match_of(m: &v1::Match) -> Result<Match, Reason> {
    match &m.spec {
        Some(v1::r#match::Spec::Text(text)) => {
            parse_match(text, 0, text.len()).map_err(|e| e.to_string())
        }
        Some(v1::r#match::Spec::Fields(fields)) => match_of_fields(fields),
        None => Ok(Match::any()),
    }
}

fn field_of(name: &str) -> Result<Field, Reason> {
    Field::from_name(name).ok_or_else(|| format!("unknown field \"{name}\""))
}

/// The value of `field` in `v`, right-aligned; the mask a text value carries (`10.0.0.0/8`)
/// is returned too.
fn value_of(field: Field, v: &v1::FieldValue) -> Result<(u128, Option<u128>), Reason> {
    match &v.kind {
        Some(v1::field_value::Kind::Bytes(bytes)) => {
            let width = usize::try_from(field.bits().div_ceil(8)).unwrap_or(16);
            if bytes.len() > width {
                return Err(format!(
                    "{}: {} bytes given, the field has {width}",
                    field.name(),
                    bytes.len()
                ));
            }
            let value = bytes
                .iter()
                .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
            if value & !field.full_mask() != 0 {
                return Err(format!(
                    "{}: value {value:#x} is wider than the field's {} bits",
                    field.name(),
                    field.bits()
                ));
            }
            Ok((value, None))
        }
        Some(v1::field_value::Kind::Text(text)) => {
            let (value, mask) = parse_value(text, 0, text.len(), field)
                .map_err(|e| format!("{}: {}", field.name(), e.message))?;
            Ok((value, (mask != field.full_mask()).then_some(mask)))
        }
        None => Err(format!("{}: the value is missing", field.name())),
    }
}

fn match_of_fields(fields: &v1::MatchFields) -> Result<Match, Reason> {
    let mut m = Match::any();
    for entry in &fields.fields {
        let field = field_of(&entry.field)?;
        let value = entry
            .value
            .as_ref()
            .ok_or_else(|| format!("{}: the value is missing", field.name()))?;
        let (value, text_mask) = value_of(field, value)?;
        let mask = match &entry.mask {
            Some(mask) => value_of(field, mask)?.0,
            None => text_mask.unwrap_or_else(|| field.full_mask()),
        };
        m.set_masked(field, value & mask, mask);
    }
    for entry in &fields.fields {
        let field = field_of(&entry.field)?;
        let prereq = field.def().prereq;
        if !prereq.is_met_by(&m) {
            return Err(format!(
                "{} needs a match on {}",
                field.name(),
                prereq.describe()
            ));
        }
    }
    Ok(m)
}

/// The typed entries of a match: every field with a nonzero mask, values and masks in text.
pub fn match_fields(m: &Match) -> v1::MatchFields {
    let text = |s: String| {
        Some(v1::FieldValue {
            kind: Some(v1::field_value::Kind::Text(s)),
        })
    };
    let fields = Field::ALL
        .iter()
        .filter(|f| !f.is_alias())
        .filter_map(|&field| {
            let (value, mask) = m.get(field);
            if mask == 0 {
                return None;
            }
            let full = field.full_mask();
            Some(v1::MatchField {
                field: field.name().to_string(),
                value: text(format_value(field, value, full)),
                mask: if mask == full {
                    None
                } else {
                    text(format_value(field, mask, full))
                },
            })
        })
        .collect();
    v1::MatchFields { fields }
}

/// The actions a [`v1::Actions`] describes.
pub fn actions_of(a: &v1::Actions) -> Result<Vec<Action>, Reason> {
    match &a.spec {
        Some(v1::actions::Spec::Text(text)) => parse_actions(text, 0).map_err(|e| e.to_string()),
        Some(v1::actions::Spec::List(list)) => action_list(&list.actions),
        None => Ok(Vec::new()),
    }
}

fn action_list(actions: &[v1::Action]) -> Result<Vec<Action>, Reason> {
    actions.iter().map(action_of).collect()
}

fn port_of(p: &v1::PortRef) -> Result<OfPort, Reason> {
    match &p.port {
        Some(v1::port_ref::Port::Number(n)) => {
            let port = OfPort(*n);
            if *n == 0 || (*n > OfPort::MAX.0 && port.name().is_none()) {
                Err(format!("port {n} is not a valid port number"))
            } else {
                Ok(port)
            }
        }
        Some(v1::port_ref::Port::Name(name)) => {
            OfPort::parse(name).ok_or_else(|| format!("unknown port \"{name}\""))
        }
        None => Err("the port is missing".to_string()),
    }
}

fn subfield_of(s: Option<&v1::SubField>) -> Result<SubField, Reason> {
    let s = s.ok_or("a subfield is missing")?;
    let field = field_of(&s.field)?;
    let n_bits = if s.n_bits == 0 {
        field.bits().saturating_sub(s.offset)
    } else {
        s.n_bits
    };
    if n_bits == 0 || s.offset.saturating_add(n_bits) > field.bits() {
        return Err(format!(
            "{}[{}..{}] is outside the field's {} bits",
            field.name(),
            s.offset,
            s.offset.saturating_add(n_bits).saturating_sub(1),
            field.bits()
        ));
    }
    Ok(SubField {
        field,
        ofs: s.offset,
        n_bits,
    })
}

fn subfield_to(s: &SubField) -> v1::SubField {
    v1::SubField {
        field: s.field.name().to_string(),
        offset: s.ofs,
        n_bits: s.n_bits,
    }
}

fn controller_reason_of(r: i32) -> Result<ControllerReason, Reason> {
    use v1::ControllerReason as R;
    Ok(
        match R::try_from(r).map_err(|_| format!("unknown controller reason {r}"))? {
            R::Unspecified | R::Action => ControllerReason::Action,
            R::NoMatch => ControllerReason::NoMatch,
            R::InvalidTtl => ControllerReason::InvalidTtl,
            R::ActionSet => ControllerReason::ActionSet,
            R::Group => ControllerReason::Group,
            R::PacketOut => ControllerReason::PacketOut,
        },
    )
}

fn controller_reason_to(r: ControllerReason) -> v1::ControllerReason {
    use v1::ControllerReason as R;
    match r {
        ControllerReason::Action => R::Action,
        ControllerReason::NoMatch => R::NoMatch,
        ControllerReason::InvalidTtl => R::InvalidTtl,
        ControllerReason::ActionSet => R::ActionSet,
        ControllerReason::Group => R::Group,
        ControllerReason::PacketOut => R::PacketOut,
    }
}

fn max_len_of(v: u32) -> Result<u16, Reason> {
    if v == 0 {
        Ok(u16::MAX)
    } else {
        u16_of("max_len", v)
    }
}

fn ip_of(s: &str) -> Result<IpAddr, Reason> {
    s.parse()
        .map_err(|_| format!("expected an IP address, found \"{s}\""))
}

fn nat_of(n: &v1::Nat) -> Result<Nat, Reason> {
    let kind = match v1::NatKind::try_from(n.kind) {
        Ok(v1::NatKind::Unspecified) => None,
        Ok(v1::NatKind::Src) => Some(NatKind::Src),
        Ok(v1::NatKind::Dst) => Some(NatKind::Dst),
        Err(_) => return Err(format!("unknown NAT kind {}", n.kind)),
    };
    let addrs = if n.addr_min.is_empty() {
        None
    } else {
        let min = ip_of(&n.addr_min)?;
        let max = if n.addr_max.is_empty() {
            min
        } else {
            ip_of(&n.addr_max)?
        };
        Some(NatAddrs { min, max })
    };
    let ports = if n.port_min == 0 && n.port_max == 0 {
        None
    } else {
        let min = u16_of("NAT port", n.port_min)?;
        let max = if n.port_max == 0 {
            min
        } else {
            u16_of("NAT port", n.port_max)?
        };
        Some((min, max))
    };
    Ok(Nat {
        kind,
        addrs,
        ports,
        random: n.random,
        hash: n.hash,
        persistent: n.persistent,
    })
}

fn nat_to(n: &Nat) -> v1::Nat {
    let kind = match n.kind {
        None => v1::NatKind::Unspecified,
        Some(NatKind::Src) => v1::NatKind::Src,
        Some(NatKind::Dst) => v1::NatKind::Dst,
    };
    let (port_min, port_max) = n
        .ports
        .map_or((0, 0), |(a, b)| (u32::from(a), u32::from(b)));
    v1::Nat {
        kind: kind.into(),
        addr_min: n.addrs.map(|a| a.min.to_string()).unwrap_or_default(),
        addr_max: n.addrs.map(|a| a.max.to_string()).unwrap_or_default(),
        port_min,
        port_max,
        random: n.random,
        hash: n.hash,
        persistent: n.persistent,
    }
}

/// The flowtable action a typed action describes.
pub fn action_of(a: &v1::Action) -> Result<Action, Reason> {
    use v1::action::Action as A;
    let a = a.action.as_ref().ok_or("an action is empty")?;
    Ok(match a {
        A::Output(o) => Action::Output(port_of(o.port.as_ref().ok_or("output: no port")?)?),
        A::OutputTrunc(o) => Action::OutputTrunc {
            port: port_of(o.port.as_ref().ok_or("output: no port")?)?,
            max_len: o.max_len,
        },
        A::OutputReg(o) => Action::OutputReg {
            src: subfield_of(o.src.as_ref())?,
            max_len: max_len_of(o.max_len)?,
        },
        A::Controller(c) => Action::Controller(Box::new(Controller {
            max_len: max_len_of(c.max_len)?,
            reason: controller_reason_of(c.reason)?,
            controller_id: u16_of("controller id", c.controller_id)?,
            userdata: c.userdata.clone(),
            pause: c.pause,
            meter_id: c.meter_id,
        })),
        A::SetQueue(q) => Action::SetQueue(*q),
        A::PopQueue(_) => Action::PopQueue,
        A::PushVlan(t) => Action::PushVlan(u16_of("push_vlan ethertype", *t)?),
        A::PopVlan(_) => Action::PopVlan,
        A::SetVlanVid(v) => {
            if *v > 0xfff {
                return Err(format!("mod_vlan_vid {v} is out of range (0 to 4095)"));
            }
            Action::SetVlanVid(u16_of("VLAN ID", *v)?)
        }
        A::SetVlanPcp(p) => {
            if *p > 7 {
                return Err(format!("mod_vlan_pcp {p} is out of range (0 to 7)"));
            }
            Action::SetVlanPcp(u8_of("VLAN PCP", *p)?)
        }
        A::SetField(s) => {
            let field = field_of(&s.field)?;
            let value = s.value.as_ref().ok_or("set_field: the value is missing")?;
            let (value, text_mask) = value_of(field, value)?;
            let mask = match &s.mask {
                Some(m) => value_of(field, m)?.0,
                None => text_mask.unwrap_or_else(|| field.full_mask()),
            };
            Action::SetField {
                field,
                value: value & mask,
                mask,
            }
        }
        A::Load(l) => {
            let dst = subfield_of(l.dst.as_ref())?;
            let value = l.value.as_ref().ok_or("load: the value is missing")?;
            let (value, _) = match &value.kind {
                Some(v1::field_value::Kind::Text(t)) => (
                    flowtable::syntax::value::parse_number(t)
                        .ok_or_else(|| format!("load: expected a number, found \"{t}\""))?,
                    None,
                ),
                _ => value_of(dst.field, value)?,
            };
            if value & !(dst.field_mask() >> dst.ofs) != 0 {
                return Err(format!(
                    "load: value {value:#x} does not fit in {} bits",
                    dst.n_bits
                ));
            }
            Action::Load { dst, value }
        }
        A::Move(m) => {
            let src = subfield_of(m.src.as_ref())?;
            let dst = subfield_of(m.dst.as_ref())?;
            if src.n_bits != dst.n_bits {
                return Err(format!(
                    "move: source has {} bits, destination {}",
                    src.n_bits, dst.n_bits
                ));
            }
            Action::Move { src, dst }
        }
        A::SetNwTtl(t) => Action::SetNwTtl(u8_of("TTL", *t)?),
        A::DecTtl(d) => Action::DecTtl(
            d.controller_ids
                .iter()
                .map(|id| u16_of("controller id", *id))
                .collect::<Result<_, _>>()?,
        ),
        A::Resubmit(r) => Action::Resubmit {
            port: r.port.as_ref().map(port_of).transpose()?,
            table: r.table.map(|t| u8_of("table", t)).transpose()?,
            ct: r.ct,
        },
        A::Clone(list) => Action::Clone(action_list(&list.actions)?),
        A::Ct(ct) => Action::Ct(Box::new(CtAction {
            commit: ct.commit,
            force: ct.force,
            zone: match &ct.zone {
                None => CtZone::Imm(0),
                Some(v1::ct_action::Zone::ZoneImm(z)) => CtZone::Imm(u16_of("zone", *z)?),
                Some(v1::ct_action::Zone::ZoneField(f)) => CtZone::Field(subfield_of(Some(f))?),
            },
            table: ct.table.map(|t| u8_of("table", t)).transpose()?,
            alg: ct.alg.map(|a| u16_of("alg", a)).transpose()?,
            nat: ct.nat.as_ref().map(nat_of).transpose()?,
            actions: action_list(&ct.actions)?,
        })),
        A::CtClear(_) => Action::CtClear,
        A::Exit(_) => Action::Exit,
        A::Group(g) => Action::Group(*g),
        A::Note(n) => Action::Note(n.clone()),
        A::Meter(m) => Action::Meter(*m),
        A::ClearActions(_) => Action::ClearActions,
        A::WriteActions(list) => Action::WriteActions(action_list(&list.actions)?),
        A::WriteMetadata(w) => Action::WriteMetadata {
            value: w.value,
            mask: if w.mask == 0 { u64::MAX } else { w.mask },
        },
        A::GotoTable(t) => Action::GotoTable(u8_of("table", *t)?),
    })
}

fn port_to(p: OfPort) -> Option<v1::PortRef> {
    Some(v1::PortRef {
        port: Some(match p.name() {
            Some(name) => v1::port_ref::Port::Name(name.to_string()),
            None => v1::port_ref::Port::Number(p.0),
        }),
    })
}

/// The typed form of an action.
pub fn action_to(a: &Action) -> v1::Action {
    use v1::action::Action as A;
    let none = v1::NoArgs {};
    let list = |l: &[Action]| v1::ActionList {
        actions: actions_to(l),
    };
    let text = |s: String| {
        Some(v1::FieldValue {
            kind: Some(v1::field_value::Kind::Text(s)),
        })
    };
    let action = match a {
        Action::Output(p) => A::Output(v1::OutputAction { port: port_to(*p) }),
        Action::OutputTrunc { port, max_len } => A::OutputTrunc(v1::OutputTruncAction {
            port: port_to(*port),
            max_len: *max_len,
        }),
        Action::OutputReg { src, max_len } => A::OutputReg(v1::OutputRegAction {
            src: Some(subfield_to(src)),
            max_len: u32::from(*max_len),
        }),
        Action::Controller(c) => A::Controller(v1::ControllerAction {
            max_len: u32::from(c.max_len),
            reason: controller_reason_to(c.reason).into(),
            controller_id: u32::from(c.controller_id),
            userdata: c.userdata.clone(),
            pause: c.pause,
            meter_id: c.meter_id,
        }),
        Action::SetQueue(q) => A::SetQueue(*q),
        Action::PopQueue => A::PopQueue(none),
        Action::PushVlan(t) => A::PushVlan(u32::from(*t)),
        Action::PopVlan => A::PopVlan(none),
        Action::SetVlanVid(v) => A::SetVlanVid(u32::from(*v)),
        Action::SetVlanPcp(p) => A::SetVlanPcp(u32::from(*p)),
        Action::SetField { field, value, mask } => {
            let full = field.full_mask();
            A::SetField(v1::SetFieldAction {
                field: field.name().to_string(),
                value: text(format_value(*field, *value, full)),
                mask: if *mask == full {
                    None
                } else {
                    text(format_value(*field, *mask, full))
                },
            })
        }
        Action::Load { dst, value } => A::Load(v1::LoadAction {
            dst: Some(subfield_to(dst)),
            value: text(format!("{value:#x}")),
        }),
        Action::Move { src, dst } => A::Move(v1::MoveAction {
            src: Some(subfield_to(src)),
            dst: Some(subfield_to(dst)),
        }),
        Action::SetNwTtl(t) => A::SetNwTtl(u32::from(*t)),
        Action::DecTtl(ids) => A::DecTtl(v1::DecTtlAction {
            controller_ids: ids.iter().map(|i| u32::from(*i)).collect(),
        }),
        Action::Resubmit { port, table, ct } => A::Resubmit(v1::ResubmitAction {
            port: port.and_then(port_to),
            table: table.map(u32::from),
            ct: *ct,
        }),
        Action::Clone(l) => A::Clone(list(l)),
        Action::Ct(ct) => A::Ct(v1::CtAction {
            commit: ct.commit,
            force: ct.force,
            zone: Some(match ct.zone {
                CtZone::Imm(z) => v1::ct_action::Zone::ZoneImm(u32::from(z)),
                CtZone::Field(f) => v1::ct_action::Zone::ZoneField(subfield_to(&f)),
            }),
            table: ct.table.map(u32::from),
            alg: ct.alg.map(u32::from),
            nat: ct.nat.as_ref().map(nat_to),
            actions: actions_to(&ct.actions),
        }),
        Action::CtClear => A::CtClear(none),
        Action::Exit => A::Exit(none),
        Action::Group(g) => A::Group(*g),
        Action::Note(n) => A::Note(n.clone()),
        Action::Meter(m) => A::Meter(*m),
        Action::ClearActions => A::ClearActions(none),
        Action::WriteActions(l) => A::WriteActions(list(l)),
        Action::WriteMetadata { value, mask } => A::WriteMetadata(v1::WriteMetadataAction {
            value: *value,
            mask: *mask,
        }),
        Action::GotoTable(t) => A::GotoTable(u32::from(*t)),
    };
    v1::Action {
        action: Some(action),
    }
}

/// The typed form of an action list.
pub fn actions_to(actions: &[Action]) -> Vec<v1::Action> {
    actions.iter().map(action_to).collect()
}

/// The text forms of a rule's match and actions: the costly part of formatting a rule, kept in
/// a [`TextCache`] so that saving and dumping many rules formats each rule once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleText {
    /// The match, as `ovs-ofctl dump-flows` prints it (empty for a match-all).
    pub match_text: String,
    /// The actions, as `ovs-ofctl dump-flows` prints them after `actions=`.
    pub actions_text: String,
}

impl RuleText {
    /// Formats `rule`'s match and actions.
    pub fn of(rule: &FlowRule) -> RuleText {
        RuleText {
            match_text: format_match(&rule.match_),
            actions_text: format_actions_for(&rule.actions, &rule.match_),
        }
    }
}

/// Formatted rules, keyed by the rule's allocation. A rule is immutable and a change makes new
/// `Arc<FlowRule>`s, so an entry whose rule is still alive is still right; entries of dropped
/// rules are pruned (a `Weak` tells, which also keeps a reused address from matching).
#[derive(Debug, Default)]
pub struct TextCache {
    map: HashMap<usize, (Weak<FlowRule>, Arc<RuleText>)>,
}

impl TextCache {
    /// The text of `rule`, formatted now if it is not cached.
    pub fn text(&mut self, rule: &Arc<FlowRule>) -> Arc<RuleText> {
        let key = Arc::as_ptr(rule) as usize;
        if let Some((weak, text)) = self.map.get(&key) {
            if weak.upgrade().is_some_and(|r| Arc::ptr_eq(&r, rule)) {
                return text.clone();
            }
        }
        let text = Arc::new(RuleText::of(rule));
        self.map.insert(key, (Arc::downgrade(rule), text.clone()));
        text
    }

    fn cached(&self, rule: &Arc<FlowRule>) -> bool {
        self.map
            .get(&(Arc::as_ptr(rule) as usize))
            .is_some_and(|(weak, _)| weak.upgrade().is_some_and(|r| Arc::ptr_eq(&r, rule)))
    }

    /// Formats the rules of `rules` that are not cached yet, on several threads when there
    /// are many.
    pub fn fill(&mut self, rules: &[&Arc<FlowRule>]) {
        let missing: Vec<&Arc<FlowRule>> =
            rules.iter().copied().filter(|r| !self.cached(r)).collect();
        let texts = parallel_map(&missing, |r| RuleText::of(r));
        for (rule, text) in missing.into_iter().zip(texts) {
            self.map.insert(
                Arc::as_ptr(rule) as usize,
                (Arc::downgrade(rule), Arc::new(text)),
            );
        }
    }

    /// Forgets the rules no snapshot holds any more.
    pub fn prune(&mut self) {
        self.map.retain(|_, (weak, _)| weak.strong_count() > 0);
    }

    /// Number of cached rules.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Below this many items, [`parallel_map`] does not start threads.
const PARALLEL_MIN: usize = 4096;

/// `items.iter().map(f).collect()`, split over the machine's cores when there are many items
/// (formatting or parsing 100,000 flows), in order.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if threads < 2 || items.len() < PARALLEL_MIN {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(v) => v,
                // A panic in `f` is a bug; let it surface as it would have without threads.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Items per chunk of [`pipeline`]: large enough that handing a chunk over costs little, small
/// enough that the chunks in flight stay in the caches.
const PIPELINE_CHUNK: usize = 1024;

/// Chunks each worker of [`pipeline`] may have finished ahead of the consumer.
const PIPELINE_AHEAD: usize = 2;

/// `items.into_iter().map(f)`, consumed in order by `sink` on the calling thread while worker
/// threads map the items that follow: parsing a bundle overlaps with applying it, and only a
/// few chunks of parsed flow mods exist at a time rather than the whole bundle.
///
/// `sink` returns [`ControlFlow::Break`] to stop; the items not yet mapped are then dropped
/// unmapped. Below [`PARALLEL_MIN`] items, or on a single core, everything runs on the calling
/// thread.
pub fn pipeline<T: Send, R: Send>(
    items: Vec<T>,
    f: impl Fn(T) -> R + Sync,
    mut sink: impl FnMut(R) -> ControlFlow<()>,
) {
    // One worker per core but one: the calling thread, which consumes (applies), keeps a core
    // of its own. On two cores, one parse worker beside the applier loaded 100 000 flows 10-15%
    // faster than two (alternating A/B, docs/PERFORMANCE.md "Flow load").
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let workers = cores.saturating_sub(1).max(1);
    if cores < 2 || items.len() < PARALLEL_MIN {
        for item in items {
            if sink(f(item)).is_break() {
                return;
            }
        }
        return;
    }
    // Chunk `c` goes to worker `c % workers`, so the consumer knows whom to wait for next.
    let mut shares: Vec<Vec<Vec<T>>> = (0..workers).map(|_| Vec::new()).collect();
    let mut n_chunks = 0;
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let chunk: Vec<T> = items.by_ref().take(PIPELINE_CHUNK).collect();
        if let Some(share) = shares.get_mut(n_chunks % workers) {
            share.push(chunk);
        }
        n_chunks += 1;
    }
    std::thread::scope(|scope| {
        let f = &f;
        let receivers: Vec<_> = shares
            .into_iter()
            .map(|share| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<R>>(PIPELINE_AHEAD);
                scope.spawn(move || {
                    for chunk in share {
                        // A closed channel means the consumer stopped: drop the rest.
                        if tx.send(chunk.into_iter().map(f).collect()).is_err() {
                            return;
                        }
                    }
                });
                rx
            })
            .collect();
        'chunks: for c in 0..n_chunks {
            // A worker only hangs up early by panicking; the scope re-raises the panic.
            let Some(Ok(mapped)) = receivers.get(c % workers).map(|rx| rx.recv()) else {
                break;
            };
            for r in mapped {
                if sink(r).is_break() {
                    break 'chunks;
                }
            }
        }
        // Unblocks the workers still sending, before the scope joins them.
        drop(receivers);
    });
}

/// A rule as a line `add-flow` accepts, with its table, cookie, timeouts and flags, so that
/// parsing the line gives the rule back.
pub fn rule_text(rule: &FlowRule) -> String {
    rule_line(rule, &RuleText::of(rule))
}

/// [`rule_text`] from the rule's already formatted match and actions.
pub fn rule_line(rule: &FlowRule, text: &RuleText) -> String {
    let mut line = String::with_capacity(text.match_text.len() + text.actions_text.len() + 48);
    // Writing into a String cannot fail: the results of `write!` below are ignored.
    let _ = write!(line, "table={},priority={}", rule.table, rule.priority);
    if rule.cookie != 0 {
        let _ = write!(line, ",cookie={:#x}", rule.cookie);
    }
    if rule.idle_timeout != 0 {
        let _ = write!(line, ",idle_timeout={}", rule.idle_timeout);
    }
    if rule.hard_timeout != 0 {
        let _ = write!(line, ",hard_timeout={}", rule.hard_timeout);
    }
    if rule.importance != 0 {
        let _ = write!(line, ",importance={}", rule.importance);
    }
    for name in rule.flags.names() {
        line.push(',');
        line.push_str(name);
    }
    if !text.match_text.is_empty() {
        line.push(',');
        line.push_str(&text.match_text);
    }
    line.push_str(" actions=");
    line.push_str(&text.actions_text);
    line
}

/// A flow mod as text `parse_flow_mod` turns back into an equal flow mod (for the journal):
/// every parameter explicit, the cookie mask for modify and delete, no actions for delete.
pub fn flow_mod_text(fm: &FlowMod) -> String {
    let mut line = String::with_capacity(96);
    // Writing into a String cannot fail: the results of `write!` below are ignored.
    if let Some(t) = fm.table {
        let _ = write!(line, "table={t},");
    }
    let _ = write!(line, "priority={}", fm.priority);
    if fm.command == FlowCommand::Add || fm.cookie_mask == 0 {
        if fm.cookie != 0 {
            let _ = write!(line, ",cookie={:#x}", fm.cookie);
        }
    } else {
        let _ = write!(line, ",cookie={:#x}/{:#x}", fm.cookie, fm.cookie_mask);
    }
    for (value, name) in [
        (fm.idle_timeout, "idle_timeout"),
        (fm.hard_timeout, "hard_timeout"),
        (fm.importance, "importance"),
    ] {
        if value != 0 {
            let _ = write!(line, ",{name}={value}");
        }
    }
    for name in fm.flags.names() {
        line.push(',');
        line.push_str(name);
    }
    if let Some(p) = fm.out_port {
        let _ = write!(line, ",out_port={p}");
    }
    if let Some(g) = fm.out_group {
        let _ = write!(line, ",out_group={g}");
    }
    let m = format_match(&fm.match_);
    if !m.is_empty() {
        line.push(',');
        line.push_str(&m);
    }
    if fm.command != FlowCommand::Delete {
        line.push_str(" actions=");
        line.push_str(&format_actions_for(&fm.actions, &fm.match_));
    }
    line
}

/// A strict delete of exactly `rule` (for the journal of expired rules).
pub fn delete_exactly(rule: &FlowRule) -> FlowMod {
    FlowMod {
        table: Some(rule.table),
        priority: rule.priority,
        match_: rule.match_,
        ..delete_all()
    }
}

/// A rule with its counters, at time `now`.
pub fn flow_entry(rule: &FlowRule, now: flowtable::table::Millis) -> v1::FlowEntry {
    flow_entry_with(rule, now, &RuleText::of(rule))
}

/// [`flow_entry`] from the rule's already formatted match and actions.
pub fn flow_entry_with(
    rule: &FlowRule,
    now: flowtable::table::Millis,
    text: &RuleText,
) -> v1::FlowEntry {
    let flags = rule.flags;
    v1::FlowEntry {
        table: u32::from(rule.table),
        priority: u32::from(rule.priority),
        cookie: rule.cookie,
        idle_timeout: u32::from(rule.idle_timeout),
        hard_timeout: u32::from(rule.hard_timeout),
        importance: u32::from(rule.importance),
        flags: Some(v1::FlowFlags {
            send_flow_rem: flags.send_flow_rem,
            check_overlap: flags.check_overlap,
            reset_counts: flags.reset_counts,
            no_packet_counts: flags.no_packet_counts,
            no_byte_counts: flags.no_byte_counts,
        }),
        duration_ms: now.saturating_sub(rule.created),
        packet_count: rule.stats.packets(),
        byte_count: rule.stats.bytes(),
        idle_age_ms: now.saturating_sub(rule.idle_since()),
        r#match: Some(match_fields(&rule.match_)),
        match_text: text.match_text.clone(),
        actions: Some(v1::ActionList {
            actions: actions_to(&rule.actions),
        }),
        actions_text: text.actions_text.clone(),
        text: rule_line(rule, text),
    }
}

/// The text form of a masked key, for megaflows and traces.
pub fn masked_key_text(key: &flowtable::FlowKey, mask: &FlowMask) -> String {
    let text = format_match(&Match::new(*key, *mask));
    if text.is_empty() {
        "<any>".to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_keeps_order_and_stops_when_told() {
        // Enough items for worker threads, and a last chunk that is not full.
        let n = PARALLEL_MIN * 3 + 17;
        let mut seen = Vec::new();
        pipeline(
            (0..n).collect(),
            |i| i * 2,
            |v| {
                seen.push(v);
                ControlFlow::Continue(())
            },
        );
        assert_eq!(seen, (0..n).map(|i| i * 2).collect::<Vec<_>>());

        let stop = PIPELINE_CHUNK * 2 + 5;
        let mut seen = Vec::new();
        pipeline(
            (0..n).collect(),
            |i| i,
            |v| {
                seen.push(v);
                if v == stop {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        assert_eq!(seen, (0..=stop).collect::<Vec<_>>());

        let mut seen = Vec::new();
        pipeline(
            vec![3, 1, 2],
            |i| i,
            |v| {
                seen.push(v);
                ControlFlow::Continue(())
            },
        );
        assert_eq!(seen, [3, 1, 2]);
    }

    #[test]
    fn flow_mod_text_round_trips() {
        let cases = [
            (FlowCommand::Add, "table=3,priority=7,cookie=0x1f,idle_timeout=10,hard_timeout=20,importance=3,send_flow_rem,check_overlap,ip,nw_dst=10.0.0.0/8,actions=dec_ttl,output:2"),
            (FlowCommand::Add, "actions=drop"),
            (FlowCommand::Add, "tcp,tp_dst=80,actions=mod_vlan_vid:5,resubmit(,3)"),
            (FlowCommand::Modify, "cookie=0x5/0xff,reset_counts,udp,actions=output:4"),
            (FlowCommand::Delete, "table=1,cookie=0x10/0xffffffffffffffff,out_port=2,ip"),
            (FlowCommand::Delete, "out_port=CONTROLLER"),
            (FlowCommand::Delete, ""),
        ];
        for (command, text) in cases {
            let fm = parse_flow_mod(text, command).unwrap_or_else(|e| panic!("{text}: {e}"));
            let line = flow_mod_text(&fm);
            let back = parse_flow_mod(&line, command).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(back, fm, "{text} -> {line}");
        }
        let fm = convert_delete_of_rule();
        let line = flow_mod_text(&fm);
        let back =
            parse_flow_mod(&line, FlowCommand::Delete).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(back, fm, "{line}");
    }

    fn convert_delete_of_rule() -> FlowMod {
        let mut tables = flowtable::table::Tables::new();
        let fm = parse_flow_mod("table=4,priority=9,arp,actions=drop", FlowCommand::Add)
            .unwrap_or_else(|e| panic!("{e}"));
        tables
            .apply(&fm, false, 0)
            .unwrap_or_else(|e| panic!("{e}"));
        let rule = tables.rules().next().unwrap_or_else(|| panic!("no rule"));
        delete_exactly(rule)
    }
}
