//! The sink's XDP counter (`--sink xdp`): counts the frames of the run where they arrive and
//! drops them, passing only a sample of them (and every frame that is not ours) on to the
//! `AF_PACKET` sink ([`rx`](super::rx)) for latency and order.
//!
//! Why: a veth delivers what a switch transmits on the CPU that transmits it. With the
//! `AF_PACKET` sink alone, every forwarded frame then costs the switch's core a socket buffer's
//! trip through the sink's network stack and packet socket (`perf` on the PMD thread of ours
//! and of Open vSwitch on the benchmark machine: `process_backlog` and below, with
//! `tpacket_rcv`, were about 40% of the thread's samples), so the benchmark charged the
//! sink's work to the switches and compressed their differences. This program, attached to
//! the sink's interface in native mode, drops the frames before any socket buffer work.
//!
//! The program (hand-assembled, as the sender's; no clang or libbpf):
//!
//! ```text
//! if data + 66 > data_end: return XDP_PASS        ; too short to be ours
//! if not IPv4 (no options) / UDP: return XDP_PASS
//! if probe.magic != "VSBN" or probe.run_id != RUN: return XDP_PASS
//! c = counters[0]                                  ; an ARRAY map: frames, bytes
//! atomically c.frames += 1, c.bytes += data_end - data
//! if probe.seq & SAMPLE_MASK == 0: return XDP_PASS ; the sample the socket sink sees
//! return XDP_DROP
//! ```
//!
//! The sequence numbers the senders write decide the sample, so it is a fixed share of what
//! was sent (1 in `sample`), spread evenly over the run, and the sink's order check still sees
//! every sampled frame of each sender in order.

use std::io;
use std::os::fd::OwnedFd;

use datapath::port::afxdp::xdp::bpf_sys::{insn, Insn, BPF_PSEUDO_MAP_FD};

use super::bpf::{
    array_map, attach_xdp, fd_i32, load_xdp, map_load, FUNC_MAP_LOOKUP_ELEM, XDP_DROP,
    XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE, XDP_PASS,
};
use super::frame::{Probe, ETH_LEN, PAYLOAD_OFFSET};
use super::sys;

// The offsets below are small constants; this stops the build if the casts ever truncated.
const _: () = assert!(PAYLOAD_OFFSET + 16 <= 0x7fff);
/// Bytes the program reads: headers and the probe's magic, run id and sequence number.
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
const NEEDED: i32 = (PAYLOAD_OFFSET + 16) as i32;
/// Offsets in the frame.
const OFF_ETH_TYPE: i16 = 12;
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
const OFF_IP_VHL: i16 = ETH_LEN as i16;
const OFF_IP_PROTO: i16 = OFF_IP_VHL + 9;
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
const OFF_MAGIC: i16 = PAYLOAD_OFFSET as i16;
const OFF_RUN_ID: i16 = OFF_MAGIC + 4;
/// The sequence number's least significant byte (it is big-endian, at probe offset 8).
const OFF_SEQ_LOW: i16 = OFF_MAGIC + 15;

/// The most frames of which one is sampled (the mask must fit the sequence's low byte).
pub const MAX_SAMPLE: u32 = 256;

/// The counter program attached to the sink's interface; detached when dropped.
#[derive(Debug)]
pub struct XdpCounter {
    counters: OwnedFd,
    _link: OwnedFd,
    /// Whether the program runs natively (else in generic mode).
    pub native: bool,
}

/// What the counter has seen of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Frames of the run.
    pub frames: u64,
    /// Their bytes (Ethernet header to the end of the payload).
    pub bytes: u64,
}

impl XdpCounter {
    /// Attaches the counter for run `run_id` to `iface` in the calling thread's namespace,
    /// passing one frame in `sample` (a power of two up to [`MAX_SAMPLE`]) on to the stack.
    pub fn attach(iface: &str, run_id: u32, sample: u32) -> io::Result<XdpCounter> {
        if !sample.is_power_of_two() || sample > MAX_SAMPLE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the sample must be a power of two up to {MAX_SAMPLE}, not {sample}"),
            ));
        }
        let ifindex = u32::try_from(sys::ifindex(iface)?)
            .map_err(|_| io::Error::other("negative interface index"))?;
        let counters = array_map(16, 1)?;
        let prog = load_xdp(
            "vsbench_rx",
            &program(fd_i32(&counters), run_id, sample - 1),
        )?;
        let (link, native) = match attach_xdp(&prog, ifindex, XDP_FLAGS_DRV_MODE) {
            Ok(link) => (link, true),
            Err(_) => (
                attach_xdp(&prog, ifindex, XDP_FLAGS_SKB_MODE).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("attaching the sink's counter to {iface}: {e}"),
                    )
                })?,
                false,
            ),
        };
        Ok(XdpCounter {
            counters,
            _link: link,
            native,
        })
    }

    /// The counts so far.
    pub fn counts(&self) -> io::Result<Counts> {
        let v: [u8; 16] = map_load(&self.counters, 0)?;
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(v.get(i * 8..i * 8 + 8).unwrap_or(&[0; 8]));
            u64::from_ne_bytes(w)
        };
        Ok(Counts {
            frames: word(0),
            bytes: word(1),
        })
    }
}

/// Assembles the program of the module documentation.
fn program(counters: i32, run_id: u32, sample_mask: u32) -> Vec<Insn> {
    // Codes: LDX W/H/B (0x61 0x69 0x71); ALU64 mov/add/sub/and (0xb7 0x07 0xbf 0x1f 0x57);
    // JMP32 JNE K (0x56: compares the low 32 bits, so no immediate is sign-extended); JGT X
    // (0x2d); JEQ K (0x15); STX W (0x63); atomic add DW (0xdb, imm 0); LD_IMM64 (0x18, two
    // slots); CALL (0x85); EXIT (0x95).
    // The wire bytes of the magic and the run id, as a little-endian 32-bit load sees them.
    let wire = |v: u32| i32::from_ne_bytes(v.to_be_bytes());
    let mask = i32::try_from(sample_mask).unwrap_or(0);
    let mut v = vec![
        insn(0x61, 2, 1, 0, 0), // r2 = data
        insn(0x61, 3, 1, 4, 0), // r3 = data_end
        insn(0xbf, 4, 2, 0, 0),
        insn(0x07, 4, 0, 0, NEEDED),
        insn(0x2d, 4, 3, 0, 0), // 4: if data + NEEDED > data_end goto pass
        insn(0x69, 4, 2, OFF_ETH_TYPE, 0),
        insn(0x56, 4, 0, 0, i32::from(u16::from_ne_bytes([0x08, 0x00]))), // 6: IPv4
        insn(0x71, 4, 2, OFF_IP_VHL, 0),
        insn(0x56, 4, 0, 0, 0x45), // 8: version 4, no options
        insn(0x71, 4, 2, OFF_IP_PROTO, 0),
        insn(0x56, 4, 0, 0, 17), // 10: UDP
        insn(0x61, 4, 2, OFF_MAGIC, 0),
        insn(0x56, 4, 0, 0, wire(Probe::MAGIC)), // 12
        insn(0x61, 4, 2, OFF_RUN_ID, 0),
        insn(0x56, 4, 0, 0, wire(run_id)), // 14
        insn(0xbf, 6, 3, 0, 0),            // r6 = data_end - data: the frame's length
        insn(0x1f, 6, 2, 0, 0),
        insn(0x71, 7, 2, OFF_SEQ_LOW, 0), // r7 = seq & mask
        insn(0x57, 7, 0, 0, mask),
        insn(0xb7, 1, 0, 0, 0), // key 0
        insn(0x63, 10, 1, -4, 0),
        insn(0xbf, 2, 10, 0, 0),
        insn(0x07, 2, 0, 0, -4),
        insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, counters),
        insn(0, 0, 0, 0, 0),
        insn(0x85, 0, 0, 0, FUNC_MAP_LOOKUP_ELEM),
        insn(0x15, 0, 0, 0, 0), // 26: if r0 == 0 goto pass
        insn(0xb7, 1, 0, 0, 1),
        insn(0xdb, 0, 1, 0, 0), // frames += 1
        insn(0xdb, 0, 6, 8, 0), // bytes += length
        insn(0x15, 7, 0, 0, 0), // 30: sampled: goto pass
        insn(0xb7, 0, 0, 0, XDP_DROP),
        insn(0x95, 0, 0, 0, 0),
    ];
    let pass_at = v.len();
    v.push(insn(0xb7, 0, 0, 0, XDP_PASS));
    v.push(insn(0x95, 0, 0, 0, 0));
    for at in [4usize, 6, 8, 10, 12, 14, 26, 30] {
        let off = i16::try_from(pass_at - at - 1).unwrap_or(0);
        if let Some(i) = v.get_mut(at) {
            i.off = off;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every jump goes forward to the pass path; the drop path returns XDP_DROP.
    #[test]
    fn jumps_land_on_the_pass_path() {
        let prog = program(5, 0x8000_0001, 63);
        let len = prog.len();
        let pass = len - 2;
        assert_eq!(
            prog.get(pass).map(|i| (i.code, i.imm)),
            Some((0xb7, XDP_PASS))
        );
        assert_eq!(
            prog.get(pass - 2).map(|i| (i.code, i.imm)),
            Some((0xb7, XDP_DROP))
        );
        let mut jumps = 0;
        for (at, i) in prog.iter().enumerate() {
            if matches!(i.code, 0x15 | 0x2d | 0x56) {
                jumps += 1;
                assert_eq!(
                    at + 1 + usize::try_from(i.off).unwrap_or(0),
                    pass,
                    "jump at {at}"
                );
            }
        }
        assert_eq!(jumps, 8);
    }

    /// The run id and magic are compared as the wire bytes a little-endian load sees, whole
    /// (a run id with its top bit set is not sign-extended by the 32-bit compare).
    #[test]
    fn compares_the_wire_bytes() {
        let prog = program(5, 0x8000_0001, 63);
        let imm = |at: usize| prog.get(at).map(|i| i.imm);
        assert_eq!(imm(14), Some(i32::from_ne_bytes([0x80, 0, 0, 1])));
        assert_eq!(imm(12), Some(i32::from_ne_bytes(*b"VSBN")));
        assert_eq!(imm(18), Some(63));
    }
}
