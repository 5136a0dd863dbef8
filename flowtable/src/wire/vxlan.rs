//! VXLAN header (RFC 7348) and encapsulation of an Ethernet frame in Ethernet/IPv4/UDP/VXLAN.

use super::{be32, check_len, ethernet, ipv4, udp, Error, Layer, MacAddr, Result};

/// Length of the VXLAN header.
pub const HEADER_LEN: usize = 8;
/// The IANA UDP port of VXLAN.
pub const UDP_PORT: u16 = 4789;
/// The "I" flag: the VNI is valid.
pub const FLAG_VNI: u8 = 0x08;
/// Bytes that encapsulation adds in front of the inner frame: outer Ethernet, IPv4, UDP, VXLAN.
pub const ENCAP_LEN: usize =
    ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN + udp::HEADER_LEN + HEADER_LEN;

/// A checked view of a VXLAN header and the inner frame after it.
#[derive(Clone, Copy, Debug)]
pub struct Vxlan<'a>(&'a [u8]);

impl<'a> Vxlan<'a> {
    /// Checks that `buf` holds the 8-byte header.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Vxlan<'a>> {
        check_len(buf, HEADER_LEN, Layer::Vxlan)?;
        Ok(Vxlan(buf))
    }

    /// Flags byte.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.0[0]
    }

    /// Whether the I flag (VNI valid) is set.
    #[inline]
    pub fn has_vni(&self) -> bool {
        self.flags() & FLAG_VNI != 0
    }

    /// The 24-bit VXLAN network identifier.
    #[inline]
    pub fn vni(&self) -> u32 {
        be32(self.0, 4) >> 8
    }

    /// The inner Ethernet frame.
    #[inline]
    pub fn inner(&self) -> &'a [u8] {
        &self.0[HEADER_LEN..]
    }
}

/// Appends a VXLAN header with the I flag and `vni` (low 24 bits).
pub fn emit(buf: &mut Vec<u8>, vni: u32) {
    buf.extend_from_slice(&[FLAG_VNI, 0, 0, 0]);
    buf.extend_from_slice(&((vni & 0x00ff_ffff) << 8).to_be_bytes());
}

/// The outer headers of a VXLAN-over-IPv4 tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encap {
    /// Outer Ethernet destination (the next hop towards the remote VTEP).
    pub dl_dst: MacAddr,
    /// Outer Ethernet source.
    pub dl_src: MacAddr,
    /// Local VTEP address.
    pub ip_src: u32,
    /// Remote VTEP address.
    pub ip_dst: u32,
    /// Outer TTL.
    pub ttl: u8,
    /// Outer TOS.
    pub tos: u8,
    /// Outer "don't fragment".
    pub dont_fragment: bool,
    /// UDP source port (usually a hash of the inner flow, for ECMP).
    pub udp_src: u16,
    /// UDP destination port ([`UDP_PORT`]).
    pub udp_dst: u16,
    /// VNI.
    pub vni: u32,
}

impl Encap {
    /// Appends `inner` encapsulated in outer Ethernet/IPv4/UDP/VXLAN to `out`. The outer IPv4
    /// checksum is filled in; the UDP checksum is zero, as RFC 7348 recommends over IPv4.
    pub fn emit(&self, out: &mut Vec<u8>, inner: &[u8]) -> Result<()> {
        let udp_len = udp::HEADER_LEN + HEADER_LEN + inner.len();
        if udp_len + ipv4::MIN_HEADER_LEN > usize::from(u16::MAX) {
            return Err(Error::Invalid {
                layer: Layer::Vxlan,
                what: "inner frame too long to encapsulate",
            });
        }
        out.reserve(ENCAP_LEN + inner.len());
        ethernet::emit(out, self.dl_dst, self.dl_src, crate::ethertype::IPV4);
        ipv4::Ipv4Header {
            src: self.ip_src,
            dst: self.ip_dst,
            protocol: ipv4::proto::UDP,
            ttl: self.ttl,
            tos: self.tos,
            ident: 0,
            frag_word: if self.dont_fragment { ipv4::FLAG_DF } else { 0 },
            options: &[],
        }
        .emit(out, udp_len)?;
        let mut payload = Vec::with_capacity(HEADER_LEN + inner.len());
        emit(&mut payload, self.vni);
        payload.extend_from_slice(inner);
        udp::emit(out, self.udp_src, self.udp_dst, &payload, None)
    }
}

/// The outer addresses, VNI and inner frame of a VXLAN-over-IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decap<'a> {
    /// Outer IPv4 source (the remote VTEP).
    pub ip_src: u32,
    /// Outer IPv4 destination (this VTEP).
    pub ip_dst: u32,
    /// VNI.
    pub vni: u32,
    /// The inner Ethernet frame.
    pub inner: &'a [u8],
}

/// Reads an untagged Ethernet/IPv4/UDP/VXLAN frame whose UDP destination port is `port`.
/// Returns `Ok(None)` for any frame that is not such a VXLAN packet.
pub fn decap(frame: &[u8], port: u16) -> Result<Option<Decap<'_>>> {
    let eth = ethernet::Ethernet::parse(frame)?;
    if eth.ethertype() != crate::ethertype::IPV4 {
        return Ok(None);
    }
    let ip = ipv4::Ipv4::parse(eth.payload())?;
    if ip.protocol() != ipv4::proto::UDP || ip.is_fragment() {
        return Ok(None);
    }
    let u = udp::Udp::parse(ip.payload())?;
    if u.dst_port() != port {
        return Ok(None);
    }
    let vx = Vxlan::parse(u.payload()?)?;
    if !vx.has_vni() {
        return Err(Error::Invalid {
            layer: Layer::Vxlan,
            what: "I flag not set",
        });
    }
    Ok(Some(Decap {
        ip_src: ip.src(),
        ip_dst: ip.dst(),
        vni: vx.vni(),
        inner: vx.inner(),
    }))
}
