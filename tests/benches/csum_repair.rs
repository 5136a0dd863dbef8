//! Cost of the afxdp/afpacket checksum repair (`csum-repair`) per received frame: the check
//! every TCP/UDP frame pays, and the full repair that only frames with a partial checksum pay;
//! and the software segmentation of a TSO super-frame.

#![allow(clippy::cast_possible_truncation)] // bench data: small values

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use datapath::port::afxdp::xdp::csum::{repair, Repair};
use datapath::port::afxdp::xdp::gso::segment;
use flowtable::wire::checksum;

const SRC: u32 = 0x0a00_0001;
const DST: u32 = 0x0a00_0002;

/// An Ethernet/IPv4 frame carrying a TCP (proto 6) or UDP (17) segment of `payload` bytes,
/// with a complete checksum, or a partial one (the folded pseudo-header sum) if `partial`.
fn frame(proto: u8, payload: usize, partial: bool) -> Vec<u8> {
    let l4_hdr = if proto == 6 { 20 } else { 8 };
    let l4_len = l4_hdr + payload;
    let len16 = u16::try_from(l4_len).unwrap_or(u16::MAX);
    let mut f = vec![0u8; 34 + l4_len];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&(len16 + 20).to_be_bytes());
    f[22] = 64;
    f[23] = proto;
    f[26..30].copy_from_slice(&SRC.to_be_bytes());
    f[30..34].copy_from_slice(&DST.to_be_bytes());
    if proto == 6 {
        f[46] = 0x50;
    } else {
        f[38..40].copy_from_slice(&len16.to_be_bytes());
    }
    for (i, b) in f[34 + l4_hdr..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    let field = 34 + if proto == 6 { 16 } else { 6 };
    let pseudo = checksum::pseudo_header_v4(SRC, DST, proto, len16);
    let value = if partial {
        checksum::fold(pseudo)
    } else {
        checksum::finish(checksum::sum(&f[34..], pseudo))
    };
    f[field..field + 2].copy_from_slice(&value.to_be_bytes());
    f
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("csum_repair");
    for (name, proto, payload) in [("udp_64B", 17, 18), ("tcp_1514B", 6, 1460)] {
        let complete = frame(proto, payload, false);
        let partial = frame(proto, payload, true);
        let mut check = complete.clone();
        assert_eq!(repair(&mut check), Repair::Complete);
        let mut fixed = partial.clone();
        assert_eq!(repair(&mut fixed), Repair::Repaired);
        assert_eq!(fixed, complete);

        g.bench_function(format!("{name}/complete_checked"), |b| {
            let mut f = complete.clone();
            b.iter(|| repair(std::hint::black_box(&mut f)))
        });
        g.bench_function(format!("{name}/partial_repaired"), |b| {
            b.iter_batched_ref(
                || partial.clone(),
                |f| repair(std::hint::black_box(f)),
                BatchSize::SmallInput,
            )
        });
    }
    // A 63 KiB TSO super-frame cut into 44 MTU-sized segments (skb mode, afpacket).
    let sup = frame(6, 44 * 1460, true);
    assert_eq!(segment(&sup, 1500, |_| ()), Some(44));
    g.bench_function("tcp_super_frame_63KiB/segmented", |b| {
        b.iter(|| {
            let mut n = 0usize;
            segment(std::hint::black_box(&sup), 1500, |seg| n += seg.len());
            n
        })
    });
    // The copy the port makes anyway, for scale.
    let big = frame(6, 1460, false);
    g.bench_function("tcp_1514B/copy_only", |b| {
        b.iter_batched_ref(
            || big.clone(),
            |f| std::hint::black_box(f.clone()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
