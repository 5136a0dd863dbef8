//! The sink: an `AF_PACKET` socket with a `TPACKET_V3` receive ring. Behind the XDP counter
//! ([`xdprx`](super::xdprx), the default) it sees only the counter's sample of the run's
//! frames (and every frame that is not ours); alone, it sees and counts them all.
//!
//! The kernel writes frames into blocks of a memory-mapped ring and hands over a whole block at
//! a time (when it is full or after a 2 ms timeout), so the sink makes no system call per frame
//! and sleeps in poll(2) only when no block is ready. For every frame the sink reads the probe
//! (see `frame`), counts it if it carries our run id, and records its one-way latency: the kernel stamps
//! each frame as the socket receives it (realtime clock, converted to the monotonic clock of
//! the probes), so the block timeout does not inflate it. Frames the socket could not queue are reported by
//! the kernel (`PACKET_STATISTICS`), so loss at the sink is told apart from loss in the switch.
//!
//! Ring layout (linux/if_packet.h, TPACKET_V3): each block starts with a descriptor whose
//! `block_status` (u32 at byte 8) has `TP_STATUS_USER` while user space owns the block,
//! `num_pkts` (u32 at 12) and `offset_to_first_pkt` (u32 at 16). Each frame has a
//! `tpacket3_hdr`: `tp_next_offset` (u32 at 0), `tp_sec`/`tp_nsec` (u32 at 4 and 8),
//! `tp_snaplen` (u32 at 12), `tp_mac` (u16 at 24,
//! the frame's offset from its header). The offsets are read through bounds-checked helpers.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::frame::Probe;
use super::hist::Histogram;
use super::sys;

const BLOCK_SIZE: usize = 1 << 20;
const BLOCK_NR: usize = 32;
// The same, as the kernel's request wants them.
const BLOCK_SIZE_U32: u32 = 1 << 20;
const BLOCK_NR_U32: u32 = 32;
/// Nominal frame slot size (V3 packs frames by their length; this bounds the largest).
const FRAME_SIZE_U32: u32 = 2048;
/// Maximum time the kernel holds a partly filled block, in ms.
const BLOCK_TIMEOUT_MS: u32 = 2;

/// What was received.
#[derive(Clone, Debug, Default)]
pub struct RxReport {
    /// Frames of this run (counted by the XDP counter, if the sink has one, else by the
    /// socket).
    pub received: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Frames of this run the socket saw: all of them, or the XDP counter's sample. The
    /// latency and order figures are over these.
    pub sampled: u64,
    /// Other frames seen on the interface (not ours, or of another run).
    pub foreign: u64,
    /// Frames whose sequence number was not above the highest seen before from the same
    /// sending thread (reordered or duplicated).
    pub out_of_order: u64,
    /// Frames the kernel dropped because the ring was full.
    pub ring_drops: u64,
    /// One-way latency of every sampled frame, in nanoseconds.
    pub latency: Histogram,
    /// CPU time of the receiving thread, in nanoseconds.
    pub cpu_ns: u64,
}

/// A bound socket with its ring mapped.
#[derive(Debug)]
pub struct Sink {
    fd: OwnedFd,
    ring: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by the Sink alone and only accessed through &mut self.
unsafe impl Send for Sink {}

impl Sink {
    /// Opens a sink on interface `iface` of the calling thread's namespace.
    pub fn open(iface: &str) -> io::Result<Sink> {
        let ifindex = sys::ifindex(iface)?;
        let fd = sys::packet_socket(ifindex, true)?;
        let _ = sys::setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &1i32);
        let version = libc::tpacket_versions::TPACKET_V3 as i32;
        sys::setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_VERSION, &version)?;
        let req = libc::tpacket_req3 {
            tp_block_size: BLOCK_SIZE_U32,
            tp_block_nr: BLOCK_NR_U32,
            tp_frame_size: FRAME_SIZE_U32,
            tp_frame_nr: BLOCK_SIZE_U32 / FRAME_SIZE_U32 * BLOCK_NR_U32,
            tp_retire_blk_tov: BLOCK_TIMEOUT_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        sys::setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        let len = BLOCK_SIZE * BLOCK_NR;
        // SAFETY: mapping the socket's ring, of the size just configured; the kernel validates
        // the length. The mapping is released in Drop.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Sink {
            fd,
            ring: ring.cast(),
            len,
        })
    }

    /// Resets the socket's drop counter (reading the statistics clears them). Frames that
    /// arrived since `open` stay in the ring and are counted as foreign unless of this run: the
    /// ring must be read from block 0 in order, as the kernel fills it.
    pub fn reset_drops(&mut self) {
        let _ = self.ring_drops();
    }

    /// Receives until `stop` (a monotonic time in ns, which another thread may move) has
    /// passed, counting frames of run `run_id`.
    pub fn run(&mut self, run_id: u32, stop: &AtomicU64) -> RxReport {
        let cpu0 = sys::thread_cpu_ns();
        let offset = sys::realtime_to_monotonic();
        let mut report = RxReport::default();
        let mut block = 0usize;
        // The highest sequence number seen from each sending thread (by `Probe::sender`).
        let mut max_seq = [None::<u64>; 256];
        loop {
            let now = sys::monotonic_ns();
            if now >= stop.load(Ordering::Acquire) {
                break;
            }
            if !self.block_ready(block) {
                let mut pfd = libc::pollfd {
                    fd: self.fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: poll(2) on one valid pollfd we own.
                unsafe { libc::poll(&mut pfd, 1, 10) };
                continue;
            }
            self.take_block_seq(block, run_id, offset, &mut report, &mut max_seq);
            block = (block + 1) % BLOCK_NR;
        }
        report.ring_drops = self.ring_drops();
        report.cpu_ns = sys::thread_cpu_ns().saturating_sub(cpu0);
        report
    }

    fn status(&self, block: usize) -> &AtomicU32 {
        let off = block * BLOCK_SIZE + 8;
        debug_assert!(off + 4 <= self.len);
        // SAFETY: `off` is inside the mapping (block < BLOCK_NR) and 4-aligned (blocks are
        // page-aligned); the kernel and we access block_status only as an aligned u32, and the
        // atomic gives the acquire/release ordering the ring protocol needs.
        unsafe { &*self.ring.add(off).cast::<AtomicU32>() }
    }

    fn block_ready(&self, block: usize) -> bool {
        self.status(block).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// The bytes of block `block`, valid while user space owns it.
    fn block_bytes(&self, block: usize) -> &[u8] {
        // SAFETY: the block lies inside the mapping; the caller checked TP_STATUS_USER, so the
        // kernel does not write it until we hand it back.
        unsafe { std::slice::from_raw_parts(self.ring.add(block * BLOCK_SIZE), BLOCK_SIZE) }
    }

    /// Counts the frames of a block user space owns and hands it back; `offset` turns the
    /// kernel's receive timestamps (realtime) into monotonic time.
    fn take_block_seq(
        &mut self,
        block: usize,
        run_id: u32,
        offset: u64,
        report: &mut RxReport,
        max_seq: &mut [Option<u64>; 256],
    ) {
        let bytes = self.block_bytes(block);
        let num = read_u32(bytes, 12).unwrap_or(0);
        let mut off = read_u32(bytes, 16).unwrap_or(0) as usize;
        for _ in 0..num {
            let (Some(next), Some(sec), Some(nsec), Some(snaplen), Some(mac)) = (
                read_u32(bytes, off),
                read_u32(bytes, off + 4),
                read_u32(bytes, off + 8),
                read_u32(bytes, off + 12),
                read_u16(bytes, off + 24),
            ) else {
                break;
            };
            let rx_ns = (u64::from(sec) * 1_000_000_000 + u64::from(nsec)).wrapping_add(offset);
            let start = off + mac as usize;
            let frame = bytes.get(start..start + snaplen as usize).unwrap_or(&[]);
            match Probe::parse(frame) {
                Some(p) if p.run_id == run_id => {
                    report.received += 1;
                    report.sampled += 1;
                    report.bytes += frame.len() as u64;
                    report.latency.record(rx_ns.saturating_sub(p.tx_ns));
                    if let Some(max) = max_seq.get_mut(usize::from(p.sender())) {
                        match *max {
                            Some(m) if p.seq <= m => report.out_of_order += 1,
                            _ => *max = Some(p.seq),
                        }
                    }
                }
                _ => report.foreign += 1,
            }
            if next == 0 {
                break;
            }
            off += next as usize;
        }
        self.status(block)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }

    /// Frames dropped since the last call (reading the statistics resets them).
    fn ring_drops(&self) -> u64 {
        let mut stats = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = sys::socklen::<libc::tpacket_stats_v3>();
        // SAFETY: getsockopt writes at most `len` bytes into `stats`, which we own.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut stats as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            u64::from(stats.tp_drops)
        } else {
            0
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mapped in `open`; no reference into it outlives
        // `self`.
        unsafe { libc::munmap(self.ring.cast(), self.len) };
    }
}

fn read_u32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn read_u16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}
