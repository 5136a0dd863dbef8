//! IPv4 header (RFC 791): options, fragments, header checksum, and address rewriting that keeps
//! the IP and transport checksums right.

use super::{be16, be32, check_len, checksum, put16, put32, Error, Layer, Result};
use std::net::Ipv4Addr;

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// "More fragments" flag in the flags/fragment-offset word.
pub const FLAG_MF: u16 = 0x2000;
/// "Don't fragment" flag in the flags/fragment-offset word.
pub const FLAG_DF: u16 = 0x4000;
/// Fragment offset bits (in 8-byte units) of the flags/fragment-offset word.
pub const OFFSET_MASK: u16 = 0x1fff;

/// IP protocol numbers.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IGMP.
    pub const IGMP: u8 = 2;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// A checked view of an IPv4 packet.
///
/// `parse` guarantees `20 <= header_len() <= total_len() <= buffer length`; bytes after
/// `total_len()` (Ethernet padding) are outside [`Ipv4::payload`].
#[derive(Clone, Copy, Debug)]
pub struct Ipv4<'a>(&'a [u8]);

impl<'a> Ipv4<'a> {
    /// Checks the header lengths against each other and against `buf`.
    ///
    /// The version field is not checked: that is a decision for the caller.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Ipv4<'a>> {
        check_len(buf, MIN_HEADER_LEN, Layer::Ipv4)?;
        let header_len = usize::from(buf[0] & 0x0f) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(Error::Invalid {
                layer: Layer::Ipv4,
                what: "header length below 20 bytes",
            });
        }
        check_len(buf, header_len, Layer::Ipv4)?;
        let total_len = usize::from(be16(buf, 2));
        if total_len < header_len {
            return Err(Error::Invalid {
                layer: Layer::Ipv4,
                what: "total length shorter than the header",
            });
        }
        if total_len > buf.len() {
            return Err(Error::Invalid {
                layer: Layer::Ipv4,
                what: "total length beyond the end of the frame",
            });
        }
        Ok(Ipv4(buf))
    }

    /// Version field (4 for a well-formed packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.0[0] >> 4
    }

    /// Header length in bytes, options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.0[0] & 0x0f) * 4
    }

    /// Type of service byte: DSCP (upper 6 bits) and ECN (lower 2 bits).
    #[inline]
    pub fn tos(&self) -> u8 {
        self.0[1]
    }

    /// Total length field: header plus payload.
    #[inline]
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.0, 2))
    }

    /// Identification field.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.0, 4)
    }

    /// The flags and fragment offset word.
    #[inline]
    pub fn frag_word(&self) -> u16 {
        be16(self.0, 6)
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> usize {
        usize::from(self.frag_word() & OFFSET_MASK) * 8
    }

    /// Whether "more fragments" is set.
    #[inline]
    pub fn more_fragments(&self) -> bool {
        self.frag_word() & FLAG_MF != 0
    }

    /// Whether "don't fragment" is set.
    #[inline]
    pub fn dont_fragment(&self) -> bool {
        self.frag_word() & FLAG_DF != 0
    }

    /// Whether this is a fragment (first or later).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.frag_word() & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Whether this is a fragment other than the first: it carries no transport header.
    #[inline]
    pub fn is_later_fragment(&self) -> bool {
        self.frag_word() & OFFSET_MASK != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.0[8]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.0[9]
    }

    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.0, 10)
    }

    /// Source address as a number (10.0.0.1 is 0x0a000001).
    #[inline]
    pub fn src(&self) -> u32 {
        be32(self.0, 12)
    }

    /// Destination address as a number.
    #[inline]
    pub fn dst(&self) -> u32 {
        be32(self.0, 16)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src())
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst())
    }

    /// The options (bytes 20..header_len).
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        &self.0[MIN_HEADER_LEN..self.header_len()]
    }

    /// The payload: from the end of the header to `total_len` (excluding link padding).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.0[self.header_len()..self.total_len()]
    }

    /// Bytes of the buffer after `total_len` (Ethernet padding).
    #[inline]
    pub fn padding(&self) -> &'a [u8] {
        &self.0[self.total_len()..]
    }

    /// Whether the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(&self.0[..self.header_len()], 0)) == 0xffff
    }

    /// The sum of the pseudo-header for this packet's transport payload.
    #[inline]
    pub fn pseudo_header_sum(&self) -> u32 {
        let len = u16::try_from(self.payload().len()).unwrap_or(u16::MAX);
        checksum::pseudo_header_v4(self.src(), self.dst(), self.protocol(), len)
    }
}

/// A checked mutable view of an IPv4 packet whose setters keep the header checksum, and the
/// TCP/UDP checksum that covers the pseudo-header, correct.
#[derive(Debug)]
pub struct Ipv4Mut<'a>(&'a mut [u8]);

impl<'a> Ipv4Mut<'a> {
    /// Checks `buf` as [`Ipv4::parse`] does.
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> Result<Ipv4Mut<'a>> {
        Ipv4::parse(buf)?;
        Ok(Ipv4Mut(buf))
    }

    /// A read-only view of the same bytes.
    #[inline]
    pub fn view(&self) -> Ipv4<'_> {
        Ipv4(self.0)
    }

    fn set_header_word16(&mut self, at: usize, new: u16) {
        let old = be16(self.0, at);
        let c = checksum::update16(be16(self.0, 10), old, new);
        put16(self.0, at, new);
        put16(self.0, 10, c);
    }

    fn set_address(&mut self, at: usize, new: u32) {
        let old = be32(self.0, at);
        let c = checksum::update32(be16(self.0, 10), old, new);
        put32(self.0, at, new);
        put16(self.0, 10, c);
        self.update_transport_pseudo(old, new);
    }

    /// Updates the TCP or UDP checksum for a pseudo-header address change, when the transport
    /// header is in this packet (not for later fragments, not for a UDP checksum of zero).
    fn update_transport_pseudo(&mut self, old: u32, new: u32) {
        let v = Ipv4(self.0);
        if v.is_later_fragment() {
            return;
        }
        let (start, end, proto) = (v.header_len(), v.total_len(), v.protocol());
        let Some(l4) = self.0.get_mut(start..end) else {
            return;
        };
        let at = match proto {
            proto::TCP if l4.len() >= super::tcp::MIN_HEADER_LEN => 16,
            proto::UDP if l4.len() >= super::udp::HEADER_LEN => 6,
            _ => return,
        };
        let check = be16(l4, at);
        if proto == proto::UDP && check == 0 {
            return; // No checksum: leave it absent.
        }
        let mut c = checksum::update32(check, old, new);
        if proto == proto::UDP && c == 0 {
            c = 0xffff;
        }
        put16(l4, at, c);
    }

    /// Sets the source address, updating the header checksum and the TCP/UDP checksum.
    #[inline]
    pub fn set_src(&mut self, src: u32) {
        self.set_address(12, src);
    }

    /// Sets the destination address, updating the header checksum and the TCP/UDP checksum.
    #[inline]
    pub fn set_dst(&mut self, dst: u32) {
        self.set_address(16, dst);
    }

    /// Sets the TTL, updating the header checksum.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        let word = u16::from_be_bytes([ttl, self.0[9]]);
        self.set_header_word16(8, word);
    }

    /// Sets the TOS byte (DSCP and ECN), updating the header checksum.
    #[inline]
    pub fn set_tos(&mut self, tos: u8) {
        let word = u16::from_be_bytes([self.0[0], tos]);
        self.set_header_word16(0, word);
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        let hl = Ipv4(self.0).header_len();
        put16(self.0, 10, 0);
        let c = checksum::checksum(&self.0[..hl]);
        put16(self.0, 10, c);
    }

    /// The payload (transport header and data), mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let v = Ipv4(self.0);
        let (start, end) = (v.header_len(), v.total_len());
        &mut self.0[start..end]
    }
}

/// The fields of an IPv4 header to emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Header<'o> {
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// TOS byte.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Flags and fragment offset word (e.g. [`FLAG_DF`]).
    pub frag_word: u16,
    /// Options; their length must be a multiple of 4, at most 40 bytes.
    pub options: &'o [u8],
}

impl Default for Ipv4Header<'_> {
    fn default() -> Self {
        Ipv4Header {
            src: 0,
            dst: 0,
            protocol: 0,
            ttl: 64,
            tos: 0,
            ident: 0,
            frag_word: 0,
            options: &[],
        }
    }
}

impl Ipv4Header<'_> {
    /// Header length this header emits.
    #[inline]
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + self.options.len()
    }

    /// Appends the header, with a correct checksum, for a payload of `payload_len` bytes.
    pub fn emit(&self, buf: &mut Vec<u8>, payload_len: usize) -> Result<()> {
        let hl = self.header_len();
        if !self.options.len().is_multiple_of(4) || hl > 60 {
            return Err(Error::Invalid {
                layer: Layer::Ipv4,
                what: "options must be a multiple of 4 bytes, at most 40",
            });
        }
        let total = u16::try_from(hl + payload_len).map_err(|_| Error::Invalid {
            layer: Layer::Ipv4,
            what: "packet longer than 65535 bytes",
        })?;
        let start = buf.len();
        let ihl = u8::try_from(hl / 4).unwrap_or(15);
        buf.push(0x40 | ihl);
        buf.push(self.tos);
        buf.extend_from_slice(&total.to_be_bytes());
        buf.extend_from_slice(&self.ident.to_be_bytes());
        buf.extend_from_slice(&self.frag_word.to_be_bytes());
        buf.push(self.ttl);
        buf.push(self.protocol);
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&self.src.to_be_bytes());
        buf.extend_from_slice(&self.dst.to_be_bytes());
        buf.extend_from_slice(self.options);
        let c = checksum::checksum(&buf[start..]);
        put16(&mut buf[start..], 10, c);
        Ok(())
    }
}
