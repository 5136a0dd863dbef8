//! Header rewrites: set-field, VLAN push and pop, on a [`Packet`] in place.
//!
//! A write is located by parsing the frame up to the header it needs (Ethernet, up to two VLAN
//! tags, IPv4/IPv6/ARP, the transport header), and applied through the `flowtable::wire`
//! mutable views, whose setters keep the IPv4 header checksum and the TCP/UDP/ICMP checksums
//! right with incremental updates (SCTP's CRC is recomputed).
//!
//! The bits written follow the field registry exactly: the current header value is loaded into
//! the field's key member, [`Field::set`] merges the masked value, and the result is stored
//! back. So `nw_tos` writes the DSCP bits and `nw_ecn` the ECN bits of the same byte, as in
//! every other part of the switch.
//!
//! A write whose header is not in the packet (a port write on a later fragment, a truncated
//! transport header) does nothing, as in Open vSwitch. Metadata fields (tunnel, `pkt_mark`)
//! are written to the packet's metadata key instead of its bytes.

use flowtable::ethertype;
use flowtable::field::Field;
use flowtable::key::VLAN_PRESENT;
use flowtable::wire::ipv4::proto;
use flowtable::wire::{
    checksum, ethernet, icmpv4::Icmpv4Mut, ipv4::Ipv4, ipv4::Ipv4Mut, ipv6::Ipv6Mut, ipv6ext,
    sctp::SctpMut, tcp::TcpMut, udp::UdpMut, vlan,
};
use flowtable::FlowKey;

use crate::packet::Packet;

/// Length of an Ethernet header.
const ETH_LEN: usize = ethernet::HEADER_LEN;
/// Length of a VLAN tag.
const TAG_LEN: usize = 4;

/// Where the network header of a frame starts, and its ethertype, after up to two tags.
fn l3(frame: &[u8]) -> Option<(u16, usize, usize)> {
    let mut at = 12;
    let mut tags = 0;
    loop {
        let ty = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
        if tags < 2 && vlan::is_tpid(ty) && frame.len() >= at + 2 + TAG_LEN {
            at += TAG_LEN;
            tags += 1;
            continue;
        }
        return Some((ty, at + 2, tags));
    }
}

/// Number of VLAN tags at the front of `frame` (at most two are counted).
pub fn vlan_tags(frame: &[u8]) -> usize {
    l3(frame).map_or(0, |(_, _, tags)| tags)
}

/// The L3 length of the frame as an MTU sees it: the frame without Ethernet header and tags.
pub fn l3_len(frame: &[u8]) -> usize {
    frame
        .len()
        .saturating_sub(ETH_LEN + TAG_LEN * vlan_tags(frame))
}

/// The transport header of an IP packet: (protocol, start, end) within the frame, `None` for
/// later fragments and non-IP frames.
fn l4(frame: &[u8]) -> Option<(u8, usize, usize)> {
    let (ty, at, _) = l3(frame)?;
    let ip = frame.get(at..)?;
    match ty {
        ethertype::IPV4 => {
            let v = Ipv4::parse(ip).ok()?;
            if v.is_later_fragment() {
                return None;
            }
            Some((v.protocol(), at + v.header_len(), at + v.total_len()))
        }
        ethertype::IPV6 => {
            let v = flowtable::wire::ipv6::Ipv6::parse(ip).ok()?;
            let walk = v.walk().ok()?;
            if walk.fragment == ipv6ext::Fragment::Later {
                return None;
            }
            let start = at + flowtable::wire::ipv6::HEADER_LEN;
            Some((walk.protocol, start + walk.offset, start + v.payload_len()))
        }
        _ => None,
    }
}

/// Merges `value`/`mask` into the current value `cur` of `field` with the registry's meaning.
fn merge(field: Field, load: impl FnOnce(&mut FlowKey), value: u128, mask: u128) -> FlowKey {
    let mut k = FlowKey::zero();
    load(&mut k);
    field.set(&mut k, value, mask);
    k
}

/// Writes `value` under `mask` into `field` of the packet (or of `meta` for metadata fields).
pub fn set_field(pkt: &mut Packet, meta: &mut FlowKey, field: Field, value: u128, mask: u128) {
    match field {
        Field::TunId | Field::TunSrc | Field::TunDst | Field::TunFlags | Field::PktMark => {
            field.set(meta, value, mask);
        }
        Field::DlDst | Field::DlSrc => set_eth(pkt.data_mut(), field, value, mask),
        Field::VlanTci => set_vlan_tci(pkt.data_mut(), value, mask),
        Field::NwSrc | Field::NwDst | Field::ArpSpa | Field::ArpTpa => {
            set_nw_addr(pkt.data_mut(), field, value, mask)
        }
        Field::Ipv6Src | Field::Ipv6Dst | Field::Ipv6Label => {
            set_ipv6(pkt.data_mut(), field, value, mask)
        }
        Field::NwTos | Field::NwEcn | Field::IpDscp | Field::NwTtl => {
            set_ip_byte(pkt.data_mut(), field, value, mask)
        }
        Field::ArpOp | Field::ArpSha | Field::ArpTha => set_arp(pkt.data_mut(), field, value, mask),
        Field::TpSrc | Field::TpDst => set_port(pkt.data_mut(), field, value, mask),
        Field::IcmpType | Field::IcmpCode | Field::Icmpv6Type | Field::Icmpv6Code => {
            set_icmp(pkt.data_mut(), field, value, mask)
        }
        Field::NdTarget | Field::NdSll | Field::NdTll => set_nd(pkt.data_mut(), field, value, mask),
        // Fields the translation never commits as sets (registers, conntrack, ...): nothing in
        // the packet to change.
        _ => {}
    }
}

fn set_eth(frame: &mut [u8], field: Field, value: u128, mask: u128) {
    let Ok(mut eth) = ethernet::EthernetMut::new(frame) else {
        return;
    };
    let v = eth.view();
    let k = merge(
        field,
        |k| {
            k.dl_dst = v.dst();
            k.dl_src = v.src();
        },
        value,
        mask,
    );
    if field == Field::DlDst {
        eth.set_dst(k.dl_dst);
    } else {
        eth.set_src(k.dl_src);
    }
}

fn set_vlan_tci(frame: &mut [u8], value: u128, mask: u128) {
    if vlan_tags(frame) == 0 {
        return;
    }
    let Some(tci) = frame.get_mut(14..16) else {
        return;
    };
    let old = u16::from_be_bytes([tci[0], tci[1]]);
    // The key's "present" bit is not a bit of the tag: never write it.
    let mask = mask & u128::from(!VLAN_PRESENT);
    let k = merge(Field::VlanTci, |k| k.vlan_tci = old, value, mask);
    tci.copy_from_slice(&k.vlan_tci.to_be_bytes());
}

fn set_nw_addr(frame: &mut [u8], field: Field, value: u128, mask: u128) {
    let Some((ty, at, _)) = l3(frame) else { return };
    let Some(ip) = frame.get_mut(at..) else {
        return;
    };
    let dst = matches!(field, Field::NwDst | Field::ArpTpa);
    match ty {
        ethertype::IPV4 => {
            let Ok(mut v) = Ipv4Mut::new(ip) else { return };
            let (s, d) = (v.view().src(), v.view().dst());
            let k = merge(
                field,
                |k| {
                    k.nw_src = s;
                    k.nw_dst = d;
                },
                value,
                mask,
            );
            if dst {
                v.set_dst(k.nw_dst);
            } else {
                v.set_src(k.nw_src);
            }
        }
        ethertype::ARP | ethertype::RARP => {
            let Ok(a) = flowtable::wire::arp::Arp::parse(ip) else {
                return;
            };
            if !a.is_ethernet_ipv4() {
                return;
            }
            let (s, d) = (a.spa(), a.tpa());
            let k = merge(
                field,
                |k| {
                    k.nw_src = s;
                    k.nw_dst = d;
                },
                value,
                mask,
            );
            let (off, new) = if dst { (24, k.nw_dst) } else { (14, k.nw_src) };
            if let Some(b) = ip.get_mut(off..off + 4) {
                b.copy_from_slice(&new.to_be_bytes());
            }
        }
        _ => {}
    }
}

fn set_ipv6(frame: &mut [u8], field: Field, value: u128, mask: u128) {
    let Some((ethertype::IPV6, at, _)) = l3(frame) else {
        return;
    };
    let Some(Ok(mut v)) = frame.get_mut(at..).map(Ipv6Mut::new) else {
        return;
    };
    let view = v.view();
    let (s, d, l) = (view.src(), view.dst(), view.flow_label());
    let k = merge(
        field,
        |k| {
            k.ipv6_src = s;
            k.ipv6_dst = d;
            k.ipv6_label = l;
        },
        value,
        mask,
    );
    match field {
        Field::Ipv6Src => v.set_src(k.ipv6_src),
        Field::Ipv6Dst => v.set_dst(k.ipv6_dst),
        _ => v.set_flow_label(k.ipv6_label),
    }
}

fn set_ip_byte(frame: &mut [u8], field: Field, value: u128, mask: u128) {
    let Some((ty, at, _)) = l3(frame) else { return };
    let Some(ip) = frame.get_mut(at..) else {
        return;
    };
    let ttl = field == Field::NwTtl;
    match ty {
        ethertype::IPV4 => {
            let Ok(mut v) = Ipv4Mut::new(ip) else { return };
            let (tos, t) = (v.view().tos(), v.view().ttl());
            let k = merge(
                field,
                |k| {
                    k.nw_tos = tos;
                    k.nw_ttl = t;
                },
                value,
                mask,
            );
            if ttl {
                v.set_ttl(k.nw_ttl);
            } else {
                v.set_tos(k.nw_tos);
            }
        }
        ethertype::IPV6 => {
            let Ok(mut v) = Ipv6Mut::new(ip) else { return };
            let (tc, hl) = (v.view().traffic_class(), v.view().hop_limit());
            let k = merge(
                field,
                |k| {
                    k.nw_tos = tc;
                    k.nw_ttl = hl;
                },
                value,
                mask,
            );
            if ttl {
                v.set_hop_limit(k.nw_ttl);
            } else {
                v.set_traffic_class(k.nw_tos);
            }
        }
        _ => {}
    }
}

fn set_arp(frame: &mut [u8], field: Field, value: u128, mask: u128) {
    let Some((ethertype::ARP | ethertype::RARP, at, _)) = l3(frame) else {
        return;
    };
    let Some(ip) = frame.get_mut(at..) else {
        return;
    };
    let Ok(a) = flowtable::wire::arp::Arp::parse(ip) else {
        return;
    };
    if !a.is_ethernet_ipv4() {
        return;
    }
    let (op, sha, tha) = (a.op(), a.sha(), a.tha());
    let k = merge(
        field,
        |k| {
            k.arp_op = op;
            k.arp_sha = sha;
            k.arp_tha = tha;
        },
        value,
        mask,
    );
    let (off, bytes): (usize, &[u8]) = match field {
        Field::ArpOp => (6, &k.arp_op.to_be_bytes()),
        Field::ArpSha => (8, &k.arp_sha),
        _ => (18, &k.arp_tha),
    };
    if let Some(b) = ip.get_mut(off..off + bytes.len()) {
        b.copy_from_slice(bytes);
    }
}

fn set_port(frame: &mut [u8], field: Field, value: u128, mask: u128) {
    let Some((p, start, end)) = l4(frame) else {
        return;
    };
    let Some(seg) = frame.get_mut(start..end) else {
        return;
    };
    let (Some(&[a, b]), Some(&[c, d])) = (seg.get(0..2), seg.get(2..4)) else {
        return;
    };
    let (src, dst) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
    let k = merge(
        field,
        |k| {
            k.tp_src = src;
            k.tp_dst = dst;
        },
        value,
        mask,
    );
    let is_src = field == Field::TpSrc;
    match p {
        proto::TCP => {
            if let Ok(mut t) = TcpMut::new(seg) {
                if is_src {
                    t.set_src_port(k.tp_src)
                } else {
                    t.set_dst_port(k.tp_dst)
                }
            }
        }
        proto::UDP => {
            if let Ok(mut u) = UdpMut::new(seg) {
                if is_src {
                    u.set_src_port(k.tp_src)
                } else {
                    u.set_dst_port(k.tp_dst)
                }
            }
        }
        proto::SCTP => {
            if let Ok(mut s) = SctpMut::new(seg) {
                if is_src {
                    s.set_src_port(k.tp_src)
                } else {
                    s.set_dst_port(k.tp_dst)
                }
            }
        }
        _ => {}
    }
}

fn set_icmp(frame: &mut [u8], field: Field, value: u128, mask: u128) {
    let Some((p, start, end)) = l4(frame) else {
        return;
    };
    let Some(seg) = frame.get_mut(start..end) else {
        return;
    };
    let (Some(&ty), Some(&code)) = (seg.first(), seg.get(1)) else {
        return;
    };
    let k = merge(
        field,
        |k| {
            k.icmp_type = ty;
            k.icmp_code = code;
        },
        value,
        mask,
    );
    match p {
        proto::ICMP if matches!(field, Field::IcmpType | Field::IcmpCode) => {
            if let Ok(mut icmp) = Icmpv4Mut::new(seg) {
                icmp.set_type_code(k.icmp_type, k.icmp_code);
            }
        }
        proto::ICMPV6 => {
            let new = [k.icmp_type, k.icmp_code];
            rewrite_icmpv6(seg, 0, &new);
        }
        _ => {}
    }
}

/// Writes `new` at `off` of an ICMPv6 message, updating its checksum incrementally.
fn rewrite_icmpv6(seg: &mut [u8], off: usize, new: &[u8]) {
    if seg.len() < 4 || !off.is_multiple_of(2) {
        return;
    }
    let Some(old) = seg.get(off..off + new.len()).map(<[u8]>::to_vec) else {
        return;
    };
    let check = u16::from_be_bytes([seg[2], seg[3]]);
    let c = checksum::update_bytes(check, &old, new);
    seg[off..off + new.len()].copy_from_slice(new);
    seg[2..4].copy_from_slice(&c.to_be_bytes());
}

fn set_nd(frame: &mut [u8], field: Field, value: u128, mask: u128) {
    let Some((proto::ICMPV6, start, end)) = l4(frame) else {
        return;
    };
    let Some(seg) = frame.get_mut(start..end) else {
        return;
    };
    // Neighbor solicitation (135) and advertisement (136), code 0: target at 8..24, then
    // options of 8-byte units.
    if !matches!(seg.first(), Some(135 | 136)) || seg.get(1) != Some(&0) || seg.len() < 24 {
        return;
    }
    if field == Field::NdTarget {
        let mut old = [0u8; 16];
        old.copy_from_slice(&seg[8..24]);
        let k = merge(field, |k| k.nd_target = old, value, mask);
        rewrite_icmpv6(seg, 8, &k.nd_target);
        return;
    }
    let want = if field == Field::NdSll { 1 } else { 2 };
    let mut off = 24;
    while let (Some(&ty), Some(&len)) = (seg.get(off), seg.get(off + 1)) {
        let len = usize::from(len) * 8;
        if len == 0 || off + len > seg.len() {
            return;
        }
        if ty == want && len == 8 {
            let mut old = [0u8; 6];
            old.copy_from_slice(&seg[off + 2..off + 8]);
            let k = merge(
                field,
                |k| {
                    k.nd_sll = old;
                    k.nd_tll = old;
                },
                value,
                mask,
            );
            let new = if want == 1 { k.nd_sll } else { k.nd_tll };
            rewrite_icmpv6(seg, off + 2, &new);
            return;
        }
        off += len;
    }
}

/// Pushes a VLAN tag (TPID and TCI) as the outermost tag. Returns false when the frame is too
/// short to carry one.
pub fn push_vlan(pkt: &mut Packet, tpid: u16, tci: u16) -> bool {
    if pkt.len() < ETH_LEN {
        return false;
    }
    let Some(front) = pkt.push_front(TAG_LEN) else {
        return false;
    };
    let _ = front;
    let frame = pkt.data_mut();
    frame.copy_within(TAG_LEN..TAG_LEN + 12, 0);
    frame[12..14].copy_from_slice(&tpid.to_be_bytes());
    frame[14..16].copy_from_slice(&(tci & !VLAN_PRESENT).to_be_bytes());
    true
}

/// Removes the outermost VLAN tag, if the frame has one.
pub fn pop_vlan(pkt: &mut Packet) {
    let (buf, start) = pkt.buffer_mut();
    if let Ok((new_start, Some(_))) = vlan::pop_in_place(buf, start) {
        pkt.set_start(new_start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowtable::wire::ipv6::{Ipv6, Ipv6Header};
    use flowtable::wire::{arp, icmpv6, ipv4::Ipv4Header, udp::Udp};
    use proptest::prelude::*;

    fn udp6(src: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
        let mut f = Vec::new();
        ethernet::emit(&mut f, [2; 6], [4; 6], ethertype::IPV6);
        let h = Ipv6Header {
            src,
            dst,
            next_header: proto::UDP,
            hop_limit: 9,
            traffic_class: 0x21,
            flow_label: 7,
        };
        let payload = [1u8; 10];
        let _ = h.emit(&mut f, 8 + payload.len());
        let pseudo = h.pseudo_header_sum(proto::UDP, 8 + payload.len());
        let _ = flowtable::wire::udp::emit(&mut f, 1, 2, &payload, Some(pseudo));
        f
    }

    fn ipv6_of(frame: &[u8]) -> Ipv6<'_> {
        let eth = ethernet::Ethernet::parse(frame).unwrap_or_else(|e| panic!("{e}"));
        Ipv6::parse(eth.payload()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn ipv6_rewrites_keep_the_udp_checksum() {
        let mut p = Packet::from_slice(&udp6([1; 16], [2; 16]));
        let mut meta = FlowKey::zero();
        let new = u128::from_be_bytes([9; 16]);
        set_field(&mut p, &mut meta, Field::Ipv6Dst, new, u128::MAX);
        set_field(&mut p, &mut meta, Field::Ipv6Label, 0xabcde, 0xfffff);
        set_field(&mut p, &mut meta, Field::NwTtl, 3, 0xff);
        // nw_ecn writes the low two bits only; nw_tos the upper six.
        set_field(&mut p, &mut meta, Field::NwEcn, 2, 3);
        set_field(&mut p, &mut meta, Field::NwTos, 0x80, 0xfc);
        let ip = ipv6_of(p.data());
        assert_eq!(ip.dst(), [9; 16]);
        assert_eq!(
            (ip.flow_label(), ip.hop_limit(), ip.traffic_class()),
            (0xabcde, 3, 0x82)
        );
        let udp = Udp::parse(ip.payload()).unwrap_or_else(|e| panic!("{e}"));
        let pseudo = ip.pseudo_header_sum(proto::UDP, ip.payload().len());
        assert!(udp.verify_checksum(pseudo));
    }

    #[test]
    fn icmpv6_type_and_nd_target_keep_the_checksum() {
        let (src, dst) = ([0xfe; 16], [0xff; 16]);
        let mut f = Vec::new();
        ethernet::emit(&mut f, [2; 6], [4; 6], ethertype::IPV6);
        let body = icmpv6::nd_body([5; 16], Some((1, [7; 6])));
        let h = Ipv6Header {
            src,
            dst,
            next_header: proto::ICMPV6,
            hop_limit: 255,
            traffic_class: 0,
            flow_label: 0,
        };
        let len = 8 + body.len();
        let _ = h.emit(&mut f, len);
        icmpv6::emit(
            &mut f,
            135,
            0,
            [0; 4],
            &body,
            h.pseudo_header_sum(proto::ICMPV6, len),
        );
        let mut p = Packet::from_slice(&f);
        let mut meta = FlowKey::zero();
        set_field(
            &mut p,
            &mut meta,
            Field::NdTarget,
            u128::from_be_bytes([6; 16]),
            u128::MAX,
        );
        set_field(
            &mut p,
            &mut meta,
            Field::NdSll,
            0x0102_0304_0506,
            0xffff_ffff_ffff,
        );
        set_field(&mut p, &mut meta, Field::Icmpv6Code, 0, 0xff);
        let ip = ipv6_of(p.data());
        let msg = icmpv6::Icmpv6::parse(ip.payload()).unwrap_or_else(|e| panic!("{e}"));
        assert!(msg.verify_checksum(ip.pseudo_header_sum(proto::ICMPV6, ip.payload().len())));
        let nd = msg.nd().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(nd.target, [6; 16]);
        assert_eq!(nd.sll, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn arp_fields_and_vlan_tci() {
        let mut f = Vec::new();
        ethernet::emit(&mut f, [0xff; 6], [4; 6], ethertype::ARP);
        arp::emit(&mut f, 1, [4; 6], 0x0a00_0001, [0; 6], 0x0a00_0002);
        let mut f2 = f.clone();
        vlan::push(&mut f2, 0x8100, 0x2005).unwrap_or_else(|e| panic!("{e}"));
        let mut p = Packet::from_slice(&f2);
        let mut meta = FlowKey::zero();
        set_field(&mut p, &mut meta, Field::ArpTpa, 0x0a00_0063, 0xffff_ffff);
        set_field(&mut p, &mut meta, Field::ArpOp, 2, 0xffff);
        set_field(
            &mut p,
            &mut meta,
            Field::ArpTha,
            0x0a0b_0c0d_0e0f,
            0xffff_ffff_ffff,
        );
        // vid 5 → 9, pcp 1 kept.
        set_field(&mut p, &mut meta, Field::VlanTci, 9, 0x0fff);
        let a = arp::Arp::parse(&p.data()[18..]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (a.tpa(), a.op(), a.tha()),
            (0x0a00_0063, 2, [10, 11, 12, 13, 14, 15])
        );
        assert_eq!(&p.data()[14..16], &0x2009u16.to_be_bytes());
        pop_vlan(&mut p);
        assert_eq!(vlan_tags(p.data()), 0);
        assert!(push_vlan(&mut p, 0x88a8, 3));
        assert_eq!(&p.data()[12..16], &[0x88, 0xa8, 0, 3]);
        assert_eq!(l3_len(p.data()), f.len() - 14);
    }

    #[test]
    fn metadata_fields_go_to_the_key() {
        let mut p = Packet::from_slice(&[0; 60]);
        let mut meta = FlowKey::zero();
        set_field(&mut p, &mut meta, Field::PktMark, 0x55, 0xff);
        set_field(
            &mut p,
            &mut meta,
            Field::TunId,
            0x1234,
            u128::from(u64::MAX),
        );
        assert_eq!((meta.pkt_mark, meta.tun_id), (0x55, 0x1234));
        assert_eq!(p.data(), &[0; 60]);
    }

    #[test]
    fn later_fragment_ports_are_left_alone() {
        let mut f = Vec::new();
        ethernet::emit(&mut f, [2; 6], [4; 6], ethertype::IPV4);
        let ip = Ipv4Header {
            src: 1,
            dst: 2,
            protocol: proto::UDP,
            frag_word: 100,
            ..Ipv4Header::default()
        };
        let _ = ip.emit(&mut f, 16);
        f.extend_from_slice(&[7; 16]);
        let mut p = Packet::from_slice(&f);
        set_field(&mut p, &mut FlowKey::zero(), Field::TpDst, 99, 0xffff);
        assert_eq!(p.data(), &f[..]);
    }

    const FIELDS: [Field; 22] = [
        Field::DlDst,
        Field::DlSrc,
        Field::VlanTci,
        Field::NwSrc,
        Field::NwDst,
        Field::ArpSpa,
        Field::ArpTpa,
        Field::Ipv6Src,
        Field::Ipv6Dst,
        Field::Ipv6Label,
        Field::NwTos,
        Field::NwEcn,
        Field::NwTtl,
        Field::ArpOp,
        Field::ArpSha,
        Field::ArpTha,
        Field::TpSrc,
        Field::TpDst,
        Field::IcmpType,
        Field::Icmpv6Code,
        Field::NdTarget,
        Field::NdTll,
    ];

    proptest! {
        /// Any write on any frame: no panic, and nothing but the frame changes length.
        #[test]
        fn rewrites_never_panic(
            frame in prop::collection::vec(any::<u8>(), 0..200),
            head in prop::sample::select(vec![
                vec![], vec![0x08, 0x00, 0x45], vec![0x86, 0xdd, 0x60], vec![0x08, 0x06, 0, 1],
                vec![0x81, 0x00, 0, 5, 0x08, 0x00, 0x45],
            ]),
            writes in prop::collection::vec((0..FIELDS.len(), any::<u128>(), any::<u128>()), 1..6),
            vlan in any::<Option<u16>>(),
        ) {
            let mut frame = frame;
            if frame.len() >= 12 + head.len() {
                frame[12..12 + head.len()].copy_from_slice(&head);
            }
            let mut p = Packet::from_slice(&frame);
            let mut meta = FlowKey::zero();
            for (f, v, m) in writes {
                set_field(&mut p, &mut meta, FIELDS[f], v, m);
            }
            prop_assert_eq!(p.len(), frame.len());
            if let Some(tci) = vlan {
                let pushed = push_vlan(&mut p, 0x8100, tci);
                prop_assert_eq!(pushed, frame.len() >= ETH_LEN);
                pop_vlan(&mut p);
            }
            prop_assert_eq!(p.len(), frame.len());
        }
    }
}
