//! Ethernet II header: destination, source, ethertype.

use super::{be16, check_len, mac, put16, Layer, MacAddr, Result};

/// Length of the Ethernet header without tags.
pub const HEADER_LEN: usize = 14;

/// The smallest value of the type/length field that is an ethertype (below: an 802.3 length).
pub const ETHERTYPE_MIN: u16 = 0x0600;

/// A checked view of an Ethernet frame (header plus payload).
#[derive(Clone, Copy, Debug)]
pub struct Ethernet<'a>(&'a [u8]);

impl<'a> Ethernet<'a> {
    /// Checks that `frame` holds a whole Ethernet header.
    #[inline]
    pub fn parse(frame: &'a [u8]) -> Result<Ethernet<'a>> {
        check_len(frame, HEADER_LEN, Layer::Ethernet)?;
        Ok(Ethernet(frame))
    }

    /// Destination address.
    #[inline]
    pub fn dst(&self) -> MacAddr {
        mac(self.0, 0)
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> MacAddr {
        mac(self.0, 6)
    }

    /// The type/length field: an ethertype (a TPID when tagged), or an 802.3 length below
    /// [`ETHERTYPE_MIN`].
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.0, 12)
    }

    /// Everything after the 14-byte header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.0[HEADER_LEN..]
    }

    /// The whole frame.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// A checked mutable view of an Ethernet frame.
#[derive(Debug)]
pub struct EthernetMut<'a>(&'a mut [u8]);

impl<'a> EthernetMut<'a> {
    /// Checks that `frame` holds a whole Ethernet header.
    #[inline]
    pub fn new(frame: &'a mut [u8]) -> Result<EthernetMut<'a>> {
        check_len(frame, HEADER_LEN, Layer::Ethernet)?;
        Ok(EthernetMut(frame))
    }

    /// A read-only view of the same bytes.
    #[inline]
    pub fn view(&self) -> Ethernet<'_> {
        Ethernet(self.0)
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst(&mut self, dst: MacAddr) {
        self.0[0..6].copy_from_slice(&dst);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src(&mut self, src: MacAddr) {
        self.0[6..12].copy_from_slice(&src);
    }

    /// Sets the type/length field.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        put16(self.0, 12, ethertype);
    }
}

/// Appends an Ethernet header to `buf`.
pub fn emit(buf: &mut Vec<u8>, dst: MacAddr, src: MacAddr, ethertype: u16) {
    buf.extend_from_slice(&dst);
    buf.extend_from_slice(&src);
    buf.extend_from_slice(&ethertype.to_be_bytes());
}
