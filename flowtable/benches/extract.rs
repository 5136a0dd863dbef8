//! Flow extraction cost per frame: `extract_into` on minimum-size TCP/IPv4, VLAN-tagged TCP,
//! IPv6 UDP, and a 32-frame mix of the protocols the extractor handles.
//!
//! Run: `cargo bench -p flowtable --bench extract -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flowtable::extract::extract_into;
use flowtable::wire::icmpv6::{nd_body, NEIGHBOR_SOLICIT, OPT_SOURCE_LLADDR};
use flowtable::wire::ipv4::{proto, Ipv4Header, FLAG_MF};
use flowtable::wire::ipv6::Ipv6Header;
use flowtable::wire::tcp::TcpHeader;
use flowtable::wire::{arp, ethernet, icmpv4, icmpv6, ipv6ext, sctp, udp, vlan};
use flowtable::{ethertype, FlowKey};
use std::hint::black_box;

const DST: [u8; 6] = [2, 0, 0, 0, 0, 1];
const SRC: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn frame(tags: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&DST);
    f.extend_from_slice(&SRC);
    for &tci in tags {
        vlan::emit(&mut f, vlan::TPID_8021Q, tci);
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    if f.len() < 64 {
        f.resize(64, 0); // minimum frame with FCS space, as on the wire
    }
    f
}

fn ipv4(h: Ipv4Header<'_>, l4: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    h.emit(&mut p, l4.len()).expect("valid header");
    p.extend_from_slice(l4);
    p
}

fn v4(protocol: u8, n: u32) -> Ipv4Header<'static> {
    Ipv4Header {
        src: 0x0a00_0001 + n,
        dst: 0x0a00_0100 + n,
        protocol,
        ..Ipv4Header::default()
    }
}

fn ipv6(next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    Ipv6Header {
        src: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        dst: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        next_header,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0x12345,
    }
    .emit(&mut p, payload.len())
    .expect("valid header");
    p.extend_from_slice(payload);
    p
}

fn tcp(src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut s = Vec::new();
    TcpHeader {
        src_port,
        dst_port,
        seq: 1,
        ack: 1,
        flags: 0x10,
        window: 1000,
    }
    .emit(&mut s, &[], 0);
    s
}

fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    udp::emit(&mut s, src_port, dst_port, payload, None).expect("short datagram");
    s
}

fn tcp4(n: u16) -> Vec<u8> {
    frame(
        &[],
        ethertype::IPV4,
        &ipv4(v4(proto::TCP, n.into()), &tcp(40000 + n, 80)),
    )
}

fn vlan_tcp4(n: u16) -> Vec<u8> {
    frame(
        &[100 + n],
        ethertype::IPV4,
        &ipv4(v4(proto::TCP, n.into()), &tcp(40000 + n, 443)),
    )
}

fn udp6(n: u16) -> Vec<u8> {
    frame(
        &[],
        ethertype::IPV6,
        &ipv6(proto::UDP, &udp(5000 + n, 53, &[0; 18])),
    )
}

/// 32 frames: mostly TCP and UDP over IPv4 and IPv6, with tags, fragments, ARP, ICMP, ND,
/// extension headers and SCTP, roughly the mix a hypervisor's uplink sees on misses.
fn mix() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for n in 0..8 {
        frames.push(tcp4(n));
    }
    for n in 0..4 {
        frames.push(vlan_tcp4(n));
        frames.push(udp6(n));
        frames.push(frame(
            &[],
            ethertype::IPV4,
            &ipv4(v4(proto::UDP, n.into()), &udp(n, 4789, &[0; 8])),
        ));
    }
    frames.push(frame(
        &[10, 20],
        ethertype::IPV4,
        &ipv4(v4(proto::UDP, 1), &udp(1, 2, &[])),
    ));
    frames.push(frame(&[], ethertype::IPV6, &ipv6(proto::TCP, &tcp(1, 22))));
    frames.push(frame(
        &[],
        ethertype::IPV4,
        &ipv4(
            Ipv4Header {
                frag_word: FLAG_MF,
                ..v4(proto::UDP, 2)
            },
            &udp(1, 2, &[0; 40]),
        ),
    ));
    frames.push(frame(
        &[],
        ethertype::IPV4,
        &ipv4(
            Ipv4Header {
                frag_word: 10,
                ..v4(proto::UDP, 2)
            },
            &[0; 40],
        ),
    ));
    let mut a = Vec::new();
    arp::emit(
        &mut a,
        arp::OP_REQUEST,
        SRC,
        0x0a00_0001,
        [0; 6],
        0x0a00_0002,
    );
    frames.push(frame(&[], ethertype::ARP, &a));
    let mut i = Vec::new();
    icmpv4::emit(&mut i, icmpv4::ECHO_REQUEST, 0, [0, 1, 0, 1], &[0; 32]);
    frames.push(frame(&[], ethertype::IPV4, &ipv4(v4(proto::ICMP, 3), &i)));
    let mut ns = Vec::new();
    let body = nd_body(
        [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
        Some((OPT_SOURCE_LLADDR, SRC)),
    );
    icmpv6::emit(&mut ns, NEIGHBOR_SOLICIT, 0, [0; 4], &body, 0);
    frames.push(frame(&[], ethertype::IPV6, &ipv6(proto::ICMPV6, &ns)));
    let mut hbh = Vec::new();
    ipv6ext::emit(&mut hbh, proto::UDP, &[5, 2, 0, 0, 1, 0]).expect("8 bytes");
    hbh.extend_from_slice(&udp(1, 2, &[]));
    frames.push(frame(
        &[],
        ethertype::IPV6,
        &ipv6(ipv6ext::HOP_BY_HOP, &hbh),
    ));
    let mut s = Vec::new();
    sctp::emit(&mut s, 1, 2, 3, &[]);
    frames.push(frame(&[], ethertype::IPV4, &ipv4(v4(proto::SCTP, 4), &s)));
    let mut e = Vec::new();
    ethernet::emit(&mut e, DST, SRC, 0x88cc);
    e.resize(64, 0);
    frames.push(e);
    let opts = [0x94, 4, 0, 0];
    frames.push(frame(
        &[],
        ethertype::IPV4,
        &ipv4(
            Ipv4Header {
                options: &opts,
                ..v4(proto::TCP, 5)
            },
            &tcp(5, 6),
        ),
    ));
    let mut frag6 = Vec::new();
    ipv6ext::emit_fragment(&mut frag6, proto::UDP, 0, true, 7);
    frag6.extend_from_slice(&udp(7, 8, &[0; 16]));
    frames.push(frame(
        &[],
        ethertype::IPV6,
        &ipv6(ipv6ext::FRAGMENT, &frag6),
    ));
    assert_eq!(frames.len(), 32);
    frames
}

fn bench_extract(c: &mut Criterion) {
    let mut g = c.benchmark_group("extract_into");
    g.throughput(Throughput::Elements(1));
    for (name, f) in [
        ("tcp4_64B", tcp4(0)),
        ("vlan_tcp4", vlan_tcp4(0)),
        ("udp6", udp6(0)),
    ] {
        let mut key = FlowKey::zero();
        g.bench_function(name, |b| {
            b.iter(|| {
                let _ = extract_into(black_box(&f), &mut key);
                black_box(&key);
            })
        });
    }
    let frames = mix();
    g.throughput(Throughput::Elements(32));
    let mut key = FlowKey::zero();
    g.bench_function("mix32", |b| {
        b.iter(|| {
            for f in &frames {
                let _ = extract_into(black_box(f), &mut key);
                black_box(&key);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_extract);
criterion_main!(benches);
