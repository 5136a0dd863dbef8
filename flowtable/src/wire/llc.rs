//! 802.2 LLC and SNAP headers, found after an 802.3 length field instead of an ethertype.
//!
//! A SNAP header with the Ethernet OUI (00:00:00) carries an ethertype; Open vSwitch, and this
//! switch, then treat the frame as if it had that ethertype. Any other 802.2 frame gets the
//! pseudo-ethertype [`crate::ethertype::NONE`] (0x05ff).

use super::{be16, check_len, Layer, Result};

/// Length of the LLC header (DSAP, SSAP, control).
pub const LLC_LEN: usize = 3;
/// Length of LLC plus SNAP (OUI and type).
pub const SNAP_LEN: usize = 8;
/// DSAP and SSAP value that announces a SNAP header.
pub const SAP_SNAP: u8 = 0xaa;
/// LLC control value of unnumbered information, used with SNAP.
pub const CNTL_UI: u8 = 0x03;

/// A checked view of an LLC header.
#[derive(Clone, Copy, Debug)]
pub struct Llc<'a>(&'a [u8]);

impl<'a> Llc<'a> {
    /// Checks that `buf` holds an LLC header.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Llc<'a>> {
        check_len(buf, LLC_LEN, Layer::Llc)?;
        Ok(Llc(buf))
    }

    /// Destination service access point.
    #[inline]
    pub fn dsap(&self) -> u8 {
        self.0[0]
    }

    /// Source service access point.
    #[inline]
    pub fn ssap(&self) -> u8 {
        self.0[1]
    }

    /// Control field (one byte; unnumbered format).
    #[inline]
    pub fn control(&self) -> u8 {
        self.0[2]
    }

    /// Whether the DSAP/SSAP/control values announce a SNAP header.
    #[inline]
    pub fn announces_snap(&self) -> bool {
        self.dsap() == SAP_SNAP && self.ssap() == SAP_SNAP && self.control() == CNTL_UI
    }
}

/// A checked view of an LLC+SNAP header.
#[derive(Clone, Copy, Debug)]
pub struct Snap<'a>(&'a [u8]);

impl<'a> Snap<'a> {
    /// Checks that `buf` holds LLC and SNAP headers (8 bytes); the values are not checked.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Snap<'a>> {
        check_len(buf, SNAP_LEN, Layer::Llc)?;
        Ok(Snap(buf))
    }

    /// The LLC part.
    #[inline]
    pub fn llc(&self) -> Llc<'a> {
        Llc(self.0)
    }

    /// Organizationally unique identifier.
    #[inline]
    pub fn oui(&self) -> [u8; 3] {
        [self.0[3], self.0[4], self.0[5]]
    }

    /// Protocol ID (an ethertype when the OUI is 00:00:00).
    #[inline]
    pub fn protocol(&self) -> u16 {
        be16(self.0, 6)
    }

    /// The ethertype this SNAP header carries, if it is an Ethernet-encapsulating SNAP header
    /// (LLC AA-AA-03, OUI 00:00:00, protocol at least 0x0600).
    #[inline]
    pub fn ethertype(&self) -> Option<u16> {
        let p = self.protocol();
        (self.llc().announces_snap()
            && self.oui() == [0, 0, 0]
            && p >= super::ethernet::ETHERTYPE_MIN)
            .then_some(p)
    }

    /// Everything after the SNAP header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.0[SNAP_LEN..]
    }
}

/// Appends an LLC+SNAP header carrying `ethertype` with the Ethernet OUI.
pub fn emit_snap(buf: &mut Vec<u8>, ethertype: u16) {
    buf.extend_from_slice(&[SAP_SNAP, SAP_SNAP, CNTL_UI, 0, 0, 0]);
    buf.extend_from_slice(&ethertype.to_be_bytes());
}
