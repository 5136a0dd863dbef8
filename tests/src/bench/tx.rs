//! The sender: `AF_PACKET` raw socket, qdisc bypass, `sendmmsg(2)` in batches.
//!
//! Why this and not AF_XDP or a `PACKET_TX_RING`: on a veth the cost of a frame is in the
//! kernel (an skb per frame, the veth transmit, and whatever the peer runs), and `sendmmsg`
//! with `PACKET_QDISC_BYPASS` already pays one system call per batch; the copy of 66 bytes of
//! headers and probe per frame into a pre-zeroed slot is small next to that. `vsbench` is
//! compared with `trafgen` (which uses a TX ring) in docs/PERFORMANCE.md.
//!
//! Frames are built from per-flow templates: only the headers (42 bytes) and the probe (24
//! bytes) are written per frame, the padding stays zero in the slot. Flows are sent round
//! robin. At a target rate, each batch waits for its due time (sleeping when the wait is long,
//! spinning when short), and batches shrink so that a batch is at most ~20 µs of traffic.
//!
//! A run can be split over several sending threads ([`TxConfig::threads`], each with its own
//! socket, optionally pinned to a CPU): thread `t` of `n` sends every `n`-th frame's worth of
//! the rate and count, and flows `t, t + n, t + 2n, ...` (modulo the flow count), numbering its
//! frames from 0 with `t` in the top byte of the sequence number ([`Probe::SENDER_SHIFT`]).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use super::frame::{build_frame, FlowAddrs, Probe, PAYLOAD_OFFSET};
use super::sys;

/// What to send.
#[derive(Clone, Debug)]
pub struct TxConfig {
    /// Interface to send on (in the calling thread's namespace).
    pub iface: String,
    /// Destination MAC of every frame.
    pub dst_mac: [u8; 6],
    /// Frame size in bytes (without FCS).
    pub size: usize,
    /// Number of distinct flows, sent round robin (1..=65536).
    pub flows: u32,
    /// Target rate in frames per second; 0 sends as fast as the kernel takes them.
    pub rate: u64,
    /// Stop after this long...
    pub duration: Duration,
    /// ...or after this many frames, whichever comes first.
    pub count: u64,
    /// Frames per `sendmmsg` call (1..=1024).
    pub batch: usize,
    /// Run id written in every probe.
    pub run_id: u32,
    /// Number of sending threads (1..=8), each sending its [`Share`] of the run.
    pub threads: u32,
    /// CPUs to pin the sending threads to, thread `t` on `cpus[t % cpus.len()]`; empty: no
    /// pinning.
    pub cpus: Vec<usize>,
    /// How frames are made and sent.
    pub mode: TxMode,
}

/// How the sender makes and sends its frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TxMode {
    /// An `AF_PACKET` socket and `sendmmsg` (this module): works on any interface.
    #[default]
    Socket,
    /// The kernel builds the frames with an XDP program in `BPF_PROG_RUN` live-frame mode and
    /// redirects them out of the interface ([`xdptx`](super::xdptx)): no socket buffer per
    /// frame; needs Linux 5.18+ and a peer that accepts XDP frames.
    Xdp,
}

/// Most sending threads a run may use.
pub const MAX_THREADS: u32 = 8;

/// One sending thread's part of a run: thread `index` of `of`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// This thread's index, `0..of`.
    pub index: u32,
    /// How many threads share the run (at least 1).
    pub of: u32,
}

impl Share {
    /// The whole run, sent by one thread.
    pub const WHOLE: Share = Share { index: 0, of: 1 };

    /// This thread's part of `total` (frames or frames per second): the parts of all threads
    /// add up to `total` exactly.
    pub fn part(self, total: u64) -> u64 {
        let of = u128::from(self.of.max(1));
        let i = u128::from(self.index.min(self.of.max(1) - 1));
        let t = u128::from(total);
        let part = t * (i + 1) / of - t * i / of;
        u64::try_from(part).unwrap_or(total)
    }
}

/// What was sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct TxReport {
    /// Frames the kernel accepted.
    pub sent: u64,
    /// Frames the kernel refused (`sendmmsg` errors such as `ENOBUFS`).
    pub refused: u64,
    /// Wall time from the first to the end of the last call, in nanoseconds.
    pub elapsed_ns: u64,
    /// CPU time of the sending thread (user + system, including the softirq work the kernel
    /// did in its context), in nanoseconds.
    pub cpu_ns: u64,
    /// `CLOCK_MONOTONIC` when sending stopped.
    pub end_ns: u64,
    /// Time a paced sender fell behind its schedule and skipped rather than catch up with a
    /// burst (see [`Pacer`]), in nanoseconds.
    pub slipped_ns: u64,
}

impl TxReport {
    /// The report of a run whose threads reported `parts`: frames and CPU time added up,
    /// the wall time of the longest thread.
    pub fn merge(parts: &[TxReport]) -> TxReport {
        parts.iter().fold(TxReport::default(), |a, p| TxReport {
            sent: a.sent + p.sent,
            refused: a.refused + p.refused,
            elapsed_ns: a.elapsed_ns.max(p.elapsed_ns),
            cpu_ns: a.cpu_ns + p.cpu_ns,
            end_ns: a.end_ns.max(p.end_ns),
            slipped_ns: a.slipped_ns.max(p.slipped_ns),
        })
    }
}

/// Sends `share` of the frames `cfg` describes, in the calling thread's namespace (and on its
/// CPU, if `cfg.cpus` names one for this thread).
pub fn send(cfg: &TxConfig, share: Share) -> io::Result<TxReport> {
    if !cfg.cpus.is_empty() {
        let k = usize::try_from(share.index).unwrap_or(0) % cfg.cpus.len();
        if let Some(&cpu) = cfg.cpus.get(k) {
            sys::pin_to_cpu(cpu)?;
        }
    }
    let rate = share.part(cfg.rate);
    let count = share.part(cfg.count);
    let threads = u64::from(share.of.max(1));
    let index = u64::from(share.index);
    let seq_base = index << Probe::SENDER_SHIFT;
    let ifindex = sys::ifindex(&cfg.iface)?;
    let src_mac = sys::mac_address(&cfg.iface)?;
    let fd = sys::packet_socket(ifindex, false)?;
    // Straight to the driver: no qdisc, as a switch port would not have one either. Older
    // kernels lack the option; sending still works without it.
    let _ = sys::setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &1i32);
    let sndbuf = 4i32 << 20;
    let _ = sys::setsockopt(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &sndbuf);

    let flows = cfg.flows.clamp(1, 65_536);
    let templates: Vec<Vec<u8>> = (0..flows)
        .map(|i| build_frame(cfg.size, src_mac, cfg.dst_mac, FlowAddrs::of(i)))
        .collect();
    let frame_len = templates.first().map_or(0, Vec::len);
    let mut batch = cfg.batch.clamp(1, 1024);
    if rate > 0 {
        // ~20 µs of traffic per batch, so pacing stays smooth at low rates.
        let per_20us = usize::try_from(rate / 50_000).unwrap_or(usize::MAX);
        batch = batch.min(per_20us.max(1));
    }
    let mut slots = vec![vec![0u8; frame_len]; batch];
    let mut sender = Batch::new(&fd, ifindex, &mut slots);

    let start = sys::monotonic_ns();
    let cpu0 = sys::thread_cpu_ns();
    let deadline = start.saturating_add(u64::try_from(cfg.duration.as_nanos()).unwrap_or(u64::MAX));
    let mut report = TxReport::default();
    let mut seq: u64 = 0;
    let mut now = start;
    let mut pacer = Pacer::new(start, rate);
    while now < deadline && seq < count {
        let n = usize::try_from((count - seq).min(batch as u64)).unwrap_or(batch);
        now = pacer.wait(seq, deadline);
        if now >= deadline {
            break;
        }
        for k in 0..n {
            let i = seq + k as u64;
            let flow = i.wrapping_mul(threads).wrapping_add(index) % u64::from(flows);
            let template = templates
                .get(usize::try_from(flow).unwrap_or(0))
                .map_or(&[][..], Vec::as_slice);
            let probe = Probe {
                run_id: cfg.run_id,
                seq: seq_base | i,
                tx_ns: now,
            };
            sender.fill(k, template, probe);
        }
        let sent = sender.send(n)?;
        report.sent += sent as u64;
        report.refused += (n - sent) as u64;
        seq += n as u64;
        now = sys::monotonic_ns();
    }
    report.end_ns = now;
    report.elapsed_ns = now.saturating_sub(start);
    report.cpu_ns = sys::thread_cpu_ns().saturating_sub(cpu0);
    report.slipped_ns = pacer.slipped_ns;
    Ok(report)
}

/// Waits until `due` (monotonic ns) and returns the time then.
/// How late a paced sender may fall behind its schedule and still catch up (sending the
/// frames it owes at once, faster than the rate): 200 µs, a burst of at most 200 frames at 1M
/// frames/s, well inside any switch's receive ring.
pub const MAX_LAG_NS: u64 = 200_000;

/// Paces a sender at a constant rate: frame `seq` is due `seq / rate` seconds after the
/// schedule's origin. A sender that falls further behind than [`MAX_LAG_NS`] (descheduled, or
/// slower than the rate for a while) does not make up for it in a burst at its full speed:
/// that would test the switch's receive ring against a generator stall rather than its rate
/// (RFC 2544 offers a constant rate). The schedule moves on to the present instead, and the
/// time skipped is reported as the run's slip (the frames that were not sent show in the
/// offered rate).
#[derive(Debug)]
pub(crate) struct Pacer {
    origin: u64,
    rate: u64,
    /// Time skipped by moving the schedule, in nanoseconds.
    pub slipped_ns: u64,
}

impl Pacer {
    /// A schedule of `rate` frames a second from `start` (0: no pacing).
    pub(crate) fn new(start: u64, rate: u64) -> Pacer {
        Pacer {
            origin: start,
            rate,
            slipped_ns: 0,
        }
    }

    /// Waits until frame `seq` is due, or `deadline` if earlier, and returns the time (at once
    /// when not pacing).
    pub(crate) fn wait(&mut self, seq: u64, deadline: u64) -> u64 {
        let Some(offset) = seq.saturating_mul(1_000_000_000).checked_div(self.rate) else {
            return sys::monotonic_ns();
        };
        let due = self.origin.saturating_add(offset);
        let now = sys::monotonic_ns();
        if now > due.saturating_add(MAX_LAG_NS) {
            let late = now - due;
            self.origin = self.origin.saturating_add(late);
            self.slipped_ns = self.slipped_ns.saturating_add(late);
            return now;
        }
        wait_until(due.min(deadline))
    }
}

fn wait_until(due: u64) -> u64 {
    loop {
        let now = sys::monotonic_ns();
        if now >= due {
            return now;
        }
        let wait = due - now;
        if wait > 100_000 {
            std::thread::sleep(Duration::from_nanos(wait - 50_000));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// The message vectors of one `sendmmsg` call, pointing into the frame slots.
struct Batch<'a> {
    fd: &'a OwnedFd,
    slots: &'a mut [Vec<u8>],
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    addr: Box<libc::sockaddr_ll>,
}

impl<'a> Batch<'a> {
    fn new(fd: &'a OwnedFd, ifindex: i32, slots: &'a mut [Vec<u8>]) -> Batch<'a> {
        // SAFETY: sockaddr_ll is a plain C struct for which all-zero bytes are a valid value.
        let mut addr: Box<libc::sockaddr_ll> = Box::new(unsafe { std::mem::zeroed() });
        addr.sll_family = sys::AF_PACKET_FAMILY;
        addr.sll_ifindex = ifindex;
        addr.sll_halen = 6;
        let iovs = slots
            .iter_mut()
            .map(|s| libc::iovec {
                iov_base: s.as_mut_ptr().cast(),
                iov_len: s.len(),
            })
            .collect::<Vec<_>>();
        let mut b = Batch {
            fd,
            slots,
            iovs,
            msgs: Vec::new(),
            addr,
        };
        let addr_ptr: *mut libc::sockaddr_ll = &mut *b.addr;
        b.msgs = b
            .iovs
            .iter()
            .map(|_| {
                // SAFETY: msghdr is a plain C struct for which all-zero bytes are valid.
                let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
                hdr.msg_name = addr_ptr.cast();
                hdr.msg_namelen = sys::socklen::<libc::sockaddr_ll>();
                // Set per call in `send`, from fresh pointers.
                hdr.msg_iov = std::ptr::null_mut();
                hdr.msg_iovlen = 1;
                libc::mmsghdr {
                    msg_hdr: hdr,
                    msg_len: 0,
                }
            })
            .collect();
        b
    }

    /// Writes the headers of `template` and `probe` into slot `k`.
    fn fill(&mut self, k: usize, template: &[u8], probe: Probe) {
        if let Some(slot) = self.slots.get_mut(k) {
            if let (Some(dst), Some(src)) = (
                slot.get_mut(..PAYLOAD_OFFSET),
                template.get(..PAYLOAD_OFFSET),
            ) {
                dst.copy_from_slice(src);
            }
            if let Some(payload) = slot.get_mut(PAYLOAD_OFFSET..) {
                probe.write(payload);
            }
        }
    }

    /// Sends slots `0..n`; returns how many the kernel took. Transient refusals (`ENOBUFS`,
    /// `EAGAIN`) count as 0 sent, other errors are returned.
    fn send(&mut self, n: usize) -> io::Result<usize> {
        let n = n
            .min(self.msgs.len())
            .min(self.slots.len())
            .min(self.iovs.len());
        // The pointers are taken afresh after `fill` wrote the slots through references, so
        // none of them is stale in the aliasing model.
        for (iov, slot) in self.iovs.iter_mut().zip(self.slots.iter_mut()).take(n) {
            *iov = libc::iovec {
                iov_base: slot.as_mut_ptr().cast(),
                iov_len: slot.len(),
            };
        }
        let iov_base = self.iovs.as_mut_ptr();
        for (k, msg) in self.msgs.iter_mut().take(n).enumerate() {
            // SAFETY: k < n <= iovs.len(): the offset stays inside the iovs allocation.
            msg.msg_hdr.msg_iov = unsafe { iov_base.add(k) };
        }
        let vlen = libc::c_uint::try_from(n).unwrap_or(0);
        // SAFETY: `msgs[..n]` are initialised mmsghdrs whose iovecs (just set) point into
        // `slots`, alive and unmoved while borrowed by `self`, and whose names point to the boxed
        // `addr`; the kernel only reads them and writes `msg_len`.
        let rc = unsafe { libc::sendmmsg(self.fd.as_raw_fd(), self.msgs.as_mut_ptr(), vlen, 0) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOBUFS) | Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(0),
                _ => Err(io::Error::new(e.kind(), format!("sendmmsg: {e}"))),
            };
        }
        Ok(usize::try_from(rc).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_far_behind_moves_its_schedule_instead_of_bursting() {
        let rate = 1_000_000; // a frame a microsecond
        let mut p = Pacer::new(sys::monotonic_ns().saturating_sub(10_000_000), rate);
        // Frame 0 was due 10 ms ago: sent at once, the 10 ms skipped.
        p.wait(0, u64::MAX);
        assert!(p.slipped_ns >= 10_000_000, "{p:?}");
        let skipped = p.slipped_ns;
        // Frame 1000 is then due 1 ms after the new origin, not at once.
        let t = p.wait(1000, u64::MAX);
        assert!(t >= p.origin + 1_000_000, "{p:?} at {t}");
        assert_eq!(p.slipped_ns, skipped);
    }

    #[test]
    fn a_sender_on_schedule_waits_and_skips_nothing() {
        let start = sys::monotonic_ns() + 1_000_000;
        let mut p = Pacer::new(start, 1000);
        assert!(p.wait(0, u64::MAX) >= start);
        assert_eq!(p.slipped_ns, 0);
        // A deadline before the due time ends the wait at the deadline.
        let deadline = sys::monotonic_ns() + 1_000_000;
        let t = p.wait(500, deadline);
        assert!(t >= deadline && t < start + 500_000_000, "{t}");
        // Not pacing: never waits.
        let mut flat = Pacer::new(start, 0);
        let before = sys::monotonic_ns();
        assert!(flat.wait(1 << 40, u64::MAX) < before + 100_000_000);
        assert_eq!(flat.slipped_ns, 0);
    }
}
