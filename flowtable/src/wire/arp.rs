//! ARP (RFC 826) for Ethernet and IPv4, the only combination a flow key describes.

use super::{be16, be32, check_len, mac, Layer, MacAddr, Result};

/// Length of an Ethernet/IPv4 ARP packet.
pub const HEADER_LEN: usize = 28;
/// Hardware type of Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// ARP request opcode.
pub const OP_REQUEST: u16 = 1;
/// ARP reply opcode.
pub const OP_REPLY: u16 = 2;

/// A checked view of an ARP packet laid out for Ethernet/IPv4 (28 bytes).
///
/// `parse` checks the length only; [`Arp::is_ethernet_ipv4`] says whether the address-type
/// fields agree with that layout.
#[derive(Clone, Copy, Debug)]
pub struct Arp<'a>(&'a [u8]);

impl<'a> Arp<'a> {
    /// Checks that `buf` holds 28 bytes.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Arp<'a>> {
        check_len(buf, HEADER_LEN, Layer::Arp)?;
        Ok(Arp(buf))
    }

    /// Hardware type.
    #[inline]
    pub fn htype(&self) -> u16 {
        be16(self.0, 0)
    }

    /// Protocol type.
    #[inline]
    pub fn ptype(&self) -> u16 {
        be16(self.0, 2)
    }

    /// Hardware address length.
    #[inline]
    pub fn hlen(&self) -> u8 {
        self.0[4]
    }

    /// Protocol address length.
    #[inline]
    pub fn plen(&self) -> u8 {
        self.0[5]
    }

    /// Whether the packet is Ethernet/IPv4 ARP, so the address accessors mean what they say.
    #[inline]
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.htype() == HTYPE_ETHERNET
            && self.ptype() == crate::ethertype::IPV4
            && self.hlen() == 6
            && self.plen() == 4
    }

    /// Opcode.
    #[inline]
    pub fn op(&self) -> u16 {
        be16(self.0, 6)
    }

    /// Sender hardware address.
    #[inline]
    pub fn sha(&self) -> MacAddr {
        mac(self.0, 8)
    }

    /// Sender protocol address.
    #[inline]
    pub fn spa(&self) -> u32 {
        be32(self.0, 14)
    }

    /// Target hardware address.
    #[inline]
    pub fn tha(&self) -> MacAddr {
        mac(self.0, 18)
    }

    /// Target protocol address.
    #[inline]
    pub fn tpa(&self) -> u32 {
        be32(self.0, 24)
    }
}

/// Appends an Ethernet/IPv4 ARP packet.
pub fn emit(buf: &mut Vec<u8>, op: u16, sha: MacAddr, spa: u32, tha: MacAddr, tpa: u32) {
    buf.extend_from_slice(&HTYPE_ETHERNET.to_be_bytes());
    buf.extend_from_slice(&crate::ethertype::IPV4.to_be_bytes());
    buf.extend_from_slice(&[6, 4]);
    buf.extend_from_slice(&op.to_be_bytes());
    buf.extend_from_slice(&sha);
    buf.extend_from_slice(&spa.to_be_bytes());
    buf.extend_from_slice(&tha);
    buf.extend_from_slice(&tpa.to_be_bytes());
}
