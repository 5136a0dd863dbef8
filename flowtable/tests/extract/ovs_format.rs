//! Formats a [`FlowKey`] the way `ovs-ofctl parse-pcap` prints an extracted flow: Open vSwitch's
//! `match_format` of an exact-match flow, restricted to the fields our key has.

use flowtable::key::{frag, VLAN_PRESENT};
use flowtable::FlowKey;
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn tcp_flags(f: u16) -> String {
    const NAMES: [&str; 12] = [
        "fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]",
    ];
    if f == 0 {
        return "0".to_string();
    }
    let names: Vec<&str> = NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| f & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    names.join("|")
}

fn push_vlan(out: &mut Vec<String>, tci: u16, suffix: &str) {
    out.push(format!("dl_vlan{suffix}={}", tci & 0x0fff));
    out.push(format!("dl_vlan_pcp{suffix}={}", tci >> 13));
    debug_assert!(tci & VLAN_PRESENT != 0);
}

/// The parse-pcap line for `k`, and what is left of `k` once every printed field (and the
/// TPIDs, which parse-pcap does not print) is zeroed: the packet fields of the residue must be
/// zero, or our key holds something Open vSwitch's does not show.
pub fn format(k: &FlowKey) -> (String, FlowKey) {
    let mut r = *k;
    r.vlan_tpid = 0;
    r.inner_vlan_tpid = 0;
    let ip4 = k.dl_type == 0x0800;
    let ip6 = k.dl_type == 0x86dd;
    let arp = k.dl_type == 0x0806 || k.dl_type == 0x8035;
    let shorthand = match (ip4, ip6, k.nw_proto) {
        (true, _, 6) => Some("tcp"),
        (true, _, 17) => Some("udp"),
        (true, _, 132) => Some("sctp"),
        (true, _, 1) => Some("icmp"),
        (true, _, _) => Some("ip"),
        (_, true, 6) => Some("tcp6"),
        (_, true, 17) => Some("udp6"),
        (_, true, 132) => Some("sctp6"),
        (_, true, 58) => Some("icmp6"),
        (_, true, _) => Some("ipv6"),
        _ if k.dl_type == 0x0806 => Some("arp"),
        _ if k.dl_type == 0x8035 => Some("rarp"),
        _ => None,
    };
    let mut f: Vec<String> = Vec::new();
    if let Some(s) = shorthand {
        f.push(s.to_string());
    }
    f.push("in_port=ANY".to_string());
    r.vlan_tci = 0;
    r.inner_vlan_tci = 0;
    r.dl_src = [0; 6];
    r.dl_dst = [0; 6];
    r.dl_type = 0;
    if k.vlan_tci == 0 {
        f.push("vlan_tci=0x0000".to_string());
    } else {
        push_vlan(&mut f, k.vlan_tci, "");
        if k.inner_vlan_tci == 0 {
            f.push("vlan_tci1=0x0000".to_string());
        } else {
            push_vlan(&mut f, k.inner_vlan_tci, "1");
        }
    }
    f.push(format!("dl_src={}", mac(k.dl_src)));
    f.push(format!("dl_dst={}", mac(k.dl_dst)));
    if shorthand.is_none() {
        f.push(format!("dl_type=0x{:04x}", k.dl_type));
    }
    if ip4 || ip6 {
        if ip4 {
            f.push(format!("nw_src={}", Ipv4Addr::from(k.nw_src)));
            f.push(format!("nw_dst={}", Ipv4Addr::from(k.nw_dst)));
        } else {
            f.push(format!("ipv6_src={}", Ipv6Addr::from(k.ipv6_src)));
            f.push(format!("ipv6_dst={}", Ipv6Addr::from(k.ipv6_dst)));
            f.push(format!("ipv6_label=0x{:05x}", k.ipv6_label));
        }
        if matches!(shorthand, Some("ip") | Some("ipv6")) {
            f.push(format!("nw_proto={}", k.nw_proto));
        }
        f.push(format!("nw_tos={}", k.nw_tos & 0xfc));
        f.push(format!("nw_ecn={}", k.nw_tos & 0x03));
        f.push(format!("nw_ttl={}", k.nw_ttl));
        let fr = if k.nw_frag & frag::LATER != 0 {
            "later"
        } else if k.nw_frag & frag::ANY != 0 {
            "first"
        } else {
            "no"
        };
        f.push(format!("nw_frag={fr}"));
        (r.nw_src, r.nw_dst, r.ipv6_src, r.ipv6_dst, r.ipv6_label) = (0, 0, [0; 16], [0; 16], 0);
        (r.nw_proto, r.nw_tos, r.nw_ttl, r.nw_frag) = (0, 0, 0, 0);
        if k.nw_frag & frag::LATER == 0 {
            match k.nw_proto {
                6 => {
                    f.push(format!("tp_src={}", k.tp_src));
                    f.push(format!("tp_dst={}", k.tp_dst));
                    f.push(format!("tcp_flags={}", tcp_flags(k.tcp_flags)));
                    (r.tp_src, r.tp_dst, r.tcp_flags) = (0, 0, 0);
                }
                17 | 132 => {
                    f.push(format!("tp_src={}", k.tp_src));
                    f.push(format!("tp_dst={}", k.tp_dst));
                    (r.tp_src, r.tp_dst) = (0, 0);
                }
                1 if ip4 => {
                    f.push(format!("icmp_type={}", k.icmp_type));
                    f.push(format!("icmp_code={}", k.icmp_code));
                    // The ICMP type and code are also in the ports, as in Open vSwitch.
                    (r.icmp_type, r.icmp_code, r.tp_src, r.tp_dst) = (0, 0, 0, 0);
                }
                58 if ip6 => {
                    f.push(format!("icmp_type={}", k.icmp_type));
                    f.push(format!("icmp_code={}", k.icmp_code));
                    (r.icmp_type, r.icmp_code, r.tp_src, r.tp_dst) = (0, 0, 0, 0);
                    if k.icmp_code == 0 && (k.icmp_type == 135 || k.icmp_type == 136) {
                        f.push(format!("nd_target={}", Ipv6Addr::from(k.nd_target)));
                        f.push(format!("nd_sll={}", mac(k.nd_sll)));
                        f.push(format!("nd_tll={}", mac(k.nd_tll)));
                        (r.nd_target, r.nd_sll, r.nd_tll) = ([0; 16], [0; 6], [0; 6]);
                    }
                }
                // Open vSwitch keys the type and code of IGMP, and of ICMP in the "wrong" IP
                // version, in the port fields, and prints them as ports.
                1 | 2 | 58 => {
                    f.push(format!("tp_src={}", k.tp_src));
                    f.push(format!("tp_dst={}", k.tp_dst));
                    // Our key also has them as ICMP type and code (and ND fields) when ICMP.
                    (r.tp_src, r.tp_dst, r.icmp_type, r.icmp_code) = (0, 0, 0, 0);
                    (r.nd_target, r.nd_sll, r.nd_tll) = ([0; 16], [0; 6], [0; 6]);
                }
                _ => {}
            }
        }
    } else if arp {
        f.push(format!("arp_spa={}", Ipv4Addr::from(k.nw_src)));
        f.push(format!("arp_tpa={}", Ipv4Addr::from(k.nw_dst)));
        f.push(format!("arp_op={}", k.arp_op));
        f.push(format!("arp_sha={}", mac(k.arp_sha)));
        f.push(format!("arp_tha={}", mac(k.arp_tha)));
        (r.nw_src, r.nw_dst, r.arp_op, r.arp_sha, r.arp_tha) = (0, 0, 0, [0; 6], [0; 6]);
    }
    let mut s = String::new();
    for (i, part) in f.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{part}");
    }
    (s, r)
}
