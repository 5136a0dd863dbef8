//! The frames of the differential test: every protocol the extractor knows, tags, options,
//! fragments, extension headers, neighbor discovery, and malformed or truncated frames.

use super::build::*;
use flowtable::wire::icmpv6::{
    nd_body, NEIGHBOR_ADVERT, NEIGHBOR_SOLICIT, OPT_SOURCE_LLADDR, OPT_TARGET_LLADDR,
};
use flowtable::wire::ipv4::{Ipv4Header, FLAG_DF, FLAG_MF};
use flowtable::wire::ipv6ext::{self, AH, DEST_OPTS, FRAGMENT, HOP_BY_HOP, ROUTING};
use flowtable::wire::tcp::flags::{ACK, FIN, PSH, SYN};
use flowtable::wire::vlan::{TPID_8021AD, TPID_8021Q};

fn ns(option: Option<(u8, [u8; 6])>) -> Vec<u8> {
    icmp6(NEIGHBOR_SOLICIT, 0, &nd_body(ND_TARGET, option))
}

fn ip6_frame(next: u8, payload: &[u8]) -> Vec<u8> {
    eth(IPV6, &ipv6_with(v6(next), payload))
}

fn ip4_frame(protocol: u8, payload: &[u8]) -> Vec<u8> {
    eth(IPV4, &ipv4(protocol, payload))
}

fn frag6(next: u8, offset: u16, more: bool) -> Vec<u8> {
    let mut f = Vec::new();
    ipv6ext::emit_fragment(&mut f, next, offset, more, 0xdead_beef);
    f
}

/// Sets the IPv4 total length of an Ethernet/IPv4 frame (checksum left stale: not checked).
fn with_ip_total_len(mut f: Vec<u8>, total: u16) -> Vec<u8> {
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f
}

/// `bytes` with `bytes[at] = value`.
fn with_byte(bytes: &[u8], at: usize, value: u8) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[at] = value;
    v
}

/// The named frames.
pub fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let tcp_syn = tcp(1234, 80, SYN);
    let udp53 = udp(53, 5353, b"query");
    let mut opts4 = [0u8; 40];
    opts4[0] = 0x94; // router alert
    opts4[1] = 4;
    let ip4_opts = ipv4_with(
        Ipv4Header {
            options: &opts4[..4],
            ..v4(TCP)
        },
        &tcp_syn,
    );
    let ip4_max_opts = ipv4_with(
        Ipv4Header {
            options: &opts4,
            ..v4(UDP)
        },
        &udp53,
    );
    let mut ihl4 = ip4_frame(TCP, &tcp_syn);
    ihl4[14] = 0x44;
    let mut version5 = ip4_frame(UDP, &udp53);
    version5[14] = 0x55;
    let mut padded = ip4_frame(UDP, &udp(1, 2, b""));
    padded.resize(60, 0);
    let mut overpadded = ip4_frame(UDP, &udp(1, 2, b""));
    overpadded.resize(overpadded.len() + 300, 0);
    let mut ip6_overpadded = ip6_frame(UDP, &udp(1, 2, b""));
    ip6_overpadded.resize(ip6_overpadded.len() + 256, 0);
    let ip6_plen_beyond = {
        let mut f = ip6_frame(UDP, &udp53);
        f[18..20].copy_from_slice(&200u16.to_be_bytes());
        f
    };
    let hbh_too_long = {
        let mut h = ext(UDP);
        h[1] = 5; // claims 48 bytes
        cat(&[&h, &udp53])
    };
    let ah = {
        // AH: next header, length (in 4-byte units minus 2) = 4 -> 24 bytes.
        let mut h = vec![TCP, 4];
        h.resize(24, 0);
        h
    };
    let ns_dup = icmp6(
        NEIGHBOR_SOLICIT,
        0,
        &cat(&[
            &nd_body(ND_TARGET, Some((OPT_SOURCE_LLADDR, LL))),
            &[OPT_SOURCE_LLADDR, 1, 1, 2, 3, 4, 5, 6],
        ]),
    );
    let ns_both = icmp6(
        NEIGHBOR_SOLICIT,
        0,
        &cat(&[
            &nd_body(ND_TARGET, Some((OPT_SOURCE_LLADDR, LL))),
            &[OPT_TARGET_LLADDR, 1, 1, 2, 3, 4, 5, 6],
        ]),
    );
    let ns_zero_len_opt = icmp6(
        NEIGHBOR_SOLICIT,
        0,
        &cat(&[
            &nd_body(ND_TARGET, None),
            &[OPT_SOURCE_LLADDR, 0, 1, 2, 3, 4, 5, 6],
        ]),
    );
    let ns_long_opt = icmp6(
        NEIGHBOR_SOLICIT,
        0,
        &cat(&[
            &nd_body(ND_TARGET, None),
            &[
                OPT_SOURCE_LLADDR,
                2,
                1,
                2,
                3,
                4,
                5,
                6,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ],
            &[OPT_TARGET_LLADDR, 1, 1, 2, 3, 4, 5, 6],
        ]),
    );
    let arp_big_op = arp(0x0102);
    let arp_ieee = {
        let mut a = arp(1);
        a[1] = 6;
        a
    };
    let stp = cat(&[&[0x42, 0x42, 0x03], &[0u8; 35]]);
    let snap_ip = cat(&[&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00], &ipv4(UDP, &udp53)]);
    let snap_other_oui = cat(&[&[0xaa, 0xaa, 0x03, 0, 0, 0x0c, 0x20, 0x00], &[0u8; 20]]);

    vec![
        ("tcp4 syn", ip4_frame(TCP, &tcp_syn)),
        ("tcp4 all 12 flag bits", ip4_frame(TCP, &tcp(1, 2, 0x0fff))),
        ("tcp4 no flags", ip4_frame(TCP, &tcp(65535, 0, 0))),
        (
            "tcp4 fin psh ack",
            ip4_frame(TCP, &tcp(40000, 443, FIN | PSH | ACK)),
        ),
        (
            "tcp4 tos 0xb9",
            eth(
                IPV4,
                &ipv4_with(
                    Ipv4Header {
                        tos: 0xb9,
                        ..v4(TCP)
                    },
                    &tcp_syn,
                ),
            ),
        ),
        ("udp4", ip4_frame(UDP, &udp53)),
        (
            "udp4 vxlan port",
            ip4_frame(UDP, &udp(49152, 4789, &[8, 0, 0, 0, 0, 0, 1, 0])),
        ),
        ("sctp4", ip4_frame(SCTP, &sctp(7, 9))),
        ("icmp echo", ip4_frame(ICMP, &icmp(8, 0))),
        ("icmp unreachable", ip4_frame(ICMP, &icmp(3, 3))),
        ("igmp", ip4_frame(IGMP, &[0x11, 0x64, 0, 0, 224, 0, 0, 1])),
        ("gre", ip4_frame(47, &[0, 0, 0x65, 0x58])),
        ("ipv4 options tcp", eth(IPV4, &ip4_opts)),
        ("ipv4 40 bytes options udp", eth(IPV4, &ip4_max_opts)),
        (
            "ipv4 first fragment",
            eth(
                IPV4,
                &ipv4_with(
                    Ipv4Header {
                        frag_word: FLAG_MF,
                        ..v4(TCP)
                    },
                    &tcp_syn,
                ),
            ),
        ),
        (
            "ipv4 middle fragment",
            eth(
                IPV4,
                &ipv4_with(
                    Ipv4Header {
                        frag_word: FLAG_MF | 5,
                        ..v4(TCP)
                    },
                    &tcp_syn,
                ),
            ),
        ),
        (
            "ipv4 last fragment",
            eth(
                IPV4,
                &ipv4_with(
                    Ipv4Header {
                        frag_word: 185,
                        ..v4(UDP)
                    },
                    &udp53,
                ),
            ),
        ),
        (
            "ipv4 df",
            eth(
                IPV4,
                &ipv4_with(
                    Ipv4Header {
                        frag_word: FLAG_DF,
                        ttl: 1,
                        ..v4(UDP)
                    },
                    &udp53,
                ),
            ),
        ),
        ("ipv4 ihl 4", ihl4),
        (
            "ipv4 total length beyond frame",
            with_ip_total_len(ip4_frame(UDP, &udp53), 200),
        ),
        (
            "ipv4 total length below header",
            with_ip_total_len(ip4_frame(UDP, &udp53), 19),
        ),
        (
            "ipv4 total length trims payload",
            with_ip_total_len(ip4_frame(TCP, &tcp_syn), 30),
        ),
        ("ipv4 truncated header", eth(IPV4, &ipv4(UDP, &udp53)[..12])),
        ("ipv4 options cut short", eth(IPV4, &ip4_max_opts[..30])),
        ("ipv4 padded to 60", padded),
        ("ipv4 300 bytes of padding", overpadded),
        ("ipv4 version 5", version5),
        ("ipv4 no payload", eth(IPV4, &[])),
        ("tcp truncated", ip4_frame(TCP, &tcp_syn[..10])),
        (
            "tcp data offset 4",
            ip4_frame(TCP, &with_byte(&tcp_syn, 12, 0x40)),
        ),
        (
            "tcp data offset past the segment",
            ip4_frame(TCP, &with_byte(&tcp_syn, 12, 0x60)),
        ),
        (
            "tcp with options",
            ip4_frame(TCP, &cat(&[&with_byte(&tcp_syn, 12, 0x60), &[1, 1, 1, 0]])),
        ),
        ("udp truncated", ip4_frame(UDP, &udp53[..4])),
        ("sctp truncated", ip4_frame(SCTP, &sctp(7, 9)[..8])),
        ("icmp truncated", ip4_frame(ICMP, &icmp(8, 0)[..4])),
        (
            "vlan tcp",
            eth_tagged(&[(TPID_8021Q, 100 | (1 << 13))], IPV4, &ipv4(TCP, &tcp_syn)),
        ),
        (
            "vlan pcp 7 vid 4095 dei",
            eth_tagged(&[(TPID_8021Q, 0xffff)], IPV4, &ipv4(UDP, &udp53)),
        ),
        (
            "vlan priority tag",
            eth_tagged(&[(TPID_8021Q, 5 << 13)], IPV4, &ipv4(UDP, &udp53)),
        ),
        (
            "802.1ad only",
            eth_tagged(&[(TPID_8021AD, 300)], IPV4, &ipv4(UDP, &udp53)),
        ),
        (
            "qinq",
            eth_tagged(
                &[(TPID_8021AD, 100 | (1 << 13)), (TPID_8021Q, 5)],
                IPV4,
                &ipv4(UDP, &udp53),
            ),
        ),
        (
            "double 802.1q",
            eth_tagged(
                &[(TPID_8021Q, 10), (TPID_8021Q, 20)],
                IPV6,
                &ipv6_with(v6(UDP), &udp53),
            ),
        ),
        (
            "triple tag",
            eth_tagged(
                &[(TPID_8021AD, 1), (TPID_8021Q, 2), (TPID_8021Q, 3)],
                IPV4,
                &ipv4(UDP, &udp53),
            ),
        ),
        ("vlan truncated", cat(&[&DST, &SRC, &[0x81, 0x00, 0x00]])),
        (
            "vlan without ethertype",
            cat(&[&DST, &SRC, &[0x81, 0x00, 0x00, 0x64]]),
        ),
        ("vlan arp", eth_tagged(&[(TPID_8021Q, 7)], ARP, &arp(1))),
        (
            "vlan snap",
            eth_tagged(&[(TPID_8021Q, 7)], 0x0030, &snap_ip),
        ),
        ("arp request", eth(ARP, &arp(1))),
        ("arp reply", eth(ARP, &arp(2))),
        ("arp opcode above 255", eth(ARP, &arp_big_op)),
        ("arp ieee802 hardware", eth(ARP, &arp_ieee)),
        ("arp truncated", eth(ARP, &arp(1)[..20])),
        ("rarp", eth(RARP, &arp(3))),
        ("llc stp", eth(0x0026, &stp)),
        ("snap ipv4", eth(0x0030, &snap_ip)),
        ("snap other oui", eth(0x001c, &snap_other_oui)),
        ("802.3 short payload", eth(0x0002, &[0xaa, 0xaa])),
        ("lldp", eth(0x88cc, &[0u8; 30])),
        ("mac addresses only", cat(&[&DST, &SRC])),
        ("runt", DST.to_vec()),
        ("tcp6", ip6_frame(TCP, &tcp_syn)),
        ("udp6", ip6_frame(UDP, &udp53)),
        ("sctp6", ip6_frame(SCTP, &sctp(1000, 2000))),
        ("icmp6 echo", ip6_frame(ICMPV6, &icmp6(128, 0, b"ping"))),
        (
            "icmp6 router solicit",
            ip6_frame(ICMPV6, &icmp6(133, 0, &[])),
        ),
        (
            "nd ns sll",
            ip6_frame(ICMPV6, &ns(Some((OPT_SOURCE_LLADDR, LL)))),
        ),
        (
            "nd na tll",
            ip6_frame(
                ICMPV6,
                &icmp6(
                    NEIGHBOR_ADVERT,
                    0,
                    &nd_body(ND_TARGET, Some((OPT_TARGET_LLADDR, LL))),
                ),
            ),
        ),
        (
            "nd na sll",
            ip6_frame(
                ICMPV6,
                &icmp6(
                    NEIGHBOR_ADVERT,
                    0,
                    &nd_body(ND_TARGET, Some((OPT_SOURCE_LLADDR, LL))),
                ),
            ),
        ),
        ("nd ns no options", ip6_frame(ICMPV6, &ns(None))),
        ("nd ns both options", ip6_frame(ICMPV6, &ns_both)),
        ("nd ns duplicate sll", ip6_frame(ICMPV6, &ns_dup)),
        (
            "nd ns zero-length option",
            ip6_frame(ICMPV6, &ns_zero_len_opt),
        ),
        ("nd ns 16-byte option", ip6_frame(ICMPV6, &ns_long_opt)),
        ("nd ns truncated target", ip6_frame(ICMPV6, &ns(None)[..16])),
        (
            "nd ns code 1",
            ip6_frame(
                ICMPV6,
                &icmp6(NEIGHBOR_SOLICIT, 1, &nd_body(ND_TARGET, None)),
            ),
        ),
        ("icmp6 truncated", ip6_frame(ICMPV6, &[128, 0, 0, 0])),
        (
            "ipv6 hop-by-hop udp",
            ip6_frame(HOP_BY_HOP, &cat(&[&ext(UDP), &udp53])),
        ),
        (
            "ipv6 routing dstopts tcp",
            ip6_frame(ROUTING, &cat(&[&ext(DEST_OPTS), &ext(TCP), &tcp_syn])),
        ),
        ("ipv6 ah tcp", ip6_frame(AH, &cat(&[&ah, &tcp_syn]))),
        (
            "ipv6 first fragment",
            ip6_frame(FRAGMENT, &cat(&[&frag6(UDP, 0, true), &udp53])),
        ),
        (
            "ipv6 later fragment",
            ip6_frame(FRAGMENT, &cat(&[&frag6(UDP, 64, true), &udp53])),
        ),
        (
            "ipv6 last fragment",
            ip6_frame(
                HOP_BY_HOP,
                &cat(&[&ext(FRAGMENT), &frag6(TCP, 1280, false), &[0u8; 8]]),
            ),
        ),
        (
            "ipv6 atomic fragment",
            ip6_frame(FRAGMENT, &cat(&[&frag6(TCP, 0, false), &tcp_syn])),
        ),
        (
            "ipv6 extension header too long",
            ip6_frame(HOP_BY_HOP, &hbh_too_long),
        ),
        (
            "ipv6 extension header truncated",
            ip6_frame(DEST_OPTS, &[UDP, 0, 0, 0]),
        ),
        ("ipv6 payload length beyond frame", ip6_plen_beyond),
        ("ipv6 256 bytes padding", ip6_overpadded),
        (
            "ipv6 truncated header",
            eth(IPV6, &ipv6_with(v6(UDP), &udp53)[..30]),
        ),
        ("ipv6 no next header", ip6_frame(59, &[])),
        ("ipv6 icmp (v4 protocol)", ip6_frame(ICMP, &icmp(8, 0))),
        ("ipv6 tcp truncated", ip6_frame(TCP, &tcp_syn[..19])),
        (
            "vlan ipv6 nd",
            eth_tagged(
                &[(TPID_8021Q, 42)],
                IPV6,
                &ipv6_with(v6(ICMPV6), &ns(Some((OPT_SOURCE_LLADDR, LL)))),
            ),
        ),
        (
            "ipv6 max label and class",
            eth(
                IPV6,
                &ipv6_with(
                    flowtable::wire::ipv6::Ipv6Header {
                        traffic_class: 0xff,
                        flow_label: 0xfffff,
                        ..v6(UDP)
                    },
                    &udp53,
                ),
            ),
        ),
    ]
}
