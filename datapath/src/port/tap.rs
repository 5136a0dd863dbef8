//! Internal ports: a tap device named after the port, so the host's network stack sends and
//! receives through the bridge (Open vSwitch's "internal" interface).
//!
//! The device is created in the network namespace of the thread that opens the port and
//! disappears when the port is dropped. It starts down and without addresses: configuring it
//! (`ip link set NAME up`, addresses, routes) is the administrator's business, as with Open
//! vSwitch. Frames carry no packet-information header (`IFF_NO_PI`) and no virtio header, so
//! the kernel hands the tap complete checksums and segments no larger than its MTU.
//!
//! No options are accepted.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::afxdp::xdp::{netdev, options::Options};
use super::{Port, PortError, PortKind};
use crate::packet::Packet;

/// The largest frame read from the device: a maximal IPv4/IPv6 packet plus Ethernet header.
const MAX_FRAME: usize = 65_535 + 18;

/// A tap device used as the bridge's internal port.
#[derive(Debug)]
pub struct TapPort {
    name: String,
    fd: OwnedFd,
    mtu: usize,
    mac: Option<[u8; 6]>,
    buf: Vec<u8>,
}

/// Opens the internal port `iface` (creating the tap device).
pub fn open(iface: &str, options: &BTreeMap<String, String>) -> Result<Box<dyn Port>, PortError> {
    Ok(Box::new(TapPort::open(iface, options)?))
}

impl TapPort {
    /// Creates (or attaches to) the tap device `iface`.
    pub fn open(iface: &str, options: &BTreeMap<String, String>) -> Result<TapPort, PortError> {
        Options::new(iface, options, &[])?;
        let io_err = |op: &'static str| {
            move |source: std::io::Error| PortError::Io {
                iface: iface.to_string(),
                op,
                source,
            }
        };
        let fd = netdev::open_tap(iface).map_err(io_err("creating the tap device"))?;
        let mtu = netdev::mtu(iface).map_err(io_err("reading the MTU"))?;
        let mac = netdev::mac(iface).map_err(io_err("reading the MAC address"))?;
        tracing::info!(iface, "internal port open (tap device)");
        Ok(TapPort {
            name: iface.to_string(),
            fd,
            mtu,
            mac,
            buf: vec![0; MAX_FRAME],
        })
    }

    fn io_error(&self, op: &'static str, source: std::io::Error) -> PortError {
        match source.raw_os_error() {
            Some(libc::EIO) | Some(libc::EBADFD) => PortError::Closed {
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

impl Port for TapPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> PortKind {
        PortKind::Internal
    }

    fn recv(&mut self, out: &mut Vec<Packet>, max: usize) -> Result<usize, PortError> {
        let mut n = 0;
        while n < max {
            match netdev::fd_read(self.fd.as_raw_fd(), &mut self.buf) {
                Ok(Some(len)) => {
                    out.push(Packet::from_slice(self.buf.get(..len).unwrap_or_default()));
                    n += 1;
                }
                Ok(None) => break,
                // A down device: nothing to read (the host stack sends nothing through it).
                Err(e) if e.raw_os_error() == Some(libc::EIO) && n == 0 => return Ok(0),
                Err(e) => return Err(self.io_error("reading from the tap device", e)),
            }
        }
        Ok(n)
    }

    fn send(&mut self, pkts: &mut Vec<Packet>) -> Result<usize, PortError> {
        // A device that is down refuses frames: they are dropped, as on a link down.
        netdev::write_batch(self.fd.as_raw_fd(), pkts, libc::EIO)
            .map_err(|e| self.io_error("writing to the tap device", e))
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn mac(&self) -> Option<[u8; 6]> {
        self.mac
    }

    fn describe(&self) -> String {
        format!("internal (tap device), mtu {}", self.mtu)
    }
}
