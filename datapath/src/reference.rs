//! The reference slow path: translate, then execute, for one packet, with no cache.
//!
//! This is what the datapath must be equivalent to: the soundness test runs random rule sets
//! and packets through a running [`crate::Datapath`] (which answers from its caches after the
//! first packets) and through [`forward`], and compares the frames that leave each port.

use flowtable::extract::extract_into;
use flowtable::pipeline::{translate, RecircIds};
use flowtable::table::Tables;
use flowtable::wire::Layer;
use flowtable::FlowKey;

use crate::cache::Decision;
use crate::drops::Drop;
use crate::exec::{execute, Env};
use crate::packet::Packet;
use crate::stats::PacketIn;

/// What the slow path did with one packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// (output port, frame), in output order.
    pub outputs: Vec<(u32, Vec<u8>)>,
    /// Drops, in order.
    pub drops: Vec<Drop>,
    /// Packet-ins, in order (no rate limit).
    pub packet_ins: Vec<PacketIn>,
}

struct RefEnv<'a> {
    tables: &'a Tables,
    recirc: &'a RecircIds,
    /// (ofport, MTU) of every port.
    ports: &'a [(u32, usize)],
    out: Forwarded,
}

impl Env for RefEnv<'_> {
    fn output(&mut self, port: u32, pkt: Packet) {
        match self.ports.iter().find(|(p, _)| *p == port) {
            None => self.out.drops.push(Drop::PortDown),
            Some((_, mtu)) if crate::setfield::l3_len(pkt.data()) > *mtu => {
                self.out.drops.push(Drop::MtuExceeded)
            }
            Some(_) => self.out.outputs.push((port, pkt.data().to_vec())),
        }
    }

    fn flood_ports(&self, in_port: u32, out: &mut Vec<u32>) {
        let mut ports: Vec<u32> = self.ports.iter().map(|(p, _)| *p).collect();
        ports.sort_unstable();
        out.extend(ports.into_iter().filter(|p| *p != in_port));
    }

    fn controller(&mut self, pi: PacketIn) {
        self.out.packet_ins.push(pi);
    }

    fn recirc(&mut self, pkt: Packet, key: FlowKey, depth: usize) {
        self.run(pkt, key, depth);
    }

    fn drop(&mut self, reason: Drop) {
        self.out.drops.push(reason);
    }
}

impl RefEnv<'_> {
    fn run(&mut self, pkt: Packet, key: FlowKey, depth: usize) {
        let d = Decision::from_translation(translate(self.tables, self.recirc, &key), 0);
        if let Some(reason) = d.drop {
            self.drop(reason);
            return;
        }
        let mut meta = key;
        execute(self, pkt, &mut meta, &d.actions, depth);
    }
}

/// Forwards `frame`, received on `in_port`, through `tables` on a bridge with `ports`
/// ((ofport, MTU) pairs), without any cache.
pub fn forward(
    tables: &Tables,
    recirc: &RecircIds,
    ports: &[(u32, usize)],
    in_port: u32,
    frame: &[u8],
) -> Forwarded {
    let mut env = RefEnv {
        tables,
        recirc,
        ports,
        out: Forwarded::default(),
    };
    let mut key = FlowKey::zero();
    key.in_port = in_port;
    if let Err(e) = extract_into(frame, &mut key) {
        if e.layer() == Layer::Ethernet {
            env.drop(Drop::ParseError);
            return env.out;
        }
    }
    env.run(Packet::from_slice(frame), key, 0);
    env.out
}
