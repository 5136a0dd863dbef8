//! Instruction counts of the hit path, for `valgrind --tool=callgrind` (counts that do not
//! depend on the machine's load, unlike timings on a shared machine).
//!
//! The datapath runs in manual mode with two mem ports and `in_port=1,actions=output:2`;
//! after a warm-up, `busy_iteration` is called for batches of 64 UDP frames of 64 flows (all
//! hitting the exact-match cache) and `idle_iteration` for iterations that receive nothing:
//!
//! ```sh
//! cargo build --release -p datapath --example hitpath_instructions
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     --toggle-collect='hitpath_instructions::busy_iteration' \
//!     target/release/examples/hitpath_instructions
//! callgrind_annotate /tmp/cg.out | head -30     # Ir / (BATCHES * 64) = instructions per packet
//! ```
//!
//! (`--toggle-collect='hitpath_instructions::idle_iteration'` for the idle case: Ir / BATCHES.)

use std::sync::Arc;

use datapath::port::mem::MemPort;
use datapath::{Datapath, DatapathConfig};
use flowtable::pipeline::RecircIds;
use flowtable::syntax::flow::parse_flow;
use flowtable::table::Tables;

/// Measured batches (and idle iterations).
const BATCHES: usize = 1000;
/// Frames per batch.
const BATCH: u16 = 64;

/// A 60-byte Ethernet/IPv4/UDP frame of flow `i` (source port `1000 + i`).
fn frame(i: u16) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&46u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&(1000 + i).to_be_bytes());
    f[36..38].copy_from_slice(&2000u16.to_be_bytes());
    f[38..40].copy_from_slice(&26u16.to_be_bytes());
    f
}

#[inline(never)]
fn busy_iteration(dp: &Datapath) -> usize {
    dp.run_once()
}

/// `n` iterations that receive nothing (a loop, so that it is not folded with
/// `busy_iteration`).
#[inline(never)]
fn idle_iteration(dp: &Datapath, n: usize) -> usize {
    (0..n).map(|_| dp.run_once()).sum()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut tables = Tables::new();
    tables.apply(&parse_flow("in_port=1,actions=output:2")?, false, 0)?;
    let cfg = DatapathConfig {
        pmd_threads: 0,
        upcall_rate_per_port: 0,
        ..DatapathConfig::default()
    };
    let dp = Datapath::start("count", cfg, Arc::new(tables), Arc::new(RecircIds::new()))?;
    let (p1, p2) = (MemPort::new("in"), MemPort::new("out"));
    let (input, output) = (p1.handle(), p2.handle());
    dp.add_port(1, Box::new(p1))?;
    dp.add_port(2, Box::new(p2))?;
    let frames: Vec<Vec<u8>> = (0..BATCH).map(frame).collect();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    // Warm-up: the megaflow is installed and the EMC filled.
    for _ in 0..500 {
        input.inject(&refs);
        dp.run_once();
        output.take_sent();
    }
    let mut forwarded = 0;
    for _ in 0..BATCHES {
        input.inject(&refs);
        busy_iteration(&dp);
        forwarded += output.take_sent().len();
    }
    let stray = idle_iteration(&dp, BATCHES);
    println!(
        "forwarded {forwarded} of {} frames, {stray} received while idle; {:?}",
        BATCHES * usize::from(BATCH),
        dp.cache_stats()
    );
    dp.shutdown();
    Ok(())
}
