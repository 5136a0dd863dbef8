//! The canonical text of a [`Match`], as `ovs-ofctl` prints it: fields in Open vSwitch's order,
//! `dl_type`/`nw_proto` collapsed into a shorthand (`tcp6`) when one exists, prerequisites that
//! the shorthand implies left out, and wildcarded fields omitted.

use super::SHORTHANDS;
use crate::ethertype;
use crate::field::Field;
use crate::syntax::value::format_value;
use crate::Match;

/// Fields printed before the shorthand, in order.
const HEAD: [Field; 6] = [
    Field::PktMark,
    Field::RecircId,
    Field::CtState,
    Field::CtZone,
    Field::CtMark,
    Field::CtLabel,
];

/// Fields printed between the shorthand and the VLAN, in order.
const METADATA: [Field; 22] = [
    Field::Reg0,
    Field::Reg1,
    Field::Reg2,
    Field::Reg3,
    Field::Reg4,
    Field::Reg5,
    Field::Reg6,
    Field::Reg7,
    Field::Reg8,
    Field::Reg9,
    Field::Reg10,
    Field::Reg11,
    Field::Reg12,
    Field::Reg13,
    Field::Reg14,
    Field::Reg15,
    Field::TunId,
    Field::TunSrc,
    Field::TunDst,
    Field::TunFlags,
    Field::Metadata,
    Field::InPort,
];

/// Our extensions (second VLAN tag, TPIDs), printed right after the VLAN; Open vSwitch has no
/// such fields.
const VLAN_EXTENSIONS: [Field; 3] = [Field::VlanTpid, Field::InnerVlanTci, Field::InnerVlanTpid];

/// Fields after the addresses, in order (`nw_proto` only when no shorthand implies it).
const L3_REST: [Field; 5] = [
    Field::NwProto,
    Field::NwTos,
    Field::NwEcn,
    Field::NwTtl,
    Field::NwFrag,
];

/// ARP fields after the L3 ones.
const ARP_REST: [Field; 3] = [Field::ArpOp, Field::ArpSha, Field::ArpTha];

/// L4 fields, in order; ICMP types and codes print as `icmp_type`/`icmp_code` for both IP
/// versions.
const L4: [Field; 8] = [
    Field::TpSrc,
    Field::TpDst,
    Field::IcmpType,
    Field::IcmpCode,
    Field::NdTarget,
    Field::NdSll,
    Field::NdTll,
    Field::TcpFlags,
];

/// Prints `m` as `ovs-ofctl` does (without the priority, which belongs to the flow).
pub fn format_match(m: &Match) -> String {
    let mut out: Vec<String> = Vec::new();
    let field = |out: &mut Vec<String>, f: Field, name: &str| {
        let (value, mask) = m.get(f);
        if mask == 0 {
            return;
        }
        // nw_tos holds only the DSCP bits: its full mask is those bits.
        let mask = if f == Field::NwTos && mask == 0xfc {
            f.full_mask()
        } else {
            mask
        };
        out.push(format!("{name}={}", format_value(f, value, mask)));
    };
    for f in HEAD {
        field(&mut out, f, f.name());
    }

    let exact = |f: Field| {
        let (v, mask) = m.get(f);
        (mask == f.full_mask()).then_some(v)
    };
    let dl_type = exact(Field::DlType).and_then(|v| u16::try_from(v).ok());
    let nw_proto = exact(Field::NwProto).and_then(|v| u8::try_from(v).ok());
    let l2_matched = [Field::DlSrc, Field::DlDst, Field::DlType, Field::VlanTci]
        .iter()
        .any(|&f| m.get(f).1 != 0);
    if m.get(Field::RecircId).1 != 0 && l2_matched {
        // Open vSwitch shows the (Ethernet) packet type it matches once a recirculated flow
        // also looks at L2.
        out.push("eth".into());
    }
    let shorthand = dl_type.and_then(|t| {
        SHORTHANDS
            .iter()
            .find(|&&(_, st, sp)| st == t && sp.is_some() && sp == nw_proto)
            .or_else(|| {
                SHORTHANDS
                    .iter()
                    .find(|&&(_, st, sp)| st == t && sp.is_none())
            })
    });
    let proto_implied = shorthand.is_some_and(|&(_, _, p)| p.is_some());
    if let Some(&(name, _, _)) = shorthand {
        out.push(name.into());
    }

    for f in METADATA {
        field(&mut out, f, f.name());
    }
    vlan(m, &mut out);
    for f in VLAN_EXTENSIONS {
        field(&mut out, f, f.name());
    }
    field(&mut out, Field::DlSrc, "dl_src");
    field(&mut out, Field::DlDst, "dl_dst");
    if shorthand.is_none() {
        field(&mut out, Field::DlType, "dl_type");
    }
    let is_arp = matches!(dl_type, Some(ethertype::ARP | ethertype::RARP));
    if is_arp {
        field(&mut out, Field::NwSrc, "arp_spa");
        field(&mut out, Field::NwDst, "arp_tpa");
    } else {
        field(&mut out, Field::NwSrc, "nw_src");
        field(&mut out, Field::NwDst, "nw_dst");
    }
    for f in [Field::Ipv6Src, Field::Ipv6Dst, Field::Ipv6Label] {
        field(&mut out, f, f.name());
    }
    for f in L3_REST {
        if f == Field::NwProto && proto_implied {
            continue;
        }
        field(&mut out, f, f.name());
    }
    for f in ARP_REST {
        field(&mut out, f, f.name());
    }
    for f in L4 {
        field(&mut out, f, f.name());
    }
    out.join(",")
}

/// The VLAN part, as Open vSwitch prints it: `dl_vlan=`/`dl_vlan_pcp=` when a tag is required
/// and the VID and PCP are each either exact or wildcarded, `vlan_tci=V/M` otherwise.
fn vlan(m: &Match, out: &mut Vec<String>) {
    let (tci, mask) = m.get(Field::VlanTci);
    if mask == 0 {
        return;
    }
    let (vid_mask, pcp_mask, cfi_mask) = (mask & 0x0fff, mask & 0xe000, mask & 0x1000);
    let present = cfi_mask != 0 && tci & 0x1000 != 0;
    if present
        && (vid_mask == 0 || vid_mask == 0x0fff)
        && (pcp_mask == 0 || pcp_mask == 0xe000)
        && (vid_mask != 0 || pcp_mask != 0)
    {
        if vid_mask != 0 {
            out.push(format!("dl_vlan={}", tci & 0x0fff));
        }
        if pcp_mask != 0 {
            out.push(format!("dl_vlan_pcp={}", tci >> 13 & 7));
        }
    } else if mask == 0xffff {
        out.push(format!("vlan_tci=0x{tci:04x}"));
    } else {
        out.push(format!("vlan_tci=0x{tci:04x}/0x{mask:04x}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field that is not an alias of another is printed by exactly one place above, so a
    /// new field cannot silently vanish from the canonical text.
    #[test]
    fn every_field_has_a_place() {
        let placed: Vec<Field> = HEAD
            .iter()
            .chain(&METADATA)
            .chain(&VLAN_EXTENSIONS)
            .chain(&L3_REST)
            .chain(&ARP_REST)
            .chain(&L4)
            .chain(&[
                Field::VlanTci,
                Field::DlSrc,
                Field::DlDst,
                Field::DlType,
                Field::NwSrc,
                Field::NwDst,
                Field::Ipv6Src,
                Field::Ipv6Dst,
                Field::Ipv6Label,
            ])
            .copied()
            .collect();
        for &f in Field::ALL {
            if f.is_alias() {
                continue;
            }
            assert_eq!(placed.iter().filter(|&&p| p == f).count(), 1, "{f}");
        }
    }
}
