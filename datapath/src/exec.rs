//! Executing datapath actions on a packet.
//!
//! [`execute`] walks a [`DpAction`] list over one packet, rewriting it in place (set-field,
//! VLAN push and pop) and handing copies to an [`Env`]: the environment decides what an
//! output, a flood, a packet-in or a recirculation means. The PMD thread's environment batches
//! outputs per port and checks MTUs; the reference slow path ([`crate::reference`]) collects
//! them. Sharing this walk is deliberate: the soundness test then isolates what the caches add.
//!
//! The last output of a list takes the packet itself; earlier ones take copies.
//!
//! Nothing here panics on any frame: rewrites of headers the frame does not have do nothing
//! (see [`crate::setfield`]).

use flowtable::extract::extract_into;
use flowtable::pipeline::DpAction;
use flowtable::FlowKey;

use crate::drops::Drop;
use crate::packet::Packet;
use crate::setfield;
use crate::stats::PacketIn;

/// How many times a packet may recirculate.
pub const MAX_RECIRC_DEPTH: usize = 6;

/// `max_len` of a controller action that means "the whole packet".
const NO_BUFFER: u16 = u16::MAX;

/// What the actions' effects mean for the caller.
pub trait Env {
    /// Sends `pkt` out of OpenFlow port `port`.
    fn output(&mut self, port: u32, pkt: Packet);
    /// Appends the ports a flood from `in_port` goes to (every port but `in_port`).
    fn flood_ports(&self, in_port: u32, out: &mut Vec<u32>);
    /// Delivers a packet-in.
    fn controller(&mut self, pi: PacketIn);
    /// Runs `pkt`, whose key (with `recirc_id` set) is `key`, through the pipeline again.
    fn recirc(&mut self, pkt: Packet, key: FlowKey, depth: usize);
    /// Counts a drop of the packet (or of one copy of it).
    fn drop(&mut self, reason: Drop);
}

/// Executes `actions` on `pkt`, whose metadata (in_port, tunnel, marks) is in `meta`, at
/// recirculation depth `depth`.
pub fn execute<E: Env>(
    env: &mut E,
    pkt: Packet,
    meta: &mut FlowKey,
    actions: &[DpAction],
    depth: usize,
) {
    let mut pkt = Some(pkt);
    let last = actions.len().saturating_sub(1);
    for (i, action) in actions.iter().enumerate() {
        let Some(p) = pkt.as_mut() else { return };
        // The packet itself for the last action, a copy for the others.
        let take = |p: &mut Option<Packet>| {
            if i == last {
                p.take()
            } else {
                p.clone()
            }
        };
        match action {
            DpAction::Output(port) => {
                if let Some(p) = take(&mut pkt) {
                    env.output(*port, p);
                }
            }
            DpAction::OutputTrunc { port, max_len } => {
                if let Some(mut p) = take(&mut pkt) {
                    p.truncate(usize::try_from(*max_len).unwrap_or(usize::MAX));
                    env.output(*port, p);
                }
            }
            DpAction::Normal | DpAction::Flood | DpAction::All => {
                // MAC learning is not implemented: NORMAL floods.
                let mut ports = Vec::new();
                env.flood_ports(meta.in_port, &mut ports);
                for port in ports {
                    env.output(port, p.clone());
                }
            }
            DpAction::Controller {
                reason,
                max_len,
                table,
                cookie,
                ..
            } => {
                let data = p.data();
                let keep = if *max_len == NO_BUFFER {
                    data.len()
                } else {
                    data.len().min(usize::from(*max_len))
                };
                env.controller(PacketIn {
                    ofport: meta.in_port,
                    reason: *reason,
                    table: *table,
                    cookie: *cookie,
                    frame: data.get(..keep).unwrap_or_default().to_vec(),
                });
            }
            DpAction::SetField { field, value, mask } => {
                setfield::set_field(p, meta, *field, *value, *mask);
            }
            DpAction::PushVlan { tpid, tci } => {
                setfield::push_vlan(p, *tpid, *tci);
            }
            DpAction::PopVlan => setfield::pop_vlan(p),
            DpAction::Ct(_) => {
                env.drop(Drop::CtUnsupported);
                return;
            }
            DpAction::CtClear => {
                meta.ct_state = 0;
                meta.ct_zone = 0;
                meta.ct_mark = 0;
                meta.ct_label = [0; 16];
            }
            DpAction::Recirc(id) => {
                if depth + 1 > MAX_RECIRC_DEPTH {
                    env.drop(Drop::RecircDepth);
                    return;
                }
                if let Some(p) = take(&mut pkt) {
                    let mut key = *meta;
                    key.recirc_id = *id;
                    // A frame too short for Ethernet never got here; a partial key is what
                    // the first pass saw as well.
                    let _ = extract_into(p.data(), &mut key);
                    env.recirc(p, key, depth + 1);
                }
            }
            DpAction::Clone(inner) => {
                let mut m = *meta;
                execute(env, p.clone(), &mut m, inner, depth);
            }
        }
    }
}
