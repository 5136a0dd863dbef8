//! 802.1Q (customer) and 802.1ad (service) VLAN tags, and pushing and popping them.
//!
//! A tag is four bytes that sit between the source address and the ethertype: a TPID (in the
//! position of the ethertype) followed by the tag control information (PCP, DEI, VID). The view
//! [`Vlan`] covers the TCI and the ethertype that follows it, i.e. what comes after a TPID.

use super::{be16, check_len, ethernet, Error, Layer, Result};

/// TPID of an 802.1Q tag.
pub const TPID_8021Q: u16 = 0x8100;
/// TPID of an 802.1ad (QinQ service) tag.
pub const TPID_8021AD: u16 = 0x88a8;
/// Length of a tag (TPID + TCI).
pub const TAG_LEN: usize = 4;
/// Bytes a [`Vlan`] view needs: TCI and the encapsulated ethertype.
pub const HEADER_LEN: usize = 4;

/// Whether `ethertype` is a VLAN TPID the switch parses.
#[inline]
pub fn is_tpid(ethertype: u16) -> bool {
    ethertype == TPID_8021Q || ethertype == TPID_8021AD
}

/// A checked view of what follows a VLAN TPID: TCI, then the inner ethertype.
#[derive(Clone, Copy, Debug)]
pub struct Vlan<'a>(&'a [u8]);

impl<'a> Vlan<'a> {
    /// Checks that `buf` holds a TCI and an ethertype.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Vlan<'a>> {
        check_len(buf, HEADER_LEN, Layer::Vlan)?;
        Ok(Vlan(buf))
    }

    /// Tag control information: PCP (3 bits), DEI (1 bit), VID (12 bits).
    #[inline]
    pub fn tci(&self) -> u16 {
        be16(self.0, 0)
    }

    /// Priority code point.
    #[inline]
    pub fn pcp(&self) -> u8 {
        self.0[0] >> 5
    }

    /// Drop eligible indicator (formerly CFI).
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier.
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// The ethertype (or next TPID) after this tag.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.0, 2)
    }

    /// Everything after this tag's ethertype.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.0[HEADER_LEN..]
    }
}

/// Inserts a tag with `tpid` and `tci` as the outermost tag of the Ethernet frame in `frame`.
pub fn push(frame: &mut Vec<u8>, tpid: u16, tci: u16) -> Result<()> {
    check_len(frame, ethernet::HEADER_LEN, Layer::Ethernet)?;
    let [t0, t1] = tpid.to_be_bytes();
    let [c0, c1] = tci.to_be_bytes();
    frame.splice(12..12, [t0, t1, c0, c1]);
    Ok(())
}

/// Removes the outermost tag of the Ethernet frame in `frame` and returns its TCI, or `None`
/// (frame unchanged) when the frame is not tagged.
pub fn pop(frame: &mut Vec<u8>) -> Result<Option<u16>> {
    let tci = outer_tci(frame)?;
    if tci.is_some() {
        frame.drain(12..12 + TAG_LEN);
    }
    Ok(tci)
}

/// The TCI of the outermost tag of `frame`, `None` when untagged.
fn outer_tci(frame: &[u8]) -> Result<Option<u16>> {
    let eth = ethernet::Ethernet::parse(frame)?;
    if !is_tpid(eth.ethertype()) {
        return Ok(None);
    }
    let tag = Vlan::parse(eth.payload())?;
    Ok(Some(tag.tci()))
}

/// Pushes a tag onto the frame that starts at `buf[start..]` by moving its MAC addresses four
/// bytes into the headroom in front of it. Returns the new start of the frame.
///
/// This is the datapath's form: no allocation, no move of the payload.
pub fn push_in_headroom(buf: &mut [u8], start: usize, tpid: u16, tci: u16) -> Result<usize> {
    let new_start = start.checked_sub(TAG_LEN).ok_or(Error::Invalid {
        layer: Layer::Vlan,
        what: "no headroom for a tag",
    })?;
    let frame = buf.get(start..).unwrap_or_default();
    check_len(frame, ethernet::HEADER_LEN, Layer::Ethernet)?;
    buf.copy_within(start..start + 12, new_start);
    buf[new_start + 12..new_start + 14].copy_from_slice(&tpid.to_be_bytes());
    buf[new_start + 14..new_start + 16].copy_from_slice(&tci.to_be_bytes());
    Ok(new_start)
}

/// Pops the outermost tag of the frame at `buf[start..]` by moving its MAC addresses four bytes
/// towards the payload. Returns the new start of the frame and the removed TCI, or `(start,
/// None)` when the frame is untagged.
pub fn pop_in_place(buf: &mut [u8], start: usize) -> Result<(usize, Option<u16>)> {
    let frame = buf.get(start..).ok_or(Error::Truncated {
        layer: Layer::Ethernet,
        need: ethernet::HEADER_LEN,
        have: 0,
    })?;
    match outer_tci(frame)? {
        None => Ok((start, None)),
        Some(tci) => {
            buf.copy_within(start..start + 12, start + TAG_LEN);
            Ok((start + TAG_LEN, Some(tci)))
        }
    }
}

/// Appends a tag (TPID and TCI) to `buf`; the caller emits the encapsulated ethertype next.
pub fn emit(buf: &mut Vec<u8>, tpid: u16, tci: u16) {
    buf.extend_from_slice(&tpid.to_be_bytes());
    buf.extend_from_slice(&tci.to_be_bytes());
}
