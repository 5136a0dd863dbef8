//! ICMP for IPv4 (RFC 792): type, code, checksum.

use super::{be16, check_len, checksum, put16, Layer, Result};

/// Length of the header (type, code, checksum, and the 4-byte rest-of-header).
pub const HEADER_LEN: usize = 8;
/// Echo reply.
pub const ECHO_REPLY: u8 = 0;
/// Destination unreachable.
pub const DEST_UNREACHABLE: u8 = 3;
/// Echo request.
pub const ECHO_REQUEST: u8 = 8;
/// Time exceeded.
pub const TIME_EXCEEDED: u8 = 11;

/// A checked view of an ICMP message.
#[derive(Clone, Copy, Debug)]
pub struct Icmpv4<'a>(&'a [u8]);

impl<'a> Icmpv4<'a> {
    /// Checks that `buf` holds the 8-byte header.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Icmpv4<'a>> {
        check_len(buf, HEADER_LEN, Layer::Icmpv4)?;
        Ok(Icmpv4(buf))
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.0[0]
    }

    /// Message code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.0[1]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.0, 2)
    }

    /// Identifier (echo request/reply).
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.0, 4)
    }

    /// Sequence number (echo request/reply).
    #[inline]
    pub fn seq(&self) -> u16 {
        be16(self.0, 6)
    }

    /// Everything after the 8-byte header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.0[HEADER_LEN..]
    }

    /// Whether the checksum is right for the whole message this view covers.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.0, 0)) == 0xffff
    }
}

/// A checked mutable view of an ICMP message.
#[derive(Debug)]
pub struct Icmpv4Mut<'a>(&'a mut [u8]);

impl<'a> Icmpv4Mut<'a> {
    /// Checks that `buf` holds the 8-byte header.
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> Result<Icmpv4Mut<'a>> {
        check_len(buf, HEADER_LEN, Layer::Icmpv4)?;
        Ok(Icmpv4Mut(buf))
    }

    /// A read-only view of the same bytes.
    #[inline]
    pub fn view(&self) -> Icmpv4<'_> {
        Icmpv4(self.0)
    }

    fn set_word(&mut self, at: usize, new: u16) {
        let c = checksum::update16(be16(self.0, 2), be16(self.0, at), new);
        put16(self.0, at, new);
        put16(self.0, 2, c);
    }

    /// Sets type and code, updating the checksum.
    #[inline]
    pub fn set_type_code(&mut self, msg_type: u8, code: u8) {
        self.set_word(0, u16::from_be_bytes([msg_type, code]));
    }

    /// Sets the echo identifier, updating the checksum (used by NAT).
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        self.set_word(4, ident);
    }
}

/// Appends an ICMP message with the given header fields and payload, checksum filled in.
pub fn emit(buf: &mut Vec<u8>, msg_type: u8, code: u8, rest: [u8; 4], payload: &[u8]) {
    let start = buf.len();
    buf.extend_from_slice(&[msg_type, code, 0, 0]);
    buf.extend_from_slice(&rest);
    buf.extend_from_slice(payload);
    let c = checksum::checksum(&buf[start..]);
    put16(&mut buf[start..], 2, c);
}
