//! AF_XDP ports: an XDP program on the interface redirects the frames of one receive queue to
//! an AF_XDP socket, whose rings this port reads and writes.
//!
//! Options (all optional):
//!
//! | option        | values                     | default | meaning                                   |
//! |---------------|----------------------------|---------|-------------------------------------------|
//! | `xdp-mode`    | `native`, `skb`, `auto`    | `auto`  | where the program runs; `auto` tries native, then skb |
//! | `queue`       | receive queue index        | `0`     | the queue this port's socket serves       |
//! | `rx-ring`     | power of two, 64..=65536   | `4096`  | rx ring (and fill ring) entries           |
//! | `tx-ring`     | power of two, 64..=65536   | `2048`  | tx ring (and completion ring) entries     |
//! | `frame-size`  | power of two, 2048..=page  | 2048 or 4096 | UMEM frame size; the default is 2048 if a full-MTU frame fits (MTU <= 1770) |
//! | `need-wakeup` | `true`, `false`            | `true`  | bind with `XDP_USE_NEED_WAKEUP`           |
//! | `csum-repair` | `true`, `false`            | `true`  | complete partial TCP/UDP checksums on rx  |
//! | `tx-warm`     | `true`, `false`            | `true`  | copy mode: send from recently completed frames ([`Xsk::set_tx_warm`]) |
//! | `xdp-offload` | `true`, `false`            | `true`  | native mode: the XDP program forwards cached flows itself ([`xdp::offload`]) |
//!
//! One port serves one queue (`queue`, below 256); the ports of the queues of one interface
//! share its XDP program and map ([`xdp::hook`]). The first of them to open takes over the
//! interface's XDP hook: it replaces any program attached in either mode (so a program left by
//! a killed process never stops a start); the last one to close detaches the program if it is
//! still the one it attached. Opening ports with conflicting `xdp-mode`s on one interface, or
//! two ports on one queue, is refused.
//!
//! The ports a datapath opens for one PMD thread share a UMEM ([`xdp::umem`]): a received
//! frame becomes a [`Packet`] that stays in its UMEM frame, and sent to another port of the
//! same UMEM it goes to that port's tx ring by address, so forwarding between them copies no
//! bytes in user space. Other packets are copied into a free frame ([`xdp::xsk`]). A port
//! opened alone ([`open`], [`AfxdpPort::open`]) has a UMEM of its own. Received frames go through
//! [`xdp::ingress`]: partial checksums left by senders with checksum offload are completed
//! ([`xdp::csum`]), and in skb mode, where a sender's TSO super-frames arrive whole (through a
//! frags-aware program and a multi-buffer socket), they are cut into MTU-sized segments
//! ([`xdp::gso`]). docs/DATAPATH-PORTS.md tells the whole story.

#[path = "xdp/mod.rs"]
pub mod xdp;

use std::collections::BTreeMap;
use std::io;
use std::os::fd::RawFd;

use self::xdp::hook::{Claim, HookError, MAX_QUEUES};
use self::xdp::ingress::Ingress;
use self::xdp::netdev;
use self::xdp::netlink::XdpMode;
use self::xdp::offload::XdpPort;
use self::xdp::options::Options;
use self::xdp::umem::{Umem, UmemGroup, UmemStats};
use self::xdp::xsk::{Xsk, XskConfig, XskStats};
use super::{Port, PortError, PortKind};
use crate::drops::Drop;
use crate::packet::Packet;

/// The options an afxdp port accepts.
const OPTIONS: &[&str] = &[
    "xdp-mode",
    "queue",
    "rx-ring",
    "tx-ring",
    "frame-size",
    "need-wakeup",
    "csum-repair",
    "tx-warm",
    "xdp-offload",
];

/// Bytes the kernel reserves in front of a received frame in its UMEM frame
/// (`XDP_PACKET_HEADROOM`).
const XDP_HEADROOM: usize = 256;

/// Counters of an afxdp port beyond the datapath's per-port counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AfxdpStats {
    /// Frames whose partial TCP/UDP checksum was completed on receive.
    pub csum_repaired: u64,
    /// TCP super-frames (skb mode, senders with TSO) cut into MTU-sized segments.
    pub segmented: u64,
    /// Frames too long for the MTU that could not be segmented, dropped.
    pub oversized_dropped: u64,
    /// Packets sent by handing their UMEM frame to the tx ring (no copy).
    pub tx_by_address: u64,
    /// Packets sent by copying them into a UMEM frame.
    pub tx_copied: u64,
    /// The port's UMEM (shared with the other ports of its PMD thread, or its own).
    pub umem: UmemStats,
    /// The kernel's counters for the socket.
    pub xsk: XskStats,
}

/// An AF_XDP port on one queue of one interface.
#[derive(Debug)]
pub struct AfxdpPort {
    name: String,
    queue: u32,
    mtu: usize,
    mac: Option<[u8; 6]>,
    cfg: XskConfig,
    ingress: Ingress,
    csum_repair: bool,
    // Drop order: the claim takes the socket out of the map (and detaches the program if this
    // was the interface's last port), then the socket is closed and its UMEM unmapped.
    claim: Claim,
    xsk: Xsk,
}

/// Which modes to try, in order, for an `xdp-mode` value.
fn modes(value: &str) -> Option<&'static [XdpMode]> {
    match value {
        "native" => Some(&[XdpMode::Native]),
        "skb" => Some(&[XdpMode::Skb]),
        "auto" => Some(&[XdpMode::Native, XdpMode::Skb]),
        _ => None,
    }
}

/// Opens an afxdp port on `iface` (see the module documentation for `options`) with a UMEM
/// of its own.
pub fn open(iface: &str, options: &BTreeMap<String, String>) -> Result<Box<dyn Port>, PortError> {
    Ok(Box::new(AfxdpPort::open(iface, options)?))
}

/// Opens an afxdp port on `iface` whose socket shares a UMEM of `group`, the UMEMs of the PMD
/// thread that will receive from it.
pub fn open_in(
    iface: &str,
    options: &BTreeMap<String, String>,
    group: &UmemGroup,
) -> Result<Box<dyn Port>, PortError> {
    Ok(Box::new(AfxdpPort::open_in(iface, options, Some(group))?))
}

/// Opens the socket for `cfg` in a UMEM of `group` if it can, else in a UMEM of its own.
fn open_socket(cfg: &XskConfig, group: Option<&UmemGroup>) -> io::Result<Xsk> {
    cfg.check()?;
    if let Some(g) = group {
        match Xsk::open(cfg, g.reserve(cfg.umem_key(), cfg.umem_frames())?) {
            Ok(xsk) => return Ok(xsk),
            // The queue is held: a socket of its own would not bind either.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return Err(e),
            Err(e) => tracing::info!(
                pmd = g.pmd(),
                error = %e,
                "cannot share the PMD thread's UMEM: the port gets its own"
            ),
        }
    }
    Xsk::open(cfg, Umem::private(cfg.umem_key(), cfg.umem_frames())?)
}

impl AfxdpPort {
    /// Opens the port with a UMEM of its own: loads and attaches the XDP program, creates and
    /// binds the socket.
    pub fn open(iface: &str, options: &BTreeMap<String, String>) -> Result<AfxdpPort, PortError> {
        AfxdpPort::open_in(iface, options, None)
    }

    /// Opens the port with its socket in a UMEM of `group` (see [`open_in`]), or in one of its
    /// own when `group` is None or the kernel refuses to share.
    pub fn open_in(
        iface: &str,
        options: &BTreeMap<String, String>,
        group: Option<&UmemGroup>,
    ) -> Result<AfxdpPort, PortError> {
        let opts = Options::new(iface, options, OPTIONS)?;
        let mode_name = opts.get("xdp-mode").unwrap_or("auto");
        let try_modes = modes(mode_name).ok_or_else(|| {
            opts.bad(
                "xdp-mode",
                format!("{mode_name:?} is not native, skb or auto"),
            )
        })?;
        let io_err = |op: &'static str| {
            move |source: io::Error| PortError::Io {
                iface: iface.to_string(),
                op,
                source,
            }
        };
        let ifindex = netdev::ifindex(iface).map_err(io_err("finding the interface"))?;
        let mut cfg = XskConfig {
            ifindex,
            queue: opts.number("queue", 0)?,
            // 4096, not 2048: the frames the socket can take in while its PMD thread is kept off
            // the CPU. docs/DATAPATH-PORTS.md, "Options", has the measurements.
            rx_ring: opts.number("rx-ring", 4096)?,
            tx_ring: opts.number("tx-ring", 2048)?,
            frame_size: 0,
            need_wakeup: opts.flag("need-wakeup", true)?,
            multi_buffer: false,
        };
        let csum_repair = opts.flag("csum-repair", true)?;
        let tx_warm = opts.flag("tx-warm", true)?;
        let offload = opts.flag("xdp-offload", true)?;
        let mtu = netdev::mtu(iface).map_err(io_err("reading the MTU"))?;
        // Default: the smallest frame that holds a full-MTU frame (2048 bytes up to MTU 1770),
        // so that a port on a standard interface takes half the memory of page-sized frames.
        let fits = |size: u32| usize::try_from(size).is_ok_and(|f| mtu + 22 + XDP_HEADROOM <= f);
        let default_frame = if fits(2048) { 2048 } else { 4096 };
        cfg.frame_size = opts.number("frame-size", default_frame)?;
        let mac = netdev::mac(iface).map_err(io_err("reading the MAC address"))?;
        // A full-MTU frame with two VLAN tags must fit behind the kernel's headroom.
        let frame = usize::try_from(cfg.frame_size).unwrap_or(0);
        if mtu + 22 + XDP_HEADROOM > frame {
            return Err(opts.bad(
                "frame-size",
                format!("{frame} is too small for MTU {mtu} (needs MTU + 278 bytes)"),
            ));
        }
        let offload = offload.then_some(csum_repair);
        let claim =
            Claim::new(iface, ifindex, try_modes, cfg.queue, offload).map_err(|e| match e {
                HookError::ModeConflict { attached } => opts.bad(
                    "xdp-mode",
                    format!(
                        "another port attached this interface in {} mode",
                        attached.name()
                    ),
                ),
                HookError::QueueTaken => opts.bad("queue", "another port serves this queue"),
                HookError::QueueRange => opts.bad("queue", format!("must be below {MAX_QUEUES}")),
                HookError::Io { op, source } => io_err(op)(source),
            })?;
        let mode = claim.mode();
        cfg.multi_buffer = mode == XdpMode::Skb;
        let bad_rings = |e: io::Error| match e.kind() {
            io::ErrorKind::InvalidInput => opts.bad("rx-ring/tx-ring/frame-size", e.to_string()),
            _ => io_err("creating the AF_XDP socket")(e),
        };
        let mut xsk = match open_socket(&cfg, group) {
            // Kernels before 6.6 know no multi-buffer sockets: super-frames are then dropped
            // by the kernel, as the documentation says.
            Err(e) if cfg.multi_buffer && e.kind() != io::ErrorKind::InvalidInput => {
                tracing::info!(iface, error = %e, "multi-buffer AF_XDP unavailable");
                cfg.multi_buffer = false;
                open_socket(&cfg, group).map_err(bad_rings)?
            }
            other => other.map_err(bad_rings)?,
        };
        xsk.set_tx_warm(tx_warm && !xsk.zero_copy());
        claim
            .insert(xsk.fd())
            .map_err(io_err("inserting the socket in the XSKMAP"))?;
        let port = AfxdpPort {
            name: iface.to_string(),
            queue: cfg.queue,
            mtu,
            mac,
            cfg,
            ingress: Ingress::new(mtu, csum_repair),
            csum_repair,
            claim,
            xsk,
        };
        tracing::info!(iface, mode = %port.describe(), "afxdp port open");
        Ok(port)
    }

    /// The XDP mode the program was attached in.
    pub fn xdp_mode(&self) -> XdpMode {
        self.claim.mode()
    }

    /// The port's own counters and the kernel's socket counters.
    pub fn stats(&self) -> AfxdpStats {
        let ingress = self.ingress.stats();
        let (tx_by_address, tx_copied) = self.xsk.tx_counts();
        AfxdpStats {
            csum_repaired: ingress.csum_repaired,
            segmented: ingress.segmented,
            oversized_dropped: ingress.oversized_dropped,
            tx_by_address,
            tx_copied,
            umem: self.xsk.umem().stats(),
            xsk: self.xsk.stats(),
        }
    }
}

impl Port for AfxdpPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> PortKind {
        PortKind::Afxdp
    }

    fn recv(&mut self, out: &mut Vec<Packet>, max: usize) -> Result<usize, PortError> {
        let limit = out.len() + max;
        let mut n = self.ingress.drain_pending(out, max);
        if n < max {
            let ingress = &mut self.ingress;
            self.xsk
                .recv(max - n, |pkt| n += ingress.accept(pkt, out, limit));
        }
        Ok(n)
    }

    fn send(&mut self, pkts: &mut Vec<Packet>) -> Result<usize, PortError> {
        let sent = self.xsk.send(pkts);
        pkts.clear();
        sent.map_err(|source| match source.raw_os_error() {
            Some(libc::ENETDOWN) | Some(libc::ENXIO) => PortError::Closed {
                iface: self.name.clone(),
            },
            _ => PortError::Io {
                iface: self.name.clone(),
                op: "transmitting",
                source,
            },
        })
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.xsk.fd())
    }

    fn pmd(&self) -> Option<usize> {
        self.xsk.umem().pmd()
    }

    fn port_drops(&self) -> Vec<(Drop, u64)> {
        let xsk = self.xsk.stats();
        vec![
            (Drop::RxOversized, self.ingress.stats().oversized_dropped),
            (Drop::XskRxRingFull, xsk.rx_ring_full),
            (Drop::XskRxDropped, xsk.rx_dropped),
            (Drop::XskInvalidDesc, xsk.invalid_descs),
        ]
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn xdp(&self) -> Option<XdpPort> {
        Some(XdpPort {
            ifindex: self.cfg.ifindex,
            netns: self.claim.netns(),
            offload_id: self.claim.offload_id(),
            queue: self.queue,
            max_len: u32::try_from(self.mtu + 14).unwrap_or(u32::MAX),
        })
    }

    fn mac(&self) -> Option<[u8; 6]> {
        self.mac
    }

    fn describe(&self) -> String {
        format!(
            "afxdp {}, queue {}, {}{}{}, rx-ring {}, tx-ring {}, frame-size {}{}{}{}{}",
            self.claim.mode().name(),
            self.queue,
            if self.xsk.zero_copy() {
                "zero-copy"
            } else {
                "copy"
            },
            if self.cfg.need_wakeup {
                ", need_wakeup"
            } else {
                ""
            },
            if self.cfg.multi_buffer {
                ", multi-buffer"
            } else {
                ""
            },
            self.cfg.rx_ring,
            self.cfg.tx_ring,
            self.cfg.frame_size,
            if self.csum_repair {
                ", csum-repair"
            } else {
                ""
            },
            if self.xsk.tx_warm() { ", tx-warm" } else { "" },
            if self.claim.offload_id().is_some() {
                ", xdp-offload"
            } else {
                ""
            },
            match self.xsk.umem().pmd() {
                Some(pmd) => format!(", UMEM of pmd {pmd}"),
                None => String::new(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names() {
        assert_eq!(modes("native"), Some(&[XdpMode::Native][..]));
        assert_eq!(modes("skb"), Some(&[XdpMode::Skb][..]));
        assert_eq!(modes("auto").map(<[_]>::len), Some(2));
        assert_eq!(modes("generic"), None);
    }

    #[test]
    fn bad_options_are_refused_before_touching_the_interface() {
        let opts = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        for (k, v) in [
            ("xdp-mode", "fast"),
            ("bogus", "1"),
            ("csum-repair", "maybe"),
        ] {
            let err = AfxdpPort::open("lo", &opts(k, v))
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(k)),
                "{k}={v}: {err:?}"
            );
        }
        let err = AfxdpPort::open("no-such-if0", &BTreeMap::new())
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("no-such-if0")));
    }
}
