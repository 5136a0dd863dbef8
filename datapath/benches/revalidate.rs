//! Revalidation time: install 100,000 megaflows, swap the tables, and time one full
//! revalidation pass (what the revalidator thread runs after `set_tables`). Also checks that
//! the pass left no stale megaflow behind, so the traffic after it needs no upcall.
//!
//! `cargo bench -p datapath --bench revalidate` (optionally with the count as argument).

#![allow(clippy::cast_possible_truncation)]

use std::sync::Arc;
use std::time::Instant;

use datapath::port::mem::MemPort;
use datapath::{Datapath, DatapathConfig};
use flowtable::pipeline::RecircIds;
use flowtable::syntax::flow::parse_flow;
use flowtable::table::Tables;
use flowtable::wire::{checksum, ethernet, ipv4::Ipv4Header, udp};

fn tables(flows: &[&str]) -> Arc<Tables> {
    let mut t = Tables::new();
    for f in flows {
        let fm = parse_flow(f).unwrap_or_else(|e| panic!("{f}: {e}"));
        t.apply(&fm, false, 0)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    Arc::new(t)
}

fn udp4(dst: u32) -> Vec<u8> {
    let mut f = Vec::new();
    ethernet::emit(&mut f, [2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], 0x0800);
    let (src, payload) = (0x0a00_0001, [0u8; 18]);
    let ip = Ipv4Header {
        src,
        dst,
        protocol: 17,
        ..Ipv4Header::default()
    };
    let _ = ip.emit(&mut f, 26);
    let _ = udp::emit(
        &mut f,
        1,
        2,
        &payload,
        Some(checksum::pseudo_header_v4(src, dst, 17, 26)),
    );
    f
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

fn main() {
    let n: u32 = std::env::args()
        .filter_map(|a| a.parse().ok())
        .next()
        .unwrap_or(100_000);
    // The move makes every megaflow match the whole nw_dst: one megaflow per destination.
    let v1 = tables(&[
        "table=0,ip,actions=move:NXM_OF_IP_DST[]->NXM_NX_REG0[],resubmit(,1)",
        "table=1,reg0=0x0a000000/0xff000000,actions=output:2",
    ]);
    let v2 = tables(&[
        "table=0,ip,actions=move:NXM_OF_IP_DST[]->NXM_NX_REG0[],resubmit(,1)",
        "table=1,reg0=0x0a000000/0xff000000,actions=mod_nw_tos:8,output:2",
    ]);
    let cfg = DatapathConfig {
        pmd_threads: 0,
        upcall_rate_per_port: 0,
        megaflow_idle_ms: 600_000,
        ..DatapathConfig::default()
    };
    let dp = Datapath::start("reval", cfg, v1, Arc::new(RecircIds::new()))
        .unwrap_or_else(|e| panic!("{e}"));
    let (p1, p2) = (MemPort::new("in"), MemPort::new("out"));
    let (input, output) = (p1.handle(), p2.handle());
    let _ = dp.add_port(1, Box::new(p1));
    let _ = dp.add_port(2, Box::new(p2));
    let frames: Vec<Vec<u8>> = (0..n).map(|i| udp4(0x0a00_0000 + i)).collect();
    let push_all = || {
        for chunk in frames.chunks(2048) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            input.inject(&refs);
            while input.rx_pending() > 0 {
                dp.run_once();
            }
            output.take_sent();
        }
    };
    let t0 = Instant::now();
    push_all();
    let st = dp.cache_stats();
    println!(
        "installed {} megaflows ({} upcalls) in {:.3} s",
        st.megaflows,
        st.upcalls,
        t0.elapsed().as_secs_f64()
    );
    dp.set_tables(v2);
    let (t1, c1) = (Instant::now(), thread_cpu());
    let pass = dp.revalidate_now();
    let (dt, dc) = (t1.elapsed(), thread_cpu().saturating_sub(c1));
    println!(
        "revalidated {} of {} megaflows ({} removed) in {:.3} s ({:.3} s of CPU): {:.2} us of CPU per megaflow",
        pass.revalidated,
        pass.examined,
        pass.removed,
        dt.as_secs_f64(),
        dc.as_secs_f64(),
        dc.as_secs_f64() * 1e6 / pass.revalidated.max(1) as f64
    );
    let before = dp.cache_stats();
    push_all();
    let after = dp.cache_stats();
    println!(
        "traffic after the swap: {} upcalls, {} on-hit revalidations",
        after.upcalls - before.upcalls,
        after.revalidations - before.revalidations
    );
    dp.shutdown();
}
