//! What the datapath reports: port counters, megaflows, cache counters, packet-ins.

use std::fmt::Write as _;

use flowtable::action::ControllerReason;
use flowtable::pipeline::{DpAction, DpActions};
use flowtable::table::Millis;
use flowtable::{FlowKey, FlowMask};

/// Counters of one port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// OpenFlow port number.
    pub ofport: u32,
    /// Port name.
    pub name: String,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Received packets dropped by the datapath (any named drop reason), including those the
    /// port or the kernel dropped before the datapath saw them (`Port::port_drops`).
    pub rx_dropped: u64,
    /// Packets the port did not take for transmission (ring full, MTU exceeded, port error).
    pub tx_dropped: u64,
    /// Receive errors reported by the port.
    pub rx_errors: u64,
    /// Transmit errors reported by the port.
    pub tx_errors: u64,
}

/// One megaflow, as `dump-megaflows` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MegaflowInfo {
    /// The key, with every bit outside `mask` zero.
    pub key: FlowKey,
    /// The bits of the key the megaflow matches.
    pub mask: FlowMask,
    /// The datapath actions (empty: drop).
    pub actions: Vec<DpAction>,
    /// Packets that hit it.
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// When it was last hit ([`crate::clock::now_ms`]), 0 if never.
    pub used_ms: Millis,
    /// Of `packets`, those the ports' XDP programs forwarded or dropped (XDP flow offload).
    pub offloaded_packets: u64,
    /// Exact keys of it installed for the XDP programs now.
    pub offloaded_keys: usize,
}

impl MegaflowInfo {
    /// The megaflow in Open vSwitch's dpctl style: `recirc_id(0x0),in_port(1),eth_type(0x0800),
    /// ipv4(frag=no), packets:3, bytes:180, used:0.412s, actions:2`; an offloaded one also
    /// says `offloaded:yes, dp:xdp` before the actions, as Open vSwitch does for its offloads,
    /// with the count of packets the XDP programs handled and of its exact keys.
    pub fn dpctl_line(&self) -> String {
        self.dpctl_line_at(crate::clock::now_ms())
    }

    /// [`MegaflowInfo::dpctl_line`] as seen at time `now`.
    pub fn dpctl_line_at(&self, now: Millis) -> String {
        let mut line = crate::dpctl::format_megaflow(&self.key, &self.mask);
        let _ = write!(
            line,
            ", packets:{}, bytes:{}, used:",
            self.packets, self.bytes
        );
        if self.used_ms == 0 {
            line.push_str("never");
        } else {
            let age = now.saturating_sub(self.used_ms);
            let _ = write!(line, "{}.{:03}s", age / 1000, age % 1000);
        }
        if self.offloaded_keys > 0 || self.offloaded_packets > 0 {
            let _ = write!(
                line,
                ", offloaded:yes, dp:xdp, xdp_packets:{}, xdp_keys:{}",
                self.offloaded_packets, self.offloaded_keys
            );
        }
        let _ = write!(line, ", actions:{}", DpActions(&self.actions));
        line
    }
}

/// Counters of the exact-match and megaflow caches, summed over PMD threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Packets that hit the exact-match cache.
    pub emc_hits: u64,
    /// Packets that missed the exact-match cache and hit a megaflow.
    pub megaflow_hits: u64,
    /// Packets that missed both caches.
    pub misses: u64,
    /// Misses translated by the slow path.
    pub upcalls: u64,
    /// Misses dropped by the per-port upcall rate limit.
    pub upcalls_shed: u64,
    /// Megaflows installed now.
    pub megaflows: u64,
    /// Megaflows re-translated after a table change (in the background or on hit).
    pub revalidations: u64,
    /// Translations not installed because the megaflow cache was full.
    pub megaflow_limit_hits: u64,
    /// Exact keys installed for the ports' XDP programs now (XDP flow offload).
    pub offload_keys: u64,
    /// Keys the kernel refused (its map full).
    pub offload_failures: u64,
}

/// A packet sent to the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketIn {
    /// The port it came in on.
    pub ofport: u32,
    /// Why it is sent.
    pub reason: ControllerReason,
    /// The table whose rule sent it.
    pub table: u8,
    /// That rule's cookie.
    pub cookie: u64,
    /// The frame (truncated to the action's `max_len`).
    pub frame: Vec<u8>,
}
