//! Datapath actions: what a translation tells the fast path to do with every packet of a
//! megaflow.
//!
//! They are lower level than OpenFlow actions: field writes are already folded into explicit
//! sets (emitted just before the packet leaves or enters conntrack), reserved ports that need
//! bridge state (`NORMAL`, `FLOOD`, `ALL`) are left for the datapath to expand, and `ct` with a
//! table becomes a conntrack step followed by a recirculation.

use std::fmt::{self, Write as _};

use crate::action::{ControllerReason, Nat, NatKind};
use crate::field::Field;
use crate::syntax::value::format_value;

/// The conntrack step of a datapath action list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpCt {
    /// The zone, resolved for this packet.
    pub zone: u16,
    /// Whether to commit the connection.
    pub commit: bool,
    /// Whether to end a connection in the other direction first (`force`).
    pub force: bool,
    /// Network address translation, when asked for.
    pub nat: Option<Nat>,
    /// `ct_mark` bits to set on commit: (value, mask).
    pub mark: Option<(u32, u32)>,
    /// `ct_label` bits to set on commit: (value, mask).
    pub label: Option<(u128, u128)>,
    /// Application-layer gateway, by the well-known port of its protocol (21 for FTP).
    pub alg: Option<u16>,
}

/// One datapath action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DpAction {
    /// Send the packet out of an OpenFlow port.
    Output(u32),
    /// Send at most `max_len` bytes of the packet out of a port.
    OutputTrunc {
        /// The OpenFlow port.
        port: u32,
        /// Bytes kept.
        max_len: u32,
    },
    /// Forward as a MAC-learning switch (expanded by the datapath).
    Normal,
    /// Flood to every port but the input port (expanded by the datapath).
    Flood,
    /// Send to every port but the input port, including ports excluded from flooding.
    All,
    /// Send the packet to the controller (a packet-in event).
    Controller {
        /// Why.
        reason: ControllerReason,
        /// Bytes of the packet included in the event.
        max_len: u16,
        /// The controller connection ID.
        id: u16,
        /// The table whose rule sent it.
        table: u8,
        /// The cookie of that rule.
        cookie: u64,
    },
    /// Write header bits: the bits of `mask` take the bits of `value` (both right-aligned in
    /// the field).
    SetField {
        /// The header field.
        field: Field,
        /// New value.
        value: u128,
        /// Bits written.
        mask: u128,
    },
    /// Push a VLAN tag.
    PushVlan {
        /// Tag protocol identifier.
        tpid: u16,
        /// Tag control information, without the "present" bit.
        tci: u16,
    },
    /// Remove the outermost VLAN tag.
    PopVlan,
    /// Pass the packet through connection tracking.
    Ct(Box<DpCt>),
    /// Forget the packet's conntrack state.
    CtClear,
    /// Run the packet through the pipeline again with this `recirc_id`.
    Recirc(u32),
    /// Run these actions on a copy of the packet.
    Clone(Vec<DpAction>),
}

impl fmt::Display for DpAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpAction::Output(port) => write!(f, "{port}"),
            DpAction::OutputTrunc { port, max_len } => write!(f, "trunc({max_len}),{port}"),
            DpAction::Normal => f.write_str("NORMAL"),
            DpAction::Flood => f.write_str("FLOOD"),
            DpAction::All => f.write_str("ALL"),
            DpAction::Controller { reason, max_len, id, table, cookie } => write!(
                f,
                "userspace(controller(reason={},max_len={max_len},id={id},table={table},cookie={cookie:#x}))",
                reason.name()
            ),
            DpAction::SetField { field, value, mask } => {
                write!(f, "set({}={})", field.name(), format_value(*field, *value, *mask))
            }
            DpAction::PushVlan { tpid, tci } => {
                f.write_str("push_vlan(")?;
                if *tpid != crate::ethertype::VLAN {
                    write!(f, "tpid={tpid:#06x},")?;
                }
                write!(f, "vid={},pcp={})", tci & 0x0fff, tci >> 13)
            }
            DpAction::PopVlan => f.write_str("pop_vlan"),
            DpAction::Ct(ct) => write!(f, "{ct}"),
            DpAction::CtClear => f.write_str("ct_clear"),
            DpAction::Recirc(id) => write!(f, "recirc({id:#x})"),
            DpAction::Clone(actions) => write!(f, "clone({})", DpActions(actions)),
        }
    }
}

impl fmt::Display for DpCt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if self.commit {
            parts.push(if self.force {
                "force_commit".into()
            } else {
                "commit".into()
            });
        }
        if self.zone != 0 {
            parts.push(format!("zone={}", self.zone));
        }
        if let Some((value, mask)) = self.mark {
            parts.push(format!("mark={value:#x}/{mask:#x}"));
        }
        if let Some((value, mask)) = self.label {
            parts.push(format!("label={value:#x}/{mask:#x}"));
        }
        if let Some(alg) = self.alg {
            parts.push(format!("helper={}", alg_name(alg)));
        }
        if let Some(nat) = &self.nat {
            parts.push(nat_text(nat));
        }
        let mut out = String::from("ct");
        if !parts.is_empty() {
            // Writing into a String cannot fail.
            let _ = write!(out, "({})", parts.join(","));
        }
        f.write_str(&out)
    }
}

fn alg_name(port: u16) -> String {
    match port {
        21 => "ftp".into(),
        69 => "tftp".into(),
        other => other.to_string(),
    }
}

/// `nat(src=A-B:P-Q,random)` in the datapath's own spelling.
fn nat_text(nat: &Nat) -> String {
    let mut out = String::from("nat");
    let mut args: Vec<String> = Vec::new();
    if let Some(kind) = nat.kind {
        let mut range = match kind {
            NatKind::Src => "src".to_string(),
            NatKind::Dst => "dst".to_string(),
        };
        if let Some(addrs) = &nat.addrs {
            let _ = write!(range, "={}", addrs.min);
            if addrs.max != addrs.min {
                let _ = write!(range, "-{}", addrs.max);
            }
        }
        if let Some((min, max)) = nat.ports {
            let _ = write!(range, ":{min}");
            if max != min {
                let _ = write!(range, "-{max}");
            }
        }
        args.push(range);
    }
    for (on, name) in [
        (nat.random, "random"),
        (nat.hash, "hash"),
        (nat.persistent, "persistent"),
    ] {
        if on {
            args.push(name.into());
        }
    }
    if !args.is_empty() {
        let _ = write!(out, "({})", args.join(","));
    }
    out
}

/// A datapath action list, displayed comma-separated, or `drop` when empty.
#[derive(Clone, Copy, Debug)]
pub struct DpActions<'a>(pub &'a [DpAction]);

impl fmt::Display for DpActions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("drop");
        }
        for (i, action) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{action}")?;
        }
        Ok(())
    }
}
