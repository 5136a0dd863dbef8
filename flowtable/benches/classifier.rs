//! Classifier benchmarks: lookup cost against the number of rules and of distinct masks, the
//! linear-scan baseline, the insertion rate, and the cost of a copy-on-write update (clone, then
//! insert) of a large table.
//!
//! Run with `cargo bench -p flowtable --bench classifier`.

// Random bits are cut down to field widths on purpose.
#![allow(clippy::cast_possible_truncation)]

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use flowtable::classifier::linear::Linear;
use flowtable::classifier::Classifier;
use flowtable::{Field, FlowKey, FlowMask, Match};
use std::hint::black_box;

/// A small deterministic generator (splitmix64), so every run benchmarks the same tables.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The shape of one subtable: which fields its rules match, and with which prefixes.
#[derive(Clone, Copy)]
struct Shape {
    in_port: bool,
    src_plen: u32,
    dst_plen: u32,
    tcp_dst: bool,
}

/// `n` distinct shapes, the kind of masks an ACL or routing table produces.
fn shapes(n: usize) -> Vec<Shape> {
    let mut out = Vec::new();
    'outer: for dst_plen in [32, 24, 16, 8, 28, 20, 12] {
        for src_plen in [0, 8, 16, 24, 32] {
            for tcp_dst in [true, false] {
                for in_port in [false, true] {
                    if out.len() == n {
                        break 'outer;
                    }
                    out.push(Shape {
                        in_port,
                        src_plen,
                        dst_plen,
                        tcp_dst,
                    });
                }
            }
        }
    }
    out
}

fn prefix(plen: u32) -> u128 {
    match plen {
        0 => 0,
        p => u128::from(u32::MAX << (32 - p)),
    }
}

fn rule(shape: Shape, rng: &mut Rng) -> Match {
    let mut m = Match::any();
    m.set(Field::DlType, 0x0800);
    if shape.in_port {
        m.set(Field::InPort, 1 + u128::from(rng.below(16)));
    }
    if shape.src_plen > 0 {
        m.set_masked(Field::NwSrc, rng.next().into(), prefix(shape.src_plen));
    }
    m.set_masked(Field::NwDst, rng.next().into(), prefix(shape.dst_plen));
    if shape.tcp_dst {
        m.set(Field::NwProto, 6);
        m.set(Field::TpDst, rng.below(65536).into());
    }
    m
}

/// `n_rules` rules spread evenly over `n_masks` shapes, with priorities 1..=1000.
fn rules(n_rules: usize, n_masks: usize) -> Vec<(Match, u16)> {
    let mut rng = Rng(0x5eed ^ n_rules as u64 ^ (n_masks as u64) << 32);
    let shapes = shapes(n_masks);
    (0..n_rules)
        .map(|i| {
            let shape = shapes[i % shapes.len()];
            let prio = u16::try_from(1 + rng.below(1000)).unwrap_or(1);
            (rule(shape, &mut rng), prio)
        })
        .collect()
}

fn random_key(rng: &mut Rng) -> FlowKey {
    let mut k = FlowKey::zero();
    k.dl_type = 0x0800;
    k.in_port = 1 + (rng.below(16) as u32);
    k.nw_src = rng.next() as u32;
    k.nw_dst = rng.next() as u32;
    k.nw_proto = 6;
    k.tp_src = rng.next() as u16;
    k.tp_dst = rng.next() as u16;
    k
}

/// 1024 keys: half hit a random rule (random elsewhere), half are random.
fn keys(rules: &[(Match, u16)]) -> Vec<FlowKey> {
    let mut rng = Rng(42);
    (0..1024)
        .map(|i| {
            let k = random_key(&mut rng);
            if i % 2 == 0 && !rules.is_empty() {
                let (m, _) = rules[rng.below(rules.len() as u64) as usize];
                let mut hit = k.masked(&invert(&m.mask));
                for (w, r) in hit.words_mut().iter_mut().zip(m.key.words()) {
                    *w |= r;
                }
                hit
            } else {
                k
            }
        })
        .collect()
}

fn invert(m: &FlowMask) -> FlowMask {
    let mut out = *m;
    for w in out.words_mut() {
        *w = !*w;
    }
    out
}

fn classifier(rules: &[(Match, u16)]) -> Classifier<usize> {
    let mut c = Classifier::new();
    for (i, (m, p)) in rules.iter().enumerate() {
        c.insert(*m, *p, i);
    }
    c
}

fn lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("classifier_lookup");
    g.throughput(Throughput::Elements(1));
    for n_rules in [1_000, 10_000, 100_000] {
        for n_masks in [1, 10, 50] {
            let rules = rules(n_rules, n_masks);
            let cls = classifier(&rules);
            let keys = keys(&rules);
            let mut i = 0;
            g.bench_function(BenchmarkId::new(format!("{n_masks}masks"), n_rules), |b| {
                b.iter(|| {
                    i = (i + 1) & 1023;
                    let mut wc = FlowMask::none();
                    let r = cls.lookup(&keys[i], &mut wc).map(|r| r.value);
                    black_box((r, wc))
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("linear_lookup");
    g.throughput(Throughput::Elements(1));
    for n_rules in [1_000, 10_000] {
        let rules = rules(n_rules, 10);
        let mut lin = Linear::new();
        for (i, (m, p)) in rules.iter().enumerate() {
            lin.insert(*m, *p, i);
        }
        let keys = keys(&rules);
        let mut i = 0;
        g.bench_function(BenchmarkId::new("10masks", n_rules), |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                let mut wc = FlowMask::none();
                let r = lin.lookup(&keys[i], &mut wc).map(|r| r.value);
                black_box((r, wc))
            })
        });
    }
    g.finish();
}

fn updates(c: &mut Criterion) {
    let mut g = c.benchmark_group("classifier_update");
    g.sample_size(10);
    for n_masks in [1, 10] {
        let rules = rules(100_000, n_masks);
        g.throughput(Throughput::Elements(rules.len() as u64));
        g.bench_function(BenchmarkId::new("insert_100k", n_masks), |b| {
            b.iter(|| black_box(classifier(&rules).len()))
        });
    }
    for n_masks in [1, 10] {
        let rules = rules(100_001, n_masks);
        let (last, base) = rules
            .split_last()
            .map_or((None, &rules[..]), |(l, b)| (Some(l), b));
        let cls = classifier(base);
        let Some(&(m, p)) = last else { continue };
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("clone_insert_100k", n_masks), |b| {
            b.iter_batched(
                || (),
                |()| {
                    let mut copy = cls.clone();
                    copy.insert(m, p, usize::MAX);
                    copy
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, lookup, updates);
criterion_main!(benches);
