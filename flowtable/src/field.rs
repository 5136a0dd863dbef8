//! The field registry: every field a flow can match on or write, with its names, width,
//! maskability, prerequisites, text format and place in the [`FlowKey`].
//!
//! One table serves the flow parser and formatter, the classifier, the pipeline's
//! `set_field`/`load`/`move`, and later the gRPC layer, so a field is described exactly once.
//!
//! Values travel as `u128` holding the field's value right-aligned in its width (a MAC address
//! is the 48-bit number `0x0000_aabb_ccdd_eeff`, an IPv4 address the 32-bit number), with masks
//! in the same form. [`Field::get`] and [`Field::set`] move such values in and out of a key; the
//! same functions on a [`FlowMask`]'s key read or set mask bits, which is how the pipeline
//! un-wildcards what it looks at.
//!
//! Some fields share storage, as in Open vSwitch: `arp_spa`/`arp_tpa` live in `nw_src`/`nw_dst`,
//! `icmpv6_type` in `icmp_type`. Such a field is an *alias* ([`Field::is_alias`]) of its storage
//! twin: it has its own name and prerequisites but the same bits.

use crate::ethertype;
use crate::key::{FlowKey, FlowMask};
use crate::Match;

/// IP protocol numbers used by prerequisites.
pub mod ipproto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// ICMPv6 neighbor solicitation type.
pub const ND_NEIGHBOR_SOLICIT: u8 = 135;
/// ICMPv6 neighbor advertisement type.
pub const ND_NEIGHBOR_ADVERT: u8 = 136;

/// How a field's value is written in flow text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Decimal number (`nw_ttl=64`).
    Decimal,
    /// Hexadecimal number with `0x` (`reg0=0x5`, `metadata=0x1/0xff`).
    Hex,
    /// Ethernet address (`dl_src=00:11:22:33:44:55`).
    Ethernet,
    /// IPv4 address, with CIDR masks where contiguous (`nw_dst=10.0.0.0/24`).
    Ipv4,
    /// IPv6 address (`ipv6_src=2001:db8::/32`).
    Ipv6,
    /// OpenFlow port number or name (`in_port=LOCAL`).
    OfPort,
    /// Conntrack state flags (`ct_state=+trk+new`).
    CtState,
    /// TCP flags (`tcp_flags=+syn-ack`).
    TcpFlags,
    /// IP fragment keyword (`nw_frag=later`).
    Frag,
    /// Tunnel flags (`tun_flags=+oam`).
    TunFlags,
}

/// What must already be matched for a field to make sense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prereq {
    /// Nothing: every packet has this field.
    None,
    /// `dl_type=0x0800`.
    Ipv4,
    /// `dl_type=0x86dd`.
    Ipv6,
    /// IPv4 or IPv6.
    Ip,
    /// `dl_type=0x0806` (ARP).
    Arp,
    /// IPv4 or IPv6 with `nw_proto=6`.
    Tcp,
    /// IPv4 or IPv6 with `nw_proto=17`.
    Udp,
    /// IPv4 or IPv6 with `nw_proto=132`.
    Sctp,
    /// IPv4 or IPv6 with `nw_proto` one of TCP, UDP or SCTP.
    L4Ports,
    /// IPv4 with `nw_proto=1`.
    Icmpv4,
    /// IPv6 with `nw_proto=58`.
    Icmpv6,
    /// ICMPv6 with `icmp_type` 135 or 136 (neighbor solicitation or advertisement).
    Nd,
    /// ICMPv6 with `icmp_type=135` (neighbor solicitation).
    NdSolicit,
    /// ICMPv6 with `icmp_type=136` (neighbor advertisement).
    NdAdvert,
}

impl Prereq {
    /// Whether `m` matches exactly what this prerequisite requires.
    pub fn is_met_by(self, m: &Match) -> bool {
        let (k, mask) = (&m.key, &m.mask.0);
        let dl_type = |t: u16| mask.dl_type == 0xffff && k.dl_type == t;
        let ip = || dl_type(ethertype::IPV4) || dl_type(ethertype::IPV6);
        let proto = |p: u8| mask.nw_proto == 0xff && k.nw_proto == p;
        let icmp6_type = |t: u8| mask.icmp_type == 0xff && k.icmp_type == t;
        match self {
            Prereq::None => true,
            Prereq::Ipv4 => dl_type(ethertype::IPV4),
            Prereq::Ipv6 => dl_type(ethertype::IPV6),
            Prereq::Ip => ip(),
            Prereq::Arp => dl_type(ethertype::ARP),
            Prereq::Tcp => ip() && proto(ipproto::TCP),
            Prereq::Udp => ip() && proto(ipproto::UDP),
            Prereq::Sctp => ip() && proto(ipproto::SCTP),
            Prereq::L4Ports => {
                ip() && (proto(ipproto::TCP) || proto(ipproto::UDP) || proto(ipproto::SCTP))
            }
            Prereq::Icmpv4 => dl_type(ethertype::IPV4) && proto(ipproto::ICMP),
            Prereq::Icmpv6 => dl_type(ethertype::IPV6) && proto(ipproto::ICMPV6),
            Prereq::Nd => {
                Prereq::Icmpv6.is_met_by(m)
                    && (icmp6_type(ND_NEIGHBOR_SOLICIT) || icmp6_type(ND_NEIGHBOR_ADVERT))
            }
            Prereq::NdSolicit => Prereq::Icmpv6.is_met_by(m) && icmp6_type(ND_NEIGHBOR_SOLICIT),
            Prereq::NdAdvert => Prereq::Icmpv6.is_met_by(m) && icmp6_type(ND_NEIGHBOR_ADVERT),
        }
    }

    /// What a user must add to a match to meet this prerequisite, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Prereq::None => "nothing",
            Prereq::Ipv4 => "ip (dl_type=0x0800)",
            Prereq::Ipv6 => "ipv6 (dl_type=0x86dd)",
            Prereq::Ip => "ip or ipv6",
            Prereq::Arp => "arp (dl_type=0x0806)",
            Prereq::Tcp => "tcp or tcp6 (nw_proto=6)",
            Prereq::Udp => "udp or udp6 (nw_proto=17)",
            Prereq::Sctp => "sctp or sctp6 (nw_proto=132)",
            Prereq::L4Ports => "tcp, udp or sctp (or their IPv6 forms)",
            Prereq::Icmpv4 => "icmp (ip,nw_proto=1)",
            Prereq::Icmpv6 => "icmp6 (ipv6,nw_proto=58)",
            Prereq::Nd => "icmp6 with icmp_type=135 or icmp_type=136",
            Prereq::NdSolicit => "icmp6,icmp_type=135",
            Prereq::NdAdvert => "icmp6,icmp_type=136",
        }
    }
}

/// The static description of one field.
#[derive(Debug)]
pub struct FieldDef {
    /// The name Open vSwitch prints for this field.
    pub name: &'static str,
    /// Other names accepted on input (`eth_src` for `dl_src`).
    pub aliases: &'static [&'static str],
    /// NXM/OXM names accepted in `load`, `move` and `set_field` (`NXM_OF_ETH_SRC`).
    pub nxm: &'static [&'static str],
    /// Width in bits.
    pub bits: u32,
    /// Whether a match may use an arbitrary bit mask on this field.
    pub maskable: bool,
    /// Whether actions may write this field (`set_field`, `load`, `move` destination).
    pub writable: bool,
    /// What must be matched before this field.
    pub prereq: Prereq,
    /// How the value is written in flow text.
    pub format: Format,
}

macro_rules! fields {
    ($( $(#[$doc:meta])* $variant:ident => {
        name: $name:literal, aliases: [$($alias:literal),*], nxm: [$($nxm:literal),*],
        bits: $bits:literal, maskable: $maskable:literal, writable: $writable:literal,
        prereq: $prereq:ident, format: $format:ident $(,)?
    } ),* $(,)?) => {
        /// A field of the flow key, as flows name it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field {
            $( $(#[$doc])* $variant, )*
        }

        impl Field {
            /// Every field, in registry order.
            pub const ALL: &'static [Field] = &[ $( Field::$variant, )* ];

            /// The static description of this field.
            pub fn def(self) -> &'static FieldDef {
                match self {
                    $( Field::$variant => &FieldDef {
                        name: $name,
                        aliases: &[$($alias),*],
                        nxm: &[$($nxm),*],
                        bits: $bits,
                        maskable: $maskable,
                        writable: $writable,
                        prereq: Prereq::$prereq,
                        format: Format::$format,
                    }, )*
                }
            }
        }
    };
}

fields! {
    /// Input port, 16 bits as Open vSwitch numbers ports (`LOCAL` is `0xfffe`).
    InPort => { name: "in_port", aliases: [], nxm: ["NXM_OF_IN_PORT"],
        bits: 16, maskable: false, writable: true, prereq: None, format: OfPort },
    /// Input port as OpenFlow 1.1+ sees it (32 bits; the same storage as `in_port`), so
    /// `move:OXM_OF_IN_PORT[]->NXM_NX_REG0[]` has the width Open vSwitch gives it.
    InPortOxm => { name: "in_port_oxm", aliases: [], nxm: ["OXM_OF_IN_PORT"],
        bits: 32, maskable: false, writable: true, prereq: None, format: OfPort },
    /// OpenFlow metadata.
    Metadata => { name: "metadata", aliases: [], nxm: ["OXM_OF_METADATA"],
        bits: 64, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 0.
    Reg0 => { name: "reg0", aliases: [], nxm: ["NXM_NX_REG0"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 1.
    Reg1 => { name: "reg1", aliases: [], nxm: ["NXM_NX_REG1"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 2.
    Reg2 => { name: "reg2", aliases: [], nxm: ["NXM_NX_REG2"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 3.
    Reg3 => { name: "reg3", aliases: [], nxm: ["NXM_NX_REG3"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 4.
    Reg4 => { name: "reg4", aliases: [], nxm: ["NXM_NX_REG4"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 5.
    Reg5 => { name: "reg5", aliases: [], nxm: ["NXM_NX_REG5"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 6.
    Reg6 => { name: "reg6", aliases: [], nxm: ["NXM_NX_REG6"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 7.
    Reg7 => { name: "reg7", aliases: [], nxm: ["NXM_NX_REG7"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 8.
    Reg8 => { name: "reg8", aliases: [], nxm: ["NXM_NX_REG8"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 9.
    Reg9 => { name: "reg9", aliases: [], nxm: ["NXM_NX_REG9"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 10.
    Reg10 => { name: "reg10", aliases: [], nxm: ["NXM_NX_REG10"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 11.
    Reg11 => { name: "reg11", aliases: [], nxm: ["NXM_NX_REG11"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 12.
    Reg12 => { name: "reg12", aliases: [], nxm: ["NXM_NX_REG12"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 13.
    Reg13 => { name: "reg13", aliases: [], nxm: ["NXM_NX_REG13"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 14.
    Reg14 => { name: "reg14", aliases: [], nxm: ["NXM_NX_REG14"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Register 15.
    Reg15 => { name: "reg15", aliases: [], nxm: ["NXM_NX_REG15"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Recirculation ID.
    RecircId => { name: "recirc_id", aliases: [], nxm: ["NXM_NX_RECIRC_ID"],
        bits: 32, maskable: false, writable: false, prereq: None, format: Hex },
    /// Packet mark.
    PktMark => { name: "pkt_mark", aliases: [], nxm: ["NXM_NX_PKT_MARK"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Tunnel ID (VNI).
    TunId => { name: "tun_id", aliases: ["tunnel_id"], nxm: ["NXM_NX_TUN_ID", "OXM_OF_TUNNEL_ID"],
        bits: 64, maskable: true, writable: true, prereq: None, format: Hex },
    /// Tunnel outer IPv4 source.
    TunSrc => { name: "tun_src", aliases: [], nxm: ["NXM_NX_TUN_IPV4_SRC"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Ipv4 },
    /// Tunnel outer IPv4 destination.
    TunDst => { name: "tun_dst", aliases: [], nxm: ["NXM_NX_TUN_IPV4_DST"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Ipv4 },
    /// Tunnel flags as flows see them: one bit, OAM, as Open vSwitch's public tunnel flags (the
    /// other bits of [`FlowKey::tun_flags`] are internal to the datapath).
    TunFlags => { name: "tun_flags", aliases: [], nxm: ["NXM_NX_TUN_FLAGS"],
        bits: 1, maskable: true, writable: true, prereq: None, format: TunFlags },
    /// Conntrack state.
    CtState => { name: "ct_state", aliases: [], nxm: ["NXM_NX_CT_STATE"],
        bits: 32, maskable: true, writable: false, prereq: None, format: CtState },
    /// Conntrack zone.
    CtZone => { name: "ct_zone", aliases: [], nxm: ["NXM_NX_CT_ZONE"],
        bits: 16, maskable: false, writable: false, prereq: None, format: Decimal },
    /// Conntrack mark.
    CtMark => { name: "ct_mark", aliases: [], nxm: ["NXM_NX_CT_MARK"],
        bits: 32, maskable: true, writable: true, prereq: None, format: Hex },
    /// Conntrack label.
    CtLabel => { name: "ct_label", aliases: [], nxm: ["NXM_NX_CT_LABEL"],
        bits: 128, maskable: true, writable: true, prereq: None, format: Hex },
    /// Ethernet source.
    DlSrc => { name: "dl_src", aliases: ["eth_src"], nxm: ["NXM_OF_ETH_SRC", "OXM_OF_ETH_SRC"],
        bits: 48, maskable: true, writable: true, prereq: None, format: Ethernet },
    /// Ethernet destination.
    DlDst => { name: "dl_dst", aliases: ["eth_dst"], nxm: ["NXM_OF_ETH_DST", "OXM_OF_ETH_DST"],
        bits: 48, maskable: true, writable: true, prereq: None, format: Ethernet },
    /// Ethertype.
    DlType => { name: "dl_type", aliases: ["eth_type"], nxm: ["NXM_OF_ETH_TYPE", "OXM_OF_ETH_TYPE"],
        bits: 16, maskable: false, writable: false, prereq: None, format: Hex },
    /// Outermost VLAN TCI, with 0x1000 meaning "tag present".
    VlanTci => { name: "vlan_tci", aliases: [], nxm: ["NXM_OF_VLAN_TCI"],
        bits: 16, maskable: true, writable: true, prereq: None, format: Hex },
    /// VLAN ID of the outermost tag (12 bits of `vlan_tci`).
    DlVlan => { name: "dl_vlan", aliases: [], nxm: [],
        bits: 12, maskable: false, writable: true, prereq: None, format: Decimal },
    /// VLAN ID with the "present" bit (13 bits of `vlan_tci`), as OpenFlow 1.3's `vlan_vid`.
    VlanVid => { name: "vlan_vid", aliases: [], nxm: ["OXM_OF_VLAN_VID"],
        bits: 13, maskable: true, writable: true, prereq: None, format: Decimal },
    /// VLAN priority of the outermost tag (3 bits of `vlan_tci`).
    DlVlanPcp => { name: "dl_vlan_pcp", aliases: ["vlan_pcp"], nxm: ["OXM_OF_VLAN_PCP"],
        bits: 3, maskable: false, writable: true, prereq: None, format: Decimal },
    /// TPID of the outermost VLAN tag (an extension: Open vSwitch does not expose it).
    VlanTpid => { name: "vlan_tpid", aliases: [], nxm: [],
        bits: 16, maskable: false, writable: false, prereq: None, format: Hex },
    /// TCI of the second VLAN tag (an extension: Open vSwitch does not expose it).
    InnerVlanTci => { name: "inner_vlan_tci", aliases: [], nxm: [],
        bits: 16, maskable: true, writable: false, prereq: None, format: Hex },
    /// TPID of the second VLAN tag (an extension: Open vSwitch does not expose it).
    InnerVlanTpid => { name: "inner_vlan_tpid", aliases: [], nxm: [],
        bits: 16, maskable: false, writable: false, prereq: None, format: Hex },
    /// IPv4 source.
    NwSrc => { name: "nw_src", aliases: ["ip_src"], nxm: ["NXM_OF_IP_SRC", "OXM_OF_IPV4_SRC"],
        bits: 32, maskable: true, writable: true, prereq: Ipv4, format: Ipv4 },
    /// IPv4 destination.
    NwDst => { name: "nw_dst", aliases: ["ip_dst"], nxm: ["NXM_OF_IP_DST", "OXM_OF_IPV4_DST"],
        bits: 32, maskable: true, writable: true, prereq: Ipv4, format: Ipv4 },
    /// IPv6 source.
    Ipv6Src => { name: "ipv6_src", aliases: [], nxm: ["NXM_NX_IPV6_SRC", "OXM_OF_IPV6_SRC"],
        bits: 128, maskable: true, writable: true, prereq: Ipv6, format: Ipv6 },
    /// IPv6 destination.
    Ipv6Dst => { name: "ipv6_dst", aliases: [], nxm: ["NXM_NX_IPV6_DST", "OXM_OF_IPV6_DST"],
        bits: 128, maskable: true, writable: true, prereq: Ipv6, format: Ipv6 },
    /// IPv6 flow label.
    Ipv6Label => { name: "ipv6_label", aliases: [], nxm: ["NXM_NX_IPV6_LABEL", "OXM_OF_IPV6_FLABEL"],
        bits: 20, maskable: true, writable: true, prereq: Ipv6, format: Hex },
    /// IP protocol.
    NwProto => { name: "nw_proto", aliases: ["ip_proto"], nxm: ["NXM_OF_IP_PROTO", "OXM_OF_IP_PROTO"],
        bits: 8, maskable: false, writable: false, prereq: Ip, format: Decimal },
    /// IP TOS byte with the ECN bits ignored (the DSCP bits in place).
    NwTos => { name: "nw_tos", aliases: [], nxm: ["NXM_OF_IP_TOS"],
        bits: 8, maskable: false, writable: true, prereq: Ip, format: Decimal },
    /// DSCP (the upper 6 bits of the TOS byte, shifted down).
    IpDscp => { name: "ip_dscp", aliases: [], nxm: ["OXM_OF_IP_DSCP"],
        bits: 6, maskable: false, writable: true, prereq: Ip, format: Decimal },
    /// ECN (the lower 2 bits of the TOS byte).
    NwEcn => { name: "nw_ecn", aliases: ["ip_ecn"], nxm: ["NXM_NX_IP_ECN", "OXM_OF_IP_ECN"],
        bits: 2, maskable: false, writable: true, prereq: Ip, format: Decimal },
    /// IP TTL / hop limit.
    NwTtl => { name: "nw_ttl", aliases: [], nxm: ["NXM_NX_IP_TTL"],
        bits: 8, maskable: false, writable: true, prereq: Ip, format: Decimal },
    /// IP fragment bits.
    NwFrag => { name: "nw_frag", aliases: ["ip_frag"], nxm: ["NXM_NX_IP_FRAG"],
        bits: 2, maskable: true, writable: false, prereq: Ip, format: Frag },
    /// ARP opcode.
    ArpOp => { name: "arp_op", aliases: [], nxm: ["NXM_OF_ARP_OP", "OXM_OF_ARP_OP"],
        bits: 16, maskable: false, writable: true, prereq: Arp, format: Decimal },
    /// ARP sender protocol address (stored in `nw_src`).
    ArpSpa => { name: "arp_spa", aliases: [], nxm: ["NXM_OF_ARP_SPA", "OXM_OF_ARP_SPA"],
        bits: 32, maskable: true, writable: true, prereq: Arp, format: Ipv4 },
    /// ARP target protocol address (stored in `nw_dst`).
    ArpTpa => { name: "arp_tpa", aliases: [], nxm: ["NXM_OF_ARP_TPA", "OXM_OF_ARP_TPA"],
        bits: 32, maskable: true, writable: true, prereq: Arp, format: Ipv4 },
    /// ARP sender hardware address.
    ArpSha => { name: "arp_sha", aliases: [], nxm: ["NXM_NX_ARP_SHA", "OXM_OF_ARP_SHA"],
        bits: 48, maskable: true, writable: true, prereq: Arp, format: Ethernet },
    /// ARP target hardware address.
    ArpTha => { name: "arp_tha", aliases: [], nxm: ["NXM_NX_ARP_THA", "OXM_OF_ARP_THA"],
        bits: 48, maskable: true, writable: true, prereq: Arp, format: Ethernet },
    /// L4 source port.
    TpSrc => { name: "tp_src", aliases: ["tcp_src", "udp_src", "sctp_src"],
        nxm: ["NXM_OF_TCP_SRC", "NXM_OF_UDP_SRC", "OXM_OF_TCP_SRC", "OXM_OF_UDP_SRC", "OXM_OF_SCTP_SRC"],
        bits: 16, maskable: true, writable: true, prereq: L4Ports, format: Decimal },
    /// L4 destination port.
    TpDst => { name: "tp_dst", aliases: ["tcp_dst", "udp_dst", "sctp_dst"],
        nxm: ["NXM_OF_TCP_DST", "NXM_OF_UDP_DST", "OXM_OF_TCP_DST", "OXM_OF_UDP_DST", "OXM_OF_SCTP_DST"],
        bits: 16, maskable: true, writable: true, prereq: L4Ports, format: Decimal },
    /// TCP flags.
    TcpFlags => { name: "tcp_flags", aliases: [], nxm: ["NXM_NX_TCP_FLAGS"],
        bits: 12, maskable: true, writable: false, prereq: Tcp, format: TcpFlags },
    /// ICMP type.
    IcmpType => { name: "icmp_type", aliases: [], nxm: ["NXM_OF_ICMP_TYPE", "OXM_OF_ICMPV4_TYPE"],
        bits: 8, maskable: false, writable: true, prereq: Icmpv4, format: Decimal },
    /// ICMP code.
    IcmpCode => { name: "icmp_code", aliases: [], nxm: ["NXM_OF_ICMP_CODE", "OXM_OF_ICMPV4_CODE"],
        bits: 8, maskable: false, writable: true, prereq: Icmpv4, format: Decimal },
    /// ICMPv6 type (stored in `icmp_type`).
    Icmpv6Type => { name: "icmpv6_type", aliases: [], nxm: ["NXM_NX_ICMPV6_TYPE", "OXM_OF_ICMPV6_TYPE"],
        bits: 8, maskable: false, writable: true, prereq: Icmpv6, format: Decimal },
    /// ICMPv6 code (stored in `icmp_code`).
    Icmpv6Code => { name: "icmpv6_code", aliases: [], nxm: ["NXM_NX_ICMPV6_CODE", "OXM_OF_ICMPV6_CODE"],
        bits: 8, maskable: false, writable: true, prereq: Icmpv6, format: Decimal },
    /// Neighbor discovery target.
    NdTarget => { name: "nd_target", aliases: [], nxm: ["NXM_NX_ND_TARGET", "OXM_OF_IPV6_ND_TARGET"],
        bits: 128, maskable: true, writable: true, prereq: Nd, format: Ipv6 },
    /// Neighbor discovery source link-layer address.
    NdSll => { name: "nd_sll", aliases: [], nxm: ["NXM_NX_ND_SLL", "OXM_OF_IPV6_ND_SLL"],
        bits: 48, maskable: true, writable: true, prereq: NdSolicit, format: Ethernet },
    /// Neighbor discovery target link-layer address.
    NdTll => { name: "nd_tll", aliases: [], nxm: ["NXM_NX_ND_TLL", "OXM_OF_IPV6_ND_TLL"],
        bits: 48, maskable: true, writable: true, prereq: NdAdvert, format: Ethernet },
}

/// Where a field's bits live: a member of [`FlowKey`], and the shift of the field within it.
enum Slot {
    U8(fn(&mut FlowKey) -> &mut u8),
    U16(fn(&mut FlowKey) -> &mut u16),
    U32(fn(&mut FlowKey) -> &mut u32),
    U64(fn(&mut FlowKey) -> &mut u64),
    Bytes6(fn(&mut FlowKey) -> &mut [u8; 6]),
    Bytes16(fn(&mut FlowKey) -> &mut [u8; 16]),
}

impl Field {
    /// The canonical name.
    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// Width in bits.
    pub fn bits(self) -> u32 {
        self.def().bits
    }

    /// The mask with every bit of this field's width set.
    pub fn full_mask(self) -> u128 {
        match self.bits() {
            128 => u128::MAX,
            n => (1u128 << n) - 1,
        }
    }

    /// Register `n` (0..=15).
    pub fn reg(n: usize) -> Option<Field> {
        const REGS: [Field; 16] = [
            Field::Reg0,
            Field::Reg1,
            Field::Reg2,
            Field::Reg3,
            Field::Reg4,
            Field::Reg5,
            Field::Reg6,
            Field::Reg7,
            Field::Reg8,
            Field::Reg9,
            Field::Reg10,
            Field::Reg11,
            Field::Reg12,
            Field::Reg13,
            Field::Reg14,
            Field::Reg15,
        ];
        REGS.get(n).copied()
    }

    /// Looks a field up by canonical name, alias or NXM/OXM name (case-sensitive, as Open
    /// vSwitch).
    pub fn from_name(name: &str) -> Option<Field> {
        static BY_NAME: std::sync::OnceLock<ahash::AHashMap<&'static str, Field>> =
            std::sync::OnceLock::new();
        let by_name = BY_NAME.get_or_init(|| {
            let mut map = ahash::AHashMap::new();
            // In registry order, the first field to claim a name keeps it, as a scan would.
            for &f in Field::ALL {
                let d = f.def();
                for n in std::iter::once(&d.name).chain(d.aliases).chain(d.nxm) {
                    map.entry(*n).or_insert(f);
                }
            }
            map
        });
        by_name.get(name).copied()
    }

    /// Whether every bit of this field is also a bit of another registered field that is not an
    /// alias (`arp_spa` of `nw_src`, `dl_vlan` of `vlan_tci`), so iterating over the fields that
    /// are not aliases visits each bit of a key exactly once.
    pub fn is_alias(self) -> bool {
        matches!(
            self,
            Field::InPortOxm
                | Field::ArpSpa
                | Field::ArpTpa
                | Field::Icmpv6Type
                | Field::Icmpv6Code
                | Field::DlVlan
                | Field::VlanVid
                | Field::DlVlanPcp
                | Field::IpDscp
        )
    }

    /// The member that holds this field and the field's shift within it.
    fn slot(self) -> (Slot, u32) {
        use Slot::*;
        match self {
            Field::InPort | Field::InPortOxm => (U32(|k| &mut k.in_port), 0),
            Field::Metadata => (U64(|k| &mut k.metadata), 0),
            Field::Reg0 => (U32(|k| &mut k.regs[0]), 0),
            Field::Reg1 => (U32(|k| &mut k.regs[1]), 0),
            Field::Reg2 => (U32(|k| &mut k.regs[2]), 0),
            Field::Reg3 => (U32(|k| &mut k.regs[3]), 0),
            Field::Reg4 => (U32(|k| &mut k.regs[4]), 0),
            Field::Reg5 => (U32(|k| &mut k.regs[5]), 0),
            Field::Reg6 => (U32(|k| &mut k.regs[6]), 0),
            Field::Reg7 => (U32(|k| &mut k.regs[7]), 0),
            Field::Reg8 => (U32(|k| &mut k.regs[8]), 0),
            Field::Reg9 => (U32(|k| &mut k.regs[9]), 0),
            Field::Reg10 => (U32(|k| &mut k.regs[10]), 0),
            Field::Reg11 => (U32(|k| &mut k.regs[11]), 0),
            Field::Reg12 => (U32(|k| &mut k.regs[12]), 0),
            Field::Reg13 => (U32(|k| &mut k.regs[13]), 0),
            Field::Reg14 => (U32(|k| &mut k.regs[14]), 0),
            Field::Reg15 => (U32(|k| &mut k.regs[15]), 0),
            Field::RecircId => (U32(|k| &mut k.recirc_id), 0),
            Field::PktMark => (U32(|k| &mut k.pkt_mark), 0),
            Field::TunId => (U64(|k| &mut k.tun_id), 0),
            Field::TunSrc => (U32(|k| &mut k.tun_src), 0),
            Field::TunDst => (U32(|k| &mut k.tun_dst), 0),
            Field::TunFlags => (U16(|k| &mut k.tun_flags), 3),
            Field::CtState => (U32(|k| &mut k.ct_state), 0),
            Field::CtZone => (U16(|k| &mut k.ct_zone), 0),
            Field::CtMark => (U32(|k| &mut k.ct_mark), 0),
            Field::CtLabel => (Bytes16(|k| &mut k.ct_label), 0),
            Field::DlSrc => (Bytes6(|k| &mut k.dl_src), 0),
            Field::DlDst => (Bytes6(|k| &mut k.dl_dst), 0),
            Field::DlType => (U16(|k| &mut k.dl_type), 0),
            Field::VlanTci => (U16(|k| &mut k.vlan_tci), 0),
            Field::DlVlan => (U16(|k| &mut k.vlan_tci), 0),
            Field::VlanVid => (U16(|k| &mut k.vlan_tci), 0),
            Field::DlVlanPcp => (U16(|k| &mut k.vlan_tci), 13),
            Field::VlanTpid => (U16(|k| &mut k.vlan_tpid), 0),
            Field::InnerVlanTci => (U16(|k| &mut k.inner_vlan_tci), 0),
            Field::InnerVlanTpid => (U16(|k| &mut k.inner_vlan_tpid), 0),
            Field::NwSrc | Field::ArpSpa => (U32(|k| &mut k.nw_src), 0),
            Field::NwDst | Field::ArpTpa => (U32(|k| &mut k.nw_dst), 0),
            Field::Ipv6Src => (Bytes16(|k| &mut k.ipv6_src), 0),
            Field::Ipv6Dst => (Bytes16(|k| &mut k.ipv6_dst), 0),
            Field::Ipv6Label => (U32(|k| &mut k.ipv6_label), 0),
            Field::NwProto => (U8(|k| &mut k.nw_proto), 0),
            // nw_tos is the whole byte in Open vSwitch's text form, but only its DSCP bits are
            // matched and written; the ECN bits belong to nw_ecn.
            Field::NwTos => (U8(|k| &mut k.nw_tos), 0),
            Field::IpDscp => (U8(|k| &mut k.nw_tos), 2),
            Field::NwEcn => (U8(|k| &mut k.nw_tos), 0),
            Field::NwTtl => (U8(|k| &mut k.nw_ttl), 0),
            Field::NwFrag => (U8(|k| &mut k.nw_frag), 0),
            Field::ArpOp => (U16(|k| &mut k.arp_op), 0),
            Field::ArpSha => (Bytes6(|k| &mut k.arp_sha), 0),
            Field::ArpTha => (Bytes6(|k| &mut k.arp_tha), 0),
            Field::TpSrc => (U16(|k| &mut k.tp_src), 0),
            Field::TpDst => (U16(|k| &mut k.tp_dst), 0),
            Field::TcpFlags => (U16(|k| &mut k.tcp_flags), 0),
            Field::IcmpType | Field::Icmpv6Type => (U8(|k| &mut k.icmp_type), 0),
            Field::IcmpCode | Field::Icmpv6Code => (U8(|k| &mut k.icmp_code), 0),
            Field::NdTarget => (Bytes16(|k| &mut k.nd_target), 0),
            Field::NdSll => (Bytes6(|k| &mut k.nd_sll), 0),
            Field::NdTll => (Bytes6(|k| &mut k.nd_tll), 0),
        }
    }

    /// The bits of the containing member that this field occupies, before shifting down.
    ///
    /// Only the fields that are narrower views of a member differ from "the whole member".
    fn member_bits(self) -> u128 {
        match self {
            Field::DlVlan => 0x0fff,
            Field::VlanVid => 0x1fff,
            Field::DlVlanPcp => 0xe000,
            Field::NwTos => 0xfc,
            Field::IpDscp => 0xfc,
            Field::NwEcn => 0x03,
            Field::Ipv6Label => 0x000f_ffff,
            Field::TcpFlags => 0x0fff,
            Field::NwFrag => 0x03,
            // Only the OAM flag (`key::tun_flags::OAM`) is visible to flows.
            Field::TunFlags => 0x0008,
            _ => u128::MAX,
        }
    }

    /// Reads this field's value from `key`, right-aligned.
    pub fn get(self, key: &FlowKey) -> u128 {
        // The slot accessors take `&mut` so one table serves get and set; reading from a copy
        // keeps `get` usable on shared keys. A key is 256 bytes: the copy is cheap next to the
        // formatting and translation work that calls this.
        let mut k = *key;
        let (slot, shift) = self.slot();
        let raw = match slot {
            Slot::U8(f) => u128::from(*f(&mut k)),
            Slot::U16(f) => u128::from(*f(&mut k)),
            Slot::U32(f) => u128::from(*f(&mut k)),
            Slot::U64(f) => u128::from(*f(&mut k)),
            Slot::Bytes6(f) => {
                let b = f(&mut k);
                let mut w = [0u8; 16];
                w[10..].copy_from_slice(b);
                u128::from_be_bytes(w)
            }
            Slot::Bytes16(f) => u128::from_be_bytes(*f(&mut k)),
        };
        (raw & self.member_bits()) >> shift
    }

    /// Writes the bits of `value` selected by `mask` (both right-aligned) into `key`, leaving the
    /// other bits of the field, and every other field, unchanged.
    pub fn set(self, key: &mut FlowKey, value: u128, mask: u128) {
        let (slot, shift) = self.slot();
        let mask = (mask & self.full_mask()) << shift & self.member_bits();
        let value = (value << shift) & mask;
        let merge = |old: u128| (old & !mask) | value;
        // The `as` casts below narrow a value that `mask` already confined to the member's width.
        #[allow(clippy::cast_possible_truncation)]
        match slot {
            Slot::U8(f) => {
                let m = f(key);
                *m = merge(u128::from(*m)) as u8;
            }
            Slot::U16(f) => {
                let m = f(key);
                *m = merge(u128::from(*m)) as u16;
            }
            Slot::U32(f) => {
                let m = f(key);
                *m = merge(u128::from(*m)) as u32;
            }
            Slot::U64(f) => {
                let m = f(key);
                *m = merge(u128::from(*m)) as u64;
            }
            Slot::Bytes6(f) => {
                let m = f(key);
                let mut w = [0u8; 16];
                w[10..].copy_from_slice(m);
                let new = merge(u128::from_be_bytes(w)).to_be_bytes();
                m.copy_from_slice(&new[10..]);
            }
            Slot::Bytes16(f) => {
                let m = f(key);
                *m = merge(u128::from_be_bytes(*m)).to_be_bytes();
            }
        }
    }

    /// Reads this field's mask bits from `mask`.
    pub fn get_mask(self, mask: &FlowMask) -> u128 {
        self.get(&mask.0)
    }

    /// Marks the bits `bits` (right-aligned) of this field as examined in `mask`.
    pub fn unwildcard(self, mask: &mut FlowMask, bits: u128) {
        self.set(&mut mask.0, bits, bits);
    }

    /// Marks every bit of this field as examined in `mask`.
    pub fn set_all_bits(self, mask: &mut FlowMask) {
        self.unwildcard(mask, self.full_mask());
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A bit range of a field, as `load`, `move` and `ct(zone=...)` name it: `NXM_NX_REG0[0..15]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubField {
    /// The field.
    pub field: Field,
    /// First bit (0 = least significant).
    pub ofs: u32,
    /// Number of bits, at least 1.
    pub n_bits: u32,
}

impl SubField {
    /// The whole of `field`.
    pub fn whole(field: Field) -> SubField {
        SubField {
            field,
            ofs: 0,
            n_bits: field.bits(),
        }
    }

    /// The mask of this range within the field, right-aligned to the field.
    pub fn field_mask(&self) -> u128 {
        let ones = if self.n_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << self.n_bits) - 1
        };
        ones << self.ofs
    }

    /// Reads the range, right-aligned.
    pub fn get(&self, key: &FlowKey) -> u128 {
        (self.field.get(key) & self.field_mask()) >> self.ofs
    }

    /// Writes `value` (right-aligned) into the range.
    pub fn set(&self, key: &mut FlowKey, value: u128) {
        self.field.set(key, value << self.ofs, self.field_mask());
    }

    /// Marks the range as examined in `mask`.
    pub fn unwildcard(&self, mask: &mut FlowMask) {
        self.field.unwildcard(mask, self.field_mask());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in Field::ALL {
            let d = f.def();
            for n in std::iter::once(&d.name).chain(d.aliases).chain(d.nxm) {
                assert!(seen.insert(*n), "{n} is registered twice");
            }
        }
    }

    #[test]
    fn get_and_set_round_trip_every_field() {
        for &f in Field::ALL {
            let mut k = FlowKey::zero();
            let v = 0x1234_5678_9abc_def0_1122_3344_5566_7788u128 & f.full_mask();
            f.set(&mut k, v, f.full_mask());
            let expect = match f {
                // nw_tos carries only DSCP bits.
                Field::NwTos => v & 0xfc,
                _ => v,
            };
            assert_eq!(f.get(&k), expect, "{f}");
        }
    }

    #[test]
    fn subfields_write_only_their_bits() {
        let mut k = FlowKey::zero();
        k.regs[0] = 0xffff_0000;
        let sf = SubField {
            field: Field::Reg0,
            ofs: 4,
            n_bits: 8,
        };
        sf.set(&mut k, 0xab);
        assert_eq!(k.regs[0], 0xffff_0ab0);
        assert_eq!(sf.get(&k), 0xab);
    }

    #[test]
    fn vlan_views_share_the_tci() {
        let mut k = FlowKey::zero();
        Field::VlanVid.set(&mut k, 0x1000 | 100, u128::MAX);
        Field::DlVlanPcp.set(&mut k, 5, u128::MAX);
        assert_eq!(k.vlan_tci, 0x1000 | 100 | (5 << 13));
        assert_eq!(Field::DlVlan.get(&k), 100);
    }

    #[test]
    fn mac_is_big_endian() {
        let mut k = FlowKey::zero();
        k.dl_src = [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];
        assert_eq!(Field::DlSrc.get(&k), 0xaabb_ccdd_eeff);
    }
}
