//! IPv6 extension headers: skipping hop-by-hop, routing, destination options and AH to reach
//! the upper-layer header, and flagging the fragment header.
//!
//! The walk follows Open vSwitch's flow extraction: it stops at the first header that is not
//! one of those five; a fragment header with a nonzero offset ends the walk (the fragment has no
//! upper-layer header) with the next-header value 44 (fragment); a fragment header whose offset
//! and flags are all zero (an "atomic fragment") does not mark the packet as a fragment.

use super::{be16, be32, check_len, Error, Layer, Result};

/// Hop-by-hop options.
pub const HOP_BY_HOP: u8 = 0;
/// Routing header.
pub const ROUTING: u8 = 43;
/// Fragment header.
pub const FRAGMENT: u8 = 44;
/// Authentication header.
pub const AH: u8 = 51;
/// Destination options.
pub const DEST_OPTS: u8 = 60;
/// No next header.
pub const NO_NEXT: u8 = 59;

/// Length of a fragment header, and the minimum length of every extension header.
pub const MIN_LEN: usize = 8;

/// Offset bits of the fragment header's offset/flags word.
pub const FRAG_OFFSET_MASK: u16 = 0xfff8;
/// "More fragments" bit of the fragment header's offset/flags word.
pub const FRAG_MORE: u16 = 0x0001;

/// Whether `next_header` names an extension header the walk steps over or stops at.
#[inline]
pub fn is_extension(next_header: u8) -> bool {
    matches!(
        next_header,
        HOP_BY_HOP | ROUTING | FRAGMENT | AH | DEST_OPTS
    )
}

/// A checked view of a generic extension header (hop-by-hop, routing, destination options):
/// next header, then a length in 8-byte units not counting the first 8 bytes.
#[derive(Clone, Copy, Debug)]
pub struct ExtHeader<'a>(&'a [u8]);

impl<'a> ExtHeader<'a> {
    /// Checks that `buf` holds the whole header as its length field gives it.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<ExtHeader<'a>> {
        check_len(buf, MIN_LEN, Layer::Ipv6Ext)?;
        let len = (usize::from(buf[1]) + 1) * 8;
        check_len(buf, len, Layer::Ipv6Ext)?;
        Ok(ExtHeader(buf))
    }

    /// Next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.0[0]
    }

    /// Length of this header in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        (usize::from(self.0[1]) + 1) * 8
    }

    /// Always false: an extension header is at least 8 bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The header's data after the next-header and length bytes.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.0[2..self.len()]
    }
}

/// A checked view of a fragment header.
#[derive(Clone, Copy, Debug)]
pub struct FragmentHeader<'a>(&'a [u8]);

impl<'a> FragmentHeader<'a> {
    /// Checks that `buf` holds the 8-byte header.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<FragmentHeader<'a>> {
        check_len(buf, MIN_LEN, Layer::Ipv6Ext)?;
        Ok(FragmentHeader(buf))
    }

    /// Next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.0[0]
    }

    /// The offset/flags word: offset in the upper 13 bits, M in bit 0.
    #[inline]
    pub fn offset_word(&self) -> u16 {
        be16(self.0, 2)
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn offset(&self) -> usize {
        usize::from(self.offset_word() & FRAG_OFFSET_MASK)
    }

    /// Whether more fragments follow.
    #[inline]
    pub fn more_fragments(&self) -> bool {
        self.offset_word() & FRAG_MORE != 0
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        be32(self.0, 4)
    }
}

/// Fragment status found by [`walk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fragment {
    /// No fragment header, or an atomic one (offset and flags zero).
    #[default]
    None,
    /// The first fragment: the upper-layer header follows.
    First,
    /// A later fragment: no upper-layer header.
    Later,
}

/// Where the walk over the extension headers ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    /// The upper-layer protocol, or [`FRAGMENT`] for a later fragment.
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the walked buffer.
    pub offset: usize,
    /// Fragment status.
    pub fragment: Fragment,
}

/// Walks the extension headers of `payload` (the IPv6 payload) starting with `next_header`.
#[inline]
pub fn walk(next_header: u8, payload: &[u8]) -> Result<Walk> {
    let mut protocol = next_header;
    let mut offset = 0;
    let mut fragment = Fragment::None;
    while is_extension(protocol) {
        let rest = payload.get(offset..).unwrap_or_default();
        check_len(rest, MIN_LEN, Layer::Ipv6Ext)?;
        let (next, len) = match protocol {
            FRAGMENT => {
                let f = FragmentHeader::parse(rest)?;
                if f.offset_word() != 0 {
                    fragment = Fragment::First;
                    if f.offset_word() & FRAG_OFFSET_MASK != 0 {
                        return Ok(Walk {
                            protocol: FRAGMENT,
                            offset: offset + MIN_LEN,
                            fragment: Fragment::Later,
                        });
                    }
                }
                (f.next_header(), MIN_LEN)
            }
            // AH counts its length in 4-byte units, minus 2.
            AH => (rest[0], (usize::from(rest[1]) + 2) * 4),
            _ => (rest[0], (usize::from(rest[1]) + 1) * 8),
        };
        if rest.len() < len {
            return Err(Error::Truncated {
                layer: Layer::Ipv6Ext,
                need: len,
                have: rest.len(),
            });
        }
        protocol = next;
        offset += len;
    }
    Ok(Walk {
        protocol,
        offset,
        fragment,
    })
}

/// Appends a generic extension header (hop-by-hop, routing, destination options) with
/// `data`, which must make the header a multiple of 8 bytes: `data.len() % 8 == 6`.
pub fn emit(buf: &mut Vec<u8>, next_header: u8, data: &[u8]) -> Result<()> {
    let total = data.len() + 2;
    let units = u8::try_from(total / 8)
        .ok()
        .and_then(|u| u.checked_sub(1))
        .filter(|_| total.is_multiple_of(8))
        .ok_or(Error::Invalid {
            layer: Layer::Ipv6Ext,
            what: "extension header length must be a multiple of 8, at most 2048",
        })?;
    buf.push(next_header);
    buf.push(units);
    buf.extend_from_slice(data);
    Ok(())
}

/// Appends a fragment header.
pub fn emit_fragment(buf: &mut Vec<u8>, next_header: u8, offset: u16, more: bool, ident: u32) {
    buf.push(next_header);
    buf.push(0);
    let word = (offset & FRAG_OFFSET_MASK) | u16::from(more);
    buf.extend_from_slice(&word.to_be_bytes());
    buf.extend_from_slice(&ident.to_be_bytes());
}
