//! Tests of the packet header views: parsing good headers, every truncation length,
//! inconsistent length fields, emit/parse round trips, incremental checksum updates checked
//! against full recomputation, and "never panics" on arbitrary bytes.

use flowtable::extract::extract_into;
use flowtable::wire::ipv4::{proto, Ipv4, Ipv4Header, Ipv4Mut, FLAG_DF, FLAG_MF};
use flowtable::wire::ipv6::{Ipv6, Ipv6Header, Ipv6Mut};
use flowtable::wire::tcp::{Tcp, TcpHeader, TcpMut};
use flowtable::wire::udp::{Udp, UdpMut};
use flowtable::wire::{
    arp, checksum, ethernet, icmpv4, icmpv6, ipv6ext, llc, sctp, udp, vlan, vxlan, Error, Layer,
};
use flowtable::FlowKey;
use proptest::prelude::*;

const DST: [u8; 6] = [2, 0, 0, 0, 0, 1];
const SRC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const A6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const B6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// Asserts that `parse` fails with a truncation error of `layer` for every prefix of `good`
/// shorter than `min`, and succeeds from `min` on.
fn check_truncations<'a, T>(
    good: &'a [u8],
    min: usize,
    layer: Layer,
    parse: impl Fn(&'a [u8]) -> Result<T, Error>,
) {
    for len in 0..min {
        match parse(&good[..len]) {
            Err(Error::Truncated { layer: l, have, .. }) => {
                assert_eq!((l, have), (layer, len), "length {len}");
            }
            Err(Error::Invalid { layer: l, .. }) => assert_eq!(l, layer, "length {len}"),
            Ok(_) => panic!("{layer} parsed from {len} bytes, needs {min}"),
        }
    }
    for len in min..=good.len() {
        assert!(parse(&good[..len]).is_ok(), "{layer} failed at {len} bytes");
    }
}

fn ipv4_tcp_packet(options: &[u8], frag_word: u16) -> Vec<u8> {
    let h = Ipv4Header {
        src: 0x0a00_0001,
        dst: 0xc0a8_0102,
        protocol: proto::TCP,
        ttl: 64,
        tos: 0x10,
        ident: 0x1234,
        frag_word,
        options,
    };
    let mut seg = Vec::new();
    let payload = b"hello, world";
    let pseudo = checksum::pseudo_header_v4(h.src, h.dst, proto::TCP, 20 + 12);
    TcpHeader {
        src_port: 40000,
        dst_port: 80,
        seq: 7,
        ack: 9,
        flags: 0x18,
        window: 512,
    }
    .emit(&mut seg, payload, pseudo);
    let mut p = Vec::new();
    h.emit(&mut p, seg.len()).expect("valid header");
    p.extend_from_slice(&seg);
    p
}

fn ipv4_udp_packet(with_checksum: bool) -> Vec<u8> {
    let (src, dst) = (0x0a00_0001, 0x0a00_0002);
    let payload = b"datagram";
    let pseudo = checksum::pseudo_header_v4(src, dst, proto::UDP, 16);
    let mut d = Vec::new();
    udp::emit(&mut d, 5000, 53, payload, with_checksum.then_some(pseudo)).expect("short");
    let mut p = Vec::new();
    Ipv4Header {
        src,
        dst,
        protocol: proto::UDP,
        ..Ipv4Header::default()
    }
    .emit(&mut p, d.len())
    .expect("valid");
    p.extend_from_slice(&d);
    p
}

/// The transport checksum of an IPv4 packet computed from scratch.
fn recomputed_l4_checksum_v4(packet: &[u8]) -> u16 {
    let ip = Ipv4::parse(packet).expect("valid");
    let pseudo = ip.pseudo_header_sum();
    let mut l4 = ip.payload().to_vec();
    let at = if ip.protocol() == proto::TCP { 16 } else { 6 };
    l4[at..at + 2].copy_from_slice(&[0, 0]);
    checksum::finish(checksum::sum(&l4, pseudo))
}

fn recomputed_ip_checksum(packet: &[u8]) -> u16 {
    let mut copy = packet.to_vec();
    Ipv4Mut::new(&mut copy).expect("valid").fill_checksum();
    Ipv4::parse(&copy).expect("valid").checksum()
}

// ---- Ethernet ----

#[test]
fn ethernet_round_trip_and_truncations() {
    let mut f = Vec::new();
    ethernet::emit(&mut f, DST, SRC, 0x0800);
    f.extend_from_slice(b"payload");
    let e = ethernet::Ethernet::parse(&f).expect("valid");
    assert_eq!(
        (e.dst(), e.src(), e.ethertype(), e.payload()),
        (DST, SRC, 0x0800, &b"payload"[..])
    );
    check_truncations(&f, 14, Layer::Ethernet, ethernet::Ethernet::parse);

    let mut m = ethernet::EthernetMut::new(&mut f).expect("valid");
    m.set_dst(SRC);
    m.set_src(DST);
    m.set_ethertype(0x86dd);
    let e = m.view();
    assert_eq!((e.dst(), e.src(), e.ethertype()), (SRC, DST, 0x86dd));
}

// ---- VLAN ----

#[test]
fn vlan_push_pop_round_trip() {
    let mut f = Vec::new();
    ethernet::emit(&mut f, DST, SRC, 0x0800);
    f.extend_from_slice(&[0x45; 20]);
    let original = f.clone();

    vlan::push(&mut f, vlan::TPID_8021Q, 0x2064).expect("push");
    vlan::push(&mut f, vlan::TPID_8021AD, 0x0005).expect("push");
    let e = ethernet::Ethernet::parse(&f).expect("valid");
    assert_eq!(e.ethertype(), vlan::TPID_8021AD);
    let outer = vlan::Vlan::parse(e.payload()).expect("tag");
    assert_eq!((outer.tci(), outer.ethertype()), (0x0005, vlan::TPID_8021Q));
    let inner = vlan::Vlan::parse(outer.payload()).expect("tag");
    assert_eq!(
        (inner.pcp(), inner.dei(), inner.vid(), inner.ethertype()),
        (1, false, 100, 0x0800)
    );

    assert_eq!(vlan::pop(&mut f).expect("pop"), Some(0x0005));
    assert_eq!(vlan::pop(&mut f).expect("pop"), Some(0x2064));
    assert_eq!(vlan::pop(&mut f).expect("pop"), None);
    assert_eq!(f, original);
}

#[test]
fn vlan_headroom_push_pop_matches_vec_version() {
    let mut frame = Vec::new();
    ethernet::emit(&mut frame, DST, SRC, 0x86dd);
    frame.extend_from_slice(&[7; 30]);
    let mut tagged = frame.clone();
    vlan::push(&mut tagged, vlan::TPID_8021Q, 0xe00a).expect("push");

    let mut buf = vec![0u8; 8];
    buf.extend_from_slice(&frame);
    let start = vlan::push_in_headroom(&mut buf, 8, vlan::TPID_8021Q, 0xe00a).expect("headroom");
    assert_eq!(start, 4);
    assert_eq!(&buf[start..], &tagged[..]);
    let (start, tci) = vlan::pop_in_place(&mut buf, start).expect("pop");
    assert_eq!((start, tci), (8, Some(0xe00a)));
    assert_eq!(&buf[start..], &frame[..]);

    assert!(vlan::push_in_headroom(&mut buf, 3, vlan::TPID_8021Q, 1).is_err());
    assert!(vlan::push_in_headroom(&mut buf, 40, vlan::TPID_8021Q, 1).is_err());
    assert!(vlan::pop_in_place(&mut buf, 100).is_err());
    let mut short = vec![0u8; 13];
    assert!(vlan::push(&mut short, vlan::TPID_8021Q, 1).is_err());
}

#[test]
fn vlan_truncations() {
    check_truncations(&[0x20, 0x64, 0x08, 0x00], 4, Layer::Vlan, vlan::Vlan::parse);
    let mut cut = Vec::new();
    ethernet::emit(&mut cut, DST, SRC, vlan::TPID_8021Q);
    cut.push(0);
    assert!(matches!(
        vlan::pop(&mut cut),
        Err(Error::Truncated {
            layer: Layer::Vlan,
            ..
        })
    ));
}

// ---- LLC / SNAP ----

#[test]
fn snap_carries_an_ethertype_only_with_the_ethernet_oui() {
    let mut s = Vec::new();
    llc::emit_snap(&mut s, 0x0800);
    let snap = llc::Snap::parse(&s).expect("8 bytes");
    assert_eq!(snap.ethertype(), Some(0x0800));
    assert!(snap.llc().announces_snap());
    let mut other = s.clone();
    other[5] = 0x0c;
    assert_eq!(llc::Snap::parse(&other).expect("8 bytes").ethertype(), None);
    let mut small = s.clone();
    small[6..8].copy_from_slice(&0x05ffu16.to_be_bytes());
    assert_eq!(llc::Snap::parse(&small).expect("8 bytes").ethertype(), None);
    let stp = llc::Llc::parse(&[0x42, 0x42, 0x03]).expect("3 bytes");
    assert!(!stp.announces_snap());
    check_truncations(&s, 8, Layer::Llc, llc::Snap::parse);
    check_truncations(&s, 3, Layer::Llc, llc::Llc::parse);
}

// ---- ARP ----

#[test]
fn arp_round_trip() {
    let mut a = Vec::new();
    arp::emit(&mut a, arp::OP_REPLY, SRC, 0x0a00_0001, DST, 0x0a00_0002);
    let v = arp::Arp::parse(&a).expect("28 bytes");
    assert!(v.is_ethernet_ipv4());
    assert_eq!(
        (v.op(), v.sha(), v.spa(), v.tha(), v.tpa()),
        (2, SRC, 0x0a00_0001, DST, 0x0a00_0002)
    );
    check_truncations(&a, 28, Layer::Arp, arp::Arp::parse);
    a[5] = 16;
    assert!(!arp::Arp::parse(&a).expect("28 bytes").is_ethernet_ipv4());
}

// ---- IPv4 ----

#[test]
fn ipv4_round_trip_with_options() {
    let p = ipv4_tcp_packet(&[0x94, 4, 0, 0], FLAG_DF);
    let ip = Ipv4::parse(&p).expect("valid");
    assert_eq!(
        (ip.version(), ip.header_len(), ip.total_len()),
        (4, 24, p.len())
    );
    assert_eq!(
        (ip.tos(), ip.ident(), ip.ttl(), ip.protocol()),
        (0x10, 0x1234, 64, proto::TCP)
    );
    assert_eq!(ip.src_addr(), std::net::Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(ip.dst_addr(), std::net::Ipv4Addr::new(192, 168, 1, 2));
    assert_eq!(ip.options(), &[0x94, 4, 0, 0]);
    assert!(ip.dont_fragment() && !ip.is_fragment() && !ip.more_fragments());
    assert!(ip.verify_checksum());
    let tcp = Tcp::parse(ip.payload()).expect("tcp");
    assert!(tcp.verify_checksum(ip.pseudo_header_sum()));
    assert_eq!(tcp.payload().expect("payload"), b"hello, world");
    assert_eq!(
        (tcp.src_port(), tcp.dst_port(), tcp.seq(), tcp.ack()),
        (40000, 80, 7, 9)
    );
    assert_eq!(
        (tcp.flags(), tcp.window(), tcp.urgent(), tcp.header_len()),
        (0x18, 512, 0, 20)
    );
    assert_eq!(tcp.options().expect("no options"), &[] as &[u8]);
}

#[test]
fn ipv4_every_truncation_is_an_error() {
    let p = ipv4_tcp_packet(&[1, 1, 1, 1, 1, 1, 1, 0], 0);
    check_truncations(&p, p.len(), Layer::Ipv4, Ipv4::parse);
}

#[test]
fn ipv4_inconsistent_lengths() {
    let good = ipv4_tcp_packet(&[], 0);
    let invalid = |p: &[u8]| {
        matches!(
            Ipv4::parse(p),
            Err(Error::Invalid {
                layer: Layer::Ipv4,
                ..
            })
        )
    };
    let mut p = good.clone();
    p[0] = 0x44; // IHL 4
    assert!(invalid(&p));
    let mut p = good.clone();
    p[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert!(invalid(&p));
    let mut p = good.clone();
    p[2..4].copy_from_slice(&u16::try_from(good.len() + 1).expect("small").to_be_bytes());
    assert!(invalid(&p));
    let mut p = good.clone();
    p[0] = 0x4f; // IHL 15 = 60 bytes, beyond this 52-byte packet's header
    assert!(Ipv4::parse(&p).is_err());
    // Padding after the total length is allowed and outside the payload.
    let mut p = good.clone();
    p.extend_from_slice(&[0; 6]);
    let ip = Ipv4::parse(&p).expect("padded");
    assert_eq!(
        (ip.payload().len(), ip.padding().len()),
        (good.len() - 20, 6)
    );
}

#[test]
fn ipv4_fragment_flags() {
    let first = ipv4_tcp_packet(&[], FLAG_MF);
    let ip = Ipv4::parse(&first).expect("valid");
    assert!(ip.is_fragment() && !ip.is_later_fragment() && ip.more_fragments());
    let later = ipv4_tcp_packet(&[], 100);
    let ip = Ipv4::parse(&later).expect("valid");
    assert!(ip.is_fragment() && ip.is_later_fragment());
    assert_eq!(ip.frag_offset(), 800);
}

#[test]
fn ipv4_setters_keep_checksums_right() {
    for options in [&[][..], &[0x94, 4, 0, 0]] {
        let mut p = ipv4_tcp_packet(options, 0);
        let mut m = Ipv4Mut::new(&mut p).expect("valid");
        m.set_src(0xc0a8_6401);
        m.set_dst(0x0808_0808);
        m.set_ttl(3);
        m.set_tos(0xb8);
        let ip = m.view();
        assert_eq!(
            (ip.src(), ip.dst(), ip.ttl(), ip.tos()),
            (0xc0a8_6401, 0x0808_0808, 3, 0xb8)
        );
        assert_eq!(ip.checksum(), recomputed_ip_checksum(&p));
        let ip = Ipv4::parse(&p).expect("valid");
        let tcp = Tcp::parse(ip.payload()).expect("tcp");
        assert_eq!(tcp.checksum(), recomputed_l4_checksum_v4(&p));
        assert!(tcp.verify_checksum(ip.pseudo_header_sum()));
    }
}

#[test]
fn ipv4_address_change_updates_udp_checksum_unless_absent() {
    let mut p = ipv4_udp_packet(true);
    Ipv4Mut::new(&mut p).expect("valid").set_dst(0x0102_0304);
    let ip = Ipv4::parse(&p).expect("valid");
    let u = Udp::parse(ip.payload()).expect("udp");
    assert_eq!(u.checksum(), recomputed_l4_checksum_v4(&p));
    assert!(u.verify_checksum(ip.pseudo_header_sum()));

    let mut p = ipv4_udp_packet(false);
    Ipv4Mut::new(&mut p).expect("valid").set_src(0x0102_0304);
    let ip = Ipv4::parse(&p).expect("valid");
    assert_eq!(Udp::parse(ip.payload()).expect("udp").checksum(), 0);
    assert!(ip.verify_checksum());
}

#[test]
fn ipv4_address_change_leaves_later_fragments_alone() {
    let mut p = ipv4_tcp_packet(&[], 10);
    let before = p[20..].to_vec();
    Ipv4Mut::new(&mut p).expect("valid").set_src(1);
    assert_eq!(&p[20..], &before[..]);
    assert!(Ipv4::parse(&p).expect("valid").verify_checksum());
}

#[test]
fn ipv4_emit_refuses_bad_options() {
    let mut buf = Vec::new();
    let h = Ipv4Header {
        options: &[1, 1, 1],
        ..Ipv4Header::default()
    };
    assert!(h.emit(&mut buf, 0).is_err());
    let h = Ipv4Header {
        options: &[1; 44],
        ..Ipv4Header::default()
    };
    assert!(h.emit(&mut buf, 0).is_err());
    assert!(Ipv4Header::default().emit(&mut buf, 70000).is_err());
}

// ---- TCP / UDP ----

#[test]
fn tcp_port_setters_update_checksum() {
    let mut p = ipv4_tcp_packet(&[], 0);
    {
        let mut m = Ipv4Mut::new(&mut p).expect("valid");
        let mut t = TcpMut::new(m.payload_mut()).expect("tcp");
        t.set_src_port(1);
        t.set_dst_port(65535);
        assert_eq!((t.view().src_port(), t.view().dst_port()), (1, 65535));
    }
    let ip = Ipv4::parse(&p).expect("valid");
    assert_eq!(
        Tcp::parse(ip.payload()).expect("tcp").checksum(),
        recomputed_l4_checksum_v4(&p)
    );
}

#[test]
fn tcp_truncations_and_data_offset() {
    let p = ipv4_tcp_packet(&[], 0);
    let seg = &p[20..];
    check_truncations(seg, 20, Layer::Tcp, Tcp::parse);
    let mut bad = seg.to_vec();
    bad[12] = 0x40; // data offset 4
    assert!(matches!(
        Tcp::parse(&bad).expect("fixed header").payload(),
        Err(Error::Invalid {
            layer: Layer::Tcp,
            ..
        })
    ));
    bad[12] = 0xf0; // 60 bytes: beyond this segment
    assert!(matches!(
        Tcp::parse(&bad).expect("fixed header").options(),
        Err(Error::Truncated {
            layer: Layer::Tcp,
            ..
        })
    ));
}

#[test]
fn udp_length_and_port_setters() {
    let mut p = ipv4_udp_packet(true);
    let d = p[20..].to_vec();
    check_truncations(&d, 8, Layer::Udp, Udp::parse);
    let u = Udp::parse(&d).expect("udp");
    assert_eq!(
        (
            u.src_port(),
            u.dst_port(),
            u.len(),
            u.payload().expect("payload")
        ),
        (5000, 53, 16, &b"datagram"[..])
    );
    assert!(!u.is_empty());
    assert!(matches!(
        Udp::parse(&d[..12]).expect("header").payload(),
        Err(Error::Truncated {
            layer: Layer::Udp,
            ..
        })
    ));
    let mut short = d.clone();
    short[4..6].copy_from_slice(&4u16.to_be_bytes());
    assert!(matches!(
        Udp::parse(&short).expect("header").payload(),
        Err(Error::Invalid {
            layer: Layer::Udp,
            ..
        })
    ));

    {
        let mut m = Ipv4Mut::new(&mut p).expect("valid");
        let mut u = UdpMut::new(m.payload_mut()).expect("udp");
        u.set_src_port(4789);
        u.set_dst_port(1);
        assert_eq!(u.view().src_port(), 4789);
    }
    let ip = Ipv4::parse(&p).expect("valid");
    assert_eq!(
        Udp::parse(ip.payload()).expect("udp").checksum(),
        recomputed_l4_checksum_v4(&p)
    );

    let mut none = ipv4_udp_packet(false);
    let mut m = Ipv4Mut::new(&mut none).expect("valid");
    let mut u = UdpMut::new(m.payload_mut()).expect("udp");
    u.set_dst_port(9);
    assert_eq!(u.view().checksum(), 0);
}

// ---- IPv6 ----

fn ipv6_packet(next_header: u8, ext_and_upper: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    Ipv6Header {
        src: A6,
        dst: B6,
        next_header,
        hop_limit: 64,
        traffic_class: 0xb8,
        flow_label: 0x12345,
    }
    .emit(&mut p, ext_and_upper.len())
    .expect("valid");
    p.extend_from_slice(ext_and_upper);
    p
}

fn tcp6_segment() -> Vec<u8> {
    let h = Ipv6Header {
        src: A6,
        dst: B6,
        ..Ipv6Header::default()
    };
    let mut s = Vec::new();
    TcpHeader {
        src_port: 1,
        dst_port: 2,
        seq: 3,
        ack: 4,
        flags: 2,
        window: 5,
    }
    .emit(&mut s, b"abc", h.pseudo_header_sum(proto::TCP, 23));
    s
}

#[test]
fn ipv6_round_trip_and_lengths() {
    let seg = tcp6_segment();
    let p = ipv6_packet(proto::TCP, &seg);
    let ip = Ipv6::parse(&p).expect("valid");
    assert_eq!(
        (ip.version(), ip.traffic_class(), ip.flow_label()),
        (6, 0xb8, 0x12345)
    );
    assert_eq!(
        (ip.payload_len(), ip.next_header(), ip.hop_limit()),
        (seg.len(), proto::TCP, 64)
    );
    assert_eq!((ip.src(), ip.dst()), (A6, B6));
    assert_eq!(
        ip.src_addr(),
        "2001:db8::1".parse::<std::net::Ipv6Addr>().expect("addr")
    );
    let tcp = Tcp::parse(ip.payload()).expect("tcp");
    assert!(tcp.verify_checksum(ip.pseudo_header_sum(proto::TCP, seg.len())));
    check_truncations(&p, p.len(), Layer::Ipv6, Ipv6::parse);
    let mut padded = p.clone();
    padded.extend_from_slice(&[0; 4]);
    assert_eq!(
        Ipv6::parse(&padded).expect("padded").payload().len(),
        seg.len()
    );
}

#[test]
fn ipv6_setters_update_transport_checksum_through_extension_headers() {
    let seg = tcp6_segment();
    let mut ext = Vec::new();
    ipv6ext::emit(&mut ext, ipv6ext::DEST_OPTS, &[1, 4, 0, 0, 0, 0]).expect("8 bytes");
    ipv6ext::emit(&mut ext, proto::TCP, &[1, 4, 0, 0, 0, 0]).expect("8 bytes");
    let mut p = ipv6_packet(ipv6ext::HOP_BY_HOP, &[&ext[..], &seg[..]].concat());
    let new_src = [
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0x99,
    ];
    {
        let mut m = Ipv6Mut::new(&mut p).expect("valid");
        m.set_src(new_src);
        m.set_dst(A6);
        m.set_hop_limit(1);
        m.set_traffic_class(0x03);
        m.set_flow_label(0xfffff);
    }
    let ip = Ipv6::parse(&p).expect("valid");
    assert_eq!(
        (
            ip.src(),
            ip.dst(),
            ip.hop_limit(),
            ip.traffic_class(),
            ip.flow_label()
        ),
        (new_src, A6, 1, 3, 0xfffff)
    );
    assert_eq!(ip.version(), 6);
    let walk = ip.walk().expect("walk");
    assert_eq!(
        (walk.protocol, walk.offset, walk.fragment),
        (proto::TCP, 16, ipv6ext::Fragment::None)
    );
    let l4 = &ip.payload()[walk.offset..];
    let tcp = Tcp::parse(l4).expect("tcp");
    assert!(tcp.verify_checksum(ip.pseudo_header_sum(proto::TCP, l4.len())));
    let mut zeroed = l4.to_vec();
    zeroed[16..18].copy_from_slice(&[0, 0]);
    let full = checksum::finish(checksum::sum(
        &zeroed,
        ip.pseudo_header_sum(proto::TCP, l4.len()),
    ));
    assert_eq!(tcp.checksum(), full);
}

#[test]
fn ipv6_extension_walk() {
    use ipv6ext::{walk, Fragment, AH, FRAGMENT, HOP_BY_HOP};
    let mut frag = Vec::new();
    ipv6ext::emit_fragment(&mut frag, proto::UDP, 0, true, 1);
    let w = walk(FRAGMENT, &[&frag[..], &[0; 8]].concat()).expect("walk");
    assert_eq!(
        (w.protocol, w.offset, w.fragment),
        (proto::UDP, 8, Fragment::First)
    );
    let f = ipv6ext::FragmentHeader::parse(&frag).expect("8 bytes");
    assert_eq!(
        (f.next_header(), f.offset(), f.more_fragments(), f.ident()),
        (proto::UDP, 0, true, 1)
    );

    let mut later = Vec::new();
    ipv6ext::emit_fragment(&mut later, proto::UDP, 1280, false, 1);
    let w = walk(FRAGMENT, &later).expect("walk");
    assert_eq!((w.protocol, w.fragment), (FRAGMENT, Fragment::Later));

    let mut atomic = Vec::new();
    ipv6ext::emit_fragment(&mut atomic, proto::TCP, 0, false, 1);
    assert_eq!(
        walk(FRAGMENT, &atomic).expect("walk").fragment,
        Fragment::None
    );

    let mut ah = vec![proto::ICMPV6, 1];
    ah.resize(12, 0);
    assert_eq!(walk(AH, &ah).expect("walk").offset, 12);

    let hbh = [proto::UDP, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(
        walk(HOP_BY_HOP, &hbh),
        Err(Error::Truncated {
            layer: Layer::Ipv6Ext,
            need: 16,
            have: 10
        })
    ));
    check_truncations(&frag, 8, Layer::Ipv6Ext, |b| walk(FRAGMENT, b));
    let g = ipv6ext::ExtHeader::parse(&[proto::TCP, 0, 1, 2, 3, 4, 5, 6]).expect("8 bytes");
    assert_eq!(
        (g.next_header(), g.len(), g.data()),
        (proto::TCP, 8, &[1, 2, 3, 4, 5, 6][..])
    );
    assert!(ipv6ext::emit(&mut Vec::new(), 0, &[0; 5]).is_err());
}

// ---- ICMP / ICMPv6 ----

#[test]
fn icmpv4_round_trip_and_update() {
    let mut m = Vec::new();
    icmpv4::emit(&mut m, icmpv4::ECHO_REQUEST, 0, [0, 7, 0, 1], b"ping");
    let v = icmpv4::Icmpv4::parse(&m).expect("valid");
    assert_eq!(
        (v.msg_type(), v.code(), v.ident(), v.seq(), v.payload()),
        (8, 0, 7, 1, &b"ping"[..])
    );
    assert!(v.verify_checksum());
    check_truncations(&m, 8, Layer::Icmpv4, icmpv4::Icmpv4::parse);
    let mut w = icmpv4::Icmpv4Mut::new(&mut m).expect("valid");
    w.set_type_code(icmpv4::ECHO_REPLY, 0);
    w.set_ident(0xbeef);
    let v = w.view();
    assert_eq!((v.msg_type(), v.ident()), (0, 0xbeef));
    let mut zeroed = m.clone();
    zeroed[2..4].copy_from_slice(&[0, 0]);
    assert_eq!(
        icmpv4::Icmpv4::parse(&m).expect("valid").checksum(),
        checksum::checksum(&zeroed)
    );
}

#[test]
fn icmpv6_neighbor_discovery() {
    let h = Ipv6Header {
        src: A6,
        dst: B6,
        ..Ipv6Header::default()
    };
    let body = icmpv6::nd_body(B6, Some((icmpv6::OPT_TARGET_LLADDR, SRC)));
    let mut m = Vec::new();
    icmpv6::emit(
        &mut m,
        icmpv6::NEIGHBOR_ADVERT,
        0,
        [0x60, 0, 0, 0],
        &body,
        h.pseudo_header_sum(proto::ICMPV6, 8 + body.len()),
    );
    let v = icmpv6::Icmpv6::parse(&m).expect("valid");
    assert!(v.is_nd());
    assert!(v.verify_checksum(h.pseudo_header_sum(proto::ICMPV6, m.len())));
    assert_eq!(
        v.nd().expect("nd"),
        icmpv6::Nd {
            target: B6,
            sll: [0; 6],
            tll: SRC
        }
    );
    check_truncations(&m, 8, Layer::Icmpv6, icmpv6::Icmpv6::parse);
    for len in 8..24 {
        assert!(matches!(
            icmpv6::Icmpv6::parse(&m[..len]).expect("header").nd(),
            Err(Error::Truncated {
                layer: Layer::Icmpv6,
                ..
            })
        ));
    }
    // Options cut short are ignored, not errors.
    assert_eq!(
        icmpv6::Icmpv6::parse(&m[..30])
            .expect("header")
            .nd()
            .expect("nd")
            .tll,
        [0; 6]
    );
}

#[test]
fn ipv6_address_change_updates_icmpv6_checksum() {
    let h = Ipv6Header {
        src: A6,
        dst: B6,
        next_header: proto::ICMPV6,
        ..Ipv6Header::default()
    };
    let mut m = Vec::new();
    icmpv6::emit(
        &mut m,
        icmpv6::ECHO_REQUEST,
        0,
        [0, 1, 0, 1],
        b"x",
        h.pseudo_header_sum(proto::ICMPV6, 9),
    );
    let mut p = Vec::new();
    h.emit(&mut p, m.len()).expect("valid");
    p.extend_from_slice(&m);
    Ipv6Mut::new(&mut p).expect("valid").set_dst([0xff; 16]);
    let ip = Ipv6::parse(&p).expect("valid");
    let v = icmpv6::Icmpv6::parse(ip.payload()).expect("icmpv6");
    assert!(v.verify_checksum(ip.pseudo_header_sum(proto::ICMPV6, 9)));
}

// ---- SCTP ----

#[test]
fn sctp_checksum_round_trip_and_port_update() {
    let mut s = Vec::new();
    sctp::emit(&mut s, 5000, 6000, 0xcafe_f00d, &[1, 0, 0, 4]);
    let v = sctp::Sctp::parse(&s).expect("valid");
    assert_eq!(
        (v.src_port(), v.dst_port(), v.verification_tag(), v.chunks()),
        (5000, 6000, 0xcafe_f00d, &[1, 0, 0, 4][..])
    );
    assert!(v.verify_checksum());
    check_truncations(&s, 12, Layer::Sctp, sctp::Sctp::parse);
    let mut m = sctp::SctpMut::new(&mut s).expect("valid");
    m.set_src_port(1);
    m.set_dst_port(2);
    assert!(m.view().verify_checksum());
    s[12] ^= 1;
    assert!(!sctp::Sctp::parse(&s).expect("valid").verify_checksum());
}

// ---- VXLAN ----

#[test]
fn vxlan_encap_decap_round_trip() {
    let mut inner = Vec::new();
    ethernet::emit(&mut inner, DST, SRC, 0x0800);
    inner.extend_from_slice(&ipv4_udp_packet(true));
    let encap = vxlan::Encap {
        dl_dst: [0xaa; 6],
        dl_src: [0xbb; 6],
        ip_src: 0xac10_0001,
        ip_dst: 0xac10_0002,
        ttl: 64,
        tos: 0,
        dont_fragment: true,
        udp_src: 54321,
        udp_dst: vxlan::UDP_PORT,
        vni: 0x123456,
    };
    let mut out = Vec::new();
    encap.emit(&mut out, &inner).expect("encap");
    assert_eq!(out.len(), vxlan::ENCAP_LEN + inner.len());
    let ip = Ipv4::parse(&out[14..]).expect("outer ip");
    assert!(ip.verify_checksum() && ip.dont_fragment());
    let d = vxlan::decap(&out, vxlan::UDP_PORT)
        .expect("valid")
        .expect("vxlan");
    assert_eq!(
        (d.ip_src, d.ip_dst, d.vni, d.inner),
        (0xac10_0001, 0xac10_0002, 0x123456, &inner[..])
    );
    assert_eq!(vxlan::decap(&out, 8472).expect("valid"), None);
    assert_eq!(vxlan::decap(&inner, vxlan::UDP_PORT).expect("valid"), None);

    let mut h = Vec::new();
    vxlan::emit(&mut h, 0xffff_ffff);
    let v = vxlan::Vxlan::parse(&h).expect("8 bytes");
    assert!(v.has_vni());
    assert_eq!((v.vni(), v.flags()), (0xff_ffff, vxlan::FLAG_VNI));
    check_truncations(&h, 8, Layer::Vxlan, vxlan::Vxlan::parse);
    out[14 + 20 + 8] = 0; // clear the I flag
    assert!(matches!(
        vxlan::decap(&out, vxlan::UDP_PORT),
        Err(Error::Invalid {
            layer: Layer::Vxlan,
            ..
        })
    ));
}

// ---- Checksum helpers ----

proptest! {
    #[test]
    fn incremental_updates_equal_recomputation(
        mut data in proptest::collection::vec(any::<u8>(), 2..64usize),
        at in 0usize..32,
        new in any::<u32>(),
    ) {
        if data.len() % 2 == 1 { data.pop(); }
        let at = (at * 2) % data.len();
        let check = checksum::checksum(&data);
        if at + 4 <= data.len() {
            let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            let updated = checksum::update32(check, old, new);
            data[at..at + 4].copy_from_slice(&new.to_be_bytes());
            // Equal as ones-complement numbers (0x0000 and 0xffff are the same value).
            let full = checksum::checksum(&data);
            prop_assert!(updated == full || (updated ^ full) == 0xffff && (full == 0 || full == 0xffff),
                "{updated:#x} != {full:#x}");
        } else {
            let old = u16::from_be_bytes([data[at], data[at + 1]]);
            let new16 = (new & 0xffff) as u16;
            let updated = checksum::update16(check, old, new16);
            data[at..at + 2].copy_from_slice(&new16.to_be_bytes());
            let full = checksum::checksum(&data);
            prop_assert!(updated == full || (updated ^ full) == 0xffff && (full == 0 || full == 0xffff),
                "{updated:#x} != {full:#x}");
        }
    }

    #[test]
    fn ipv4_rewrites_equal_recomputation(src in any::<u32>(), dst in any::<u32>(), ttl in any::<u8>(), tos in any::<u8>()) {
        let mut p = ipv4_tcp_packet(&[], 0);
        let mut m = Ipv4Mut::new(&mut p).expect("valid");
        m.set_src(src);
        m.set_dst(dst);
        m.set_ttl(ttl);
        m.set_tos(tos);
        let ip = Ipv4::parse(&p).expect("valid");
        prop_assert!(ip.verify_checksum());
        prop_assert!(Tcp::parse(ip.payload()).expect("tcp").verify_checksum(ip.pseudo_header_sum()));
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200usize)) {
        exercise_every_view(&bytes);
    }

    #[test]
    fn extract_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200usize), ethertype in prop::sample::select(vec![0x0800u16, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x0030, 0x8035])) {
        let mut frame = Vec::new();
        ethernet::emit(&mut frame, DST, SRC, ethertype);
        frame.extend_from_slice(&bytes);
        let mut key = FlowKey::zero();
        let _ = extract_into(&frame, &mut key);
        let _ = extract_into(&bytes, &mut key);
        // Whatever happened, the metadata stage was not touched.
        prop_assert_eq!(key.in_port, 0);
    }

    #[test]
    fn extract_never_panics_on_mutated_valid_frames(pos in 0usize..120, byte in any::<u8>(), cut in 0usize..120) {
        let mut frame = Vec::new();
        ethernet::emit(&mut frame, DST, SRC, 0x86dd);
        let mut ext = Vec::new();
        ipv6ext::emit(&mut ext, proto::ICMPV6, &[1, 4, 0, 0, 0, 0]).expect("8 bytes");
        let body = icmpv6::nd_body(B6, Some((icmpv6::OPT_SOURCE_LLADDR, SRC)));
        icmpv6::emit(&mut ext, icmpv6::NEIGHBOR_SOLICIT, 0, [0; 4], &body, 0);
        frame.extend_from_slice(&ipv6_packet(ipv6ext::HOP_BY_HOP, &ext));
        let pos = pos % frame.len();
        frame[pos] = byte;
        frame.truncate(cut.max(1) + 14);
        let mut key = FlowKey::zero();
        let _ = extract_into(&frame, &mut key);
    }
}

/// Parses `bytes` with every view and calls every accessor and setter that parsing allows.
fn exercise_every_view(bytes: &[u8]) {
    if let Ok(v) = ethernet::Ethernet::parse(bytes) {
        let _ = (v.dst(), v.src(), v.ethertype(), v.payload());
    }
    if let Ok(v) = vlan::Vlan::parse(bytes) {
        let _ = (
            v.tci(),
            v.pcp(),
            v.dei(),
            v.vid(),
            v.ethertype(),
            v.payload(),
        );
    }
    let mut owned = bytes.to_vec();
    let _ = vlan::pop(&mut owned);
    let mut owned = bytes.to_vec();
    let _ = vlan::push_in_headroom(&mut owned, 4, vlan::TPID_8021Q, 1);
    let mut owned = bytes.to_vec();
    let _ = vlan::pop_in_place(&mut owned, 2);
    if let Ok(v) = llc::Snap::parse(bytes) {
        let _ = (v.oui(), v.protocol(), v.ethertype(), v.payload());
    }
    if let Ok(v) = arp::Arp::parse(bytes) {
        let _ = (
            v.is_ethernet_ipv4(),
            v.op(),
            v.sha(),
            v.spa(),
            v.tha(),
            v.tpa(),
        );
    }
    if let Ok(v) = Ipv4::parse(bytes) {
        let _ = (
            v.version(),
            v.options(),
            v.payload(),
            v.padding(),
            v.verify_checksum(),
        );
        let _ = (v.frag_offset(), v.is_fragment(), v.pseudo_header_sum());
    }
    let mut owned = bytes.to_vec();
    if let Ok(mut m) = Ipv4Mut::new(&mut owned) {
        m.set_src(1);
        m.set_dst(2);
        m.set_ttl(3);
        m.set_tos(4);
        m.fill_checksum();
        let _ = m.payload_mut();
    }
    if let Ok(v) = Ipv6::parse(bytes) {
        let _ = (
            v.traffic_class(),
            v.flow_label(),
            v.payload(),
            v.walk(),
            v.src(),
            v.dst(),
        );
    }
    let mut owned = bytes.to_vec();
    if let Ok(mut m) = Ipv6Mut::new(&mut owned) {
        m.set_src([1; 16]);
        m.set_dst([2; 16]);
        m.set_traffic_class(3);
        m.set_flow_label(4);
        let _ = m.payload_mut();
    }
    for nh in [0, 43, 44, 51, 60, 6] {
        let _ = ipv6ext::walk(nh, bytes);
    }
    if let Ok(v) = ipv6ext::ExtHeader::parse(bytes) {
        let _ = (v.next_header(), v.data());
    }
    if let Ok(v) = Tcp::parse(bytes) {
        let _ = (v.flags(), v.options(), v.payload(), v.verify_checksum(0));
    }
    let mut owned = bytes.to_vec();
    if let Ok(mut m) = TcpMut::new(&mut owned) {
        m.set_src_port(1);
        m.set_dst_port(2);
        m.fill_checksum(0);
    }
    if let Ok(v) = Udp::parse(bytes) {
        let _ = (v.len(), v.payload(), v.verify_checksum(0));
    }
    let mut owned = bytes.to_vec();
    if let Ok(mut m) = UdpMut::new(&mut owned) {
        m.set_src_port(1);
        m.set_dst_port(2);
    }
    if let Ok(v) = sctp::Sctp::parse(bytes) {
        let _ = (v.verify_checksum(), v.chunks());
    }
    let mut owned = bytes.to_vec();
    if let Ok(mut m) = sctp::SctpMut::new(&mut owned) {
        m.set_src_port(1);
    }
    if let Ok(v) = icmpv4::Icmpv4::parse(bytes) {
        let _ = (v.ident(), v.seq(), v.payload(), v.verify_checksum());
    }
    let mut owned = bytes.to_vec();
    if let Ok(mut m) = icmpv4::Icmpv4Mut::new(&mut owned) {
        m.set_type_code(1, 2);
        m.set_ident(3);
    }
    if let Ok(v) = icmpv6::Icmpv6::parse(bytes) {
        let _ = (v.is_nd(), v.nd(), v.body(), v.verify_checksum(0));
    }
    if let Ok(v) = vxlan::Vxlan::parse(bytes) {
        let _ = (v.vni(), v.inner());
    }
    let _ = vxlan::decap(bytes, vxlan::UDP_PORT);
}
