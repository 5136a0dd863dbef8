//! Zero-copy, checked views of packet headers, for parsing and for emitting.
//!
//! # Shape of a header module
//!
//! Each protocol has a module with
//! - a read-only view, e.g. [`ipv4::Ipv4`]`<'a>(&'a [u8])`, made by `parse(&[u8])`, which checks
//!   once that every byte an accessor reads is present (and that length fields agree with the
//!   buffer where the protocol has them);
//! - where the switch rewrites the header, a mutable view (e.g. [`ipv4::Ipv4Mut`]) whose setters
//!   keep every checksum right with incremental updates (RFC 1624), including the transport
//!   checksum that covers an IP pseudo-header;
//! - emit helpers that append a header to a `Vec<u8>` (used by tests, the simulator and the
//!   datapath's VXLAN encapsulation).
//!
//! # Safety contract
//!
//! After `parse` (or `new` of a mutable view) succeeds, no accessor or setter panics: accessors
//! only read offsets below the length that `parse` checked. Every other input, any byte string at
//! all, gives an [`Error`] that names the layer and the problem. There is no `unsafe` here.
//!
//! # Policy lives elsewhere
//!
//! Views check what is needed to read a header safely and consistently (lengths), not what a
//! particular consumer wants (an IPv4 view does not refuse version 5; the flow extractor, which
//! mimics Open vSwitch, decides what to do with it). See [`crate::extract`].

use std::fmt;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6ext;
pub mod llc;
pub mod sctp;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;

/// A 48-bit Ethernet (MAC) address in network order.
pub type MacAddr = [u8; 6];

/// The protocol layer an [`Error`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Ethernet II header.
    Ethernet,
    /// 802.1Q / 802.1ad VLAN tag.
    Vlan,
    /// 802.2 LLC / SNAP header.
    Llc,
    /// ARP (and RARP).
    Arp,
    /// IPv4 header.
    Ipv4,
    /// IPv6 fixed header.
    Ipv6,
    /// IPv6 extension header (hop-by-hop, routing, destination options, AH, fragment).
    Ipv6Ext,
    /// TCP header.
    Tcp,
    /// UDP header.
    Udp,
    /// SCTP common header.
    Sctp,
    /// ICMP for IPv4.
    Icmpv4,
    /// IGMP (only its type and code are read).
    Igmp,
    /// ICMPv6 (including neighbor discovery).
    Icmpv6,
    /// VXLAN header.
    Vxlan,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Ethernet => "Ethernet",
            Layer::Vlan => "VLAN",
            Layer::Llc => "LLC",
            Layer::Arp => "ARP",
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Ipv6Ext => "IPv6 extension header",
            Layer::Tcp => "TCP",
            Layer::Udp => "UDP",
            Layer::Sctp => "SCTP",
            Layer::Icmpv4 => "ICMP",
            Layer::Igmp => "IGMP",
            Layer::Icmpv6 => "ICMPv6",
            Layer::Vxlan => "VXLAN",
        })
    }
}

/// Why a header could not be read or written. Small and `Copy`: it is returned per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer ends before the header (or the part of it that is needed) does.
    #[error("{layer}: truncated, need {need} bytes, have {have}")]
    Truncated {
        /// The header that is cut short.
        layer: Layer,
        /// Bytes needed from the start of the header.
        need: usize,
        /// Bytes available from the start of the header.
        have: usize,
    },
    /// The header is present but inconsistent (a length field that disagrees with the buffer,
    /// a header length below the minimum, ...).
    #[error("{layer}: {what}")]
    Invalid {
        /// The header that is inconsistent.
        layer: Layer,
        /// What is wrong with it.
        what: &'static str,
    },
}

impl Error {
    /// The layer the error is about.
    pub fn layer(&self) -> Layer {
        match *self {
            Error::Truncated { layer, .. } | Error::Invalid { layer, .. } => layer,
        }
    }
}

/// Result of wire operations.
pub type Result<T> = std::result::Result<T, Error>;

/// `Ok` when `buf` holds at least `need` bytes, else a [`Error::Truncated`] for `layer`.
#[inline]
pub(crate) fn check_len(buf: &[u8], need: usize, layer: Layer) -> Result<()> {
    if buf.len() < need {
        Err(Error::Truncated {
            layer,
            need,
            have: buf.len(),
        })
    } else {
        Ok(())
    }
}

// Fixed-offset big-endian accessors. Callers are views whose constructor checked that
// `at + N <= buf.len()`, which is what makes the indexing below unable to panic.

#[inline(always)]
pub(crate) fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

#[inline(always)]
pub(crate) fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

#[inline(always)]
pub(crate) fn put16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn mac(buf: &[u8], at: usize) -> MacAddr {
    let mut m = [0; 6];
    m.copy_from_slice(&buf[at..at + 6]);
    m
}

#[inline(always)]
pub(crate) fn addr16(buf: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0; 16];
    a.copy_from_slice(&buf[at..at + 16]);
    a
}
