//! SCTP common header (RFC 9260): ports, verification tag, CRC-32C checksum.

use super::{be16, be32, check_len, checksum, Layer, Result};

/// Length of the common header.
pub const HEADER_LEN: usize = 12;

/// A checked view of an SCTP packet (common header and chunks).
#[derive(Clone, Copy, Debug)]
pub struct Sctp<'a>(&'a [u8]);

impl<'a> Sctp<'a> {
    /// Checks that `buf` holds the common header.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Sctp<'a>> {
        check_len(buf, HEADER_LEN, Layer::Sctp)?;
        Ok(Sctp(buf))
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.0, 0)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.0, 2)
    }

    /// Verification tag.
    #[inline]
    pub fn verification_tag(&self) -> u32 {
        be32(self.0, 4)
    }

    /// Checksum field (CRC-32C, stored little-endian as RFC 9260 appendix A does).
    #[inline]
    pub fn checksum(&self) -> u32 {
        u32::from_le_bytes([self.0[8], self.0[9], self.0[10], self.0[11]])
    }

    /// The chunks after the common header.
    #[inline]
    pub fn chunks(&self) -> &'a [u8] {
        &self.0[HEADER_LEN..]
    }

    /// Whether the checksum is right for the whole packet this view covers.
    pub fn verify_checksum(&self) -> bool {
        compute(self.0) == self.checksum()
    }
}

/// CRC-32C of `packet` with its checksum field taken as zero.
fn compute(packet: &[u8]) -> u32 {
    let mut head = [0u8; HEADER_LEN];
    head[..8].copy_from_slice(&packet[..8]);
    let crc = checksum::crc32c_update(!0, &head);
    !checksum::crc32c_update(crc, &packet[HEADER_LEN..])
}

/// A checked mutable view of an SCTP packet. Setters recompute the CRC-32C over the whole
/// packet (CRC-32C has no incremental update), so the view must cover the whole packet.
#[derive(Debug)]
pub struct SctpMut<'a>(&'a mut [u8]);

impl<'a> SctpMut<'a> {
    /// Checks that `buf` holds the common header.
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> Result<SctpMut<'a>> {
        check_len(buf, HEADER_LEN, Layer::Sctp)?;
        Ok(SctpMut(buf))
    }

    /// A read-only view of the same bytes.
    #[inline]
    pub fn view(&self) -> Sctp<'_> {
        Sctp(self.0)
    }

    /// Sets the source port and recomputes the checksum.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        self.0[0..2].copy_from_slice(&port.to_be_bytes());
        self.fill_checksum();
    }

    /// Sets the destination port and recomputes the checksum.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        self.0[2..4].copy_from_slice(&port.to_be_bytes());
        self.fill_checksum();
    }

    /// Recomputes the checksum over the whole packet.
    pub fn fill_checksum(&mut self) {
        let c = compute(self.0);
        self.0[8..12].copy_from_slice(&c.to_le_bytes());
    }
}

/// Appends an SCTP common header and `chunks`, with the checksum filled in.
pub fn emit(buf: &mut Vec<u8>, src_port: u16, dst_port: u16, verification_tag: u32, chunks: &[u8]) {
    let start = buf.len();
    buf.extend_from_slice(&src_port.to_be_bytes());
    buf.extend_from_slice(&dst_port.to_be_bytes());
    buf.extend_from_slice(&verification_tag.to_be_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(chunks);
    let c = compute(&buf[start..]);
    buf[start + 8..start + 12].copy_from_slice(&c.to_le_bytes());
}
