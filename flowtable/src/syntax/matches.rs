//! The match part of a flow: `field=value` items and protocol shorthands, parsed into a
//! [`Match`], and printed back in `ovs-ofctl`'s canonical form ([`format_match`]).
//!
//! Items are separated by commas or white space. An item is a shorthand (`ip`, `tcp6`, ...), or a
//! field name (canonical, alias or NXM/OXM name from the field registry) followed by `=` or `:`
//! and a value (see [`super::value`]). A later item for the same field replaces the earlier one,
//! as in Open vSwitch.
//!
//! Prerequisites are checked once the whole match has been read, so their order does not matter
//! (`nw_src=10.0.0.1,ip` is fine). Where Open vSwitch silently drops a field whose prerequisite
//! is missing, we refuse the match and say what to add.
//!
//! VLAN matches are normalized to what OpenFlow 1.3 can express (a 13-bit VID with the "present"
//! bit, plus an exact PCP only when a tag is required), because that is what `ovs-ofctl -O
//! OpenFlow13` prints back.

use super::value::parse_value;
use super::SyntaxError;
use crate::ethertype;
use crate::field::{ipproto, Field, Prereq};
use crate::key::{FlowKey, VLAN_PRESENT};
use crate::Match;

mod format;

pub use format::format_match;

/// The protocol shorthands: name, ethertype, and IP protocol if any.
pub(crate) const SHORTHANDS: [(&str, u16, Option<u8>); 12] = [
    ("ip", ethertype::IPV4, None),
    ("ipv6", ethertype::IPV6, None),
    ("arp", ethertype::ARP, None),
    ("rarp", ethertype::RARP, None),
    ("icmp", ethertype::IPV4, Some(ipproto::ICMP)),
    ("tcp", ethertype::IPV4, Some(ipproto::TCP)),
    ("udp", ethertype::IPV4, Some(ipproto::UDP)),
    ("sctp", ethertype::IPV4, Some(ipproto::SCTP)),
    ("icmp6", ethertype::IPV6, Some(ipproto::ICMPV6)),
    ("tcp6", ethertype::IPV6, Some(ipproto::TCP)),
    ("udp6", ethertype::IPV6, Some(ipproto::UDP)),
    ("sctp6", ethertype::IPV6, Some(ipproto::SCTP)),
];

/// Bits of `vlan_tci` holding the priority (PCP).
const VLAN_PCP_MASK: u128 = 0xe000;
/// Bits of `vlan_tci` holding the VID and the "present" bit.
const VLAN_VID_CFI_MASK: u128 = 0x1fff;

/// One item of flow text: `name`, or `name=value` / `name:value`, with byte offsets into the
/// whole text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Item<'a> {
    /// The name.
    pub name: &'a str,
    /// Offset of the name.
    pub name_start: usize,
    /// Offsets of the value, if there was a `=` or `:`.
    pub value: Option<(usize, usize)>,
}

/// Splits `text[start..end]` into items at commas and white space.
pub(crate) fn split_items(text: &str, start: usize, end: usize) -> Vec<Item<'_>> {
    let mut items = Vec::new();
    let Some(part) = text.get(start..end) else {
        return items;
    };
    let mut pos = 0;
    for piece in part.split(|c: char| c == ',' || c.is_whitespace()) {
        let piece_start = start + pos;
        pos += piece.len() + 1;
        if piece.is_empty() {
            continue;
        }
        match piece.find(['=', ':']) {
            Some(i) => items.push(Item {
                name: piece.get(..i).unwrap_or(""),
                name_start: piece_start,
                value: Some((piece_start + i + 1, piece_start + piece.len())),
            }),
            None => items.push(Item {
                name: piece,
                name_start: piece_start,
                value: None,
            }),
        }
    }
    items
}

/// Builds a [`Match`] item by item; [`MatchParser::finish`] checks prerequisites.
#[derive(Debug)]
pub(crate) struct MatchParser<'a> {
    text: &'a str,
    m: Match,
    /// Every field set, with the offset of its item, for prerequisite errors.
    seen: Vec<(Field, usize)>,
}

impl<'a> MatchParser<'a> {
    /// A parser for items of `text`.
    pub fn new(text: &'a str) -> MatchParser<'a> {
        MatchParser {
            text,
            m: Match::any(),
            seen: Vec::new(),
        }
    }

    /// Adds one item.
    pub fn item(&mut self, item: Item<'_>) -> Result<(), SyntaxError> {
        let text = self.text;
        if let Some(&(_, dl_type, proto)) = SHORTHANDS.iter().find(|(n, _, _)| *n == item.name) {
            if let Some((vs, _)) = item.value {
                return Err(SyntaxError::at(
                    text,
                    vs,
                    format!("{} is a shorthand and takes no value", item.name),
                ));
            }
            self.m.set(Field::DlType, dl_type.into());
            if let Some(p) = proto {
                self.m.set(Field::NwProto, p.into());
                self.seen.push((Field::NwProto, item.name_start));
            }
            return Ok(());
        }
        if item.name == "eth" && item.value.is_none() {
            // Open vSwitch's "Ethernet packet type" selector: every packet here is Ethernet.
            return Ok(());
        }
        // A match names fields by their names and aliases; the NXM/OXM names are for actions
        // (`move`, `load`), and Open vSwitch refuses them here.
        let Some(field) = Field::from_name(item.name).filter(|f| !f.def().nxm.contains(&item.name))
        else {
            return Err(SyntaxError::at(
                text,
                item.name_start,
                format!("unknown field or keyword \"{}\"", item.name),
            ));
        };
        // `in_port_oxm` is OpenFlow 1.1's 32-bit view of `in_port`: as a match it is `in_port`
        // (the same value, and the same 16-bit mask that `in_port=` gives).
        let field = if field == Field::InPortOxm {
            Field::InPort
        } else {
            field
        };
        let Some((vs, ve)) = item.value else {
            return Err(SyntaxError::at(
                text,
                item.name_start,
                format!("field {} needs a value ({}=...)", item.name, item.name),
            ));
        };
        self.seen.push((field, item.name_start));
        match field {
            Field::DlVlan => {
                let s = text.get(vs..ve).unwrap_or("");
                let vid = super::value::parse_number(s)
                    .filter(|&v| v < 0x1000 || v == 0xffff)
                    .ok_or_else(|| {
                        SyntaxError::at(
                            text,
                            vs,
                            format!("expected a VLAN ID (0 to 4095, or 0xffff for no VLAN), found \"{s}\""),
                        )
                    })?;
                if vid == 0xffff {
                    // No VLAN tag at all.
                    self.m.set(Field::VlanTci, 0);
                } else {
                    self.m.set(Field::VlanVid, u128::from(VLAN_PRESENT) | vid);
                }
            }
            Field::DlVlanPcp => {
                let (pcp, _) = parse_value(text, vs, ve, field)?;
                self.m.set(Field::DlVlanPcp, pcp);
                // A priority implies a tag: require the "present" bit too.
                let (tci, mask) = self.m.get(Field::VlanTci);
                let present = u128::from(VLAN_PRESENT);
                self.m
                    .set_masked(Field::VlanTci, tci | present, mask | present);
            }
            Field::VlanVid => {
                let (vid, mask) = parse_value(text, vs, ve, field)?;
                let (_, tci_mask) = self.m.get(Field::VlanTci);
                if mask == 0 && tci_mask & VLAN_PCP_MASK != 0 {
                    // As Open vSwitch: wildcarding the VID of a match that names a priority
                    // keeps the priority and its tag requirement.
                    self.m.set_masked(Field::DlVlan, 0, 0);
                } else if mask == 0 {
                    self.m.set_masked(Field::VlanTci, 0, 0);
                } else {
                    self.m.set_masked(field, vid, mask);
                }
            }
            _ => {
                // `set_masked` replaces the whole field: a later item wins, as in Open vSwitch.
                let (value, mask) = parse_value(text, vs, ve, field)?;
                self.m.set_masked(field, value, mask);
            }
        }
        Ok(())
    }

    /// Checks prerequisites and normalizes the VLAN match; returns the match.
    pub fn finish(self) -> Result<Match, SyntaxError> {
        let MatchParser {
            text,
            mut m,
            mut seen,
        } = self;
        arp_nw_proto(&mut m, &mut seen);
        icmp_ports(text, &mut m, &mut seen)?;
        for &(field, at) in &seen {
            let mask = field.get_mask(&m.mask);
            if mask == 0 {
                // Replaced later by a whole-field wildcard (`nw_src=0.0.0.0/0`): nothing to check.
                continue;
            }
            if !prereq_met(field, &m) {
                let (what, add) = prereq_hint(field);
                return Err(SyntaxError::at(
                    text,
                    at,
                    format!("{} requires {what} (add {add})", field.name()),
                ));
            }
        }
        normalize_vlan(text, &mut m, &seen)?;
        Ok(m)
    }
}

/// In an ICMP or ICMPv6 match, `tp_src` and `tp_dst` are the type and code (OpenFlow 1.0's
/// convention, which Open vSwitch keeps): move them there. Open vSwitch silently drops a mask on
/// them; we refuse one, since the type and code cannot be masked.
fn icmp_ports(text: &str, m: &mut Match, seen: &mut [(Field, usize)]) -> Result<(), SyntaxError> {
    if !(Prereq::Icmpv4.is_met_by(m) || Prereq::Icmpv6.is_met_by(m)) {
        return Ok(());
    }
    for (port, icmp) in [
        (Field::TpSrc, Field::IcmpType),
        (Field::TpDst, Field::IcmpCode),
    ] {
        let (value, mask) = m.get(port);
        if mask == 0 {
            continue;
        }
        let at = seen
            .iter()
            .rev()
            .find(|(f, _)| *f == port)
            .map_or(0, |&(_, at)| at);
        if mask != port.full_mask() || value > 0xff {
            return Err(SyntaxError::at(
                text,
                at,
                format!("in an ICMP match {port} is {icmp}: expected an exact value from 0 to 255"),
            ));
        }
        m.set_masked(port, 0, 0);
        m.set(icmp, value);
        for entry in seen.iter_mut().filter(|(f, _)| *f == port) {
            entry.0 = icmp;
        }
    }
    Ok(())
}

/// In an ARP match, `nw_proto` is the opcode (Open vSwitch keeps both in one place): move it to
/// `arp_op`, unless an `arp_op` item came after it.
fn arp_nw_proto(m: &mut Match, seen: &mut [(Field, usize)]) {
    let is_type = |m: &Match, t: u16| m.mask.0.dl_type == 0xffff && m.key.dl_type == t;
    if !(is_type(m, ethertype::ARP) || is_type(m, ethertype::RARP)) {
        return;
    }
    let (proto, mask) = m.get(Field::NwProto);
    if mask == 0 {
        return;
    }
    let last = |f: Field| seen.iter().rposition(|&(s, _)| s == f);
    if last(Field::ArpOp) < last(Field::NwProto) {
        m.set(Field::ArpOp, proto);
    }
    m.set_masked(Field::NwProto, 0, 0);
    for entry in seen.iter_mut().filter(|(f, _)| *f == Field::NwProto) {
        entry.0 = Field::ArpOp;
    }
}

/// Whether `field`'s prerequisite holds in `m`, with Open vSwitch's sharing: `nw_src`/`nw_dst`
/// also serve ARP, `icmp_type`/`icmp_code` also serve ICMPv6, and ARP fields also serve RARP.
fn prereq_met(field: Field, m: &Match) -> bool {
    let is_type = |t: u16| m.mask.0.dl_type == 0xffff && m.key.dl_type == t;
    let arp = is_type(ethertype::ARP) || is_type(ethertype::RARP);
    match field {
        Field::NwSrc | Field::NwDst => Prereq::Ipv4.is_met_by(m) || arp,
        Field::IcmpType | Field::IcmpCode => {
            Prereq::Icmpv4.is_met_by(m) || Prereq::Icmpv6.is_met_by(m)
        }
        _ => match field.def().prereq {
            Prereq::Arp => arp,
            p => p.is_met_by(m),
        },
    }
}

/// What a field needs, and what to add to the flow to provide it.
fn prereq_hint(field: Field) -> (&'static str, &'static str) {
    match field {
        Field::NwSrc | Field::NwDst => ("ip or arp", "\"ip,\" or \"dl_type=0x0800\""),
        Field::IcmpType | Field::IcmpCode => ("icmp or icmp6", "\"icmp,\" or \"icmp6,\""),
        _ => match field.def().prereq {
            Prereq::None => ("nothing", "nothing"),
            Prereq::Ipv4 => ("ip", "\"ip,\" or \"dl_type=0x0800\""),
            Prereq::Ipv6 => ("ipv6", "\"ipv6,\" or \"dl_type=0x86dd\""),
            Prereq::Ip => ("ip or ipv6", "\"ip,\" or \"ipv6,\""),
            Prereq::Arp => ("arp or rarp", "\"arp,\" or \"dl_type=0x0806\""),
            Prereq::Tcp => ("tcp or tcp6", "\"tcp,\" or \"tcp6,\""),
            Prereq::Udp => ("udp or udp6", "\"udp,\" or \"udp6,\""),
            Prereq::Sctp => ("sctp or sctp6", "\"sctp,\" or \"sctp6,\""),
            Prereq::L4Ports => (
                "tcp, udp or sctp",
                "\"tcp,\", \"udp,\", \"sctp,\" or their IPv6 forms",
            ),
            Prereq::Icmpv4 => ("icmp", "\"icmp,\""),
            Prereq::Icmpv6 => ("icmp6", "\"icmp6,\""),
            Prereq::Nd => (
                "icmp6 neighbor discovery",
                "\"icmp6,icmp_type=135,\" or \"icmp6,icmp_type=136,\"",
            ),
            Prereq::NdSolicit => (
                "an ICMPv6 neighbor solicitation",
                "\"icmp6,icmp_type=135,\"",
            ),
            Prereq::NdAdvert => (
                "an ICMPv6 neighbor advertisement",
                "\"icmp6,icmp_type=136,\"",
            ),
        },
    }
}

/// Reduces the VLAN match to what OpenFlow 1.3 expresses: the VID and "present" bit under their
/// mask, and the priority only (and then exactly) when a tag is required.
///
/// A priority match that does not require a tag cannot be expressed: Open vSwitch drops it
/// silently (matching more packets than asked); we refuse it, except for the "no tag" match
/// (`vlan_tci=0`), whose priority bits say nothing more.
fn normalize_vlan(text: &str, m: &mut Match, seen: &[(Field, usize)]) -> Result<(), SyntaxError> {
    let (tci, mask) = m.get(Field::VlanTci);
    if mask == 0 {
        return Ok(());
    }
    let present = u128::from(VLAN_PRESENT);
    let tag_required = mask & present != 0 && tci & present != 0;
    let no_tag = mask & present != 0 && tci & present == 0;
    if mask & VLAN_PCP_MASK != 0 && !tag_required && !(no_tag && tci & VLAN_PCP_MASK == 0) {
        let at = seen
            .iter()
            .rev()
            .find(|(f, _)| {
                matches!(
                    f,
                    Field::VlanTci | Field::DlVlanPcp | Field::VlanVid | Field::DlVlan
                )
            })
            .map_or(0, |&(_, at)| at);
        return Err(SyntaxError::at(
            text,
            at,
            "a VLAN priority can only be matched together with a VLAN tag (set the 0x1000 bit of vlan_tci and its mask)",
        ));
    }
    // Open vSwitch accepts a VID without a tag (`vlan_vid=5`) but cannot encode one together
    // with a priority mask (`vlan_tci=5`): refuse that combination instead of dropping bits.
    if no_tag && tci & 0x0fff != 0 && mask & VLAN_PCP_MASK != 0 {
        let at = seen
            .iter()
            .rev()
            .find(|(f, _)| matches!(f, Field::VlanTci | Field::VlanVid | Field::DlVlan))
            .map_or(0, |&(_, at)| at);
        return Err(SyntaxError::at(
            text,
            at,
            "a VLAN ID and priority can only be matched together with a VLAN tag (set the 0x1000 bit of vlan_tci)",
        ));
    }
    let mut new_mask = mask & VLAN_VID_CFI_MASK;
    let mut new_tci = tci & new_mask;
    if tag_required && mask & VLAN_PCP_MASK != 0 {
        new_mask |= VLAN_PCP_MASK;
        new_tci |= tci & VLAN_PCP_MASK;
    }
    Field::VlanTci.set(&mut m.mask.0, new_mask, 0xffff);
    Field::VlanTci.set(&mut m.key, new_tci, 0xffff);
    Ok(())
}

/// Parses the match `text[start..end]` (items separated by commas or white space).
pub fn parse_match(text: &str, start: usize, end: usize) -> Result<Match, SyntaxError> {
    let mut parser = MatchParser::new(text);
    for item in split_items(text, start, end) {
        parser.item(item)?;
    }
    parser.finish()
}

/// Parses a packet description for `trace` (`in_port=1,tcp,nw_src=10.0.0.1,tp_dst=80`) into a
/// concrete key: the given fields take their values, every other field is zero. Masks are not
/// allowed, since a packet has one value per field.
pub fn parse_packet_spec(text: &str) -> Result<FlowKey, SyntaxError> {
    let mut parser = MatchParser::new(text);
    for item in split_items(text, 0, text.len()) {
        if let (Some(_), Some((vs, ve))) = (Field::from_name(item.name), item.value) {
            let s = text.get(vs..ve).unwrap_or("");
            if s.contains('/') {
                return Err(SyntaxError::at(
                    text,
                    vs,
                    format!("a packet has one value per field: expected no mask, found \"{s}\""),
                ));
            }
        }
        parser.item(item)?;
    }
    let m = parser.finish()?;
    Ok(m.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(s: &str) -> String {
        match parse_match(s, 0, s.len()) {
            Ok(m) => format_match(&m),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn in_port_oxm_is_in_port_and_nxm_names_are_not_match_fields() {
        // Found by fuzzing: the 32-bit `in_port_oxm` gave a wider mask than `in_port`, so its
        // canonical text (`in_port=6`) parsed to another match.
        let parse = |s: &str| parse_match(s, 0, s.len()).map_err(|e| e.to_string());
        assert_eq!(parse("in_port_oxm=6"), parse("in_port=6"));
        assert_eq!(round("in_port_oxm=4294967294"), "in_port=LOCAL");
        // As `ovs-ofctl`: NXM/OXM names belong to actions, not to matches.
        assert_eq!(
            round("NXM_NX_REG0=5"),
            "error: column 1: unknown field or keyword \"NXM_NX_REG0\""
        );
        assert!(round("OXM_OF_IN_PORT=6").starts_with("error: column 1: unknown field"));
    }

    #[test]
    fn shorthands_collapse() {
        assert_eq!(round("dl_type=0x86dd,nw_proto=6"), "tcp6");
        assert_eq!(round("ip,nw_proto=1"), "icmp");
        assert_eq!(round("tcp,ip"), "tcp");
        assert_eq!(round("ipv6,nw_proto=47"), "ipv6,nw_proto=47");
        assert_eq!(round("in_port=1,dl_type=0x0800"), "ip,in_port=1");
    }

    #[test]
    fn prerequisites_are_checked_after_the_whole_match() {
        assert_eq!(round("nw_src=10.0.0.1,ip"), "ip,nw_src=10.0.0.1");
        assert_eq!(
            round("in_port=1,nw_src=10.0.0.1"),
            "error: column 11: nw_src requires ip or arp (add \"ip,\" or \"dl_type=0x0800\")"
        );
        assert_eq!(round("arp,nw_src=1.1.1.1"), "arp,arp_spa=1.1.1.1");
        assert_eq!(round("arp,nw_proto=1"), "arp,arp_op=1");
        assert_eq!(
            round("icmp6,tp_src=1,tp_dst=4"),
            "icmp6,icmp_type=1,icmp_code=4"
        );
        assert_eq!(
            round("icmp,tp_src=8/0xf"),
            "error: column 6: in an ICMP match tp_src is icmp_type: expected an exact value from 0 to 255"
        );
    }

    #[test]
    fn vlan_is_normalized_as_openflow13() {
        assert_eq!(round("vlan_tci=0x1064/0x1fff"), "dl_vlan=100");
        assert_eq!(round("vlan_tci=0"), "vlan_tci=0x0000/0x1fff");
        assert_eq!(
            round("vlan_tci=0x2000/0xe000"),
            "error: column 1: a VLAN priority can only be matched together with a VLAN tag (set the 0x1000 bit of vlan_tci and its mask)"
        );
        assert_eq!(round("vlan_tci=0x3005"), "dl_vlan=5,dl_vlan_pcp=1");
        assert_eq!(round("dl_vlan_pcp=3"), "dl_vlan_pcp=3");
        assert_eq!(round("vlan_vid=5"), "vlan_tci=0x0005/0x1fff");
        assert_eq!(round("dl_vlan_pcp=2,vlan_vid=1/0"), "dl_vlan_pcp=2");
        assert_eq!(round("dl_vlan=2,vlan_vid=1/0"), "");
        assert_eq!(
            round("vlan_tci=5"),
            "error: column 1: a VLAN ID and priority can only be matched together with a VLAN tag (set the 0x1000 bit of vlan_tci)"
        );
    }

    #[test]
    fn packet_spec_gives_a_concrete_key() {
        let k = parse_packet_spec("in_port=1,tcp,nw_src=10.0.0.1,tp_dst=80");
        let k = k.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((k.in_port, k.nw_src, k.tp_dst), (1, 0x0a00_0001, 80));
        assert!(parse_packet_spec("ip,nw_src=10.0.0.0/8").is_err());
    }
}
