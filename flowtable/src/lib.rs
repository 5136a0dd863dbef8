//! The switch's packet-independent core: what a packet looks like to a flow table, how flows are
//! written, and how a packet is classified through many tables.
//!
//! - [`wire`]: zero-copy, checked views of packet headers (parse and emit).
//! - [`key`]: [`FlowKey`], the fixed-layout summary of a packet, and [`FlowMask`].
//! - [`extract`]: packet bytes to [`FlowKey`].
//! - [`field`]: the field registry (names, widths, masks, prerequisites).
//! - [`matching`]: [`Match`], a key with a mask.
//! - [`action`]: the OpenFlow actions a rule can carry.
//! - [`syntax`]: Open vSwitch's flow syntax, parsed and formatted exactly as `ovs-ofctl` does.
//! - [`classifier`]: tuple space search with staged lookup and prefix tracking, returning the
//!   megaflow mask of every lookup.
//! - [`table`]: flow tables with flow-mod semantics, cookies, timeouts and counters.
//! - [`pipeline`]: the multi-table translation of a key into datapath actions, and `trace`.
//!
//! Nothing here does I/O, spawns threads or reads a clock: time is an argument.

pub mod action;
pub mod classifier;
pub mod extract;
pub mod field;
pub mod key;
pub mod matching;
pub mod pipeline;
pub mod syntax;
pub mod table;
pub mod wire;

pub use field::{Field, SubField};
pub use key::{FlowKey, FlowMask, Stage};
pub use matching::Match;

/// Ethertypes the switch knows by name.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// RARP.
    pub const RARP: u16 = 0x8035;
    /// 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag.
    pub const QINQ: u16 = 0x88a8;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// MPLS unicast.
    pub const MPLS: u16 = 0x8847;
    /// The dl_type of an 802.2 frame without SNAP (a length, not a type), as Open vSwitch.
    pub const NONE: u16 = 0x05ff;
}
