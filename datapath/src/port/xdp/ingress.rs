//! What the kernel ports (afxdp, afpacket) do to a received frame before the datapath sees
//! it: complete a partial checksum ([`csum`]), cut a TCP super-frame into MTU-sized segments
//! ([`gso`]), and deliver at most the batch size the caller asked for, keeping any surplus
//! segments for the next call.

use std::collections::VecDeque;

use super::{csum, gso};
use crate::packet::Packet;

/// Counters of the ingress fix-ups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngressStats {
    /// Frames whose partial TCP/UDP checksum was completed.
    pub csum_repaired: u64,
    /// TCP super-frames cut into segments.
    pub segmented: u64,
    /// Frames too long for the MTU that could not be segmented (not TCP), dropped.
    pub oversized_dropped: u64,
}

/// Per-port ingress state.
#[derive(Debug)]
pub struct Ingress {
    mtu: usize,
    csum_repair: bool,
    pending: VecDeque<Packet>,
    stats: IngressStats,
}

impl Ingress {
    /// Ingress for a port of `mtu`, repairing checksums if `csum_repair`.
    pub fn new(mtu: usize, csum_repair: bool) -> Ingress {
        Ingress {
            mtu,
            csum_repair,
            pending: VecDeque::new(),
            stats: IngressStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> IngressStats {
        self.stats
    }

    /// Moves up to `max` segments kept from an earlier call into `out`; returns how many.
    pub fn drain_pending(&mut self, out: &mut Vec<Packet>, max: usize) -> usize {
        let n = self.pending.len().min(max);
        out.extend(self.pending.drain(..n));
        n
    }

    /// Whether segments are waiting (the port must not report "nothing received" then).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Fixes up `pkt` and appends the resulting packet(s) to `out`, or to the pending queue
    /// once `out` holds `limit` packets. Returns how many packets went to `out`. A packet
    /// within the MTU is repaired in place and kept as it is (in its UMEM frame, for an afxdp
    /// port); the segments of a super-frame are new heap packets.
    pub fn accept(&mut self, mut pkt: Packet, out: &mut Vec<Packet>, limit: usize) -> usize {
        if gso::oversized(pkt.data(), self.mtu) {
            let before = out.len();
            let (mtu, pending) = (self.mtu, &mut self.pending);
            let cut = gso::segment(pkt.data(), mtu, |seg| {
                let seg = Packet::from_slice(seg);
                if out.len() < limit {
                    out.push(seg);
                } else {
                    pending.push_back(seg);
                }
            });
            match cut {
                Some(_) => self.stats.segmented += 1,
                None => self.stats.oversized_dropped += 1,
            }
            return out.len() - before;
        }
        if self.csum_repair && csum::repair(pkt.data_mut()) == csum::Repair::Repaired {
            self.stats.csum_repaired += 1;
        }
        out.push(pkt);
        1
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // small test values
mod tests {
    use super::*;

    fn tcp_frame(payload: usize) -> Vec<u8> {
        let mut f = vec![0u8; 54 + payload];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
        f[23] = 6;
        f[46] = 0x50;
        f
    }

    #[test]
    fn super_frames_are_cut_and_the_surplus_kept() {
        let mut ing = Ingress::new(1500, true);
        let mut out = Vec::new();
        let big = tcp_frame(20 * 1460);
        assert_eq!(ing.accept(Packet::from_slice(&big), &mut out, 8), 8);
        assert!(ing.has_pending());
        assert_eq!(ing.drain_pending(&mut out, 100), 12);
        assert!(!ing.has_pending());
        assert_eq!(out.len(), 20);
        assert!(out.iter().all(|p| p.len() == 1514));
        assert_eq!(ing.stats().segmented, 1);

        let small = tcp_frame(100);
        assert_eq!(ing.accept(Packet::from_slice(&small), &mut out, 64), 1);
        let mut udp = tcp_frame(3000);
        udp[23] = 17;
        assert_eq!(ing.accept(Packet::from_slice(&udp), &mut out, 64), 0);
        assert_eq!(ing.stats().oversized_dropped, 1);
        assert_eq!(out.len(), 21);
    }
}
