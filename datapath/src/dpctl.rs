//! Megaflow keys in Open vSwitch's datapath (dpctl) notation:
//! `recirc_id(0),in_port(1),eth(dst=02:00:00:00:00:02),eth_type(0x0800),ipv4(dst=10.0.0.0/255.255.255.0,frag=no)`.
//!
//! Each attribute lists the sub-fields whose mask is not zero: `name=value` when the mask is
//! full, `name=value/mask` when partial; an attribute with no such sub-field is left out.
//! `recirc_id`, `in_port` and `eth_type` are always shown (every megaflow matches them
//! exactly). A VLAN-tagged megaflow shows its outer tag and wraps the rest in `encap(...)`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use flowtable::key::{frag, VLAN_PRESENT};
use flowtable::wire::ipv4::proto;
use flowtable::{ethertype, FlowKey, FlowMask};

/// A list of `name=value[/mask]` sub-fields.
#[derive(Default)]
struct Attr(Vec<String>);

impl Attr {
    fn int(&mut self, name: &str, v: u64, m: u64, full: u64, hex: bool) {
        if m == 0 {
            return;
        }
        let val = if hex { c_hex(v) } else { v.to_string() };
        if m == full {
            self.0.push(format!("{name}={val}"));
        } else {
            self.0.push(format!("{name}={val}/{}", c_hex(m)));
        }
    }

    fn mac(&mut self, name: &str, v: [u8; 6], m: [u8; 6]) {
        if m == [0; 6] {
            return;
        }
        let f = |a: [u8; 6]| {
            a.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        if m == [0xff; 6] {
            self.0.push(format!("{name}={}", f(v)));
        } else {
            self.0.push(format!("{name}={}/{}", f(v), f(m)));
        }
    }

    fn ip4(&mut self, name: &str, v: u32, m: u32) {
        if m == 0 {
            return;
        }
        if m == u32::MAX {
            self.0.push(format!("{name}={}", Ipv4Addr::from(v)));
        } else {
            self.0.push(format!(
                "{name}={}/{}",
                Ipv4Addr::from(v),
                Ipv4Addr::from(m)
            ));
        }
    }

    fn ip6(&mut self, name: &str, v: [u8; 16], m: [u8; 16]) {
        if m == [0; 16] {
            return;
        }
        if m == [0xff; 16] {
            self.0.push(format!("{name}={}", Ipv6Addr::from(v)));
        } else {
            self.0.push(format!(
                "{name}={}/{}",
                Ipv6Addr::from(v),
                Ipv6Addr::from(m)
            ));
        }
    }

    fn raw(&mut self, s: String) {
        self.0.push(s);
    }

    /// Appends `name(sub,fields)` to `out` unless empty.
    fn emit(self, out: &mut Vec<String>, name: &str) {
        if !self.0.is_empty() {
            out.push(format!("{name}({})", self.0.join(",")));
        }
    }
}

/// Hexadecimal as C's `%#x` prints it: `0` for zero, `0x1f` otherwise.
fn c_hex(v: impl Into<u128>) -> String {
    let v = v.into();
    if v == 0 {
        "0".to_string()
    } else {
        format!("{v:#x}")
    }
}

fn frag_name(v: u8) -> &'static str {
    if v & frag::LATER != 0 {
        "later"
    } else if v & frag::ANY != 0 {
        "first"
    } else {
        "no"
    }
}

/// The key and mask of a megaflow in dpctl notation.
pub fn format_megaflow(key: &FlowKey, mask: &FlowMask) -> String {
    let (k, m) = (key, &mask.0);
    let mut out: Vec<String> = Vec::new();
    let mut a = Attr::default();
    a.int("tun_id", k.tun_id, m.tun_id, u64::MAX, true);
    a.ip4("src", k.tun_src, m.tun_src);
    a.ip4("dst", k.tun_dst, m.tun_dst);
    a.int(
        "flags",
        k.tun_flags.into(),
        m.tun_flags.into(),
        0xffff,
        true,
    );
    a.emit(&mut out, "tunnel");
    if m.pkt_mark != 0 {
        out.push(format!(
            "skb_mark({}/{})",
            c_hex(k.pkt_mark),
            c_hex(m.pkt_mark)
        ));
    }
    if m.ct_state != 0 {
        out.push(format!(
            "ct_state({}/{})",
            c_hex(k.ct_state),
            c_hex(m.ct_state)
        ));
    }
    if m.ct_zone != 0 {
        out.push(format!("ct_zone({})", c_hex(k.ct_zone)));
    }
    if m.ct_mark != 0 {
        out.push(format!(
            "ct_mark({}/{})",
            c_hex(k.ct_mark),
            c_hex(m.ct_mark)
        ));
    }
    if m.ct_label != [0; 16] {
        out.push(format!(
            "ct_label({}/{})",
            c_hex(u128::from_be_bytes(k.ct_label)),
            c_hex(u128::from_be_bytes(m.ct_label))
        ));
    }
    out.insert(0, format!("in_port({})", k.in_port));
    out.insert(0, format!("recirc_id({})", c_hex(k.recirc_id)));
    let mut eth = Attr::default();
    eth.mac("src", k.dl_src, m.dl_src);
    eth.mac("dst", k.dl_dst, m.dl_dst);
    eth.emit(&mut out, "eth");

    // The layers inside an outer VLAN tag go into encap(...).
    let tagged = m.vlan_tci != 0 && k.vlan_tci & VLAN_PRESENT != 0;
    let mut inner: Vec<String> = Vec::new();
    if tagged {
        let tpid = if k.vlan_tpid == 0 {
            ethertype::VLAN
        } else {
            k.vlan_tpid
        };
        out.push(format!("eth_type({tpid:#06x})"));
        let mut v = Attr::default();
        let (tci, tm) = (k.vlan_tci, m.vlan_tci);
        v.int(
            "vid",
            (tci & 0x0fff).into(),
            (tm & 0x0fff).into(),
            0x0fff,
            false,
        );
        v.int("pcp", (tci >> 13).into(), (tm >> 13).into(), 7, false);
        v.emit(&mut out, "vlan");
    } else if m.vlan_tci != 0 {
        out.push("vlan(none)".to_string());
    }
    let body = if tagged { &mut inner } else { &mut out };
    body.push(format!("eth_type({:#06x})", k.dl_type));
    if k.is_ipv4() {
        let mut ip = Attr::default();
        ip.ip4("src", k.nw_src, m.nw_src);
        ip.ip4("dst", k.nw_dst, m.nw_dst);
        ip.int("proto", k.nw_proto.into(), m.nw_proto.into(), 0xff, false);
        ip.int("tos", k.nw_tos.into(), m.nw_tos.into(), 0xff, true);
        ip.int("ttl", k.nw_ttl.into(), m.nw_ttl.into(), 0xff, false);
        if m.nw_frag != 0 {
            ip.raw(format!("frag={}", frag_name(k.nw_frag)));
        }
        ip.emit(body, "ipv4");
    } else if k.is_ipv6() {
        let mut ip = Attr::default();
        ip.ip6("src", k.ipv6_src, m.ipv6_src);
        ip.ip6("dst", k.ipv6_dst, m.ipv6_dst);
        ip.int(
            "label",
            k.ipv6_label.into(),
            m.ipv6_label.into(),
            0xfffff,
            true,
        );
        ip.int("proto", k.nw_proto.into(), m.nw_proto.into(), 0xff, false);
        ip.int("tclass", k.nw_tos.into(), m.nw_tos.into(), 0xff, true);
        ip.int("hlimit", k.nw_ttl.into(), m.nw_ttl.into(), 0xff, false);
        if m.nw_frag != 0 {
            ip.raw(format!("frag={}", frag_name(k.nw_frag)));
        }
        ip.emit(body, "ipv6");
    } else if k.is_arp() {
        let mut arp = Attr::default();
        arp.ip4("sip", k.nw_src, m.nw_src);
        arp.ip4("tip", k.nw_dst, m.nw_dst);
        arp.int("op", k.arp_op.into(), m.arp_op.into(), 0xffff, false);
        arp.mac("sha", k.arp_sha, m.arp_sha);
        arp.mac("tha", k.arp_tha, m.arp_tha);
        arp.emit(body, "arp");
    }
    if k.is_ipv4() || k.is_ipv6() {
        let l4 = match k.nw_proto {
            proto::TCP => Some("tcp"),
            proto::UDP => Some("udp"),
            proto::SCTP => Some("sctp"),
            _ => None,
        };
        if let Some(name) = l4 {
            let mut t = Attr::default();
            t.int("src", k.tp_src.into(), m.tp_src.into(), 0xffff, false);
            t.int("dst", k.tp_dst.into(), m.tp_dst.into(), 0xffff, false);
            t.emit(body, name);
            if name == "tcp" && m.tcp_flags != 0 {
                body.push(format!(
                    "tcp_flags({}/{})",
                    c_hex(k.tcp_flags),
                    c_hex(m.tcp_flags)
                ));
            }
        }
        let icmp = match k.nw_proto {
            proto::ICMP if k.is_ipv4() => Some("icmp"),
            proto::ICMPV6 if k.is_ipv6() => Some("icmpv6"),
            _ => None,
        };
        if let Some(name) = icmp {
            let mut t = Attr::default();
            t.int("type", k.icmp_type.into(), m.icmp_type.into(), 0xff, false);
            t.int("code", k.icmp_code.into(), m.icmp_code.into(), 0xff, false);
            t.emit(body, name);
            if name == "icmpv6" {
                let mut nd = Attr::default();
                nd.ip6("target", k.nd_target, m.nd_target);
                nd.mac("sll", k.nd_sll, m.nd_sll);
                nd.mac("tll", k.nd_tll, m.nd_tll);
                nd.emit(body, "nd");
            }
        }
    }
    if tagged {
        out.push(format!("encap({})", inner.join(",")));
    }
    let mut s = String::new();
    for (i, part) in out.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{part}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowtable::field::Field;

    fn mask(fields: &[Field]) -> FlowMask {
        let mut m = FlowMask::none();
        for f in fields {
            f.set_all_bits(&mut m);
        }
        m
    }

    #[test]
    fn ipv4_udp_megaflow() {
        let mut k = FlowKey::zero();
        k.in_port = 1;
        k.dl_type = 0x0800;
        k.dl_dst = [2, 0, 0, 0, 0, 2];
        k.nw_dst = 0x0a00_0100;
        k.nw_proto = 17;
        k.tp_dst = 53;
        let mut m = mask(&[
            Field::InPort,
            Field::RecircId,
            Field::DlType,
            Field::DlDst,
            Field::NwFrag,
            Field::NwProto,
            Field::TpDst,
        ]);
        m.0.nw_dst = 0xffff_ff00;
        assert_eq!(
            format_megaflow(&k.masked(&m), &m),
            "recirc_id(0),in_port(1),eth(dst=02:00:00:00:00:02),eth_type(0x0800),\
             ipv4(dst=10.0.1.0/255.255.255.0,proto=17,frag=no),udp(dst=53)"
        );
    }

    #[test]
    fn vlan_megaflow_is_encapsulated() {
        let mut k = FlowKey::zero();
        k.in_port = 2;
        k.dl_type = 0x0806;
        k.vlan_tci = VLAN_PRESENT | 10;
        k.vlan_tpid = 0x8100;
        k.arp_op = 1;
        let m = mask(&[
            Field::InPort,
            Field::RecircId,
            Field::DlType,
            Field::VlanTci,
            Field::ArpOp,
        ]);
        assert_eq!(
            format_megaflow(&k, &m),
            "recirc_id(0),in_port(2),eth_type(0x8100),vlan(vid=10,pcp=0),\
             encap(eth_type(0x0806),arp(op=1))"
        );
    }
}
