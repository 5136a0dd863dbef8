//! TCP header (RFC 9293): ports, flags, and port rewriting with checksum update.

use super::{be16, be32, check_len, checksum, put16, Error, Layer, Result};

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// TCP flag bits, as they sit in the low 12 bits of the data-offset/flags word.
pub mod flags {
    /// No more data from sender.
    pub const FIN: u16 = 0x001;
    /// Synchronize sequence numbers.
    pub const SYN: u16 = 0x002;
    /// Reset the connection.
    pub const RST: u16 = 0x004;
    /// Push function.
    pub const PSH: u16 = 0x008;
    /// Acknowledgment field significant.
    pub const ACK: u16 = 0x010;
    /// Urgent pointer field significant.
    pub const URG: u16 = 0x020;
    /// ECN echo.
    pub const ECE: u16 = 0x040;
    /// Congestion window reduced.
    pub const CWR: u16 = 0x080;
    /// ECN nonce (RFC 3540, historic).
    pub const NS: u16 = 0x100;
}

/// A checked view of a TCP segment. `parse` guarantees the 20-byte fixed header; the data
/// offset is checked by [`Tcp::check_header_len`] (and by [`Tcp::options`] and
/// [`Tcp::payload`], which rely on it), so a caller that only reads fixed fields, such as a
/// datapath rewriting ports, does not pay for or depend on it.
#[derive(Clone, Copy, Debug)]
pub struct Tcp<'a>(&'a [u8]);

impl<'a> Tcp<'a> {
    /// Checks that `buf` holds the fixed header.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Tcp<'a>> {
        check_len(buf, MIN_HEADER_LEN, Layer::Tcp)?;
        Ok(Tcp(buf))
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

    /// Sequence number.
    #[inline]
    pub fn seq(&self) -> u32 {
        be32(self.0, 4)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack(&self) -> u32 {
        be32(self.0, 8)
    }

    /// Header length from the data offset field, in bytes (not checked against the buffer).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.0[12] >> 4) * 4
    }

    /// The 12 flag bits ([`flags`]).
    #[inline]
    pub fn flags(&self) -> u16 {
        be16(self.0, 12) & 0x0fff
    }

    /// Receive window.
    #[inline]
    pub fn window(&self) -> u16 {
        be16(self.0, 14)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.0, 16)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        be16(self.0, 18)
    }

    /// The header length after checking the data offset: at least 20 bytes and within the
    /// buffer.
    #[inline]
    pub fn check_header_len(&self) -> Result<usize> {
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN {
            return Err(Error::Invalid {
                layer: Layer::Tcp,
                what: "data offset below 5 words",
            });
        }
        check_len(self.0, hl, Layer::Tcp)?;
        Ok(hl)
    }

    /// The options, after checking the data offset against the buffer.
    #[inline]
    pub fn options(&self) -> Result<&'a [u8]> {
        let hl = self.check_header_len()?;
        Ok(&self.0[MIN_HEADER_LEN..hl])
    }

    /// The payload, after checking the data offset against the buffer.
    #[inline]
    pub fn payload(&self) -> Result<&'a [u8]> {
        let hl = self.check_header_len()?;
        Ok(&self.0[hl..])
    }

    /// Whether the checksum is correct for the pseudo-header sum `pseudo` (see
    /// [`super::ipv4::Ipv4::pseudo_header_sum`]); the view must cover the whole segment.
    pub fn verify_checksum(&self, pseudo: u32) -> bool {
        checksum::fold(checksum::sum(self.0, pseudo)) == 0xffff
    }
}

/// A checked mutable view of a TCP segment.
#[derive(Debug)]
pub struct TcpMut<'a>(&'a mut [u8]);

impl<'a> TcpMut<'a> {
    /// Checks that `buf` holds the fixed header.
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> Result<TcpMut<'a>> {
        check_len(buf, MIN_HEADER_LEN, Layer::Tcp)?;
        Ok(TcpMut(buf))
    }

    /// A read-only view of the same bytes.
    #[inline]
    pub fn view(&self) -> Tcp<'_> {
        Tcp(self.0)
    }

    fn set_word(&mut self, at: usize, new: u16) {
        let c = checksum::update16(be16(self.0, 16), be16(self.0, at), new);
        put16(self.0, at, new);
        put16(self.0, 16, c);
    }

    /// Sets the source port, updating the checksum.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        self.set_word(0, port);
    }

    /// Sets the destination port, updating the checksum.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        self.set_word(2, port);
    }

    /// Computes the checksum from scratch over the whole buffer with pseudo-header sum `pseudo`.
    pub fn fill_checksum(&mut self, pseudo: u32) {
        put16(self.0, 16, 0);
        let c = checksum::finish(checksum::sum(self.0, pseudo));
        put16(self.0, 16, c);
    }
}

/// The fields of a TCP header to emit (without options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags ([`flags`], 12 bits).
    pub flags: u16,
    /// Window.
    pub window: u16,
}

impl TcpHeader {
    /// Appends the header and `payload` with the checksum computed over pseudo-header sum
    /// `pseudo` (which must count the length of header plus payload).
    pub fn emit(&self, buf: &mut Vec<u8>, payload: &[u8], pseudo: u32) {
        let start = buf.len();
        buf.extend_from_slice(&self.src_port.to_be_bytes());
        buf.extend_from_slice(&self.dst_port.to_be_bytes());
        buf.extend_from_slice(&self.seq.to_be_bytes());
        buf.extend_from_slice(&self.ack.to_be_bytes());
        buf.extend_from_slice(&(0x5000 | (self.flags & 0x0fff)).to_be_bytes());
        buf.extend_from_slice(&self.window.to_be_bytes());
        buf.extend_from_slice(&[0, 0, 0, 0]);
        buf.extend_from_slice(payload);
        let c = checksum::finish(checksum::sum(&buf[start..], pseudo));
        put16(&mut buf[start..], 16, c);
    }
}
