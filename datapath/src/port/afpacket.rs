//! AF_PACKET ports: a raw packet socket bound to the interface, the fallback for interfaces
//! where XDP cannot be attached. Slower than `afxdp` (one system call and one copy per frame
//! each way, and the kernel stack still sees every frame), but it works on any interface.
//!
//! The socket sees frames in both directions; copies of frames sent out of the interface
//! (`PACKET_OUTGOING`) are skipped, so the port never receives what it (or the host) sent.
//!
//! The socket also receives the TCP super-frames of senders with segmentation offload; they
//! are cut into MTU-sized segments (see [`super::afxdp::xdp::gso`]).
//!
//! Options: `csum-repair` (`true`/`false`, default `true`): complete partial TCP/UDP checksums
//! on receive, as for `afxdp` (see docs/DATAPATH-PORTS.md).

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::afxdp::xdp::ingress::{Ingress, IngressStats};
use super::afxdp::xdp::{netdev, options::Options};
use super::{Port, PortError, PortKind};
use crate::drops::Drop;
use crate::packet::Packet;

/// The largest frame read: a maximal IP packet with Ethernet and two VLAN headers.
const MAX_FRAME: usize = 65_535 + 22;

/// An AF_PACKET port.
#[derive(Debug)]
pub struct AfpacketPort {
    name: String,
    fd: OwnedFd,
    mtu: usize,
    mac: Option<[u8; 6]>,
    csum_repair: bool,
    ingress: Ingress,
    /// Frames longer than `buf`, dropped.
    truncated: u64,
    buf: Vec<u8>,
}

/// Opens an AF_PACKET port on `iface`.
pub fn open(iface: &str, options: &BTreeMap<String, String>) -> Result<Box<dyn Port>, PortError> {
    Ok(Box::new(AfpacketPort::open(iface, options)?))
}

impl AfpacketPort {
    /// Opens the raw socket on `iface`.
    pub fn open(
        iface: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<AfpacketPort, PortError> {
        let opts = Options::new(iface, options, &["csum-repair"])?;
        let csum_repair = opts.flag("csum-repair", true)?;
        let io_err = |op: &'static str| {
            move |source: std::io::Error| PortError::Io {
                iface: iface.to_string(),
                op,
                source,
            }
        };
        let ifindex = netdev::ifindex(iface).map_err(io_err("finding the interface"))?;
        let mtu = netdev::mtu(iface).map_err(io_err("reading the MTU"))?;
        let mac = netdev::mac(iface).map_err(io_err("reading the MAC address"))?;
        let fd = netdev::packet_socket(ifindex).map_err(io_err("opening the packet socket"))?;
        tracing::warn!(
            iface,
            "afpacket port: no XDP program attached to this interface (XDP could not attach, \
             or was not asked for); frames take the slower AF_PACKET path"
        );
        Ok(AfpacketPort {
            name: iface.to_string(),
            fd,
            mtu,
            mac,
            csum_repair,
            ingress: Ingress::new(mtu, csum_repair),
            truncated: 0,
            buf: vec![0; MAX_FRAME],
        })
    }

    /// Checksums repaired, super-frames segmented, oversized frames dropped.
    pub fn stats(&self) -> IngressStats {
        self.ingress.stats()
    }

    fn io_error(&self, op: &'static str, source: std::io::Error) -> PortError {
        match source.raw_os_error() {
            Some(libc::ENETDOWN) | Some(libc::ENXIO) | Some(libc::ENODEV) => PortError::Closed {
                iface: self.name.clone(),
            },
            _ => PortError::Io {
                iface: self.name.clone(),
                op,
                source,
            },
        }
    }
}

impl Port for AfpacketPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> PortKind {
        PortKind::Afpacket
    }

    fn recv(&mut self, out: &mut Vec<Packet>, max: usize) -> Result<usize, PortError> {
        let limit = out.len() + max;
        let mut n = self.ingress.drain_pending(out, max);
        while n < max {
            match netdev::packet_recv(self.fd.as_raw_fd(), &mut self.buf) {
                Ok(Some((_, true))) => continue,
                Ok(Some((len, false))) => {
                    // Longer than the buffer: truncated, so not forwardable.
                    let Some(frame) = self.buf.get(..len) else {
                        self.truncated += 1;
                        continue;
                    };
                    n += self.ingress.accept(Packet::from_slice(frame), out, limit);
                }
                Ok(None) => break,
                Err(e) => return Err(self.io_error("receiving", e)),
            }
        }
        Ok(n)
    }

    fn send(&mut self, pkts: &mut Vec<Packet>) -> Result<usize, PortError> {
        // A frame larger than the interface's MTU is dropped, counted by the caller.
        netdev::write_batch(self.fd.as_raw_fd(), pkts, libc::EMSGSIZE)
            .map_err(|e| self.io_error("sending", e))
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn port_drops(&self) -> Vec<(Drop, u64)> {
        let oversized = self.ingress.stats().oversized_dropped;
        vec![(Drop::RxOversized, oversized.saturating_add(self.truncated))]
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn mac(&self) -> Option<[u8; 6]> {
        self.mac
    }

    fn describe(&self) -> String {
        format!(
            "afpacket (XDP not used), mtu {}{}",
            self.mtu,
            if self.csum_repair {
                ", csum-repair"
            } else {
                ""
            }
        )
    }
}
