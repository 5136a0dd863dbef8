//! Differential and megaflow-soundness properties of the classifier.
//!
//! Rules and keys are drawn from small pools of values (and prefixes of them), so that random keys
//! often hit rules, prefixes nest and priorities collide. The oracle is [`Linear`].

use flowtable::classifier::linear::Linear;
use flowtable::classifier::{Classifier, Rule};
use flowtable::{Field, FlowKey, FlowMask, Match};
use proptest::prelude::*;

const V4: [u32; 4] = [0x0a00_0000, 0x0a00_0107, 0x0a01_0000, 0xc0a8_0001];
const V4_PLENS: [u32; 7] = [0, 8, 16, 23, 24, 31, 32];
const V6: [u128; 3] = [
    0x2001_0db8_0000_0000_0000_0000_0000_0001,
    0x2001_0db8_0000_0001_0000_0000_0000_0000,
    0xfe80_0000_0000_0000_0000_0000_0000_0101,
];
const V6_PLENS: [u32; 5] = [0, 48, 64, 127, 128];
const DL_TYPES: [u16; 3] = [0x0800, 0x86dd, 0x0806];
const PORTS: [u16; 4] = [22, 80, 443, 0x1f50];
const PORT_MASKS: [u128; 4] = [0xffff, 0xff00, 0x00ff, 0xfff0];
const REG_MASKS: [u128; 3] = [0xf, 0xf0, 0xffff_ffff];

fn prefix_mask(width: u32, plen: u32) -> u128 {
    if plen == 0 {
        0
    } else {
        (u128::MAX >> (128 - width)) & !((1u128 << (width - plen)) - 1)
    }
}

/// One optional constraint per field; `None` leaves the field wildcarded.
fn arb_match() -> impl Strategy<Value = Match> {
    (
        (
            proptest::option::of(1u128..4),
            proptest::option::of(0..DL_TYPES.len()),
            proptest::option::of((0..V4.len(), 0..V4_PLENS.len())),
            proptest::option::of((0..V4.len(), 0..V4_PLENS.len())),
        ),
        (
            proptest::option::of((0..V6.len(), 0..V6_PLENS.len())),
            proptest::option::of(prop_oneof![Just(6u128), Just(17u128)]),
            proptest::option::of((0..PORTS.len(), 0..PORT_MASKS.len())),
            proptest::option::of((0u128..0x40, 0..REG_MASKS.len())),
            proptest::option::of(0u128..2),
        ),
    )
        .prop_map(
            |((in_port, dl_type, src, dst), (v6, proto, port, reg, meta))| {
                let mut m = Match::any();
                if let Some(p) = in_port {
                    m.set(Field::InPort, p);
                }
                if let Some(t) = dl_type {
                    m.set(Field::DlType, DL_TYPES[t].into());
                }
                if let Some((v, p)) = src {
                    m.set_masked(Field::NwSrc, V4[v].into(), prefix_mask(32, V4_PLENS[p]));
                }
                if let Some((v, p)) = dst {
                    m.set_masked(Field::NwDst, V4[v].into(), prefix_mask(32, V4_PLENS[p]));
                }
                if let Some((v, p)) = v6 {
                    m.set_masked(Field::Ipv6Dst, V6[v], prefix_mask(128, V6_PLENS[p]));
                }
                if let Some(p) = proto {
                    m.set(Field::NwProto, p);
                }
                if let Some((v, mask)) = port {
                    m.set_masked(Field::TpDst, PORTS[v].into(), PORT_MASKS[mask]);
                }
                if let Some((v, mask)) = reg {
                    m.set_masked(Field::Reg0, v, REG_MASKS[mask]);
                }
                if let Some(v) = meta {
                    m.set(Field::Metadata, v);
                }
                m
            },
        )
}

/// Keys near the pools: pool values with some low bits flipped.
fn arb_key() -> impl Strategy<Value = FlowKey> {
    (
        (
            0u32..5,
            0..DL_TYPES.len() + 1,
            (0..V4.len(), 0u32..0x400),
            (0..V4.len(), 0u32..0x400),
        ),
        (
            (0..V6.len(), any::<u128>(), 0u32..129),
            prop_oneof![Just(6u8), Just(17u8), Just(1u8)],
            (0..PORTS.len(), 0u16..0x20),
            0u32..0x40,
            0u64..3,
        ),
    )
        .prop_map(
            |(
                (in_port, dl_type, (s, sn), (d, dn)),
                ((v6, noise, nbits), proto, (p, pn), reg, meta),
            )| {
                let mut k = FlowKey::zero();
                k.in_port = in_port;
                k.dl_type = DL_TYPES.get(dl_type).copied().unwrap_or(0x88cc);
                k.nw_src = V4[s] ^ sn;
                k.nw_dst = V4[d] ^ dn;
                let noise = if nbits == 0 {
                    0
                } else {
                    noise >> (128 - nbits)
                };
                k.ipv6_dst = (V6[v6] ^ noise).to_be_bytes();
                k.nw_proto = proto;
                k.tp_dst = PORTS[p] ^ pn;
                k.regs[0] = reg;
                k.metadata = meta;
                k
            },
        )
}

/// Either free-form rules (mostly one per subtable), or rules over a few mask shapes with values
/// taken from keys (many rules per subtable, priorities colliding within and across subtables).
fn arb_rules(max: usize) -> impl Strategy<Value = Vec<(Match, u16)>> {
    let free = proptest::collection::vec((arb_match(), 0u16..4), 0..max);
    let shaped = (
        proptest::collection::vec(arb_match(), 1..4),
        proptest::collection::vec((any::<prop::sample::Index>(), arb_key(), 0u16..4), 0..max),
    )
        .prop_map(|(shapes, picks)| {
            picks
                .into_iter()
                .map(|(i, k, p)| (Match::new(k, i.get(&shapes).mask), p))
                .collect()
        });
    prop_oneof![free, shaped]
}

fn build(rules: &[(Match, u16)]) -> (Classifier<usize>, Linear<usize>) {
    let mut c = Classifier::new();
    let mut l = Linear::new();
    for (i, (m, p)) in rules.iter().enumerate() {
        c.insert(*m, *p, i);
        l.insert(*m, *p, i);
    }
    (c, l)
}

fn seq(r: Option<&Rule<usize>>) -> Option<u64> {
    r.map(|r| r.seq)
}

/// `key` on the bits of `mask`, `fill` elsewhere.
fn merge(key: &FlowKey, mask: &FlowMask, fill: &FlowKey) -> FlowKey {
    let mut out = *key;
    for ((o, f), m) in out
        .words_mut()
        .iter_mut()
        .zip(fill.words())
        .zip(mask.words())
    {
        *o = (*o & m) | (f & !m);
    }
    out
}

fn rule_set<T: Clone + Ord, R: std::ops::Deref<Target = Rule<T>>>(
    it: impl Iterator<Item = R>,
) -> Vec<(u64, u16, T, Match)> {
    let mut v: Vec<_> = it
        .map(|r| (r.seq, r.priority, r.value.clone(), r.match_))
        .collect();
    v.sort_by_key(|(s, ..)| *s);
    v
}

#[derive(Clone, Debug)]
enum Op {
    Insert(usize, u16),
    Remove(usize, u16),
    Modify(usize, u16),
    Snapshot,
}

fn arb_op(pool: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..pool, 0u16..3).prop_map(|(i, p)| Op::Insert(i, p)),
        2 => (0..pool, 0u16..3).prop_map(|(i, p)| Op::Remove(i, p)),
        1 => (0..pool, 0u16..3).prop_map(|(i, p)| Op::Modify(i, p)),
        1 => Just(Op::Snapshot),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (a) Same answer as the linear scan, and a mask within the bits rules examine at all.
    #[test]
    fn lookup_equals_linear(rules in arb_rules(40), keys in proptest::collection::vec(arb_key(), 1..20)) {
        let (c, l) = build(&rules);
        for k in &keys {
            let mut wc = FlowMask::none();
            let mut lwc = FlowMask::none();
            let got = c.lookup(k, &mut wc);
            prop_assert_eq!(seq(got.map(|r| &**r)), seq(l.lookup(k, &mut lwc)), "key {:?}", k);
            prop_assert!(wc.is_subset_of(&lwc), "mask {:?} has bits no rule examines", wc);
        }
    }

    /// (b) Mask soundness: every key that agrees with the looked-up key on the mask gets the same
    /// rule, from the classifier and from the oracle.
    ///
    /// The lookup may start from a mask that already holds bits (from earlier tables); the
    /// property then holds for the final mask.
    #[test]
    fn mask_is_sound(
        rules in arb_rules(40),
        key in arb_key(),
        fills in proptest::collection::vec(arb_key(), 1..16),
        start in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let (c, l) = build(&rules);
        let mut wc = match start {
            Some(i) if !rules.is_empty() => i.get(&rules).0.mask,
            _ => FlowMask::none(),
        };
        let want = seq(c.lookup(&key, &mut wc).map(|r| &**r));
        for fill in &fills {
            let other = merge(&key, &wc, fill);
            let mut ignored = FlowMask::none();
            prop_assert_eq!(seq(l.lookup(&other, &mut ignored)), want,
                "{:?} agrees with {:?} under {:?} but the oracle disagrees", other, key, wc);
            prop_assert_eq!(seq(c.lookup(&other, &mut ignored).map(|r| &**r)), want);
        }
    }

    /// (c) A sequence of inserts, replacements, removals and in-place modifications leaves the
    /// classifier equal to the oracle, and clones taken on the way are unaffected by later changes.
    #[test]
    fn updates_match_linear(
        pool in proptest::collection::vec(arb_match(), 1..10),
        ops in proptest::collection::vec(arb_op(10), 0..60),
        keys in proptest::collection::vec(arb_key(), 1..10),
        queries in proptest::collection::vec((arb_match(), 0u16..3), 1..6),
    ) {
        let mut c: Classifier<usize> = Classifier::new();
        let mut l: Linear<usize> = Linear::new();
        let mut snapshots = Vec::new();
        for (n, op) in ops.iter().enumerate() {
            match *op {
                Op::Insert(i, p) => {
                    let m = pool[i % pool.len()];
                    prop_assert_eq!(c.insert(m, p, n), l.insert(m, p, n));
                }
                Op::Remove(i, p) => {
                    let m = pool[i % pool.len()];
                    prop_assert_eq!(c.remove(&m, p), l.remove(&m, p));
                }
                Op::Modify(i, p) => {
                    let m = pool[i % pool.len()];
                    match (c.find_exact_mut(&m, p), l.find_exact_mut(&m, p)) {
                        (Some(a), Some(b)) => {
                            *a += 1000;
                            *b += 1000;
                        }
                        (None, None) => {}
                        (a, b) => prop_assert!(false, "find_exact_mut: {:?} vs {:?}", a, b),
                    }
                }
                Op::Snapshot => snapshots.push((c.clone(), l.clone())),
            }
            prop_assert_eq!(c.len(), l.len());
        }
        snapshots.push((c, l));
        for (c, l) in &snapshots {
            prop_assert_eq!(c.is_empty(), l.is_empty());
            prop_assert_eq!(rule_set(c.iter().map(|r| &**r)), rule_set(l.iter()));
            for k in &keys {
                let (mut a, mut b) = (FlowMask::none(), FlowMask::none());
                prop_assert_eq!(seq(c.lookup(k, &mut a).map(|r| &**r)), seq(l.lookup(k, &mut b)));
            }
            for (q, p) in &queries {
                prop_assert_eq!(
                    rule_set(c.iter_loose(q).map(|r| &**r)),
                    rule_set(l.iter_loose(q))
                );
                prop_assert_eq!(c.has_overlap(q, *p), l.has_overlap(q, *p));
                prop_assert_eq!(
                    c.find_exact(q, *p).map(|r| r.seq),
                    l.find_exact(q, *p).map(|r| r.seq)
                );
            }
            for m in &pool {
                for p in 0..3 {
                    prop_assert_eq!(c.has_overlap(m, p), l.has_overlap(m, p));
                    prop_assert_eq!(c.find_exact(m, p).map(|r| r.seq), l.find_exact(m, p).map(|r| r.seq));
                }
            }
        }
    }
}

#[test]
fn key_bits_outside_the_mask_are_ignored() {
    let mut m = Match::any();
    m.set(Field::TpDst, 80);
    let mut sloppy = m;
    sloppy.key.tp_src = 1234;
    let mut c = Classifier::new();
    c.insert(sloppy, 1, "web");
    let mut k = FlowKey::zero();
    k.tp_dst = 80;
    let mut wc = FlowMask::none();
    assert_eq!(c.lookup(&k, &mut wc).map(|r| r.value), Some("web"));
    assert_eq!(c.find_exact(&m, 1).map(|r| r.value), Some("web"));
    assert_eq!(c.find_exact(&sloppy, 1).map(|r| r.value), Some("web"));
    assert_eq!(c.remove(&sloppy, 1), Some("web"));
    assert!(c.is_empty());
}

#[test]
fn slash24_beside_slash32_gives_a_short_nw_dst_mask() {
    let mut c = Classifier::new();
    let mut net = Match::any();
    net.set(Field::DlType, 0x0800);
    net.set_masked(Field::NwDst, 0x0a00_0000, 0xffff_ff00);
    let mut host = Match::any();
    host.set(Field::DlType, 0x0800);
    host.set(Field::NwDst, 0x0a00_0107);
    c.insert(net, 100, "net");
    c.insert(host, 200, "host");
    let mut k = FlowKey::zero();
    k.dl_type = 0x0800;
    k.nw_dst = 0x0a00_0005;
    let mut wc = FlowMask::none();
    assert_eq!(c.lookup(&k, &mut wc).map(|r| r.value), Some("net"));
    assert_ne!(wc.0.nw_dst, u32::MAX, "exact-match megaflow on nw_dst");
    assert_eq!(wc.0.nw_dst.leading_ones(), 24);
    assert_eq!(wc.0.nw_dst.count_ones(), 24);
}
