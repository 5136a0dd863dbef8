//! AF_XDP ports: an XDP program on the interface redirects the frames of one receive queue to
//! an AF_XDP socket, whose rings this port reads and writes.
//!
//! Options (all optional):
//!
//! | option        | values                     | default | meaning                                   |
//! |---------------|----------------------------|---------|-------------------------------------------|
//! | `xdp-mode`    | `native`, `skb`, `auto`    | `auto`  | where the program runs; `auto` tries native, then skb |
//! | `queue`       | receive queue index        | `0`     | the queue this port's socket serves       |
//! | `rx-ring`     | power of two, 64..=65536   | `2048`  | rx ring (and fill ring) entries           |
//! | `tx-ring`     | power of two, 64..=65536   | `2048`  | tx ring (and completion ring) entries     |
//! | `frame-size`  | power of two, 2048..=page  | `4096`  | UMEM frame size                           |
//! | `need-wakeup` | `true`, `false`            | `true`  | bind with `XDP_USE_NEED_WAKEUP`           |
//! | `csum-repair` | `true`, `false`            | `true`  | complete partial TCP/UDP checksums on rx  |
//!
//! One port serves one queue; an interface with several queues needs RSS steered to the
//! chosen one (veth has one). The port owns the interface's XDP hook: opening it replaces any
//! program attached in either mode (so a program left by a killed process never stops a start),
//! and dropping it detaches the program if it is still its own and closes the socket.
//!
//! Frames are copied between the UMEM and [`Packet`]s (see [`xdp::xsk`]); sharing one UMEM
//! between the ports of a PMD thread is a later optimisation. Checksum repair is explained in
//! [`xdp::csum`] and docs/DATAPATH-PORTS.md.

#[path = "xdp/mod.rs"]
pub mod xdp;

use std::collections::BTreeMap;
use std::io;
use std::os::fd::RawFd;

use self::xdp::bpf::{RedirectProgram, XskMap};
use self::xdp::ingress::Ingress;
use self::xdp::netdev;
use self::xdp::netlink::{Netlink, XdpMode};
use self::xdp::options::Options;
use self::xdp::xsk::{Xsk, XskConfig, XskStats};
use super::{Port, PortError, PortKind};
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
    /// The kernel's counters for the socket.
    pub xsk: XskStats,
}

/// The XDP program attached to an interface; detached on drop if it is still the one
/// attached (a netlink attachment outlives its file descriptor).
#[derive(Debug)]
struct Attachment {
    iface: String,
    ifindex: u32,
    mode: XdpMode,
    prog: RedirectProgram,
    netlink: Netlink,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if let Err(e) = self
            .netlink
            .detach_if_ours(self.ifindex, self.prog.fd(), self.mode)
        {
            tracing::warn!(iface = %self.iface, error = %e, "detaching the XDP program failed");
        }
    }
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
    // Drop order: the socket leaves the map (in `drop`), the program is detached, then the
    // socket and the map are closed.
    attachment: Attachment,
    xsk: Xsk,
    map: XskMap,
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

/// Opens an afxdp port on `iface` (see the module documentation for `options`).
pub fn open(iface: &str, options: &BTreeMap<String, String>) -> Result<Box<dyn Port>, PortError> {
    Ok(Box::new(AfxdpPort::open(iface, options)?))
}

impl AfxdpPort {
    /// Opens the port: loads and attaches the XDP program, creates and binds the socket.
    pub fn open(iface: &str, options: &BTreeMap<String, String>) -> Result<AfxdpPort, PortError> {
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
            rx_ring: opts.number("rx-ring", 2048)?,
            tx_ring: opts.number("tx-ring", 2048)?,
            frame_size: opts.number("frame-size", 4096)?,
            need_wakeup: opts.flag("need-wakeup", true)?,
            multi_buffer: false,
        };
        let csum_repair = opts.flag("csum-repair", true)?;
        let mtu = netdev::mtu(iface).map_err(io_err("reading the MTU"))?;
        let mac = netdev::mac(iface).map_err(io_err("reading the MAC address"))?;
        // A full-MTU frame with two VLAN tags must fit behind the kernel's headroom.
        let frame = usize::try_from(cfg.frame_size).unwrap_or(0);
        if mtu + 22 + XDP_HEADROOM > frame {
            return Err(opts.bad(
                "frame-size",
                format!("{frame} is too small for MTU {mtu} (needs MTU + 278 bytes)"),
            ));
        }
        let max_queue = cfg
            .queue
            .checked_add(1)
            .ok_or_else(|| opts.bad("queue", "too large"))?;
        let map = XskMap::create(max_queue).map_err(io_err("creating the XSKMAP"))?;
        let netlink = Netlink::open().map_err(io_err("opening netlink"))?;

        // In skb mode a sender's TSO super-frame reaches the program whole: a frags-aware
        // program and a multi-buffer socket receive it (to be segmented) instead of dropping
        // it. Native mode on veth turns the peer's segmentation offload off, so it needs
        // neither.
        let mut attached = None;
        let mut last_err = None;
        for &mode in try_modes {
            let frags = mode == XdpMode::Skb;
            let prog = RedirectProgram::load(&map, frags)
                .or_else(|e| {
                    if frags {
                        RedirectProgram::load(&map, false)
                    } else {
                        Err(e)
                    }
                })
                .map_err(io_err("loading the XDP program"))?;
            match netlink.attach(ifindex, prog.fd(), mode) {
                Ok(()) => {
                    attached = Some((mode, prog));
                    break;
                }
                Err(e) => {
                    tracing::info!(iface, mode = mode.name(), error = %e, "XDP attach failed");
                    last_err = Some(e);
                }
            }
        }
        let Some((mode, prog)) = attached else {
            let source = last_err.unwrap_or_else(|| io::Error::other("no XDP mode to try"));
            return Err(io_err("attaching the XDP program")(source));
        };
        let attachment = Attachment {
            iface: iface.to_string(),
            ifindex,
            mode,
            prog,
            netlink,
        };

        cfg.multi_buffer = mode == XdpMode::Skb;
        let bad_rings = |e: io::Error| match e.kind() {
            io::ErrorKind::InvalidInput => opts.bad("rx-ring/tx-ring/frame-size", e.to_string()),
            _ => io_err("creating the AF_XDP socket")(e),
        };
        let xsk = match Xsk::open(&cfg) {
            // Kernels before 6.6 know no multi-buffer sockets: super-frames are then dropped
            // by the kernel, as the documentation says.
            Err(e) if cfg.multi_buffer && e.kind() != io::ErrorKind::InvalidInput => {
                tracing::info!(iface, error = %e, "multi-buffer AF_XDP unavailable");
                cfg.multi_buffer = false;
                Xsk::open(&cfg).map_err(bad_rings)?
            }
            other => other.map_err(bad_rings)?,
        };
        map.insert(cfg.queue, xsk.fd())
            .map_err(io_err("inserting the socket in the XSKMAP"))?;
        let port = AfxdpPort {
            name: iface.to_string(),
            queue: cfg.queue,
            mtu,
            mac,
            cfg,
            ingress: Ingress::new(mtu, csum_repair),
            csum_repair,
            attachment,
            xsk,
            map,
        };
        tracing::info!(iface, mode = %port.describe(), "afxdp port open");
        Ok(port)
    }

    /// The XDP mode the program was attached in.
    pub fn xdp_mode(&self) -> XdpMode {
        self.attachment.mode
    }

    /// The port's own counters and the kernel's socket counters.
    pub fn stats(&self) -> AfxdpStats {
        let ingress = self.ingress.stats();
        AfxdpStats {
            csum_repaired: ingress.csum_repaired,
            segmented: ingress.segmented,
            oversized_dropped: ingress.oversized_dropped,
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
                .recv(max - n, |frame| n += ingress.accept(frame, out, limit));
        }
        Ok(n)
    }

    fn send(&mut self, pkts: &mut Vec<Packet>) -> Result<usize, PortError> {
        let sent = self.xsk.send(pkts.iter().map(Packet::data));
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

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn mac(&self) -> Option<[u8; 6]> {
        self.mac
    }

    fn describe(&self) -> String {
        format!(
            "afxdp {}, queue {}, {}{}{}, rx-ring {}, tx-ring {}, frame-size {}{}",
            self.attachment.mode.name(),
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
        )
    }
}

impl Drop for AfxdpPort {
    fn drop(&mut self) {
        // Then the fields drop: the program is detached (Attachment), and the socket, map
        // and UMEM are closed and unmapped.
        let _ = self.map.remove(self.queue);
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
