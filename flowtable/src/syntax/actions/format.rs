//! Canonical formatting of actions, as `ovs-ofctl -O OpenFlow13` prints them.

use super::ct::format_ct;
use crate::action::{Action, Controller, ControllerReason, OfPort};
use crate::field::{ipproto, Field, SubField};
use crate::key::VLAN_PRESENT;
use crate::syntax::value::format_value;
use crate::Match;

/// The L4 protocol of a rule's match, which decides how L4 port fields are named: the
/// registry has one `tp_src`, Open vSwitch prints `tcp_src`, `udp_src` or `sctp_src`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L4 {
    Tcp,
    Udp,
    Sctp,
}

/// What formatting needs to know about the rule's match and the actions before the one being
/// formatted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx {
    /// How L4 port fields are named.
    pub l4: L4,
    /// Whether the packet is known to carry a VLAN tag at this point of the list, which decides
    /// whether `mod_vlan_vid`/`mod_vlan_pcp` print with a `push_vlan` before them.
    pub vlan: bool,
}

impl Ctx {
    /// The context at the start of the action list of a rule with match `m`.
    pub(crate) fn of(m: &Match) -> Ctx {
        let l4 = match m.get(Field::NwProto) {
            (p, 0xff) if p == u128::from(ipproto::UDP) => L4::Udp,
            (p, 0xff) if p == u128::from(ipproto::SCTP) => L4::Sctp,
            _ => L4::Tcp,
        };
        let (tci, mask) = m.get(Field::VlanTci);
        let present = u128::from(VLAN_PRESENT);
        Ctx {
            l4,
            vlan: mask & present != 0 && tci & present != 0,
        }
    }
}

/// The name `set_field` prints for a field: Open vSwitch's OXM-style names.
fn set_field_name(field: Field, l4: L4) -> &'static str {
    match (field, l4) {
        (Field::DlSrc, _) => "eth_src",
        (Field::DlDst, _) => "eth_dst",
        (Field::DlType, _) => "eth_type",
        (Field::NwSrc, _) => "ip_src",
        (Field::NwDst, _) => "ip_dst",
        (Field::NwFrag, _) => "ip_frag",
        (Field::DlVlanPcp, _) => "vlan_pcp",
        (Field::TpSrc, L4::Tcp) => "tcp_src",
        (Field::TpSrc, L4::Udp) => "udp_src",
        (Field::TpSrc, L4::Sctp) => "sctp_src",
        (Field::TpDst, L4::Tcp) => "tcp_dst",
        (Field::TpDst, L4::Udp) => "udp_dst",
        (Field::TpDst, L4::Sctp) => "sctp_dst",
        (f, _) => f.name(),
    }
}

/// The NXM/OXM name a subfield prints with (`NXM_NX_REG0`), or the field's name when it has none.
fn nxm_name(field: Field, l4: L4) -> &'static str {
    match (field, l4) {
        (Field::TpSrc, L4::Udp) => "NXM_OF_UDP_SRC",
        (Field::TpSrc, L4::Sctp) => "OXM_OF_SCTP_SRC",
        (Field::TpDst, L4::Udp) => "NXM_OF_UDP_DST",
        (Field::TpDst, L4::Sctp) => "OXM_OF_SCTP_DST",
        (f, _) => f.def().nxm.first().copied().unwrap_or(f.name()),
    }
}

/// `0x`-prefixed hexadecimal, except zero, which `ovs-ofctl` prints as `0`.
fn format_hex(value: u128) -> String {
    if value == 0 {
        "0".to_string()
    } else {
        format!("{value:#x}")
    }
}

/// A `set_field` value: as in a match, except that `set_field` prints every hexadecimal field
/// without zero padding (`set_field:0x5->ipv6_label`, where a match shows `ipv6_label=0x00005`).
fn set_field_value(field: Field, value: u128) -> String {
    match field {
        Field::Ipv6Label => format_hex(value),
        f => format_value(f, value, f.full_mask()),
    }
}

/// Formats a subfield: `NXM_NX_REG0[]`, `NXM_NX_REG0[3]`, `NXM_NX_REG0[0..15]`.
pub(crate) fn format_subfield(sf: &SubField, l4: L4) -> String {
    let (name, width) = (nxm_name(sf.field, l4), sf.field.bits());
    if sf.ofs == 0 && sf.n_bits == width {
        format!("{name}[]")
    } else if sf.n_bits == 1 {
        format!("{name}[{}]", sf.ofs)
    } else {
        format!(
            "{name}[{}..{}]",
            sf.ofs,
            (sf.ofs.saturating_add(sf.n_bits)).saturating_sub(1)
        )
    }
}

/// Formats a list, `drop` when empty. Nested lists start from a copy of `ctx`.
pub(crate) fn format_list(actions: &[Action], mut ctx: Ctx) -> String {
    let mut s = String::new();
    format_list_into(actions, &mut ctx, &mut s);
    s
}

/// Appends a formatted list to `out`, `drop` when empty, updating `ctx` as the actions go.
pub(crate) fn format_list_into(actions: &[Action], ctx: &mut Ctx, out: &mut String) {
    if actions.is_empty() {
        out.push_str("drop");
        return;
    }
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        format_action(a, ctx, out);
    }
}

/// `push_vlan:0x8100,` when the packet may have no tag: what OpenFlow 1.0's `mod_vlan_vid` and
/// `mod_vlan_pcp` do first, and how `ovs-ofctl -O OpenFlow13` spells it.
fn push_tag_if_needed(ctx: &mut Ctx, out: &mut String) {
    if !ctx.vlan {
        out.push_str("push_vlan:0x8100,");
        ctx.vlan = true;
    }
}

fn format_controller(c: &Controller, out: &mut String) {
    let plain = c.reason == ControllerReason::Action
        && c.controller_id == 0
        && c.userdata.is_empty()
        && !c.pause
        && c.meter_id.is_none();
    if plain {
        out.push_str(&format!("CONTROLLER:{}", c.max_len));
        return;
    }
    let mut parts = Vec::new();
    if c.reason != ControllerReason::Action {
        parts.push(format!("reason={}", c.reason.name()));
    }
    if c.max_len != u16::MAX {
        parts.push(format!("max_len={}", c.max_len));
    }
    if c.controller_id != 0 {
        parts.push(format!("id={}", c.controller_id));
    }
    if !c.userdata.is_empty() {
        parts.push(format!("userdata={}", dotted_hex(&c.userdata)));
    }
    if c.pause {
        parts.push("pause".into());
    }
    if let Some(m) = c.meter_id {
        parts.push(format!("meter_id={m}"));
    }
    out.push_str(&format!("controller({})", parts.join(",")));
}

fn dotted_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(".")
}

/// Appends one action to `out`.
fn format_action(a: &Action, ctx: &mut Ctx, out: &mut String) {
    let l4 = ctx.l4;
    let s = match a {
        // Only code-built lists hold this form; `normalize` makes it a `controller` action.
        Action::Output(OfPort::CONTROLLER) => "CONTROLLER:65535".into(),
        Action::Output(p) if p.is_reserved() => p.to_string(),
        Action::Output(p) => format!("output:{p}"),
        Action::OutputTrunc { port, max_len } => format!("output(port={port},max_len={max_len})"),
        Action::OutputReg { src, .. } => format!("output:{}", format_subfield(src, l4)),
        Action::Controller(c) => return format_controller(c, out),
        Action::SetQueue(q) => format!("set_queue:{q}"),
        Action::PopQueue => "pop_queue".into(),
        Action::PushVlan(tpid) => {
            ctx.vlan = true;
            format!("push_vlan:{tpid:#x}")
        }
        Action::PopVlan => {
            ctx.vlan = false;
            "pop_vlan".into()
        }
        Action::SetVlanVid(v) => {
            push_tag_if_needed(ctx, out);
            format!("set_field:{}->vlan_vid", VLAN_PRESENT | (v & 0x0fff))
        }
        Action::SetVlanPcp(p) => {
            push_tag_if_needed(ctx, out);
            format!("set_field:{}->vlan_pcp", p & 7)
        }
        Action::SetField { field, value, mask } => {
            let name = set_field_name(*field, l4);
            if *mask == field.full_mask() {
                format!("set_field:{}->{name}", set_field_value(*field, *value))
            } else {
                format!("set_field:{}->{name}", format_value(*field, *value, *mask))
            }
        }
        Action::Load { dst, value } => {
            format!("load:{}->{}", format_hex(*value), format_subfield(dst, l4))
        }
        Action::Move { src, dst } => format!(
            "move:{}->{}",
            format_subfield(src, l4),
            format_subfield(dst, l4)
        ),
        Action::SetNwTtl(t) => format!("mod_nw_ttl:{t}"),
        Action::DecTtl(ids) if ids.is_empty() => "dec_ttl".into(),
        Action::DecTtl(ids) => format!(
            "dec_ttl({})",
            ids.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
        ),
        Action::Resubmit {
            port: Some(p),
            table: None,
            ct: false,
        } => format!("resubmit:{p}"),
        Action::Resubmit { port, table, ct } => {
            let port = port.map(|p| p.to_string()).unwrap_or_default();
            let table = table.map(|t| t.to_string()).unwrap_or_default();
            let ct = if *ct { ",ct" } else { "" };
            format!("resubmit({port},{table}{ct})")
        }
        Action::Clone(list) => format!("clone({})", format_list(list, *ctx)),
        Action::Ct(ct) => return format_ct(ct, *ctx, out),
        Action::CtClear => "ct_clear".into(),
        Action::Exit => "exit".into(),
        Action::Group(g) => format!("group:{g}"),
        Action::Note(bytes) => format!("note:{}", dotted_hex(bytes)),
        Action::Meter(m) => format!("meter:{m}"),
        Action::ClearActions => "clear_actions".into(),
        Action::WriteActions(list) => format!("write_actions({})", format_list(list, *ctx)),
        Action::WriteMetadata { value, mask } if *mask == u64::MAX => {
            format!("write_metadata:{}", format_hex(u128::from(*value)))
        }
        Action::WriteMetadata { value, mask } => format!(
            "write_metadata:{}/{}",
            format_hex(u128::from(*value)),
            format_hex(u128::from(*mask))
        ),
        Action::GotoTable(t) => format!("goto_table:{t}"),
    };
    out.push_str(&s);
}
