//! The OpenFlow actions a rule can carry, typed, with their validation against the rule's match.
//!
//! An [`Action`] is one element of a rule's action list as Open vSwitch's flow syntax writes it
//! (`output:2`, `set_field:10.0.0.1->ip_dst`, `ct(commit,table=3)`), including the OpenFlow 1.1+
//! instructions (`goto_table`, `write_metadata`, `meter`, `clear_actions`, `write_actions`), which
//! the syntax mixes into the same list. [`Action::is_instruction`] tells them apart.
//!
//! The model follows what `ovs-ofctl -O OpenFlow13` prints rather than what users may type:
//! `mod_dl_src:X` is parsed straight into [`Action::SetField`], `strip_vlan` into
//! [`Action::PopVlan`], a masked `set_field` into [`Action::Load`]s ([`normalize`] does the same
//! for actions built in code). The two OpenFlow 1.0 actions whose meaning depends on the packet,
//! `mod_vlan_vid` and `mod_vlan_pcp` (they push a tag when the packet has none), stay
//! [`Action::SetVlanVid`] and [`Action::SetVlanPcp`], as in Open vSwitch; the formatter prints
//! them in their OpenFlow 1.3 form for the rule's match.
//!
//! [`validate`] checks an action list against the rule's match and table: field prerequisites,
//! subfield widths, instruction order, table numbers, what may appear inside `ct(...)`.
//! Execution (the pipeline, the datapath) may then assume a validated list.

use std::fmt;
use std::net::IpAddr;

use crate::field::{Field, SubField};
use crate::key::FlowKey;

mod normalize;
mod validate;

pub use normalize::normalize;
pub(crate) use normalize::{masked_set_field, pad_note};
pub use validate::{validate, ActionError};

/// An OpenFlow port number. Reserved ports carry Open vSwitch's 16-bit numbering (`LOCAL` is
/// `0xfffe`), which is also what the `in_port` field of a [`FlowKey`] holds for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfPort(pub u32);

impl OfPort {
    /// The largest number of a physical or logical port (OpenFlow 1.3 `OFPP_MAX`).
    pub const MAX: OfPort = OfPort(0xff00);
    /// Send the packet back out of the port it came in on.
    pub const IN_PORT: OfPort = OfPort(0xfff8);
    /// Submit the packet to the first flow table (packet-out only).
    pub const TABLE: OfPort = OfPort(0xfff9);
    /// Forward with the switch's traditional L2 learning behaviour.
    pub const NORMAL: OfPort = OfPort(0xfffa);
    /// Flood to every port except the input port and ports with flooding disabled.
    pub const FLOOD: OfPort = OfPort(0xfffb);
    /// Every port except the input port.
    pub const ALL: OfPort = OfPort(0xfffc);
    /// Send to the controller.
    pub const CONTROLLER: OfPort = OfPort(0xfffd);
    /// The switch's local (internal) port.
    pub const LOCAL: OfPort = OfPort(0xfffe);
    /// No port / any port (a wildcard in `out_port`).
    pub const ANY: OfPort = OfPort(0xffff);
    /// Open vSwitch's name for [`OfPort::ANY`].
    pub const NONE: OfPort = OfPort::ANY;

    const NAMES: [(OfPort, &'static str); 8] = [
        (OfPort::IN_PORT, "IN_PORT"),
        (OfPort::TABLE, "TABLE"),
        (OfPort::NORMAL, "NORMAL"),
        (OfPort::FLOOD, "FLOOD"),
        (OfPort::ALL, "ALL"),
        (OfPort::CONTROLLER, "CONTROLLER"),
        (OfPort::LOCAL, "LOCAL"),
        (OfPort::ANY, "ANY"),
    ];

    /// The name of a reserved port as `ovs-ofctl` prints it (`IN_PORT`, `LOCAL`), or `None` for
    /// an ordinary port number.
    pub fn name(self) -> Option<&'static str> {
        OfPort::NAMES
            .iter()
            .find(|(p, _)| *p == self)
            .map(|(_, n)| *n)
    }

    /// Looks up a reserved port by name, case-insensitively (`in_port`, `LOCAL`); `NONE` is
    /// accepted for [`OfPort::ANY`].
    pub fn from_name(name: &str) -> Option<OfPort> {
        if name.eq_ignore_ascii_case("none") {
            return Some(OfPort::ANY);
        }
        OfPort::NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(p, _)| *p)
    }

    /// Parses a port as `ovs-ofctl` does: a reserved name or a decimal number up to
    /// [`OfPort::MAX`]. Returns `None` for anything else.
    pub fn parse(s: &str) -> Option<OfPort> {
        if let Some(p) = OfPort::from_name(s) {
            return Some(p);
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = s.parse().ok()?;
        (n <= OfPort::MAX.0).then_some(OfPort(n))
    }

    /// Whether this is one of the reserved ports (numbers above [`OfPort::MAX`]).
    pub fn is_reserved(self) -> bool {
        self.0 > OfPort::MAX.0
    }
}

impl fmt::Display for OfPort {
    /// Reserved ports by name, others by number, as `ovs-ofctl` does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Why a packet is sent to the controller (OpenFlow `ofp_packet_in_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ControllerReason {
    /// No rule matched (table miss).
    NoMatch,
    /// A rule's action sent it explicitly.
    #[default]
    Action,
    /// The packet's TTL expired (`dec_ttl`).
    InvalidTtl,
    /// Output to the controller from an action set.
    ActionSet,
    /// Output to the controller from a group bucket.
    Group,
    /// Output to the controller from a packet-out.
    PacketOut,
}

impl ControllerReason {
    const NAMES: [(ControllerReason, &'static str); 6] = [
        (ControllerReason::NoMatch, "no_match"),
        (ControllerReason::Action, "action"),
        (ControllerReason::InvalidTtl, "invalid_ttl"),
        (ControllerReason::ActionSet, "action_set"),
        (ControllerReason::Group, "group"),
        (ControllerReason::PacketOut, "packet_out"),
    ];

    /// The name used in `controller(reason=...)`.
    pub fn name(self) -> &'static str {
        ControllerReason::NAMES
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("action", |(_, n)| *n)
    }

    /// Looks a reason up by its `controller(reason=...)` name.
    pub fn from_name(name: &str) -> Option<ControllerReason> {
        ControllerReason::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(r, _)| *r)
    }
}

/// The `controller` action: send the packet (or its first `max_len` bytes) to the controller.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Controller {
    /// How many bytes of the packet to send (65535: all of it).
    pub max_len: u16,
    /// The reason reported in the packet-in.
    pub reason: ControllerReason,
    /// The controller connection ID to send to (0: every controller).
    pub controller_id: u16,
    /// Opaque bytes passed to the controller with the packet.
    pub userdata: Vec<u8>,
    /// Whether the pipeline pauses until the controller resumes it (continuations).
    pub pause: bool,
    /// Meter applied to the packet-ins of this action, if any.
    pub meter_id: Option<u32>,
}

impl Default for Controller {
    fn default() -> Controller {
        Controller {
            max_len: u16::MAX,
            reason: ControllerReason::Action,
            controller_id: 0,
            userdata: Vec::new(),
            pause: false,
            meter_id: None,
        }
    }
}

/// The conntrack zone of a `ct` action: a constant or a 16-bit subfield read from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtZone {
    /// `zone=N`.
    Imm(u16),
    /// `zone=NXM_NX_REG0[0..15]`: the zone is read from this 16-bit range.
    Field(SubField),
}

impl Default for CtZone {
    fn default() -> CtZone {
        CtZone::Imm(0)
    }
}

impl CtZone {
    /// The zone for a packet with key `key`.
    pub fn resolve(&self, key: &FlowKey) -> u16 {
        match *self {
            CtZone::Imm(z) => z,
            // Validation guarantees a 16-bit range; a wider one is truncated to its low bits.
            #[allow(clippy::cast_possible_truncation)]
            CtZone::Field(sf) => (sf.get(key) & 0xffff) as u16,
        }
    }
}

/// Which addresses `nat(...)` rewrites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatKind {
    /// `nat(src=...)`: source NAT.
    Src,
    /// `nat(dst=...)`: destination NAT.
    Dst,
}

/// The address range of a `nat(...)`; `min == max` for a single address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NatAddrs {
    /// First address of the range.
    pub min: IpAddr,
    /// Last address of the range (same family as `min`, not below it).
    pub max: IpAddr,
}

/// The `nat` part of a `ct` action.
///
/// A bare `nat` (no kind) applies to packets of connections that were already NATed: it undoes
/// or repeats the translation chosen when the connection was committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Nat {
    /// Source or destination NAT; `None` for a bare `nat`.
    pub kind: Option<NatKind>,
    /// The addresses to translate to.
    pub addrs: Option<NatAddrs>,
    /// The L4 port range to translate to (`min..=max`).
    pub ports: Option<(u16, u16)>,
    /// Pick ports at random.
    pub random: bool,
    /// Pick ports by a hash of the connection.
    pub hash: bool,
    /// Keep the mapping for a client across connections.
    pub persistent: bool,
}

/// The `ct(...)` action: send the packet through connection tracking.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct CtAction {
    /// Create a connection entry for new connections (`commit`).
    pub commit: bool,
    /// Replace an existing entry in the opposite direction (`force`, implies `commit`).
    pub force: bool,
    /// The conntrack zone.
    pub zone: CtZone,
    /// Recirculate the packet to this table after conntrack (`table=N`); `None` continues the
    /// current action list with the conntrack state unchanged.
    pub table: Option<u8>,
    /// The application-layer helper (`alg=ftp` is port 21, `alg=tftp` 69).
    pub alg: Option<u16>,
    /// Network address translation to apply.
    pub nat: Option<Nat>,
    /// `exec(...)`: actions applied to the connection when it is committed; only `set_field`
    /// and `load` of `ct_mark` and `ct_label`, as Open vSwitch.
    pub actions: Vec<Action>,
}

/// One action or instruction of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `output:P`, `normal`, `flood`, ...: send the packet out of a port.
    Output(OfPort),
    /// `output(port=P,max_len=N)`: output, truncated to `max_len` bytes.
    OutputTrunc {
        /// The port.
        port: OfPort,
        /// Bytes of the packet to send.
        max_len: u32,
    },
    /// `output:NXM_NX_REG0[0..15]`: output to the port number read from a subfield.
    OutputReg {
        /// Where the port number is read.
        src: SubField,
        /// Bytes to send when the port is the controller.
        max_len: u16,
    },
    /// `controller(...)`: send to the controller.
    Controller(Box<Controller>),
    /// `set_queue:Q`: the output queue for later outputs.
    SetQueue(u32),
    /// `pop_queue`: back to the queue the packet came with.
    PopQueue,
    /// `push_vlan:TPID`: push a new outermost VLAN tag (with the inner tag's TCI or zero).
    PushVlan(u16),
    /// `pop_vlan` / `strip_vlan`: remove the outermost VLAN tag.
    PopVlan,
    /// `mod_vlan_vid:V` with OpenFlow 1.0 meaning: set the VLAN ID, pushing a tag if the packet
    /// has none. Printed as `[push_vlan:0x8100,]set_field:V|0x1000->vlan_vid`.
    SetVlanVid(u16),
    /// `mod_vlan_pcp:P` with OpenFlow 1.0 meaning: set the priority, pushing a tag if the packet
    /// has none. Printed as `[push_vlan:0x8100,]set_field:P->vlan_pcp`.
    SetVlanPcp(u8),
    /// `set_field:V/M->F`: write the bits `mask` of `field` (right-aligned values).
    SetField {
        /// The field written.
        field: Field,
        /// The value, right-aligned in the field.
        value: u128,
        /// The bits written; the field's full mask for an unmasked `set_field`.
        mask: u128,
    },
    /// `load:V->F[a..b]`: write a constant into a subfield.
    Load {
        /// The bits written.
        dst: SubField,
        /// The value, right-aligned in `dst`.
        value: u128,
    },
    /// `move:F[a..b]->G[c..d]`: copy one subfield into another of the same width.
    Move {
        /// The bits read.
        src: SubField,
        /// The bits written.
        dst: SubField,
    },
    /// `mod_nw_ttl:T`: set the IP TTL / hop limit.
    SetNwTtl(u8),
    /// `dec_ttl` / `dec_ttl(id,...)`: decrement the TTL, sending the packet to the controllers
    /// with these IDs (none: every controller) when it reaches zero.
    DecTtl(Vec<u16>),
    /// `resubmit(port,table[,ct])`: look the packet up again, with `in_port` replaced by `port` and
    /// in table `table` (`None`: unchanged / the current table), optionally with the conntrack
    /// original-direction tuple.
    Resubmit {
        /// The `in_port` of the lookup.
        port: Option<OfPort>,
        /// The table of the lookup.
        table: Option<u8>,
        /// Use the conntrack original-direction tuple (`ct`).
        ct: bool,
    },
    /// `clone(...)`: run actions on a copy of the packet, leaving the original unchanged.
    Clone(Vec<Action>),
    /// `ct(...)`: connection tracking.
    Ct(Box<CtAction>),
    /// `ct_clear`: forget the conntrack state of the packet.
    CtClear,
    /// `exit`: stop executing actions.
    Exit,
    /// `group:G`: execute a group.
    Group(u32),
    /// `note:HEX`: does nothing; carries bytes for humans and controllers.
    Note(Vec<u8>),
    /// `meter:M` (instruction): apply a meter.
    Meter(u32),
    /// `clear_actions` (instruction): empty the action set.
    ClearActions,
    /// `write_actions(...)` (instruction): add actions to the action set.
    WriteActions(Vec<Action>),
    /// `write_metadata:V[/M]` (instruction): write bits of the metadata register.
    WriteMetadata {
        /// The value written.
        value: u64,
        /// The bits written.
        mask: u64,
    },
    /// `goto_table:T` (instruction): continue in a later table.
    GotoTable(u8),
}

impl Action {
    /// The keyword that introduces this action in flow text, in its canonical spelling.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Output(_) => "output",
            Action::OutputTrunc { .. } => "output_trunc",
            Action::OutputReg { .. } => "output_reg",
            Action::Controller(_) => "controller",
            Action::SetQueue(_) => "set_queue",
            Action::PopQueue => "pop_queue",
            Action::PushVlan(_) => "push_vlan",
            Action::PopVlan => "pop_vlan",
            Action::SetVlanVid(_) => "mod_vlan_vid",
            Action::SetVlanPcp(_) => "mod_vlan_pcp",
            Action::SetField { .. } => "set_field",
            Action::Load { .. } => "load",
            Action::Move { .. } => "move",
            Action::SetNwTtl(_) => "mod_nw_ttl",
            Action::DecTtl(_) => "dec_ttl",
            Action::Resubmit { .. } => "resubmit",
            Action::Clone(_) => "clone",
            Action::Ct(_) => "ct",
            Action::CtClear => "ct_clear",
            Action::Exit => "exit",
            Action::Group(_) => "group",
            Action::Note(_) => "note",
            Action::Meter(_) => "meter",
            Action::ClearActions => "clear_actions",
            Action::WriteActions(_) => "write_actions",
            Action::WriteMetadata { .. } => "write_metadata",
            Action::GotoTable(_) => "goto_table",
        }
    }

    /// Whether this is an OpenFlow 1.1+ instruction rather than an action of the apply list.
    pub fn is_instruction(&self) -> bool {
        matches!(
            self,
            Action::Meter(_)
                | Action::ClearActions
                | Action::WriteActions(_)
                | Action::WriteMetadata { .. }
                | Action::GotoTable(_)
        )
    }

    /// Whether this action sends the packet somewhere (a port, the controller, a group).
    pub fn is_output(&self) -> bool {
        matches!(
            self,
            Action::Output(_)
                | Action::OutputTrunc { .. }
                | Action::OutputReg { .. }
                | Action::Controller(_)
                | Action::Group(_)
        )
    }

    /// The action lists nested in this action (`clone(...)`, `write_actions(...)`,
    /// `ct(exec(...))`); empty for the others.
    pub fn nested(&self) -> &[Action] {
        match self {
            Action::Clone(a) | Action::WriteActions(a) => a,
            Action::Ct(ct) => &ct.actions,
            _ => &[],
        }
    }

    /// Calls `f` on this action and then, depth first, on every nested action.
    pub fn walk(&self, f: &mut impl FnMut(&Action)) {
        f(self);
        for a in self.nested() {
            a.walk(f);
        }
    }

    /// The bits this action reads from the packet's key, beyond what executing it always needs.
    pub fn reads(&self) -> Vec<SubField> {
        match self {
            Action::OutputReg { src, .. } | Action::Move { src, .. } => vec![*src],
            Action::Ct(ct) => match ct.zone {
                CtZone::Field(sf) => vec![sf],
                CtZone::Imm(_) => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// The fields (or parts of them) this action writes, for the fields a key models.
    pub fn writes(&self) -> Vec<SubField> {
        let part = |field: Field, mask: u128| {
            // A contiguous mask is described exactly; any other covers the whole field.
            let ofs = mask.trailing_zeros();
            let n_bits = (mask >> ofs.min(127)).trailing_ones();
            if mask != 0 && (mask >> ofs.min(127)).count_ones() == n_bits {
                SubField { field, ofs, n_bits }
            } else {
                SubField::whole(field)
            }
        };
        match self {
            Action::SetField { field, mask, .. } => vec![part(*field, *mask)],
            Action::Load { dst, .. } | Action::Move { dst, .. } => vec![*dst],
            Action::SetVlanVid(_)
            | Action::SetVlanPcp(_)
            | Action::PushVlan(_)
            | Action::PopVlan => {
                vec![SubField::whole(Field::VlanTci)]
            }
            Action::SetNwTtl(_) | Action::DecTtl(_) => vec![SubField::whole(Field::NwTtl)],
            Action::WriteMetadata { mask, .. } => vec![part(Field::Metadata, u128::from(*mask))],
            _ => Vec::new(),
        }
    }
}

/// Calls `f` on every action of `actions`, depth first through nested lists.
pub fn walk(actions: &[Action], f: &mut impl FnMut(&Action)) {
    for a in actions {
        a.walk(f);
    }
}

#[cfg(test)]
mod tests;
