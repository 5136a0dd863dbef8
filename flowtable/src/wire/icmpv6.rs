//! ICMPv6 (RFC 4443) and neighbor discovery (RFC 4861): type, code, checksum, the target of a
//! neighbor solicitation or advertisement and its link-layer address options.

use super::{addr16, be16, check_len, checksum, put16, Error, Layer, MacAddr, Result};

/// Length of the header (type, code, checksum, 4-byte message-specific word).
pub const HEADER_LEN: usize = 8;
/// Echo request.
pub const ECHO_REQUEST: u8 = 128;
/// Echo reply.
pub const ECHO_REPLY: u8 = 129;
/// Router solicitation.
pub const ROUTER_SOLICIT: u8 = 133;
/// Neighbor solicitation.
pub const NEIGHBOR_SOLICIT: u8 = 135;
/// Neighbor advertisement.
pub const NEIGHBOR_ADVERT: u8 = 136;
/// Source link-layer address option type.
pub const OPT_SOURCE_LLADDR: u8 = 1;
/// Target link-layer address option type.
pub const OPT_TARGET_LLADDR: u8 = 2;

/// A checked view of an ICMPv6 message.
#[derive(Clone, Copy, Debug)]
pub struct Icmpv6<'a>(&'a [u8]);

impl<'a> Icmpv6<'a> {
    /// Checks that `buf` holds the 8-byte header.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Icmpv6<'a>> {
        check_len(buf, HEADER_LEN, Layer::Icmpv6)?;
        Ok(Icmpv6(buf))
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

    /// Everything after the 8-byte header.
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        &self.0[HEADER_LEN..]
    }

    /// Whether this is a neighbor solicitation or advertisement (with code 0).
    #[inline]
    pub fn is_nd(&self) -> bool {
        self.code() == 0 && matches!(self.msg_type(), NEIGHBOR_SOLICIT | NEIGHBOR_ADVERT)
    }

    /// Whether the checksum is right for pseudo-header sum `pseudo` over the whole message.
    pub fn verify_checksum(&self, pseudo: u32) -> bool {
        checksum::fold(checksum::sum(self.0, pseudo)) == 0xffff
    }
}

/// The fields of a neighbor solicitation or advertisement that a flow key holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nd {
    /// Target address.
    pub target: [u8; 16],
    /// Source link-layer address option (zero when absent).
    pub sll: MacAddr,
    /// Target link-layer address option (zero when absent).
    pub tll: MacAddr,
}

impl Icmpv6<'_> {
    /// The target and link-layer address options of a neighbor solicitation or advertisement,
    /// read as Open vSwitch does:
    /// - the target must be present, else [`Error::Truncated`];
    /// - options are walked while 8 bytes remain; an option of length 0 or running past the
    ///   end stops the walk (the addresses found so far are kept);
    /// - an Ethernet-sized (8-byte) source or target link-layer option fills `sll` / `tll`,
    ///   whatever the message type;
    /// - a second nonzero option of the same kind makes the message invalid.
    ///
    /// Call only when [`Icmpv6::is_nd`] holds.
    pub fn nd(&self) -> Result<Nd> {
        let body = self.body();
        check_len(body, 16, Layer::Icmpv6).map_err(|_| Error::Truncated {
            layer: Layer::Icmpv6,
            need: HEADER_LEN + 16,
            have: self.0.len(),
        })?;
        let mut nd = Nd {
            target: addr16(body, 0),
            ..Nd::default()
        };
        let mut opts = &body[16..];
        while let [kind, len, rest @ ..] = opts {
            if opts.len() < 8 {
                break;
            }
            let opt_len = usize::from(*len) * 8;
            if opt_len == 0 || opt_len > opts.len() {
                break;
            }
            if opt_len == 8 {
                let slot = match *kind {
                    OPT_SOURCE_LLADDR => Some(&mut nd.sll),
                    OPT_TARGET_LLADDR => Some(&mut nd.tll),
                    _ => None,
                };
                if let Some(slot) = slot {
                    if *slot != [0; 6] {
                        return Err(Error::Invalid {
                            layer: Layer::Icmpv6,
                            what: "duplicate link-layer address option",
                        });
                    }
                    slot.copy_from_slice(&rest[..6]);
                }
            }
            opts = &opts[opt_len..];
        }
        Ok(nd)
    }
}

/// Appends an ICMPv6 message with `word` (the 4 message-specific bytes) and `body`, checksum
/// computed over pseudo-header sum `pseudo` (see
/// [`super::ipv6::Ipv6Header::pseudo_header_sum`]).
pub fn emit(buf: &mut Vec<u8>, msg_type: u8, code: u8, word: [u8; 4], body: &[u8], pseudo: u32) {
    let start = buf.len();
    buf.extend_from_slice(&[msg_type, code, 0, 0]);
    buf.extend_from_slice(&word);
    buf.extend_from_slice(body);
    let c = checksum::finish(checksum::sum(&buf[start..], pseudo));
    put16(&mut buf[start..], 2, c);
}

/// The body of a neighbor solicitation or advertisement: target and an optional link-layer
/// address option of `option_type` ([`OPT_SOURCE_LLADDR`] or [`OPT_TARGET_LLADDR`]).
pub fn nd_body(target: [u8; 16], option: Option<(u8, MacAddr)>) -> Vec<u8> {
    let mut body = target.to_vec();
    if let Some((kind, mac)) = option {
        body.extend_from_slice(&[kind, 1]);
        body.extend_from_slice(&mac);
    }
    body
}
