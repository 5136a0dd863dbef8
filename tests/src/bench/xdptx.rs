//! The XDP sender (`--tx-mode xdp`): the kernel makes the frames, with no socket buffer.
//!
//! Why: on a veth, what a frame costs the [`tx`](super::tx) sender is almost all kernel work
//! on a socket buffer (`perf` on `vsbench`: `packet_sendmsg`, skb allocation, `veth_xmit`,
//! the backlog), about 1.3 µs a frame on the benchmark machine, which is the switches' own
//! order of cost. This sender runs a small XDP program with `BPF_PROG_RUN` in live-frame mode
//! (`BPF_F_TEST_XDP_LIVE_FRAMES`, Linux 5.18+): the kernel copies the frame template into a
//! page-pool page per repetition, runs the program, and the program redirects the frame out of
//! the sending interface with `bpf_redirect`. A veth hands such a frame to its peer's XDP
//! receive ring as an `xdp_frame`, without ever building a socket buffer; the peer must have an
//! XDP program attached (an AF_XDP switch port has one) or GRO enabled, or the veth refuses it.
//! A frame the peer's ring has no room for is dropped by the veth and counted as lost, as a
//! full NIC queue would be.
//!
//! The program (hand-assembled, as in the datapath's `xdp::bpf`; no clang or libbpf) gives
//! each frame what the socket sender writes from user space:
//!
//! ```text
//! seq   = counter[0]++                        ; an ARRAY map: this thread's frame count
//! if data + 66 > data_end: return XDP_DROP    ; headers + probe (never true: the template fits)
//! probe.seq   = be64(seq | sender << 56)
//! probe.tx_ns = be64(bpf_ktime_get_ns())      ; CLOCK_MONOTONIC, as the sink expects
//! f = flows[(seq * threads + sender) % nflows]  ; an ARRAY map, one entry per flow:
//! ip.src[2..4], ip.csum, udp.sport, udp.dport = f   ; precomputed, in wire order
//! return bpf_redirect(ifindex, 0)
//! ```
//!
//! Pacing is the socket sender's: each `BPF_PROG_RUN` call runs a batch of repetitions (about
//! 50 µs of traffic at a target rate, [`FLAT_OUT_BATCH`] flat out), and the sender waits for
//! each batch's due time in user space. A call is cheap only while the program is already in
//! the kernel's XDP dispatcher: otherwise live-frame mode adds it to the dispatcher and removes
//! it again, each time waiting for an RCU grace period (`bpf_dispatcher_change_prog` in
//! `synchronize_rcu`: 10-20 ms a call here, found with `perf record -e sched:sched_switch`),
//! which caps a paced sender at a few hundred frames a second and leaves 10-20 ms gaps between
//! bursts flat out. So the sender first attaches the program in generic (skb) mode to the
//! loopback interface of its namespace through a BPF link, which keeps it in the dispatcher
//! for the run and is released when the sender's descriptors close. The benchmark
//! namespaces' loopback is down, so nothing arrives there for the program to see. An interface
//! holds one generic XDP program, so this sender runs in one thread only (`vsbench` refuses
//! `--threads` above 1 with it; on the 2-core benchmark machine a second sending thread gains
//! nothing anyway).

use std::io;

use datapath::port::afxdp::xdp::bpf_sys::{
    insn, sys_bpf, Insn, TestRunAttr, BPF_PROG_TEST_RUN, BPF_PSEUDO_MAP_FD,
};

use super::bpf::{
    array_map, attach_xdp, fd_i32, fd_u32, load_xdp, map_load, map_store, FUNC_KTIME_GET_NS,
    FUNC_MAP_LOOKUP_ELEM, FUNC_REDIRECT, XDP_DROP, XDP_FLAGS_SKB_MODE,
};
use super::frame::{build_frame, FlowAddrs, Probe, ETH_LEN, PAYLOAD_OFFSET};
use super::sys;
use super::tx::{Pacer, Share, TxConfig, TxReport};

/// The loopback interface's index, the same in every namespace.
const LOOPBACK_IFINDEX: u32 = 1;
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// Frames of one `BPF_PROG_RUN` call when sending flat out.
pub const FLAT_OUT_BATCH: u64 = 256;

/// Offsets in the frame that the program writes (Ethernet + IPv4 without options + UDP).
const OFF_IP_CSUM: i16 = 24;
const OFF_IP_SRC_LOW: i16 = 28;
const OFF_UDP_PORTS: i16 = 34;
const OFF_SEQ: i16 = 50;
const OFF_TX_NS: i16 = 58;
/// Bytes the program needs in the frame: headers and the whole probe.
const NEEDED: i32 = 66;

/// The program's parameters.
struct Params {
    counter: i32,
    flows: i32,
    nflows: i32,
    threads: i32,
    sender: i32,
    seq_base: u64,
    ifindex: i32,
}

/// Assembles the program of the module documentation.
fn program(p: &Params) -> Vec<Insn> {
    // Codes: ALU64 mov/add/mul/mod/or by K (0xb7 0x07 0x27 0x97) or X (0xbf 0x0f 0x4f);
    // LDX W/H/DW (0x61 0x69 0x79); STX W/H/DW (0x63 0x6b 0x7b); JEQ K (0x15); JGT X (0x2d);
    // JA (0x05); CALL (0x85); EXIT (0x95); LD_IMM64 (0x18, two slots); END to-BE (0xdc).
    // The 64-bit immediate's two halves, as the instruction's signed 32-bit fields hold them.
    let [b0, b1, b2, b3, b4, b5, b6, b7] = p.seq_base.to_le_bytes();
    let base_lo = i32::from_le_bytes([b0, b1, b2, b3]);
    let base_hi = i32::from_le_bytes([b4, b5, b6, b7]);
    let mut v = vec![
        insn(0xbf, 6, 1, 0, 0), // r6 = ctx
        insn(0xb7, 1, 0, 0, 0), // key 0
        insn(0x63, 10, 1, -4, 0),
        insn(0xbf, 2, 10, 0, 0),
        insn(0x07, 2, 0, 0, -4),
        insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, p.counter),
        insn(0, 0, 0, 0, 0),
        insn(0x85, 0, 0, 0, FUNC_MAP_LOOKUP_ELEM),
        insn(0x15, 0, 0, 0, 0), // 8: if r0 == 0 goto drop (patched)
        insn(0x79, 7, 0, 0, 0), // r7 = seq
        insn(0xbf, 1, 7, 0, 0),
        insn(0x07, 1, 0, 0, 1),
        insn(0x7b, 0, 1, 0, 0), // counter = seq + 1
        insn(0x61, 8, 6, 0, 0), // r8 = data
        insn(0x61, 9, 6, 4, 0), // r9 = data_end
        insn(0xbf, 1, 8, 0, 0),
        insn(0x07, 1, 0, 0, NEEDED),
        insn(0x2d, 1, 9, 0, 0), // 17: if data + 66 > data_end goto drop (patched)
        insn(0x18, 2, 0, 0, base_lo),
        insn(0, 0, 0, 0, base_hi),
        insn(0xbf, 1, 7, 0, 0),
        insn(0x4f, 1, 2, 0, 0), // r1 = seq | base
        insn(0xdc, 1, 0, 0, 64),
        insn(0x7b, 8, 1, OFF_SEQ, 0),
        insn(0x85, 0, 0, 0, FUNC_KTIME_GET_NS),
        insn(0xdc, 0, 0, 0, 64),
        insn(0x7b, 8, 0, OFF_TX_NS, 0),
        insn(0xbf, 1, 7, 0, 0), // flow = (seq * threads + sender) % nflows
        insn(0x27, 1, 0, 0, p.threads),
        insn(0x07, 1, 0, 0, p.sender),
        insn(0x97, 1, 0, 0, p.nflows),
        insn(0x63, 10, 1, -8, 0),
        insn(0xbf, 2, 10, 0, 0),
        insn(0x07, 2, 0, 0, -8),
        insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, p.flows),
        insn(0, 0, 0, 0, 0),
        insn(0x85, 0, 0, 0, FUNC_MAP_LOOKUP_ELEM),
        insn(0x15, 0, 0, 6, 0), // if r0 == 0 skip the six rewrites
        insn(0x69, 1, 0, 0, 0),
        insn(0x6b, 8, 1, OFF_IP_SRC_LOW, 0),
        insn(0x69, 1, 0, 2, 0),
        insn(0x6b, 8, 1, OFF_IP_CSUM, 0),
        insn(0x61, 1, 0, 4, 0),
        insn(0x63, 8, 1, OFF_UDP_PORTS, 0),
        insn(0xb7, 1, 0, 0, p.ifindex),
        insn(0xb7, 2, 0, 0, 0),
        insn(0x85, 0, 0, 0, FUNC_REDIRECT),
        insn(0x95, 0, 0, 0, 0),
    ];
    let drop_at = v.len();
    v.push(insn(0xb7, 0, 0, 0, XDP_DROP));
    v.push(insn(0x95, 0, 0, 0, 0));
    for at in [8usize, 17] {
        let off = i16::try_from(drop_at - at - 1).unwrap_or(0);
        if let Some(i) = v.get_mut(at) {
            i.off = off;
        }
    }
    v
}

/// Per-flow rewrite: source address low half, IPv4 checksum, UDP ports, in wire order.
fn flow_entry(template: &[u8]) -> [u8; 8] {
    let mut e = [0u8; 8];
    let at = |o: i16, n: usize| {
        let o = usize::try_from(o).unwrap_or(0);
        template.get(o..o + n).unwrap_or(&[0, 0, 0, 0][..n])
    };
    e[0..2].copy_from_slice(at(OFF_IP_SRC_LOW, 2));
    e[2..4].copy_from_slice(at(OFF_IP_CSUM, 2));
    e[4..8].copy_from_slice(at(OFF_UDP_PORTS, 4));
    e
}

/// Sends `share` of the frames `cfg` describes from the calling thread's namespace, with the
/// kernel building each frame (see the module documentation).
pub fn send(cfg: &TxConfig, share: Share) -> io::Result<TxReport> {
    const _: () = assert!(PAYLOAD_OFFSET + Probe::LEN == NEEDED as usize && ETH_LEN == 14);
    if !cfg.cpus.is_empty() {
        let k = usize::try_from(share.index).unwrap_or(0) % cfg.cpus.len();
        if let Some(&cpu) = cfg.cpus.get(k) {
            sys::pin_to_cpu(cpu)?;
        }
    }
    let rate = share.part(cfg.rate);
    let count = share.part(cfg.count);
    let ifindex = sys::ifindex(&cfg.iface)?;
    let src_mac = sys::mac_address(&cfg.iface)?;
    let nflows = cfg.flows.clamp(1, 65_536);

    let counter = array_map(8, 1)?;
    let flows = array_map(8, nflows)?;
    let mut template = Vec::new();
    for i in 0..nflows {
        let frame = build_frame(cfg.size, src_mac, cfg.dst_mac, FlowAddrs::of(i));
        map_store(&flows, i, &flow_entry(&frame))?;
        if i == 0 {
            template = frame;
        }
    }
    // The probe's run id is the same in every frame; seq and time are written per frame.
    if let Some(payload) = template.get_mut(PAYLOAD_OFFSET..) {
        Probe {
            run_id: cfg.run_id,
            seq: 0,
            tx_ns: 0,
        }
        .write(payload);
    }
    let params = Params {
        counter: fd_i32(&counter),
        flows: fd_i32(&flows),
        nflows: i32::try_from(nflows).unwrap_or(1),
        threads: i32::try_from(share.of.max(1)).unwrap_or(1),
        sender: i32::try_from(share.index).unwrap_or(0),
        seq_base: u64::from(share.index) << Probe::SENDER_SHIFT,
        ifindex,
    };
    let prog = load_xdp("vsbench_tx", &program(&params))?;
    // Held until the end of the run: keeps the program in the XDP dispatcher.
    let _link = attach_xdp(&prog, LOOPBACK_IFINDEX, XDP_FLAGS_SKB_MODE)
        .map_err(|e| io::Error::new(e.kind(), format!("attaching to lo (generic XDP): {e}")))?;

    let batch = if rate > 0 {
        // ~50 µs of traffic per call: a call costs ~25 µs of page-pool setup and teardown
        // besides its frames, so the socket sender's 20 µs batches would cap the rate near
        // 500k frames/s; 50 µs reach about 1M, and are short next to the switches' idle
        // thresholds (ours sleeps after 50 µs without a frame) and the peer's ring.
        (rate / 20_000).clamp(1, FLAT_OUT_BATCH)
    } else {
        FLAT_OUT_BATCH
    };

    let start = sys::monotonic_ns();
    let cpu0 = sys::thread_cpu_ns();
    let deadline = start.saturating_add(u64::try_from(cfg.duration.as_nanos()).unwrap_or(u64::MAX));
    let mut report = TxReport::default();
    let mut seq: u64 = 0;
    let mut now = start;
    let mut pacer = Pacer::new(start, rate);
    while now < deadline && seq < count {
        let n = (count - seq).min(batch);
        now = pacer.wait(seq, deadline);
        if now >= deadline {
            break;
        }
        let mut attr = TestRunAttr {
            prog_fd: fd_u32(&prog)?,
            data_size_in: u32::try_from(template.len()).unwrap_or(0),
            data_in: template.as_ptr() as u64,
            repeat: u32::try_from(n).unwrap_or(1),
            flags: BPF_F_TEST_XDP_LIVE_FRAMES,
            ..TestRunAttr::default()
        };
        match sys_bpf(BPF_PROG_TEST_RUN, &mut attr) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("BPF_PROG_RUN: {e}"))),
        }
        // The program counts what it ran; an interrupted call may have run part of a batch.
        seq = u64::from_ne_bytes(map_load(&counter, 0)?);
        now = sys::monotonic_ns();
    }
    report.sent = seq;
    report.end_ns = now;
    report.elapsed_ns = now.saturating_sub(start);
    report.cpu_ns = sys::thread_cpu_ns().saturating_sub(cpu0);
    report.slipped_ns = pacer.slipped_ns;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every jump of the program lands inside it, on the drop path or just past the rewrites.
    #[test]
    fn jumps_land_inside_the_program() {
        let p = Params {
            counter: 3,
            flows: 4,
            nflows: 10,
            threads: 1,
            sender: 0,
            seq_base: 1 << 56,
            ifindex: 7,
        };
        let prog = program(&p);
        let len = prog.len() as i64;
        for (at, i) in prog.iter().enumerate() {
            if matches!(i.code, 0x15 | 0x2d | 0x05) {
                let target = at as i64 + 1 + i64::from(i.off);
                assert!((0..len).contains(&target), "jump at {at} to {target}");
                assert!(i.off > 0, "jump at {at} does not go forward");
            }
        }
        // The drop path returns XDP_DROP.
        let drop = prog.get(prog.len() - 2).map(|i| (i.code, i.imm));
        assert_eq!(drop, Some((0xb7, XDP_DROP)));
        // The sequence base is split over the two slots of its 64-bit load.
        assert!(prog.iter().any(|i| i.code == 0x18 && i.imm == 0));
        assert!(prog.iter().any(|i| i.code == 0 && i.imm == 1 << 24));
    }

    /// The per-flow entry carries the bytes the program copies, in wire order.
    #[test]
    fn flow_entries_are_the_template_bytes() {
        let f = build_frame(
            64,
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            FlowAddrs::of(258),
        );
        let e = flow_entry(&f);
        assert_eq!(&e[0..2], &[1, 2]); // 10.1.1.2
        assert_eq!(&e[2..4], &f[24..26]);
        assert_eq!(&e[4..6], &(10_258u16).to_be_bytes());
        assert_eq!(&e[6..8], &(5_258u16).to_be_bytes());
    }
}
