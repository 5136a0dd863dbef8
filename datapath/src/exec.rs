//! Executing datapath actions on a packet.
//!
//! [`execute`] walks a [`DpAction`] list over one packet, rewriting it in place (set-field,
//! VLAN push and pop) and handing copies to an [`Env`]: the environment decides what an
//! output, a flood, a packet-in or a recirculation means. The PMD thread's environment batches
//! outputs per port and checks MTUs; the reference slow path ([`crate::reference`]) collects
//! them. Sharing this walk is deliberate: the soundness test then isolates what the caches add.
//!
//! The last output of a list (or the last port of a flood ending it) takes the packet itself;
//! earlier ones take copies, so a packet in a UMEM frame leaves by address at most once.
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
                // A flood ending the list gives the packet itself to its last port.
                let mine = if i == last { ports.pop() } else { None };
                for port in ports {
                    env.output(port, p.clone());
                }
                if let (Some(port), Some(p)) = (mine, pkt.take()) {
                    env.output(port, p);
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

#[cfg(test)]
mod tests {
    use super::*;
    use flowtable::action::ControllerReason;
    use flowtable::pipeline::DpCt;

    /// Records everything.
    #[derive(Default)]
    struct Rec {
        out: Vec<(u32, Vec<u8>)>,
        pis: Vec<PacketIn>,
        recircs: Vec<(FlowKey, usize)>,
        drops: Vec<Drop>,
    }

    impl Env for Rec {
        fn output(&mut self, port: u32, pkt: Packet) {
            self.out.push((port, pkt.data().to_vec()));
        }
        fn flood_ports(&self, in_port: u32, out: &mut Vec<u32>) {
            out.extend([1, 2, 3].into_iter().filter(|p| *p != in_port));
        }
        fn controller(&mut self, pi: PacketIn) {
            self.pis.push(pi);
        }
        fn recirc(&mut self, _pkt: Packet, key: FlowKey, depth: usize) {
            self.recircs.push((key, depth));
        }
        fn drop(&mut self, reason: Drop) {
            self.drops.push(reason);
        }
    }

    fn frame() -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&[0x88, 0xb5]);
        f
    }

    fn run(actions: &[DpAction], depth: usize) -> Rec {
        let mut rec = Rec::default();
        let mut meta = FlowKey::zero();
        meta.in_port = 2;
        execute(
            &mut rec,
            Packet::from_slice(&frame()),
            &mut meta,
            actions,
            depth,
        );
        rec
    }

    #[test]
    fn outputs_see_the_packet_as_rewritten_so_far() {
        let rec = run(
            &[
                DpAction::Output(1),
                DpAction::PushVlan {
                    tpid: 0x8100,
                    tci: 7,
                },
                DpAction::OutputTrunc {
                    port: 3,
                    max_len: 20,
                },
                DpAction::PopVlan,
                DpAction::Flood,
            ],
            0,
        );
        let ports: Vec<u32> = rec.out.iter().map(|(p, _)| *p).collect();
        assert_eq!(ports, vec![1, 3, 1, 3]);
        assert_eq!(rec.out[0].1, frame());
        assert_eq!(rec.out[1].1.len(), 20);
        assert_eq!(&rec.out[1].1[12..16], &[0x81, 0, 0, 7]);
        assert_eq!(rec.out[3].1, frame());
    }

    #[test]
    fn controller_truncates_and_names_the_input_port() {
        let c = |max_len| DpAction::Controller {
            reason: ControllerReason::Action,
            max_len,
            id: 0,
            table: 4,
            cookie: 9,
        };
        let rec = run(&[c(10), c(u16::MAX)], 0);
        assert_eq!(rec.pis.len(), 2);
        assert_eq!(
            (rec.pis[0].ofport, rec.pis[0].frame.len(), rec.pis[0].table),
            (2, 10, 4)
        );
        assert_eq!(rec.pis[1].frame.len(), 60);
    }

    #[test]
    fn ct_drops_and_recirc_is_bounded() {
        let ct = DpAction::Ct(Box::new(DpCt {
            zone: 0,
            commit: false,
            force: false,
            nat: None,
            mark: None,
            label: None,
            alg: None,
        }));
        let rec = run(
            &[
                DpAction::Clone(vec![ct, DpAction::Recirc(1)]),
                DpAction::Output(1),
            ],
            0,
        );
        assert_eq!(rec.drops, vec![Drop::CtUnsupported]);
        assert!(rec.recircs.is_empty());
        assert_eq!(rec.out.len(), 1);
        let rec = run(&[DpAction::Recirc(5)], 0);
        assert_eq!(rec.recircs.len(), 1);
        let (key, depth) = rec.recircs[0];
        assert_eq!(
            (key.recirc_id, key.in_port, key.dl_type, depth),
            (5, 2, 0x88b5, 1)
        );
        let rec = run(&[DpAction::Recirc(5)], MAX_RECIRC_DEPTH);
        assert_eq!(rec.drops, vec![Drop::RecircDepth]);
    }

    fn any_action() -> impl proptest::strategy::Strategy<Value = DpAction> {
        use proptest::prelude::*;
        let fields = proptest::sample::select(vec![
            flowtable::Field::DlDst,
            flowtable::Field::VlanTci,
            flowtable::Field::NwSrc,
            flowtable::Field::ArpTpa,
            flowtable::Field::Ipv6Dst,
            flowtable::Field::NwTos,
            flowtable::Field::NwTtl,
            flowtable::Field::ArpSha,
            flowtable::Field::TpSrc,
            flowtable::Field::IcmpCode,
            flowtable::Field::NdSll,
            flowtable::Field::PktMark,
            flowtable::Field::Reg3,
        ]);
        let leaf = prop_oneof![
            (0u32..4).prop_map(DpAction::Output),
            (0u32..4, 0u32..100)
                .prop_map(|(port, max_len)| DpAction::OutputTrunc { port, max_len }),
            Just(DpAction::Flood),
            (any::<u16>(), any::<u16>()).prop_map(|(tpid, tci)| DpAction::PushVlan { tpid, tci }),
            Just(DpAction::PopVlan),
            Just(DpAction::CtClear),
            (0u32..3).prop_map(DpAction::Recirc),
            (fields, any::<u128>(), any::<u128>())
                .prop_map(|(field, value, mask)| DpAction::SetField { field, value, mask }),
        ];
        leaf.prop_recursive(2, 16, 4, |inner| {
            proptest::collection::vec(inner, 0..4).prop_map(DpAction::Clone)
        })
    }

    proptest::proptest! {
        /// Any action list on any frame: no panic, and every output is a frame the actions
        /// could make (never longer than the input plus the tags pushed).
        #[test]
        fn execution_never_panics(
            frame in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..120),
            actions in proptest::collection::vec(any_action(), 0..8),
        ) {
            let mut rec = Rec::default();
            let mut meta = FlowKey::zero();
            execute(&mut rec, Packet::from_slice(&frame), &mut meta, &actions, 0);
            for (_, out) in &rec.out {
                proptest::prop_assert!(out.len() <= frame.len() + 4 * 64);
            }
        }
    }
}
