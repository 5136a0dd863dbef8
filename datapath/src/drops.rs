//! Named drop reasons and their counters.
//!
//! Every packet the datapath does not forward is counted under exactly one reason per copy: a
//! packet dropped as a whole (a parse error, a translation that drops, a shed upcall) counts
//! once; an output copy that cannot be sent (MTU, full ring, a vanished port) counts once per
//! copy. The names are stable: `ofctl dump-drops` and the metrics show them.
//!
//! Most reasons are counted by the PMD threads. A few happen below the datapath, in a port or
//! in the kernel before the datapath sees the frame (an AF_XDP socket's full rx ring, an
//! oversized frame): each port keeps those totals itself ([`crate::port::Port::port_drops`]),
//! and the datapath adds them in when it reports.

use std::sync::atomic::{AtomicU64, Ordering};

use flowtable::pipeline::DropReason as XlateDrop;

/// Why the datapath dropped a packet (or an output copy of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Drop {
    /// The frame is shorter than an Ethernet header.
    ParseError,
    /// No rule matched in a table.
    TableMiss,
    /// The rules' actions send the packet nowhere.
    NoOutput,
    /// `dec_ttl` found a TTL of 0 or 1.
    TtlExpired,
    /// Resubmits nested too deep.
    ResubmitDepth,
    /// Resubmits looped.
    ResubmitLoop,
    /// The packet carried an unknown recirculation ID.
    UnknownRecirc,
    /// No recirculation ID was left to allocate.
    RecircExhausted,
    /// A packet recirculated more times than the datapath allows.
    RecircDepth,
    /// An output copy was larger than the output port's MTU.
    MtuExceeded,
    /// The output port took fewer packets than it was given (tx ring full).
    TxRingFull,
    /// The output port reported an error on send.
    TxError,
    /// The output port is not (or no longer) in the datapath.
    PortDown,
    /// A miss beyond the per-port upcall rate limit.
    UpcallShed,
    /// A `ct` action: connection tracking is not implemented in this datapath yet.
    CtUnsupported,
    /// A packet-in beyond the controller rate limit.
    ControllerRateLimited,
    /// A packet-in that found the controller queue full.
    ControllerQueueFull,
    /// A received frame longer than the port's MTU that could not be segmented (or longer
    /// than its receive buffer), dropped by the port before the datapath saw it.
    RxOversized,
    /// The kernel found an AF_XDP socket's rx ring full and dropped the frame: the PMD thread
    /// fell behind its port (the socket's `XDP_STATISTICS`).
    XskRxRingFull,
    /// The kernel dropped a frame for an AF_XDP socket for another reason: no free UMEM frame
    /// in the fill ring, or a frame larger than a UMEM frame (`XDP_STATISTICS`).
    XskRxDropped,
    /// Descriptors the kernel found invalid on an AF_XDP socket's rx or tx ring.
    XskInvalidDesc,
}

impl Drop {
    /// Every reason, in counter order.
    pub const ALL: [Drop; 21] = [
        Drop::ParseError,
        Drop::TableMiss,
        Drop::NoOutput,
        Drop::TtlExpired,
        Drop::ResubmitDepth,
        Drop::ResubmitLoop,
        Drop::UnknownRecirc,
        Drop::RecircExhausted,
        Drop::RecircDepth,
        Drop::MtuExceeded,
        Drop::TxRingFull,
        Drop::TxError,
        Drop::PortDown,
        Drop::UpcallShed,
        Drop::CtUnsupported,
        Drop::ControllerRateLimited,
        Drop::ControllerQueueFull,
        Drop::RxOversized,
        Drop::XskRxRingFull,
        Drop::XskRxDropped,
        Drop::XskInvalidDesc,
    ];

    /// Number of reasons.
    pub const COUNT: usize = Drop::ALL.len();

    /// The reason's counter name.
    pub fn name(self) -> &'static str {
        match self {
            Drop::ParseError => "parse_error",
            Drop::TableMiss => "table_miss",
            Drop::NoOutput => "no_output",
            Drop::TtlExpired => "ttl_expired",
            Drop::ResubmitDepth => "resubmit_depth",
            Drop::ResubmitLoop => "resubmit_loop",
            Drop::UnknownRecirc => "unknown_recirc",
            Drop::RecircExhausted => "recirc_exhausted",
            Drop::RecircDepth => "recirc_depth",
            Drop::MtuExceeded => "mtu_exceeded",
            Drop::TxRingFull => "tx_ring_full",
            Drop::TxError => "tx_error",
            Drop::PortDown => "port_down",
            Drop::UpcallShed => "upcall_shed",
            Drop::CtUnsupported => "ct_unsupported",
            Drop::ControllerRateLimited => "controller_rate_limited",
            Drop::ControllerQueueFull => "controller_queue_full",
            Drop::RxOversized => "rx_oversized",
            Drop::XskRxRingFull => "xsk_rx_ring_full",
            Drop::XskRxDropped => "xsk_rx_dropped",
            Drop::XskInvalidDesc => "xsk_invalid_desc",
        }
    }

    /// Whether the reason is about an output copy (counted as a tx drop of the output port)
    /// rather than the received packet (an rx drop of the input port).
    pub fn is_tx(self) -> bool {
        matches!(self, Drop::MtuExceeded | Drop::TxRingFull | Drop::TxError)
    }
}

impl From<XlateDrop> for Drop {
    fn from(r: XlateDrop) -> Drop {
        match r {
            XlateDrop::TableMiss => Drop::TableMiss,
            XlateDrop::NoOutput => Drop::NoOutput,
            XlateDrop::TtlExpired => Drop::TtlExpired,
            XlateDrop::ResubmitDepth => Drop::ResubmitDepth,
            XlateDrop::ResubmitLoop => Drop::ResubmitLoop,
            XlateDrop::UnknownRecirc => Drop::UnknownRecirc,
            XlateDrop::RecircExhausted => Drop::RecircExhausted,
        }
    }
}

/// Drop counts of one thread, added to the shared [`DropCounters`] once per PMD iteration.
#[derive(Clone, Debug, Default)]
pub struct LocalDrops([u64; Drop::COUNT]);

impl LocalDrops {
    /// Counts `n` drops for `reason`.
    #[inline]
    pub fn add(&mut self, reason: Drop, n: u64) {
        if let Some(c) = self.0.get_mut(reason as usize) {
            *c += n;
        }
    }

    /// The count for `reason`.
    pub fn get(&self, reason: Drop) -> u64 {
        self.0.get(reason as usize).copied().unwrap_or(0)
    }

    /// Whether every count is zero.
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|c| *c == 0)
    }
}

/// Drop counts shared by every thread of a datapath.
#[derive(Debug, Default)]
pub struct DropCounters([AtomicU64; Drop::COUNT]);

impl DropCounters {
    /// Adds the local counts and zeroes them.
    pub fn absorb(&self, local: &mut LocalDrops) {
        for (shared, n) in self.0.iter().zip(local.0.iter_mut()) {
            if *n != 0 {
                // Relaxed: statistics only.
                shared.fetch_add(*n, Ordering::Relaxed);
                *n = 0;
            }
        }
    }

    /// Every reason with its count plus the count in `extra`, zero ones included.
    pub fn snapshot_with(&self, extra: &LocalDrops) -> Vec<(&'static str, u64)> {
        Drop::ALL
            .iter()
            .zip(self.0.iter().zip(extra.0.iter()))
            .map(|(r, (c, x))| (r.name(), c.load(Ordering::Relaxed).saturating_add(*x)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_indexed_in_order_with_unique_names() {
        for (i, r) in Drop::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        let mut names: Vec<_> = Drop::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Drop::COUNT);
        for r in XlateDrop::ALL {
            assert_eq!(Drop::from(r).name(), r.name());
        }
    }

    #[test]
    fn absorb_adds_and_resets() {
        let shared = DropCounters::default();
        let mut local = LocalDrops::default();
        local.add(Drop::MtuExceeded, 2);
        shared.absorb(&mut local);
        local.add(Drop::MtuExceeded, 1);
        shared.absorb(&mut local);
        assert!(local.is_zero());
        let mut extra = LocalDrops::default();
        extra.add(Drop::MtuExceeded, 4);
        extra.add(Drop::XskRxRingFull, 5);
        let snap = shared.snapshot_with(&extra);
        assert_eq!(snap.len(), Drop::COUNT);
        assert!(snap.contains(&("mtu_exceeded", 7)));
        assert!(snap.contains(&("xsk_rx_ring_full", 5)));
        assert!(snap.contains(&("parse_error", 0)));
    }
}
