//! Canonical formatting of actions, as `ovs-ofctl -O OpenFlow13` prints them.

use super::ct::format_ct;
use super::fieldval::{format_hex, format_value};
use crate::action::{Action, Controller, ControllerReason};
use crate::field::{ipproto, Field, SubField};
use crate::Match;

/// The L4 protocol of a rule's match, which decides how L4 port fields are named: the
/// registry has one `tp_src`, Open vSwitch prints `tcp_src`, `udp_src` or `sctp_src`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L4 {
    Tcp,
    Udp,
    Sctp,
}

/// The L4 protocol a match names, TCP when it names none.
pub(crate) fn l4_of(m: &Match) -> L4 {
    match m.get(Field::NwProto) {
        (p, 0xff) if p == u128::from(ipproto::UDP) => L4::Udp,
        (p, 0xff) if p == u128::from(ipproto::SCTP) => L4::Sctp,
        _ => L4::Tcp,
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

/// Formats a subfield: `NXM_NX_REG0[]`, `NXM_NX_REG0[3]`, `NXM_NX_REG0[0..15]`.
pub(crate) fn format_subfield(sf: &SubField, l4: L4) -> String {
    let name = nxm_name(sf.field, l4);
    if sf.ofs == 0 && sf.n_bits == sf.field.bits() {
        format!("{name}[]")
    } else if sf.n_bits == 1 {
        format!("{name}[{}]", sf.ofs)
    } else {
        format!("{name}[{}..{}]", sf.ofs, sf.ofs + sf.n_bits - 1)
    }
}

/// Formats a list, `drop` when empty.
pub(crate) fn format_list(actions: &[Action], l4: L4) -> String {
    let mut s = String::new();
    format_list_into(actions, l4, &mut s);
    s
}

/// Appends a formatted list to `out`, `drop` when empty.
pub(crate) fn format_list_into(actions: &[Action], l4: L4, out: &mut String) {
    if actions.is_empty() {
        out.push_str("drop");
        return;
    }
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        format_action(a, l4, out);
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
fn format_action(a: &Action, l4: L4, out: &mut String) {
    let s = match a {
        Action::Output(p) if p.is_reserved() => p.to_string(),
        Action::Output(p) => format!("output:{p}"),
        Action::OutputTrunc { port, max_len } => format!("output(port={port},max_len={max_len})"),
        Action::OutputReg { src, .. } => format!("output:{}", format_subfield(src, l4)),
        Action::Controller(c) => return format_controller(c, out),
        Action::SetQueue(q) => format!("set_queue:{q}"),
        Action::PopQueue => "pop_queue".into(),
        Action::PushVlan(tpid) => format!("push_vlan:{tpid:#x}"),
        Action::PopVlan => "pop_vlan".into(),
        Action::SetVlanVid(v) => format!("mod_vlan_vid:{v}"),
        Action::SetVlanPcp(p) => format!("mod_vlan_pcp:{p}"),
        Action::SetField { field, value, mask } => {
            let name = set_field_name(*field, l4);
            if *mask == field.full_mask() {
                format!("set_field:{}->{name}", format_value(*field, *value))
            } else {
                format!(
                    "set_field:{}/{}->{name}",
                    format_value(*field, *value),
                    format_value(*field, *mask)
                )
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
        Action::Clone(list) => format!("clone({})", format_list(list, l4)),
        Action::Ct(ct) => return format_ct(ct, l4, out),
        Action::CtClear => "ct_clear".into(),
        Action::Exit => "exit".into(),
        Action::Group(g) => format!("group:{g}"),
        Action::Note(bytes) => format!("note:{}", dotted_hex(bytes)),
        Action::Meter(m) => format!("meter:{m}"),
        Action::ClearActions => "clear_actions".into(),
        Action::WriteActions(list) => format!("write_actions({})", format_list(list, l4)),
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
