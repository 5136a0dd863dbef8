//! UDP header (RFC 768): ports, length, and port rewriting with checksum update.

use super::{be16, check_len, checksum, put16, Error, Layer, Result};

/// Length of the header.
pub const HEADER_LEN: usize = 8;

/// A checked view of a UDP datagram. `parse` guarantees the 8-byte header; the length field is
/// checked by [`Udp::payload`].
#[derive(Clone, Copy, Debug)]
pub struct Udp<'a>(&'a [u8]);

impl<'a> Udp<'a> {
    /// Checks that `buf` holds the header.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Udp<'a>> {
        check_len(buf, HEADER_LEN, Layer::Udp)?;
        Ok(Udp(buf))
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

    /// Length field (header plus payload).
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(be16(self.0, 4))
    }

    /// Whether the length field says there is no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() <= HEADER_LEN
    }

    /// Checksum field (0: no checksum).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.0, 6)
    }

    /// The payload as the length field delimits it, after checking it against the buffer.
    #[inline]
    pub fn payload(&self) -> Result<&'a [u8]> {
        let len = self.len();
        if len < HEADER_LEN {
            return Err(Error::Invalid {
                layer: Layer::Udp,
                what: "length field below 8",
            });
        }
        check_len(self.0, len, Layer::Udp)?;
        Ok(&self.0[HEADER_LEN..len])
    }

    /// Whether the checksum is absent or correct for pseudo-header sum `pseudo`.
    pub fn verify_checksum(&self, pseudo: u32) -> bool {
        let Ok(payload) = self.payload() else {
            return false;
        };
        let datagram = &self.0[..HEADER_LEN + payload.len()];
        self.checksum() == 0 || checksum::fold(checksum::sum(datagram, pseudo)) == 0xffff
    }
}

/// A checked mutable view of a UDP datagram.
#[derive(Debug)]
pub struct UdpMut<'a>(&'a mut [u8]);

impl<'a> UdpMut<'a> {
    /// Checks that `buf` holds the header.
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> Result<UdpMut<'a>> {
        check_len(buf, HEADER_LEN, Layer::Udp)?;
        Ok(UdpMut(buf))
    }

    /// A read-only view of the same bytes.
    #[inline]
    pub fn view(&self) -> Udp<'_> {
        Udp(self.0)
    }

    fn set_word(&mut self, at: usize, new: u16) {
        let old_check = be16(self.0, 6);
        if old_check != 0 {
            let mut c = checksum::update16(old_check, be16(self.0, at), new);
            if c == 0 {
                c = 0xffff;
            }
            put16(self.0, 6, c);
        }
        put16(self.0, at, new);
    }

    /// Sets the source port, updating the checksum unless it is absent.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        self.set_word(0, port);
    }

    /// Sets the destination port, updating the checksum unless it is absent.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        self.set_word(2, port);
    }
}

/// Appends a UDP header and `payload`; the checksum is computed over pseudo-header sum `pseudo`
/// when given (it must count the datagram length), else left zero (allowed over IPv4 only).
pub fn emit(
    buf: &mut Vec<u8>,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
    pseudo: Option<u32>,
) -> Result<()> {
    let len = u16::try_from(HEADER_LEN + payload.len()).map_err(|_| Error::Invalid {
        layer: Layer::Udp,
        what: "datagram longer than 65535 bytes",
    })?;
    let start = buf.len();
    buf.extend_from_slice(&src_port.to_be_bytes());
    buf.extend_from_slice(&dst_port.to_be_bytes());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(payload);
    if let Some(pseudo) = pseudo {
        let mut c = checksum::finish(checksum::sum(&buf[start..], pseudo));
        if c == 0 {
            c = 0xffff;
        }
        put16(&mut buf[start..], 6, c);
    }
    Ok(())
}
