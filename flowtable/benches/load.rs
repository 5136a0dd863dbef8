//! Bulk flow loading, the work behind `ofctl add-flows` of a large file: parsing flow texts and
//! applying them to a table version.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flowtable::syntax::flow::parse_flow;
use flowtable::table::Tables;

/// The flows of `scripts/bench-load.sh`: exact IPv4 destinations over 1000 priorities.
fn flows(n: u32) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (b, c, d) = ((i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
            format!(
                "priority={},ip,nw_dst=10.{b}.{c}.{d},actions=output:{}",
                100 + i % 1000,
                1 + i % 2
            )
        })
        .collect()
}

fn load(c: &mut Criterion) {
    const N: u32 = 10_000;
    let texts = flows(N);
    let mods: Vec<_> = texts
        .iter()
        .map(|t| parse_flow(t).expect("valid flow"))
        .collect();
    let mut g = c.benchmark_group("load");
    g.throughput(Throughput::Elements(u64::from(N)));
    g.sample_size(10);
    g.bench_function("parse_10k", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(parse_flow(t).ok());
            }
        })
    });
    g.bench_function("apply_10k", |b| {
        b.iter_batched(
            Tables::new,
            |mut tables| {
                for fm in &mods {
                    let _ = tables.apply(fm, false, 0);
                }
                tables
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // The size of `scripts/bench-load.sh`, to see how inserting scales with the table's size.
    const BIG: u32 = 100_000;
    let big: Vec<_> = flows(BIG)
        .iter()
        .map(|t| parse_flow(t).expect("valid flow"))
        .collect();
    let mut g = c.benchmark_group("load");
    g.throughput(Throughput::Elements(u64::from(BIG)));
    g.sample_size(10);
    g.bench_function("apply_100k", |b| {
        b.iter_batched(
            Tables::new,
            |mut tables| {
                for fm in &big {
                    let _ = tables.apply(fm, false, 0);
                }
                tables
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
