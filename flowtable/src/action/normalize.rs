//! Normalization: one representation for each meaning, the one the flow parser produces.
//!
//! The parser already reads every spelling into its canonical form (`strip_vlan` into
//! [`Action::PopVlan`], a masked `set_field` into `load`s, ...). Actions built in code (by the
//! controller API, by tests) may use the other representations the types allow; [`normalize`]
//! rewrites them, so equal meanings compare, hash and print equal.

use super::{Action, Controller, OfPort};
use crate::field::{Field, SubField};

/// Rewrites `actions` (and the lists nested in them) into the representation the flow parser
/// produces:
///
/// - a `set_field` with a partial mask becomes one `load` per run of mask bits (nothing for an
///   empty mask), which is how `ovs-ofctl` prints it;
/// - `output` to the controller port becomes `controller` with default settings;
/// - `resubmit` to `in_port` or table 255 ("unchanged") loses that part;
/// - an empty `write_actions` (a no-op) is removed;
/// - a note is zero-padded to its wire length of 6 + 8n bytes.
///
/// The match does not change the representation today; it is taken so that rules can be
/// normalized wherever they are validated without changing callers when a form that depends on
/// it appears.
pub fn normalize(actions: &mut Vec<Action>, m: &crate::Match) {
    normalize_list(actions);
    let present = u128::from(crate::key::VLAN_PRESENT);
    let (tci, mask) = m.get(Field::VlanTci);
    let mut tagged = mask & present != 0 && tci & present != 0;
    vlan_as_openflow13(actions, &mut tagged);
}

/// Rewrites OpenFlow 1.0's `mod_vlan_vid`/`mod_vlan_pcp` ("set, pushing a tag first if there is
/// none") into what they mean in OpenFlow 1.3 for this rule, as `ovs-ofctl -O OpenFlow13` does:
/// a `set_field`, preceded by `push_vlan:0x8100` unless the match or an earlier action
/// guarantees a tag. `tagged` tracks that guarantee along the list.
fn vlan_as_openflow13(actions: &mut Vec<Action>, tagged: &mut bool) {
    let mut out = Vec::with_capacity(actions.len());
    for a in actions.drain(..) {
        let set = match a {
            Action::SetVlanVid(vid) => Some(Action::SetField {
                field: Field::VlanVid,
                value: u128::from(crate::key::VLAN_PRESENT | (vid & 0x0fff)),
                mask: Field::VlanVid.full_mask(),
            }),
            Action::SetVlanPcp(pcp) => Some(Action::SetField {
                field: Field::DlVlanPcp,
                value: u128::from(pcp & 7),
                mask: Field::DlVlanPcp.full_mask(),
            }),
            _ => None,
        };
        if let Some(set) = set {
            if !*tagged {
                out.push(Action::PushVlan(crate::ethertype::VLAN));
                *tagged = true;
            }
            out.push(set);
            continue;
        }
        match a {
            Action::PushVlan(_) => *tagged = true,
            Action::PopVlan => *tagged = false,
            _ => {}
        }
        let mut a = a;
        if let Action::Clone(list) | Action::WriteActions(list) = &mut a {
            // A clone works on a copy of the packet: its tags do not outlive it.
            let mut inner = *tagged;
            vlan_as_openflow13(list, &mut inner);
        }
        out.push(a);
    }
    *actions = out;
}

fn normalize_list(actions: &mut Vec<Action>) {
    let mut out = Vec::with_capacity(actions.len());
    for a in actions.drain(..) {
        match a {
            Action::SetField { field, value, mask } if mask != field.full_mask() => {
                out.extend(masked_set_field(field, value, mask));
            }
            Action::Output(OfPort::CONTROLLER) => {
                out.push(Action::Controller(Box::<Controller>::default()));
            }
            Action::Resubmit { port, table, ct } => out.push(Action::Resubmit {
                port: port.filter(|p| *p != OfPort::IN_PORT),
                table: table.filter(|t| *t != u8::MAX),
                ct,
            }),
            Action::WriteActions(mut list) => {
                normalize_list(&mut list);
                if !list.is_empty() {
                    out.push(Action::WriteActions(list));
                }
            }
            Action::Clone(mut list) => {
                normalize_list(&mut list);
                out.push(Action::Clone(list));
            }
            Action::Ct(mut ct) => {
                normalize_list(&mut ct.actions);
                out.push(Action::Ct(ct));
            }
            Action::Note(mut bytes) => {
                pad_note(&mut bytes);
                out.push(Action::Note(bytes));
            }
            other => out.push(other),
        }
    }
    *actions = out;
}

/// A `set_field:value/mask->field` as `load`s, one per run of consecutive mask bits, lowest
/// first.
pub(crate) fn masked_set_field(field: Field, value: u128, mask: u128) -> Vec<Action> {
    let mut loads = Vec::new();
    let mut rest = mask & field.full_mask();
    while rest != 0 {
        let ofs = rest.trailing_zeros();
        let n_bits = (rest >> ofs).trailing_ones();
        let run = SubField { field, ofs, n_bits };
        loads.push(Action::Load {
            dst: run,
            value: (value & run.field_mask()) >> ofs,
        });
        rest &= !run.field_mask();
    }
    loads
}

/// Zero-pads a note to its wire length: a note action is a 10-byte header and the note in 8-byte
/// units, so the note is 6 + 8n bytes long, and that is what Open vSwitch prints back.
pub(crate) fn pad_note(bytes: &mut Vec<u8>) {
    let len = bytes.len().max(6);
    bytes.resize(6 + (len - 6).div_ceil(8) * 8, 0);
}
