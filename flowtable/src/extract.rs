//! Packet bytes to [`FlowKey`]: the flow extraction the slow path runs on every miss.
//!
//! # Semantics
//!
//! The key holds what Open vSwitch's `miniflow_extract` would put in its `struct flow` (as
//! printed by `ovs-ofctl parse-pcap`), field by field; a differential test against the real
//! `ovs-ofctl` keeps it so. In particular:
//!
//! - Up to two VLAN tags (TPID 0x8100 or 0x88a8, in any order) go to `vlan_tci` and
//!   `inner_vlan_tci` with [`VLAN_PRESENT`] set; `dl_type` is the ethertype after the tags. A
//!   third tag, or a tag cut short, leaves its TPID as `dl_type`.
//! - An 802.3 length with an LLC/SNAP header carrying an ethertype uses that ethertype; any
//!   other 802.2 frame has `dl_type` 0x05ff ([`crate::ethertype::NONE`]).
//! - IPv4 needs a consistent header (IHL at least 5, total length within the frame and not below
//!   the header length; bytes after it are padding); options are skipped. Fragments set
//!   [`frag::ANY`], non-first fragments also [`frag::LATER`] and have no L4 fields.
//! - IPv6 skips hop-by-hop, routing, destination options and AH headers; a fragment header
//!   with a nonzero offset makes a later fragment whose `nw_proto` is 44; an atomic fragment
//!   header (offset and flags zero) is not a fragment. A malformed extension header leaves the
//!   addresses set but the flow label, `nw_proto`, `nw_tos`, `nw_ttl` and `nw_frag` zero.
//! - `nw_tos` is the whole TOS / traffic class byte (DSCP and ECN).
//! - ARP and RARP (Ethernet/IPv4 only) fill `nw_src`/`nw_dst` (SPA/TPA), `arp_sha`/`arp_tha`
//!   and `arp_op` (only when the opcode fits in 8 bits, as Open vSwitch). Unlike Open vSwitch,
//!   whose `nw_proto` doubles as the ARP opcode, `nw_proto` stays zero.
//! - TCP (with a data offset of at least 5 words, within the packet) fills ports and the 12
//!   flag bits, UDP and SCTP ports; ICMP and ICMPv6 put type and
//!   code both in `icmp_type`/`icmp_code` and in `tp_src`/`tp_dst` (Open vSwitch's storage of
//!   ICMP in the port fields, which the megaflow then covers); IGMP puts type and code in
//!   `tp_src`/`tp_dst` only.
//! - A neighbor solicitation or advertisement (code 0) fills `nd_target` and the Ethernet
//!   source/target link-layer address options into `nd_sll`/`nd_tll`, whatever the message type.
//!
//! # Errors
//!
//! A header that is truncated or inconsistent gives an [`Error`] naming its layer; the key then
//! holds the fields of every layer before it that parsed (and is exactly what Open vSwitch
//! extracts from the same frame). A packet that is well formed but of a kind the key does not
//! describe (an unknown ethertype, ARP for another hardware type) is `Ok`.
//!
//! # Cost
//!
//! No allocation; each header's length is checked once by its view. Packet fields are cleared by
//! zeroing the L2..L4 words of the key ([`FlowKey::clear_packet_fields`]).

use crate::ethertype;
use crate::key::{frag, FlowKey, Stage, VLAN_PRESENT};
use crate::wire::ipv4::proto;
use crate::wire::{
    arp::Arp, ethernet::Ethernet, ethernet::ETHERTYPE_MIN, icmpv4, icmpv6::Icmpv6, ipv4::Ipv4,
    ipv6::Ipv6, ipv6ext, llc::Snap, sctp, tcp::Tcp, udp, vlan, Error, Layer,
};

/// Most VLAN tags the key holds.
pub const MAX_VLAN_TAGS: usize = 2;

/// First key word of the packet fields: everything from the L2 stage on.
const PACKET_WORDS_START: usize = Stage::L2.words().start;

impl FlowKey {
    /// Zeroes every packet field (L2, L3 and L4 stages), keeping the metadata fields (in_port,
    /// metadata, registers, recirculation, tunnel, conntrack, packet mark).
    #[inline]
    pub fn clear_packet_fields(&mut self) {
        self.words_mut()[PACKET_WORDS_START..].fill(0);
    }
}

// Every field of the key, sorted by who sets it. Adding a field to `FlowKey` fails to compile
// here until someone decides whether extraction must fill it (STYLE rule 4); the metadata fields
// survive `extract_into`, the packet fields are cleared and refilled.
const _: fn(&FlowKey) = |k| {
    let FlowKey {
        // Metadata, kept: set by the port, the pipeline, tunnels and conntrack.
        tun_id: _,
        metadata: _,
        ct_label: _,
        regs: _,
        tun_src: _,
        tun_dst: _,
        in_port: _,
        recirc_id: _,
        ct_state: _,
        ct_mark: _,
        pkt_mark: _,
        ct_zone: _,
        tun_flags: _,
        // L2: Ethernet, VLAN, LLC/SNAP.
        dl_dst: _,
        dl_src: _,
        dl_type: _,
        vlan_tci: _,
        vlan_tpid: _,
        inner_vlan_tci: _,
        inner_vlan_tpid: _,
        pad_l2: _,
        // L3: IPv4, IPv6, ARP.
        nw_src: _,
        nw_dst: _,
        ipv6_src: _,
        ipv6_dst: _,
        ipv6_label: _,
        nw_proto: _,
        nw_tos: _,
        nw_ttl: _,
        nw_frag: _,
        arp_sha: _,
        arp_op: _,
        arp_tha: _,
        pad_l3: _,
        // L4: TCP, UDP, SCTP, ICMP, IGMP, ICMPv6 and neighbor discovery.
        tp_src: _,
        tp_dst: _,
        tcp_flags: _,
        icmp_type: _,
        icmp_code: _,
        nd_target: _,
        nd_sll: _,
        nd_tll: _,
        pad_l4: _,
    } = *k;
};

/// Extracts a new key from `frame` received on `in_port`. On error the partial key is lost;
/// use [`extract_into`] to keep it.
pub fn extract(frame: &[u8], in_port: u32) -> Result<FlowKey, Error> {
    let mut key = FlowKey::zero();
    key.in_port = in_port;
    extract_into(frame, &mut key)?;
    Ok(key)
}

/// Fills the packet fields of `key` from `frame`, keeping its metadata fields.
///
/// On error, `key` holds the fields of the layers that parsed (see the module documentation).
pub fn extract_into(frame: &[u8], key: &mut FlowKey) -> Result<(), Error> {
    key.clear_packet_fields();
    let eth = Ethernet::parse(frame)?;
    key.dl_dst = eth.dst();
    key.dl_src = eth.src();

    let mut ethertype = eth.ethertype();
    let mut rest = eth.payload();
    let mut truncated_tag = None;
    for n in 0..MAX_VLAN_TAGS {
        if !vlan::is_tpid(ethertype) {
            break;
        }
        let tag = match vlan::Vlan::parse(rest) {
            Ok(tag) => tag,
            Err(e) => {
                // The TPID stays as dl_type, as Open vSwitch does.
                truncated_tag = Some(e);
                break;
            }
        };
        let tci = tag.tci() | VLAN_PRESENT;
        if n == 0 {
            key.vlan_tci = tci;
            key.vlan_tpid = ethertype;
        } else {
            key.inner_vlan_tci = tci;
            key.inner_vlan_tpid = ethertype;
        }
        ethertype = tag.ethertype();
        rest = tag.payload();
    }

    if ethertype < ETHERTYPE_MIN {
        ethertype = match Snap::parse(rest)
            .ok()
            .and_then(|s| s.ethertype().map(|t| (t, s)))
        {
            Some((t, snap)) => {
                rest = snap.payload();
                t
            }
            None => ethertype::NONE,
        };
    }
    key.dl_type = ethertype;
    if let Some(e) = truncated_tag {
        return Err(e);
    }

    match ethertype {
        ethertype::IPV4 => extract_ipv4(rest, key),
        ethertype::IPV6 => extract_ipv6(rest, key),
        ethertype::ARP | ethertype::RARP => extract_arp(rest, key),
        _ => Ok(()),
    }
}

fn extract_ipv4(buf: &[u8], key: &mut FlowKey) -> Result<(), Error> {
    let ip = Ipv4::parse(buf)?;
    key.nw_src = ip.src();
    key.nw_dst = ip.dst();
    key.nw_tos = ip.tos();
    key.nw_ttl = ip.ttl();
    key.nw_proto = ip.protocol();
    if ip.is_fragment() {
        key.nw_frag = frag::ANY;
        if ip.is_later_fragment() {
            key.nw_frag |= frag::LATER;
            return Ok(());
        }
    }
    extract_l4(ip.payload(), key)
}

fn extract_ipv6(buf: &[u8], key: &mut FlowKey) -> Result<(), Error> {
    let ip = Ipv6::parse(buf)?;
    key.ipv6_src = ip.src();
    key.ipv6_dst = ip.dst();
    let walk = ip.walk()?;
    key.ipv6_label = ip.flow_label();
    key.nw_tos = ip.traffic_class();
    key.nw_ttl = ip.hop_limit();
    key.nw_proto = walk.protocol;
    match walk.fragment {
        ipv6ext::Fragment::None => {}
        ipv6ext::Fragment::First => key.nw_frag = frag::ANY,
        ipv6ext::Fragment::Later => {
            key.nw_frag = frag::ANY | frag::LATER;
            return Ok(());
        }
    }
    let l4 = ip.payload().get(walk.offset..).unwrap_or_default();
    extract_l4(l4, key)
}

fn extract_arp(buf: &[u8], key: &mut FlowKey) -> Result<(), Error> {
    let arp = Arp::parse(buf)?;
    if !arp.is_ethernet_ipv4() {
        return Ok(());
    }
    key.nw_src = arp.spa();
    key.nw_dst = arp.tpa();
    let op = arp.op();
    if op <= 0xff {
        key.arp_op = op;
    }
    key.arp_sha = arp.sha();
    key.arp_tha = arp.tha();
    Ok(())
}

fn extract_l4(buf: &[u8], key: &mut FlowKey) -> Result<(), Error> {
    match key.nw_proto {
        proto::TCP => {
            let tcp = Tcp::parse(buf)?;
            tcp.check_header_len()?;
            key.tp_src = tcp.src_port();
            key.tp_dst = tcp.dst_port();
            key.tcp_flags = tcp.flags();
        }
        proto::UDP => {
            let udp = udp::Udp::parse(buf)?;
            key.tp_src = udp.src_port();
            key.tp_dst = udp.dst_port();
        }
        proto::SCTP => {
            let sctp = sctp::Sctp::parse(buf)?;
            key.tp_src = sctp.src_port();
            key.tp_dst = sctp.dst_port();
        }
        proto::ICMP => {
            let icmp = icmpv4::Icmpv4::parse(buf)?;
            key.icmp_type = icmp.msg_type();
            key.icmp_code = icmp.code();
            key.tp_src = u16::from(icmp.msg_type());
            key.tp_dst = u16::from(icmp.code());
        }
        proto::IGMP => {
            // IGMP's type and code sit where ICMP's do; Open vSwitch keys them in the ports.
            let igmp = icmpv4::Icmpv4::parse(buf).map_err(|_| Error::Truncated {
                layer: Layer::Igmp,
                need: icmpv4::HEADER_LEN,
                have: buf.len(),
            })?;
            key.tp_src = u16::from(igmp.msg_type());
            key.tp_dst = u16::from(igmp.code());
        }
        proto::ICMPV6 => {
            let icmp = Icmpv6::parse(buf)?;
            key.icmp_type = icmp.msg_type();
            key.icmp_code = icmp.code();
            key.tp_src = u16::from(icmp.msg_type());
            key.tp_dst = u16::from(icmp.code());
            if icmp.is_nd() {
                let nd = icmp.nd()?;
                key.nd_target = nd.target;
                key.nd_sll = nd.sll;
                key.nd_tll = nd.tll;
            }
        }
        _ => {}
    }
    Ok(())
}
