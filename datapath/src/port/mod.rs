//! Ports: where packets enter and leave the datapath.
//!
//! A [`Port`] moves batches of [`Packet`]s. The datapath owns every port it is given; a PMD
//! thread receives from the ports assigned to it, and any PMD thread may send to any port (the
//! datapath serialises access to one port with a mutex, uncontended when one PMD thread runs).
//!
//! Kinds: `afxdp` (AF_XDP sockets), `internal` (a tap device for the host stack), `afpacket`
//! (a raw socket fallback), `mem` (in memory, for tests and the simulator) and `vxlan`.

pub mod afpacket;
pub mod afxdp;
pub mod mem;
pub mod tap;

use std::collections::BTreeMap;
use std::os::fd::RawFd;

use crate::drops::Drop;
use crate::packet::Packet;

pub use mem::MemPort;

/// A batch-oriented network port.
pub trait Port: Send + 'static {
    /// The port's name (its interface name for kernel ports).
    fn name(&self) -> &str;
    /// What kind of port this is.
    fn kind(&self) -> PortKind;
    /// Receives up to `max` packets, appended to `out`; `Ok(0)` when none is waiting.
    fn recv(&mut self, out: &mut Vec<Packet>, max: usize) -> Result<usize, PortError>;
    /// Sends the packets (drains `pkts`); returns how many were sent, the rest were dropped
    /// (the caller counts them as tx drops, e.g. tx ring full).
    fn send(&mut self, pkts: &mut Vec<Packet>) -> Result<usize, PortError>;
    /// File descriptor to poll() for readability when idle (`None`: must be polled).
    fn poll_fd(&self) -> Option<RawFd>;
    /// The largest L3 payload the port carries (the Ethernet header and VLAN tags excluded).
    fn mtu(&self) -> usize;
    /// The port's Ethernet address, when it has one.
    fn mac(&self) -> Option<[u8; 6]>;
    /// A human-readable mode, e.g. "afxdp native, queue 0, need_wakeup".
    fn describe(&self) -> String;
    /// The PMD thread that must receive from the port, if it was opened for one (an afxdp
    /// port whose socket shares that thread's UMEM); `None`: any.
    fn pmd(&self) -> Option<usize> {
        None
    }
    /// Drops that happened in the port or the kernel below it, before the datapath saw the
    /// frame (an AF_XDP socket's full rx ring, an oversized frame), as running totals since
    /// the port opened, each under one receive-side reason. The datapath adds them to its own
    /// counts when it reports, and to the port's `rx_dropped`.
    fn port_drops(&self) -> Vec<(Drop, u64)> {
        Vec::new()
    }
    /// The XDP side of an afxdp port (offload source and target), `None` for other kinds.
    fn xdp(&self) -> Option<afxdp::xdp::offload::XdpPort> {
        None
    }
}

/// The kinds of port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortKind {
    /// AF_XDP socket on a kernel interface.
    Afxdp,
    /// A tap device for the host stack (Open vSwitch's internal port).
    Internal,
    /// AF_PACKET raw socket on a kernel interface.
    Afpacket,
    /// In-memory port.
    Mem,
    /// VXLAN tunnel port.
    Vxlan,
}

impl PortKind {
    const NAMES: [(PortKind, &'static str); 5] = [
        (PortKind::Afxdp, "afxdp"),
        (PortKind::Internal, "internal"),
        (PortKind::Afpacket, "afpacket"),
        (PortKind::Mem, "mem"),
        (PortKind::Vxlan, "vxlan"),
    ];

    /// The kind's name, as in configuration (`type=afxdp`).
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("unknown", |(_, n)| n)
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<PortKind> {
        Self::NAMES.iter().find(|(_, n)| *n == s).map(|(k, _)| *k)
    }
}

/// Why a port could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The kind of port is not available (not built, not supported by the interface).
    #[error("{iface}: {kind} ports are not supported: {why}")]
    Unsupported {
        /// The interface.
        iface: String,
        /// The kind asked for.
        kind: &'static str,
        /// Why not.
        why: String,
    },
    /// An option has a bad value or is unknown.
    #[error("{iface}: bad option {option}: {why}")]
    BadOption {
        /// The interface.
        iface: String,
        /// The option's name.
        option: String,
        /// What is wrong with it.
        why: String,
    },
    /// A system call failed.
    #[error("{iface}: {op}: {source}")]
    Io {
        /// The interface.
        iface: String,
        /// The operation that failed.
        op: &'static str,
        /// The system error.
        source: std::io::Error,
    },
    /// The port is closed (its peer or its device went away).
    #[error("{iface}: closed")]
    Closed {
        /// The interface.
        iface: String,
    },
}

/// Opens a port of `kind` on interface `iface` with `options` (e.g. `xdp-mode`=`native|skb`,
/// `rx-ring`, `tx-ring`, `queue`, `csum-repair`=`true`).
///
/// A `mem` port opened this way has no peer: what is sent to it is kept (see
/// [`MemPort::take_sent`]) and nothing arrives unless injected. Use [`mem::pair`] for two
/// connected ports.
pub fn open(
    kind: PortKind,
    iface: &str,
    options: &BTreeMap<String, String>,
) -> Result<Box<dyn Port>, PortError> {
    match kind {
        PortKind::Afxdp => afxdp::open(iface, options),
        PortKind::Internal => tap::open(iface, options),
        PortKind::Afpacket => afpacket::open(iface, options),
        PortKind::Mem => Ok(Box::new(MemPort::open(iface, options)?)),
        PortKind::Vxlan => Err(PortError::Unsupported {
            iface: iface.to_string(),
            kind: kind.name(),
            why: "VXLAN ports are not implemented yet".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for (kind, name) in PortKind::NAMES {
            assert_eq!(kind.name(), name);
            assert_eq!(PortKind::parse(name), Some(kind));
        }
        assert_eq!(PortKind::parse("veth"), None);
    }

    #[test]
    fn open_mem_and_unsupported_vxlan() {
        let opts = BTreeMap::new();
        let p = open(PortKind::Mem, "m0", &opts).map(|p| p.name().to_string());
        assert_eq!(p.ok().as_deref(), Some("m0"));
        let e = open(PortKind::Vxlan, "vx0", &opts)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("vx0")));
    }
}
