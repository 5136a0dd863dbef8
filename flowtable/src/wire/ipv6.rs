//! IPv6 fixed header (RFC 8200), and address rewriting that keeps the transport checksum right.
//! Extension headers are in [`super::ipv6ext`].

use super::{
    addr16, be16, be32, check_len, checksum, ipv4::proto, ipv6ext, put16, Error, Layer, Result,
};
use std::net::Ipv6Addr;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// A checked view of an IPv6 packet.
///
/// `parse` guarantees the 40-byte header and that the payload length fits in the buffer;
/// bytes beyond it (Ethernet padding) are outside [`Ipv6::payload`].
#[derive(Clone, Copy, Debug)]
pub struct Ipv6<'a>(&'a [u8]);

impl<'a> Ipv6<'a> {
    /// Checks the header and the payload length. The version field is not checked.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Ipv6<'a>> {
        check_len(buf, HEADER_LEN, Layer::Ipv6)?;
        if usize::from(be16(buf, 4)) > buf.len() - HEADER_LEN {
            return Err(Error::Invalid {
                layer: Layer::Ipv6,
                what: "payload length beyond the end of the frame",
            });
        }
        Ok(Ipv6(buf))
    }

    /// Version field (6 for a well-formed packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.0[0] >> 4
    }

    /// Traffic class: DSCP (upper 6 bits) and ECN (lower 2 bits).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.0[0] << 4) | (self.0[1] >> 4)
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        be32(self.0, 0) & 0x000f_ffff
    }

    /// Payload length field.
    #[inline]
    pub fn payload_len(&self) -> usize {
        usize::from(be16(self.0, 4))
    }

    /// Next header (the first extension header or the upper-layer protocol).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.0[6]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.0[7]
    }

    /// Source address bytes.
    #[inline]
    pub fn src(&self) -> [u8; 16] {
        addr16(self.0, 8)
    }

    /// Destination address bytes.
    #[inline]
    pub fn dst(&self) -> [u8; 16] {
        addr16(self.0, 24)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src())
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst())
    }

    /// The payload as the payload length delimits it (extension headers included).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.0[HEADER_LEN..HEADER_LEN + self.payload_len()]
    }

    /// Walks the extension headers: see [`ipv6ext::walk`].
    #[inline]
    pub fn walk(&self) -> Result<ipv6ext::Walk> {
        ipv6ext::walk(self.next_header(), self.payload())
    }

    /// The pseudo-header sum for an upper-layer packet of `len` bytes with protocol `proto`.
    #[inline]
    pub fn pseudo_header_sum(&self, proto: u8, len: usize) -> u32 {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        checksum::pseudo_header_v6(&self.src(), &self.dst(), proto, len)
    }
}

/// A checked mutable view of an IPv6 packet whose address setters keep the TCP, UDP or ICMPv6
/// checksum (which covers the pseudo-header) correct, wherever the extension headers let the
/// upper-layer header be found (a later fragment carries none; a malformed chain is left as is).
#[derive(Debug)]
pub struct Ipv6Mut<'a>(&'a mut [u8]);

impl<'a> Ipv6Mut<'a> {
    /// Checks `buf` as [`Ipv6::parse`] does.
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> Result<Ipv6Mut<'a>> {
        Ipv6::parse(buf)?;
        Ok(Ipv6Mut(buf))
    }

    /// A read-only view of the same bytes.
    #[inline]
    pub fn view(&self) -> Ipv6<'_> {
        Ipv6(self.0)
    }

    fn set_address(&mut self, at: usize, new: [u8; 16]) {
        let old = addr16(self.0, at);
        self.0[at..at + 16].copy_from_slice(&new);
        let v = Ipv6(self.0);
        let Ok(walk) = v.walk() else {
            return;
        };
        if walk.fragment == ipv6ext::Fragment::Later {
            return;
        }
        let (proto, start, end) = (
            walk.protocol,
            HEADER_LEN + walk.offset,
            HEADER_LEN + v.payload_len(),
        );
        let Some(l4) = self.0.get_mut(start..end) else {
            return;
        };
        let at = match proto {
            proto::TCP if l4.len() >= super::tcp::MIN_HEADER_LEN => 16,
            proto::UDP if l4.len() >= super::udp::HEADER_LEN => 6,
            proto::ICMPV6 if l4.len() >= 4 => 2,
            _ => return,
        };
        let mut c = checksum::update_bytes(be16(l4, at), &old, &new);
        if proto == proto::UDP && c == 0 {
            c = 0xffff;
        }
        put16(l4, at, c);
    }

    /// Sets the source address, updating the transport checksum.
    #[inline]
    pub fn set_src(&mut self, src: [u8; 16]) {
        self.set_address(8, src);
    }

    /// Sets the destination address, updating the transport checksum.
    #[inline]
    pub fn set_dst(&mut self, dst: [u8; 16]) {
        self.set_address(24, dst);
    }

    /// Sets the hop limit (IPv6 has no header checksum).
    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.0[7] = hop_limit;
    }

    /// Sets the traffic class (DSCP and ECN).
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let word = be16(self.0, 0) & 0xf00f | (u16::from(tc) << 4);
        put16(self.0, 0, word);
    }

    /// Sets the flow label (low 20 bits of `label`).
    #[inline]
    pub fn set_flow_label(&mut self, label: u32) {
        let word = be32(self.0, 0) & 0xfff0_0000 | (label & 0x000f_ffff);
        super::put32(self.0, 0, word);
    }

    /// The payload (extension headers, upper-layer header and data), mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = Ipv6(self.0).payload_len();
        &mut self.0[HEADER_LEN..HEADER_LEN + len]
    }
}

/// The fields of an IPv6 fixed header to emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Header {
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Next header.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Default for Ipv6Header {
    fn default() -> Self {
        Ipv6Header {
            src: [0; 16],
            dst: [0; 16],
            next_header: ipv6ext::NO_NEXT,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
    }
}

impl Ipv6Header {
    /// Appends the header for a payload of `payload_len` bytes.
    pub fn emit(&self, buf: &mut Vec<u8>, payload_len: usize) -> Result<()> {
        let plen = u16::try_from(payload_len).map_err(|_| Error::Invalid {
            layer: Layer::Ipv6,
            what: "payload longer than 65535 bytes (jumbograms are not supported)",
        })?;
        let first =
            (6 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff);
        buf.extend_from_slice(&first.to_be_bytes());
        buf.extend_from_slice(&plen.to_be_bytes());
        buf.push(self.next_header);
        buf.push(self.hop_limit);
        buf.extend_from_slice(&self.src);
        buf.extend_from_slice(&self.dst);
        Ok(())
    }

    /// The pseudo-header sum for an upper-layer packet of `len` bytes with protocol `proto`.
    #[inline]
    pub fn pseudo_header_sum(&self, proto: u8, len: usize) -> u32 {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        checksum::pseudo_header_v6(&self.src, &self.dst, proto, len)
    }
}
