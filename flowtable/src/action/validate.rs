//! Validation of an action list against the rule's match and table.
//!
//! Validation walks the list in order with a little state that actions change: whether the
//! packet has a VLAN tag (the match may say so; `push_vlan` adds one, `pop_vlan` removes it).
//! Field prerequisites are checked against the match, as Open vSwitch does: an action may only
//! touch a field that every packet of the rule is known to have. Where Open vSwitch silently
//! accepts something meaningless we still refuse it when the refusal can be explained in one
//! line (a `goto_table` that does not go forward, a zone wider than 16 bits).

use super::{Action, CtAction, CtZone, NatKind, OfPort};
use crate::field::{Field, Prereq, SubField};
use crate::key::{ct_state, VLAN_PRESENT};
use crate::{ethertype, Match};
use std::net::IpAddr;

/// Why an action list is not valid for a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// A field is used without the match guaranteeing the protocol it belongs to.
    #[error("{action} of {field} needs {prereq} in the match")]
    MissingPrereq {
        /// The action (`set_field`, `load`, `move`, ...).
        action: &'static str,
        /// The field.
        field: &'static str,
        /// What the match must contain.
        prereq: &'static str,
    },
    /// An action that needs an IP packet in a rule whose match does not say `ip` or `ipv6`.
    #[error("{0} needs ip or ipv6 in the match")]
    NeedsIp(&'static str),
    /// An action writes a read-only field.
    #[error("{0} is read-only: actions cannot write it")]
    ReadOnly(&'static str),
    /// `ct_mark` or `ct_label` written outside `ct(exec(...))`.
    #[error("{0} can only be written inside ct(commit,exec(...))")]
    CtFieldOutsideCt(&'static str),
    /// A value does not fit the field or subfield it is written to.
    #[error("value {value:#x} does not fit into the {bits} bits of {field}")]
    ValueTooWide {
        /// The field.
        field: &'static str,
        /// The value.
        value: u128,
        /// The width written.
        bits: u32,
    },
    /// A subfield reaches beyond its field or is empty.
    #[error("bits {ofs}..{end} are not within the {bits} bits of {field}", end = ofs.saturating_add(*n_bits).saturating_sub(1))]
    BadSubField {
        /// The field.
        field: &'static str,
        /// First bit.
        ofs: u32,
        /// Number of bits.
        n_bits: u32,
        /// Width of the field.
        bits: u32,
    },
    /// `move` between subfields of different widths.
    #[error("move: source is {src} bits wide but destination is {dst} bits wide")]
    WidthMismatch {
        /// Source width.
        src: u32,
        /// Destination width.
        dst: u32,
    },
    /// `goto_table` to this table or an earlier one.
    #[error("goto_table:{to} in table {from}: goto_table must go to a later table")]
    GotoTableBackward {
        /// The rule's table.
        from: u8,
        /// The target.
        to: u8,
    },
    /// `goto_table:255` or `ct(table=255)`: 255 is not a table.
    #[error("{0}: table 255 does not exist (tables are 0 to 254)")]
    BadTable(&'static str),
    /// Instructions out of OpenFlow order.
    #[error("invalid instruction order: {later} must come after {earlier} (the order is meter, apply actions, clear_actions, write_actions, write_metadata, goto_table)")]
    InstructionOrder {
        /// The instruction that must come first.
        later: &'static str,
        /// The one that came first but belongs later.
        earlier: &'static str,
    },
    /// The same instruction twice.
    #[error("duplicate {0} instruction")]
    DuplicateInstruction(&'static str),
    /// An instruction inside a nested action list.
    #[error("{name} is an instruction: it is not allowed inside {inside}(...)")]
    InstructionNotAllowed {
        /// The instruction.
        name: &'static str,
        /// The enclosing action.
        inside: &'static str,
    },
    /// An action that cannot be part of an action set.
    #[error("{0} is not allowed inside write_actions(...)")]
    NotInActionSet(&'static str),
    /// Output to a port that cannot be an output port.
    #[error("output to port {0} is not allowed")]
    BadOutPort(OfPort),
    /// A VLAN field written when the packet may have no VLAN tag.
    #[error(
        "{0} needs a VLAN tag: match on one (dl_vlan=, vlan_tci=0x1000/0x1000) or push_vlan first"
    )]
    NoVlan(&'static str),
    /// `push_vlan` with an ethertype that is not a VLAN TPID.
    #[error("push_vlan:{0:#x}: the ethertype must be 0x8100 or 0x88a8")]
    BadVlanTpid(u16),
    /// `mod_vlan_vid` above 4095.
    #[error("mod_vlan_vid:{0}: a VLAN ID is 0 to 4095")]
    BadVlanVid(u16),
    /// `mod_vlan_pcp` above 7.
    #[error("mod_vlan_pcp:{0}: a VLAN priority is 0 to 7")]
    BadVlanPcp(u8),
    /// `ct(force)` without `commit`.
    #[error("ct: force needs commit")]
    ForceWithoutCommit,
    /// `ct(exec(...))` without `commit`.
    #[error("ct: exec(...) needs commit")]
    ExecWithoutCommit,
    /// An action inside `ct(exec(...))` other than a write of `ct_mark` or `ct_label`.
    #[error("ct: exec(...) may only set ct_mark or ct_label, not {0}")]
    BadExecAction(String),
    /// `ct(zone=FIELD)` with a range that is not 16 bits wide.
    #[error("ct: zone={0}: the zone field must be 16 bits wide")]
    CtZoneWidth(&'static str),
    /// `alg=` in a rule whose match does not fix the helper's protocol.
    #[error("ct: alg={alg} needs {proto} in the match")]
    AlgNeedsProtocol {
        /// The helper's name.
        alg: &'static str,
        /// The protocol it needs.
        proto: &'static str,
    },
    /// `ct(alg=N)` with a helper we do not know.
    #[error("ct: unknown conntrack helper for port {0}")]
    UnknownAlg(u16),
    /// `nat(src=...)` or `nat(dst=...)` without `commit`.
    #[error("ct: nat with src or dst needs commit")]
    NatWithoutCommit,
    /// NAT flags or ranges given without `src` or `dst`.
    #[error("ct: nat flags and addresses need src or dst")]
    NatFlagsWithoutKind,
    /// Both `hash` and `random`.
    #[error("ct: nat takes only one of hash and random")]
    NatHashAndRandom,
    /// A NAT range whose ends are out of order or of different families.
    #[error("ct: invalid nat range: {0}")]
    NatRange(&'static str),
    /// NAT addresses of the other IP version than the match's.
    #[error("ct: nat to {family} addresses needs {family} in the match")]
    NatFamily {
        /// `ip` or `ipv6`.
        family: &'static str,
    },
    /// `resubmit(...,ct)` for packets not known to be tracked.
    #[error("resubmit(...,ct) needs ct_state=+trk-inv in the match")]
    ResubmitCtUntracked,
    /// `resubmit` with neither a port nor a table.
    #[error("resubmit needs a port or a table")]
    ResubmitNothing,
    /// `meter:0`.
    #[error("meter:0: meter numbers start at 1")]
    BadMeter,
}

/// The state validation and normalization carry along an action list.
#[derive(Clone, Copy, Debug)]
struct State {
    /// Whether the packet is known to carry a VLAN tag at this point.
    vlan: bool,
}

impl State {
    fn of(m: &Match) -> State {
        let (tci, mask) = m.get(Field::VlanTci);
        let present = u128::from(VLAN_PRESENT);
        State {
            vlan: mask & present != 0 && tci & present != 0,
        }
    }
}

/// Where a list is, for what it may contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// The rule's own list.
    Top,
    /// Inside `clone(...)`.
    Clone,
    /// Inside `write_actions(...)`.
    ActionSet,
    /// Inside `ct(exec(...))`.
    CtExec,
}

/// Checks `actions` for a rule with match `m` in table `table`.
pub fn validate(actions: &[Action], m: &Match, table: u8) -> Result<(), ActionError> {
    check_instruction_order(actions)?;
    let mut st = State::of(m);
    check_list(actions, m, table, Place::Top, &mut st)
}

/// The OpenFlow instruction an item belongs to, with its rank in the required order.
fn instruction(a: &Action) -> (u8, &'static str) {
    match a {
        Action::Meter(_) => (0, "meter"),
        Action::ClearActions => (2, "clear_actions"),
        Action::WriteActions(_) => (3, "write_actions"),
        Action::WriteMetadata { .. } => (4, "write_metadata"),
        Action::GotoTable(_) => (5, "goto_table"),
        _ => (1, "apply_actions"),
    }
}

fn check_instruction_order(actions: &[Action]) -> Result<(), ActionError> {
    let mut last: Option<(u8, &'static str)> = None;
    for a in actions {
        let (rank, name) = instruction(a);
        if let Some((lrank, lname)) = last {
            if rank < lrank {
                return Err(ActionError::InstructionOrder {
                    later: lname,
                    earlier: name,
                });
            }
            if rank == lrank && rank != 1 {
                return Err(ActionError::DuplicateInstruction(name));
            }
        }
        last = Some((rank, name));
    }
    Ok(())
}

/// The check that a field's prerequisite holds.
fn prereq(action: &'static str, field: Field, m: &Match) -> Result<(), ActionError> {
    let p = field.def().prereq;
    if p.is_met_by(m) {
        Ok(())
    } else {
        Err(ActionError::MissingPrereq {
            action,
            field: field.name(),
            prereq: p.describe(),
        })
    }
}

fn subfield_ok(sf: &SubField) -> Result<(), ActionError> {
    let bits = sf.field.bits();
    if sf.n_bits == 0 || sf.ofs.saturating_add(sf.n_bits) > bits {
        return Err(ActionError::BadSubField {
            field: sf.field.name(),
            ofs: sf.ofs,
            n_bits: sf.n_bits,
            bits,
        });
    }
    Ok(())
}

/// Checks a write of `field` by `action` at `place`.
fn writable(
    action: &'static str,
    field: Field,
    place: Place,
    st: &State,
) -> Result<(), ActionError> {
    let def = field.def();
    if !def.writable {
        return Err(ActionError::ReadOnly(def.name));
    }
    let is_ct = matches!(field, Field::CtMark | Field::CtLabel);
    if is_ct && place != Place::CtExec {
        return Err(ActionError::CtFieldOutsideCt(def.name));
    }
    if place == Place::CtExec && !is_ct {
        return Err(ActionError::BadExecAction(format!(
            "{action} of {}",
            def.name
        )));
    }
    let vlan_view = matches!(field, Field::VlanVid | Field::DlVlan | Field::DlVlanPcp);
    if vlan_view && !st.vlan {
        // As Open vSwitch, every write of the VID or priority needs a tag (not only set_field).
        return Err(ActionError::NoVlan(match action {
            "load" => "load of a VLAN field",
            "move" => "move to a VLAN field",
            _ => "set_field of a VLAN field",
        }));
    }
    Ok(())
}

fn needs_ip(action: &'static str, m: &Match) -> Result<(), ActionError> {
    if Prereq::Ip.is_met_by(m) {
        Ok(())
    } else {
        Err(ActionError::NeedsIp(action))
    }
}

fn check_port(p: OfPort) -> Result<(), ActionError> {
    let ok = !p.is_reserved() && p != OfPort::MAX || p.name().is_some() && p != OfPort::ANY;
    if ok {
        Ok(())
    } else {
        Err(ActionError::BadOutPort(p))
    }
}

fn check_list(
    actions: &[Action],
    m: &Match,
    table: u8,
    place: Place,
    st: &mut State,
) -> Result<(), ActionError> {
    for a in actions {
        if place != Place::Top && a.is_instruction() {
            return Err(ActionError::InstructionNotAllowed {
                name: a.name(),
                inside: match place {
                    Place::ActionSet => "write_actions",
                    Place::CtExec => "ct(exec",
                    _ => "clone",
                },
            });
        }
        if place == Place::CtExec && !matches!(a, Action::SetField { .. } | Action::Load { .. }) {
            return Err(ActionError::BadExecAction(a.name().to_string()));
        }
        if place == Place::ActionSet
            && matches!(
                a,
                Action::Clone(_) | Action::Resubmit { .. } | Action::Ct(_) | Action::Exit
            )
        {
            return Err(ActionError::NotInActionSet(a.name()));
        }
        check_action(a, m, table, place, st)?;
    }
    Ok(())
}

fn check_action(
    a: &Action,
    m: &Match,
    table: u8,
    place: Place,
    st: &mut State,
) -> Result<(), ActionError> {
    match a {
        Action::Output(p) => check_port(*p)?,
        Action::OutputTrunc { port, .. } => check_port(*port)?,
        Action::OutputReg { src, .. } => {
            subfield_ok(src)?;
            prereq("output", src.field, m)?;
        }
        Action::Controller(_)
        | Action::SetQueue(_)
        | Action::PopQueue
        | Action::CtClear
        | Action::Exit
        | Action::Group(_)
        | Action::Note(_)
        | Action::ClearActions => {}
        Action::PushVlan(tpid) => {
            if *tpid != ethertype::VLAN && *tpid != ethertype::QINQ {
                return Err(ActionError::BadVlanTpid(*tpid));
            }
            st.vlan = true;
        }
        Action::PopVlan => {
            if !st.vlan {
                return Err(ActionError::NoVlan("pop_vlan"));
            }
            st.vlan = false;
        }
        Action::SetVlanVid(v) => {
            if *v > 0x0fff {
                return Err(ActionError::BadVlanVid(*v));
            }
            st.vlan = true;
        }
        Action::SetVlanPcp(p) => {
            if *p > 7 {
                return Err(ActionError::BadVlanPcp(*p));
            }
            st.vlan = true;
        }
        Action::SetField { field, value, mask } => {
            let full = field.full_mask();
            if value & !full != 0 || mask & !full != 0 {
                return Err(ActionError::ValueTooWide {
                    field: field.name(),
                    value: *value,
                    bits: field.bits(),
                });
            }
            writable("set_field", *field, place, st)?;
            prereq("set_field", *field, m)?;
        }
        Action::Load { dst, value } => {
            subfield_ok(dst)?;
            if dst.n_bits < 128 && value >> dst.n_bits != 0 {
                return Err(ActionError::ValueTooWide {
                    field: dst.field.name(),
                    value: *value,
                    bits: dst.n_bits,
                });
            }
            writable("load", dst.field, place, st)?;
            prereq("load", dst.field, m)?;
        }
        Action::Move { src, dst } => {
            subfield_ok(src)?;
            subfield_ok(dst)?;
            if src.n_bits != dst.n_bits {
                return Err(ActionError::WidthMismatch {
                    src: src.n_bits,
                    dst: dst.n_bits,
                });
            }
            prereq("move", src.field, m)?;
            // Open vSwitch reads the VLAN priority only from a tagged packet.
            if src.field == Field::DlVlanPcp && !st.vlan {
                return Err(ActionError::NoVlan("move of vlan_pcp"));
            }
            writable("move", dst.field, place, st)?;
            prereq("move", dst.field, m)?;
        }
        Action::SetNwTtl(_) => needs_ip("mod_nw_ttl", m)?,
        Action::DecTtl(_) => needs_ip("dec_ttl", m)?,
        Action::Resubmit { port, table: t, ct } => {
            if port.is_none() && t.is_none() {
                return Err(ActionError::ResubmitNothing);
            }
            if *ct {
                let (state, mask) = m.get(Field::CtState);
                let bits = u128::from(ct_state::TRACKED | ct_state::INVALID);
                if mask & bits != bits || state & bits != u128::from(ct_state::TRACKED) {
                    return Err(ActionError::ResubmitCtUntracked);
                }
            }
        }
        Action::Clone(list) => {
            let mut inner = *st;
            check_list(list, m, table, Place::Clone, &mut inner)?;
        }
        Action::WriteActions(list) => {
            let mut inner = *st;
            check_list(list, m, table, Place::ActionSet, &mut inner)?;
        }
        Action::Ct(ct) => check_ct(ct, m, table, st)?,
        Action::Meter(0) => return Err(ActionError::BadMeter),
        Action::Meter(_) => {}
        Action::WriteMetadata { .. } => {}
        Action::GotoTable(t) => {
            if *t == u8::MAX {
                return Err(ActionError::BadTable("goto_table"));
            }
            if *t <= table {
                return Err(ActionError::GotoTableBackward {
                    from: table,
                    to: *t,
                });
            }
        }
    }
    Ok(())
}

fn check_ct(ct: &CtAction, m: &Match, table: u8, st: &State) -> Result<(), ActionError> {
    needs_ip("ct", m)?;
    if ct.table == Some(u8::MAX) {
        return Err(ActionError::BadTable("ct(table=255)"));
    }
    if ct.force && !ct.commit {
        return Err(ActionError::ForceWithoutCommit);
    }
    if let CtZone::Field(sf) = ct.zone {
        subfield_ok(&sf)?;
        if sf.n_bits != 16 {
            return Err(ActionError::CtZoneWidth(sf.field.name()));
        }
        prereq("ct(zone=...)", sf.field, m)?;
    }
    match ct.alg {
        None => {}
        Some(21) if !Prereq::Tcp.is_met_by(m) => {
            return Err(ActionError::AlgNeedsProtocol {
                alg: "ftp",
                proto: "tcp or tcp6",
            })
        }
        Some(69) if !Prereq::Udp.is_met_by(m) => {
            return Err(ActionError::AlgNeedsProtocol {
                alg: "tftp",
                proto: "udp or udp6",
            })
        }
        Some(21 | 69) => {}
        Some(other) => return Err(ActionError::UnknownAlg(other)),
    }
    if let Some(nat) = &ct.nat {
        match nat.kind {
            None if nat.addrs.is_some()
                || nat.ports.is_some()
                || nat.random
                || nat.hash
                || nat.persistent =>
            {
                return Err(ActionError::NatFlagsWithoutKind)
            }
            None => {}
            Some(NatKind::Src | NatKind::Dst) if !ct.commit => {
                return Err(ActionError::NatWithoutCommit)
            }
            Some(_) => {}
        }
        if nat.hash && nat.random {
            return Err(ActionError::NatHashAndRandom);
        }
        if let Some((lo, hi)) = nat.ports {
            if lo > hi {
                return Err(ActionError::NatRange("the first port is above the last"));
            }
        }
        if let Some(addrs) = &nat.addrs {
            let v4 = match (addrs.min, addrs.max) {
                (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => true,
                (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => false,
                (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                    return Err(ActionError::NatRange("the first address is above the last"))
                }
                _ => {
                    return Err(ActionError::NatRange(
                        "the addresses are of different families",
                    ))
                }
            };
            if v4 && !Prereq::Ipv4.is_met_by(m) {
                return Err(ActionError::NatFamily { family: "ip" });
            }
            if !v4 && !Prereq::Ipv6.is_met_by(m) {
                return Err(ActionError::NatFamily { family: "ipv6" });
            }
        }
    }
    if !ct.actions.is_empty() && !ct.commit {
        return Err(ActionError::ExecWithoutCommit);
    }
    let mut inner = *st;
    check_list(&ct.actions, m, table, Place::CtExec, &mut inner)
}

#[cfg(test)]
mod tests;
