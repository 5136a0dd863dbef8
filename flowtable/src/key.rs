//! `FlowKey`: the fixed-layout summary of a packet that every lookup works on, and `FlowMask`,
//! the same layout used as a bit mask.
//!
//! # Layout
//!
//! The key is a `#[repr(C)]` struct with no implicit padding (checked at compile time by
//! `bytemuck::Pod`), so it can be viewed as `[u64; FlowKey::WORDS]`. Masking, hashing and
//! comparing a key then cost a handful of word operations, while code that deals with one field
//! still names it. Fields are ordered by the stage of a staged lookup (see
//! [`Stage`]): packet metadata first, then L2, L3 and L4, each stage starting on a word
//! boundary, as in Open vSwitch's `struct flow`.
//!
//! # Representation
//!
//! - Integers are stored in host byte order with the value the field has on the wire
//!   (`nw_src = 0x0a000001` for 10.0.0.1): prefix masks are then high bits.
//! - MAC addresses and 128-bit values (IPv6 addresses, `ct_label`) are byte arrays in network
//!   order, as they appear on the wire.
//! - `vlan_tci` follows Open vSwitch: bit `0x1000` (the CFI/DEI position) means "a tag is
//!   present", so `vlan_tci == 0` means "no tag". `vlan_tci` is the outermost tag; with two tags,
//!   `inner_vlan_tci` is the second one.
//! - ARP's sender and target protocol addresses share `nw_src`/`nw_dst` (as in Open vSwitch);
//!   the field registry names them `arp_spa`/`arp_tpa`.
//! - Fields that do not apply to a packet (an L4 port of an ARP frame) are zero.
//!
//! Every place that must handle each field destructures the struct without `..`, so adding a field
//! fails to compile until all of them are updated.

use bytemuck::{Pod, Zeroable};
use std::mem::{offset_of, size_of};

/// Bits of [`FlowKey::nw_frag`].
pub mod frag {
    /// The packet is a fragment (first or later).
    pub const ANY: u8 = 1 << 0;
    /// The packet is a fragment with a nonzero offset: no L4 header follows.
    pub const LATER: u8 = 1 << 1;
}

/// Bit of `vlan_tci` that marks a tag as present (Open vSwitch's `VLAN_CFI`).
pub const VLAN_PRESENT: u16 = 0x1000;

/// Bits of [`FlowKey::ct_state`], with the values Open vSwitch uses on the wire (NXM `ct_state`).
pub mod ct_state {
    /// The start of a new connection.
    pub const NEW: u32 = 1 << 0;
    /// Part of an established connection.
    pub const ESTABLISHED: u32 = 1 << 1;
    /// Related to an established connection (an ICMP error, an FTP data channel).
    pub const RELATED: u32 = 1 << 2;
    /// Flowing in the reply direction.
    pub const REPLY: u32 = 1 << 3;
    /// Invalid: conntrack could not make sense of it.
    pub const INVALID: u32 = 1 << 4;
    /// Has been through conntrack.
    pub const TRACKED: u32 = 1 << 5;
    /// Source address or port was translated.
    pub const SRC_NAT: u32 = 1 << 6;
    /// Destination address or port was translated.
    pub const DST_NAT: u32 = 1 << 7;
}

/// Bits of [`FlowKey::tun_flags`].
pub mod tun_flags {
    /// Don't fragment.
    pub const DONT_FRAGMENT: u16 = 1 << 0;
    /// Checksum present.
    pub const CSUM: u16 = 1 << 1;
    /// The tunnel header carried a key (VNI).
    pub const KEY: u16 = 1 << 2;
    /// The tunnel had OAM bit set.
    pub const OAM: u16 = 1 << 3;
}

/// The header fields and metadata a flow table can match on.
///
/// See the module documentation for the representation of each kind of field.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Pod, Zeroable)]
pub struct FlowKey {
    // ---- Stage: metadata (words 0..16) ----
    /// Tunnel ID (VXLAN VNI in the low 24 bits); 0 when the packet did not come from a tunnel.
    pub tun_id: u64,
    /// OpenFlow metadata register, written by `write_metadata`.
    pub metadata: u64,
    /// Conntrack label (128 bits, network order).
    pub ct_label: [u8; 16],
    /// General-purpose registers `reg0`..`reg15`, zero when a packet enters the pipeline.
    pub regs: [u32; 16],
    /// Outer IPv4 source of the tunnel the packet came from.
    pub tun_src: u32,
    /// Outer IPv4 destination of the tunnel the packet came from.
    pub tun_dst: u32,
    /// OpenFlow port number the packet came in on.
    pub in_port: u32,
    /// Recirculation ID: 0 on the first pass, set by `ct(table=N)` for the next one.
    pub recirc_id: u32,
    /// Conntrack state bits ([`ct_state`]).
    pub ct_state: u32,
    /// Conntrack mark.
    pub ct_mark: u32,
    /// Packet mark (the Linux skb mark).
    pub pkt_mark: u32,
    /// Conntrack zone.
    pub ct_zone: u16,
    /// Tunnel flags ([`tun_flags`]).
    pub tun_flags: u16,

    // ---- Stage: L2 (words 16..19) ----
    /// Ethernet destination.
    pub dl_dst: [u8; 6],
    /// Ethernet source.
    pub dl_src: [u8; 6],
    /// Ethertype after any VLAN tags (0x05ff for 802.2 frames without SNAP, as Open vSwitch).
    pub dl_type: u16,
    /// Outermost VLAN tag control information, with [`VLAN_PRESENT`] set when there is a tag.
    pub vlan_tci: u16,
    /// TPID of the outermost tag (0x8100 or 0x88a8), 0 without a tag.
    pub vlan_tpid: u16,
    /// Second VLAN tag control information, with [`VLAN_PRESENT`] set when there is one.
    pub inner_vlan_tci: u16,
    /// TPID of the second tag, 0 without one.
    pub inner_vlan_tpid: u16,
    /// Always zero: keeps the stage word aligned.
    pub pad_l2: [u8; 2],

    // ---- Stage: L3 (words 19..27) ----
    /// IPv4 source, or ARP sender protocol address.
    pub nw_src: u32,
    /// IPv4 destination, or ARP target protocol address.
    pub nw_dst: u32,
    /// IPv6 source (network order).
    pub ipv6_src: [u8; 16],
    /// IPv6 destination (network order).
    pub ipv6_dst: [u8; 16],
    /// IPv6 flow label (20 bits).
    pub ipv6_label: u32,
    /// IP protocol or IPv6 next header (after extension headers).
    pub nw_proto: u8,
    /// IP TOS / IPv6 traffic class byte: DSCP in the upper 6 bits, ECN in the lower 2.
    pub nw_tos: u8,
    /// IP TTL / IPv6 hop limit.
    pub nw_ttl: u8,
    /// Fragment bits ([`frag`]).
    pub nw_frag: u8,
    /// ARP sender hardware address.
    pub arp_sha: [u8; 6],
    /// ARP opcode.
    pub arp_op: u16,
    /// ARP target hardware address.
    pub arp_tha: [u8; 6],
    /// Always zero: keeps the stage word aligned.
    pub pad_l3: [u8; 2],

    // ---- Stage: L4 (words 27..32) ----
    /// TCP/UDP/SCTP source port.
    pub tp_src: u16,
    /// TCP/UDP/SCTP destination port.
    pub tp_dst: u16,
    /// TCP flags (12 bits).
    pub tcp_flags: u16,
    /// ICMP / ICMPv6 type.
    pub icmp_type: u8,
    /// ICMP / ICMPv6 code.
    pub icmp_code: u8,
    /// IPv6 neighbor discovery target address (network order).
    pub nd_target: [u8; 16],
    /// Source link-layer address option of a neighbor solicitation.
    pub nd_sll: [u8; 6],
    /// Target link-layer address option of a neighbor advertisement.
    pub nd_tll: [u8; 6],
    /// Always zero: keeps the key word aligned.
    pub pad_l4: [u8; 4],
}

/// The stages of a staged lookup, in the order the classifier examines them.
///
/// A subtable checks the metadata words first, then L2, L3 and L4; when a stage already rules a
/// rule out, the bits of later stages were never looked at and stay wildcarded in the megaflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Tunnel, metadata, registers, in_port, recirculation and conntrack fields.
    Metadata,
    /// Ethernet and VLAN.
    L2,
    /// IPv4, IPv6 and ARP.
    L3,
    /// Transport ports and flags, ICMP, neighbor discovery.
    L4,
}

impl Stage {
    /// All stages in lookup order.
    pub const ALL: [Stage; 4] = [Stage::Metadata, Stage::L2, Stage::L3, Stage::L4];

    /// The range of key words that belong to this stage.
    pub const fn words(self) -> std::ops::Range<usize> {
        match self {
            Stage::Metadata => 0..L2_START,
            Stage::L2 => L2_START..L3_START,
            Stage::L3 => L3_START..L4_START,
            Stage::L4 => L4_START..FlowKey::WORDS,
        }
    }
}

const L2_START: usize = offset_of!(FlowKey, dl_dst) / 8;
const L3_START: usize = offset_of!(FlowKey, nw_src) / 8;
const L4_START: usize = offset_of!(FlowKey, tp_src) / 8;

// Every stage starts on a word boundary, so a stage is a whole range of words.
const _: () = assert!(offset_of!(FlowKey, dl_dst) % 8 == 0);
const _: () = assert!(offset_of!(FlowKey, nw_src) % 8 == 0);
const _: () = assert!(offset_of!(FlowKey, tp_src) % 8 == 0);
const _: () = assert!(size_of::<FlowKey>().is_multiple_of(8));

impl FlowKey {
    /// Number of 64-bit words in a key.
    pub const WORDS: usize = size_of::<FlowKey>() / 8;

    /// A key with every field zero.
    pub const fn zero() -> FlowKey {
        // Written out (rather than `Zeroable::zeroed`) because trait methods are not const.
        FlowKey {
            tun_id: 0,
            metadata: 0,
            ct_label: [0; 16],
            regs: [0; 16],
            tun_src: 0,
            tun_dst: 0,
            in_port: 0,
            recirc_id: 0,
            ct_state: 0,
            ct_mark: 0,
            pkt_mark: 0,
            ct_zone: 0,
            tun_flags: 0,
            dl_dst: [0; 6],
            dl_src: [0; 6],
            dl_type: 0,
            vlan_tci: 0,
            vlan_tpid: 0,
            inner_vlan_tci: 0,
            inner_vlan_tpid: 0,
            pad_l2: [0; 2],
            nw_src: 0,
            nw_dst: 0,
            ipv6_src: [0; 16],
            ipv6_dst: [0; 16],
            ipv6_label: 0,
            nw_proto: 0,
            nw_tos: 0,
            nw_ttl: 0,
            nw_frag: 0,
            arp_sha: [0; 6],
            arp_op: 0,
            arp_tha: [0; 6],
            pad_l3: [0; 2],
            tp_src: 0,
            tp_dst: 0,
            tcp_flags: 0,
            icmp_type: 0,
            icmp_code: 0,
            nd_target: [0; 16],
            nd_sll: [0; 6],
            nd_tll: [0; 6],
            pad_l4: [0; 4],
        }
    }

    /// The key as words, for masking, hashing and comparing.
    #[inline]
    pub fn words(&self) -> &[u64; FlowKey::WORDS] {
        bytemuck::cast_ref(self)
    }

    /// The key as mutable words.
    #[inline]
    pub fn words_mut(&mut self) -> &mut [u64; FlowKey::WORDS] {
        bytemuck::cast_mut(self)
    }

    /// This key with every bit outside `mask` cleared.
    #[inline]
    pub fn masked(&self, mask: &FlowMask) -> FlowKey {
        let mut out = *self;
        for (w, m) in out.words_mut().iter_mut().zip(mask.0.words()) {
            *w &= m;
        }
        out
    }

    /// Whether `self` and `other` agree on every bit of `mask`.
    #[inline]
    pub fn equal_under(&self, other: &FlowKey, mask: &FlowMask) -> bool {
        self.words()
            .iter()
            .zip(other.words())
            .zip(mask.0.words())
            .all(|((a, b), m)| (a ^ b) & m == 0)
    }

    /// Whether this is an IPv4 packet.
    pub fn is_ipv4(&self) -> bool {
        self.dl_type == crate::ethertype::IPV4
    }

    /// Whether this is an IPv6 packet.
    pub fn is_ipv6(&self) -> bool {
        self.dl_type == crate::ethertype::IPV6
    }

    /// Whether this is an ARP packet.
    pub fn is_arp(&self) -> bool {
        self.dl_type == crate::ethertype::ARP
    }
}

impl std::fmt::Debug for FlowKey {
    /// Prints only the nonzero fields, which is what a reader of a test failure wants.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("FlowKey");
        for field in crate::field::Field::ALL {
            if field.is_alias() {
                continue;
            }
            let v = field.get(self);
            if v != 0 {
                s.field(field.name(), &format_args!("{v:#x}"));
            }
        }
        s.finish()
    }
}

/// A set of bits of a [`FlowKey`]: which bits a match examines, or which bits a lookup looked at.
///
/// A 1-bit means "this bit matters". Open vSwitch's rule for megaflow masks holds here: a mask
/// with extra 1-bits is still correct (it only makes the cached entry narrower), a missing 1-bit
/// is a bug (the cached entry would apply to packets the slow path treats differently).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Pod, Zeroable)]
pub struct FlowMask(pub FlowKey);

impl FlowMask {
    /// The mask that examines nothing (every bit wildcarded).
    pub const fn none() -> FlowMask {
        FlowMask(FlowKey::zero())
    }

    /// The mask that examines every bit of every field (padding stays zero).
    pub fn exact() -> FlowMask {
        let mut m = FlowMask::none();
        for field in crate::field::Field::ALL {
            field.set_all_bits(&mut m);
        }
        m
    }

    /// The mask as words.
    #[inline]
    pub fn words(&self) -> &[u64; FlowKey::WORDS] {
        self.0.words()
    }

    /// The mask as mutable words.
    #[inline]
    pub fn words_mut(&mut self) -> &mut [u64; FlowKey::WORDS] {
        self.0.words_mut()
    }

    /// Adds every bit of `other` to this mask.
    #[inline]
    pub fn union_with(&mut self, other: &FlowMask) {
        for (w, o) in self.words_mut().iter_mut().zip(other.words()) {
            *w |= o;
        }
    }

    /// Whether every bit of `self` is also set in `other`.
    pub fn is_subset_of(&self, other: &FlowMask) -> bool {
        self.words()
            .iter()
            .zip(other.words())
            .all(|(a, b)| a & !b == 0)
    }

    /// Whether no bit is set.
    pub fn is_empty(&self) -> bool {
        self.words().iter().all(|&w| w == 0)
    }

    /// Whether any bit of `stage` is set.
    pub fn touches(&self, stage: Stage) -> bool {
        self.words()[stage.words()].iter().any(|&w| w != 0)
    }
}

impl std::fmt::Debug for FlowMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FlowMask")?;
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_cover_the_key_in_order() {
        let mut next = 0;
        for stage in Stage::ALL {
            let r = stage.words();
            assert_eq!(r.start, next);
            assert!(r.end > r.start);
            next = r.end;
        }
        assert_eq!(next, FlowKey::WORDS);
    }

    #[test]
    fn masking_clears_unmasked_bits() {
        let mut k = FlowKey::zero();
        k.nw_dst = 0x0a00_0005;
        k.tp_dst = 80;
        let mut m = FlowMask::none();
        m.0.nw_dst = 0xffff_ff00;
        let masked = k.masked(&m);
        assert_eq!(masked.nw_dst, 0x0a00_0000);
        assert_eq!(masked.tp_dst, 0);
        assert!(k.equal_under(&masked, &m));
    }

    #[test]
    fn exact_mask_leaves_padding_clear() {
        let m = FlowMask::exact();
        assert_eq!(m.0.pad_l2, [0; 2]);
        assert_eq!(m.0.pad_l3, [0; 2]);
        assert_eq!(m.0.pad_l4, [0; 4]);
        assert_eq!(m.0.in_port, u32::MAX);
        assert_eq!(m.0.ipv6_label, 0x000f_ffff);
    }
}
