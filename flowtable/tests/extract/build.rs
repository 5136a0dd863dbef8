//! Frame builders for the extraction tests, on top of `flowtable::wire`'s emit helpers.

use flowtable::ethertype;
use flowtable::wire::ipv4::{proto, Ipv4Header};
use flowtable::wire::ipv6::Ipv6Header;
use flowtable::wire::tcp::TcpHeader;
use flowtable::wire::{arp, ethernet, icmpv4, icmpv6, ipv6ext, sctp, udp, vlan, MacAddr};

/// Destination MAC of every test frame.
pub const DST: MacAddr = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// Source MAC of every test frame.
pub const SRC: MacAddr = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
/// 10.0.0.1
pub const IP_A: u32 = 0x0a00_0001;
/// 10.0.0.2
pub const IP_B: u32 = 0x0a00_0002;
/// fe80::1
pub const IP6_A: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
/// 2001:db8::2
pub const IP6_B: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
/// 2001:db8::5 (ND target)
pub const ND_TARGET: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
/// A link-layer address carried in ND options.
pub const LL: MacAddr = [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f];

/// An Ethernet frame with `tags` ((TPID, TCI), outermost first) and `payload`.
pub fn eth_tagged(tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&DST);
    f.extend_from_slice(&SRC);
    for &(tpid, tci) in tags {
        vlan::emit(&mut f, tpid, tci);
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An untagged Ethernet frame.
pub fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    ethernet::emit(&mut f, DST, SRC, ethertype);
    f.extend_from_slice(payload);
    f
}

/// An IPv4 packet (10.0.0.1 -> 10.0.0.2) with the given header fields and payload.
pub fn ipv4_with(h: Ipv4Header<'_>, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    h.emit(&mut p, payload.len())
        .expect("test headers are valid");
    p.extend_from_slice(payload);
    p
}

/// An IPv4 packet with default header fields.
pub fn ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_with(v4(protocol), payload)
}

/// Default IPv4 header fields for `protocol`.
pub fn v4(protocol: u8) -> Ipv4Header<'static> {
    Ipv4Header {
        src: IP_A,
        dst: IP_B,
        protocol,
        ttl: 64,
        ..Ipv4Header::default()
    }
}

/// Default IPv6 header fields for `next_header`.
pub fn v6(next_header: u8) -> Ipv6Header {
    Ipv6Header {
        src: IP6_A,
        dst: IP6_B,
        next_header,
        hop_limit: 255,
        traffic_class: 0x2d,
        flow_label: 0xabcde,
    }
}

/// An IPv6 packet with the given header fields and payload.
pub fn ipv6_with(h: Ipv6Header, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    h.emit(&mut p, payload.len())
        .expect("test headers are valid");
    p.extend_from_slice(payload);
    p
}

/// A TCP segment with no payload.
pub fn tcp(src_port: u16, dst_port: u16, flags: u16) -> Vec<u8> {
    let mut s = Vec::new();
    TcpHeader {
        src_port,
        dst_port,
        seq: 1,
        ack: 0,
        flags,
        window: 1024,
    }
    .emit(&mut s, &[], 0);
    s
}

/// A UDP datagram with `payload` and no checksum.
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    udp::emit(&mut s, src_port, dst_port, payload, None).expect("short datagram");
    s
}

/// An SCTP packet with no chunks.
pub fn sctp(src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut s = Vec::new();
    sctp::emit(&mut s, src_port, dst_port, 0x1234_5678, &[]);
    s
}

/// An ICMP message.
pub fn icmp(msg_type: u8, code: u8) -> Vec<u8> {
    let mut s = Vec::new();
    icmpv4::emit(&mut s, msg_type, code, [0, 1, 0, 1], b"ping");
    s
}

/// An ICMPv6 message with `body` (checksum over a zero pseudo-header: not checked here).
pub fn icmp6(msg_type: u8, code: u8, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    icmpv6::emit(&mut s, msg_type, code, [0; 4], body, 0);
    s
}

/// An Ethernet/IPv4 ARP packet.
pub fn arp(op: u16) -> Vec<u8> {
    let mut s = Vec::new();
    arp::emit(&mut s, op, SRC, IP_A, [0; 6], IP_B);
    s
}

/// A generic IPv6 extension header with `next_header` and 6 bytes of padding data.
pub fn ext(next_header: u8) -> Vec<u8> {
    let mut s = Vec::new();
    ipv6ext::emit(&mut s, next_header, &[1, 4, 0, 0, 0, 0]).expect("8-byte header");
    s
}

/// Concatenation.
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Commonly used protocol numbers, re-exported for the corpus.
pub use proto::{ICMP, ICMPV6, IGMP, SCTP, TCP, UDP};

/// Ethertypes, re-exported for the corpus.
pub use ethertype::{ARP, IPV4, IPV6, RARP};
