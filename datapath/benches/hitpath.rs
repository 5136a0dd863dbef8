//! Hit-path cost: ns per packet for batches of 64 packets that all hit the caches, with 1, 10
//! and 100 megaflow masks, with and without the exact-match cache (which the datapath consults
//! only with more than one mask: `1_masks_emc` is the megaflow path); and the cost of executing
//! a rewrite-heavy action list on a batch.
//!
//! The datapath runs in manual mode (no PMD thread): each iteration receives one batch of 64
//! from a mem port, extracts keys, looks them up, executes `output` and sends the batch to
//! another mem port. Refilling the input queue is outside the measurement.

#![allow(clippy::cast_possible_truncation)]

use std::collections::BTreeSet;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datapath::exec::{execute, Env};
use datapath::port::mem::{MemHandle, MemPort};
use datapath::{Datapath, DatapathConfig, Packet, PacketIn};
use flowtable::pipeline::{translate, RecircIds};
use flowtable::syntax::flow::parse_flow;
use flowtable::table::Tables;
use flowtable::wire::{checksum, ethernet, ipv4::Ipv4Header, udp};
use flowtable::FlowKey;

const BATCH: usize = 64;

fn tables(flows: &[String]) -> Arc<Tables> {
    let mut t = Tables::new();
    for f in flows {
        let fm = parse_flow(f).unwrap_or_else(|e| panic!("{f}: {e}"));
        t.apply(&fm, false, 0)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    Arc::new(t)
}

fn udp4(src: u32, dst: u32, sport: u16, dport: u16, ttl: u8) -> Vec<u8> {
    let mut f = Vec::new();
    ethernet::emit(&mut f, [2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], 0x0800);
    let payload = [0u8; 18];
    let ip = Ipv4Header {
        src,
        dst,
        protocol: 17,
        ttl,
        ..Ipv4Header::default()
    };
    let _ = ip.emit(&mut f, 8 + payload.len());
    let pseudo = checksum::pseudo_header_v4(src, dst, 17, 26);
    let _ = udp::emit(&mut f, sport, dport, &payload, Some(pseudo));
    f
}

/// Rules and one frame per rule such that each frame's megaflow has its own mask: rule `i`
/// matches `nw_ttl = i + 1` and copies the low `i mod 32 + 1` bits of `nw_src` and the low
/// `i / 32 + 1` bits of `nw_dst` into registers, which makes exactly those bits part of the
/// megaflow mask.
fn workload(masks: usize) -> (Vec<String>, Vec<Vec<u8>>) {
    let mut rules = Vec::new();
    let mut frames = Vec::new();
    for i in 0..masks {
        let (a, b) = (i % 32, i / 32);
        rules.push(format!(
            "ip,nw_ttl={},actions=move:NXM_OF_IP_SRC[0..{a}]->NXM_NX_REG1[0..{a}],\
             move:NXM_OF_IP_DST[0..{b}]->NXM_NX_REG2[0..{b}],output:2",
            i + 1
        ));
        frames.push(udp4(0xc0a8_0001, 0x0a00_0002, 1000, 2000, (i + 1) as u8));
    }
    (rules, frames)
}

struct Rig {
    dp: Datapath,
    input: MemHandle,
    output: MemHandle,
    frames: Vec<Vec<u8>>,
    next: std::cell::Cell<usize>,
}

/// The rules of [`workload`]`(2)` (two masks, so that the EMC is consulted) and `flows` frames
/// of distinct source addresses, half with TTL 1 and half with TTL 2 (three megaflows): with more
/// flows than the exact-match cache has entries, most lookups find both candidate slots holding
/// other keys before the megaflow hits.
fn many_flows(flows: u32) -> (Vec<String>, Vec<Vec<u8>>) {
    let rules = workload(2).0;
    let frames = (0..flows)
        .map(|i| udp4(0x0a01_0000 + i, 0x0a02_0001, 1000, 2000, (i % 2 + 1) as u8))
        .collect();
    (rules, frames)
}

/// An ACL's shape: `flows` rules that drop UDP to ports 4000.., which no frame matches, above
/// one rule that outputs; one frame per UDP port 5000..: the drop rules make `tp_dst` part of
/// every megaflow, so each frame has its own megaflow, and all of them credit the output rule.
/// Every packet of a batch hits a megaflow of its own, so what is paid once per megaflow and
/// batch (version check, crediting) is paid per packet, as in the end-to-end ACL scenario.
fn many_megaflows(flows: u16) -> (Vec<String>, Vec<Vec<u8>>) {
    let rules = (0..flows)
        .map(|i| format!("priority=20,udp,tp_dst={},actions=drop", 4000 + i))
        .chain(std::iter::once("priority=10,actions=output:2".to_string()))
        .collect();
    let frames = (0..flows)
        .map(|i| udp4(0x0a01_0001, 0x0a02_0001, 1000, 5000 + i, 64))
        .collect();
    (rules, frames)
}

impl Rig {
    fn new(masks: usize, emc: bool) -> Rig {
        Rig::with(workload(masks), emc)
    }

    fn with((rules, frames): (Vec<String>, Vec<Vec<u8>>), emc: bool) -> Rig {
        let masks = rules.len();
        let cfg = DatapathConfig {
            pmd_threads: 0,
            emc_entries: if emc { 8192 } else { 0 },
            upcall_rate_per_port: 0,
            ..DatapathConfig::default()
        };
        let dp = Datapath::start("bench", cfg, tables(&rules), Arc::new(RecircIds::new()))
            .unwrap_or_else(|e| panic!("{e}"));
        let p1 = MemPort::new("in");
        let p2 = MemPort::new("out");
        let (input, output) = (p1.handle(), p2.handle());
        let _ = dp.add_port(1, Box::new(p1));
        let _ = dp.add_port(2, Box::new(p2));
        let rig = Rig {
            dp,
            input,
            output,
            frames,
            next: std::cell::Cell::new(0),
        };
        // Warm up: install every megaflow and let the EMC fill.
        for _ in 0..400 {
            rig.fill();
            rig.dp.run_once();
            rig.output.take_sent();
        }
        let masks_seen: BTreeSet<_> = rig
            .dp
            .megaflows()
            .iter()
            .map(|m| m.mask.0.words().to_vec())
            .collect();
        eprintln!(
            "{masks} rules: {} megaflows, {} masks; {:?}",
            rig.dp.megaflows().len(),
            masks_seen.len(),
            rig.dp.cache_stats()
        );
        rig
    }

    /// Runs `iters` batches and returns the CPU time they took. The input queue is refilled
    /// (and the output drained) outside the timed part; the time is the thread's CPU time, so
    /// that other processes on this shared machine do not inflate it.
    fn run_batches(&self, iters: u64) -> std::time::Duration {
        let mut total = std::time::Duration::ZERO;
        for _ in 0..iters {
            self.output.take_sent();
            self.fill();
            let t = thread_cpu();
            let n = self.dp.run_once();
            total += thread_cpu().saturating_sub(t);
            assert_eq!(n, BATCH);
        }
        total
    }

    /// Queues one batch, continuing the round over the flows where the last batch stopped.
    fn fill(&self) {
        let start = self.next.get();
        let refs: Vec<&[u8]> = (0..BATCH)
            .map(|i| self.frames[(start + i) % self.frames.len()].as_slice())
            .collect();
        self.next.set((start + BATCH) % self.frames.len());
        self.input.inject(&refs);
    }
}

/// CPU time of the calling thread.
fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

fn hit_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("hitpath");
    g.throughput(Throughput::Elements(BATCH as u64));
    for masks in [1, 10, 100] {
        for emc in [true, false] {
            let rig = Rig::new(masks, emc);
            let name = format!("{}_masks_{}", masks, if emc { "emc" } else { "megaflow" });
            g.bench_function(name, |b| b.iter_custom(|iters| rig.run_batches(iters)));
            let st = rig.dp.cache_stats();
            assert_eq!(st.megaflows as usize, masks, "{st:?}");
        }
    }
    // More flows than exact-match entries (8192): the cost of the EMC's misses.
    let rig = Rig::with(many_flows(20_000), true);
    g.bench_function("20000_flows_emc", |b| {
        b.iter_custom(|iters| rig.run_batches(iters))
    });
    assert_eq!(rig.dp.cache_stats().megaflows, 3);
    // A megaflow per packet of a batch.
    let rig = Rig::with(many_megaflows(1000), true);
    g.bench_function("1000_megaflows_emc", |b| {
        b.iter_custom(|iters| rig.run_batches(iters))
    });
    assert_eq!(rig.dp.cache_stats().megaflows, 1000);
    g.finish();
}

/// An environment that keeps outputs (and drops nothing), for timing execution alone.
struct Sink(Vec<Packet>);

impl Env for Sink {
    fn output(&mut self, _port: u32, pkt: Packet) {
        self.0.push(pkt);
    }
    fn flood_ports(&self, in_port: u32, out: &mut Vec<u32>) {
        out.extend([1, 2, 3].into_iter().filter(|p| *p != in_port));
    }
    fn controller(&mut self, _pi: PacketIn) {}
    fn recirc(&mut self, _pkt: Packet, _key: FlowKey, _depth: usize) {}
    fn drop(&mut self, _reason: datapath::drops::Drop) {}
}

fn batch_exec(c: &mut Criterion) {
    let mut g = c.benchmark_group("exec");
    g.throughput(Throughput::Elements(BATCH as u64));
    let frame = udp4(0x0a00_0001, 0x0a00_0002, 1000, 2000, 64);
    let cases = [
        ("output", "actions=output:2"),
        (
            "rewrite",
            "udp,actions=set_field:10.1.1.1->nw_dst,set_field:99->tp_dst,dec_ttl,mod_dl_src:02:00:00:00:00:09,output:2",
        ),
        ("push_vlan", "actions=mod_vlan_vid:10,output:2"),
        ("flood", "actions=FLOOD"),
    ];
    for (name, flow) in cases {
        let t = tables(&[flow.to_string()]);
        let key = flowtable::extract::extract(&frame, 1).unwrap_or_else(|e| panic!("{e}"));
        let x = translate(&t, &RecircIds::new(), &key);
        let mut sink = Sink(Vec::with_capacity(4 * BATCH));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let pkts: Vec<Packet> =
                        (0..BATCH).map(|_| Packet::from_slice(&frame)).collect();
                    sink.0.clear();
                    let t = thread_cpu();
                    for p in pkts {
                        let mut meta = key;
                        execute(&mut sink, p, &mut meta, &x.actions, 0);
                    }
                    total += thread_cpu().saturating_sub(t);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, hit_path, batch_exec);
criterion_main!(benches);
