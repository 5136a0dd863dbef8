//! Megaflow soundness through the real datapath: for random rule sets and random packets, the
//! running datapath (answering from its caches once warmed up) and the reference slow path
//! (`translate` + execute, no cache) send the same frames out of the same ports and drop for
//! the same reasons, also after table swaps.

#![allow(clippy::cast_possible_truncation)]

mod common;

use std::collections::BTreeMap;

use common::*;
use datapath::reference::forward;
use datapath::DatapathConfig;
use flowtable::pipeline::RecircIds;
use flowtable::table::Tables;
use flowtable::wire::{arp, checksum, ethernet, icmpv4, ipv4::Ipv4Header, tcp::TcpHeader, udp};
use proptest::prelude::*;

const MATCHES: &[&str] = &[
    "",
    "in_port=1,",
    "in_port=2,",
    "ip,",
    "ip,nw_dst=10.0.0.0/8,",
    "ip,nw_dst=10.0.0.0/24,",
    "ip,nw_dst=10.0.0.128/25,",
    "ip,nw_dst=10.0.1.7,",
    "ip,nw_src=192.168.0.0/16,",
    "tcp,tp_dst=80,",
    "tcp,tp_dst=0x1bb/0xfff0,",
    "udp,tp_src=53,",
    "reg0=0x5,",
    "dl_vlan=10,",
    "vlan_tci=0/0x1000,",
    "ip,nw_ttl=1,",
    "arp,",
    "dl_src=02:00:00:00:00:01,",
];

fn action(table: u8, pick: u8) -> String {
    let next = table + 1;
    match pick % 16 {
        0 => "output:2".into(),
        1 => "output:3".into(),
        2 => "set_field:10.0.0.200->nw_dst".into(),
        3 => "load:0x5->NXM_NX_REG0[]".into(),
        4 => format!("resubmit(,{next})"),
        5 => format!("goto_table:{next}"),
        6 => "dec_ttl".into(),
        7 => "mod_vlan_vid:10".into(),
        8 => "strip_vlan".into(),
        9 => "NORMAL".into(),
        10 => format!("move:NXM_OF_IP_SRC[0..7]->NXM_NX_REG0[0..7],resubmit(,{next})"),
        11 => "mod_dl_src:02:00:00:00:00:77".into(),
        12 => "mod_nw_tos:16".into(),
        13 => "output:1".into(),
        14 => "mod_tp_dst:99".into(),
        _ => "in_port".into(),
    }
}

/// Random rules over three tables, in flow syntax.
fn rules() -> impl Strategy<Value = Vec<String>> {
    let rule = (
        0u8..3,
        0..MATCHES.len(),
        1u16..5,
        prop::collection::vec(any::<u8>(), 0..4),
    );
    prop::collection::vec(rule, 1..20).prop_map(|rules| {
        rules
            .into_iter()
            .map(|(table, m, priority, picks)| {
                let mut actions: Vec<String> = picks.iter().map(|&p| action(table, p)).collect();
                let gotos: Vec<String> = actions
                    .iter()
                    .filter(|a| a.starts_with("goto"))
                    .cloned()
                    .collect();
                actions.retain(|a| !a.starts_with("goto"));
                actions.extend(gotos.into_iter().take(1));
                let actions = if actions.is_empty() {
                    "drop".to_string()
                } else {
                    actions.join(",")
                };
                format!(
                    "table={table},priority={priority},{}actions={actions}",
                    MATCHES[m]
                )
            })
            .collect()
    })
}

/// Tables from random rules; invalid combinations (e.g. dec_ttl without ip) are skipped.
fn build(rules: &[String]) -> Tables {
    let mut t = Tables::new();
    for rule in rules {
        if let Ok(fm) = flowtable::syntax::flow::parse_flow(rule) {
            let _ = t.apply(&fm, false, 0);
        }
    }
    t
}

/// A random frame from a small universe, so that rules and packets meet.
#[derive(Clone, Debug)]
struct Pkt {
    in_port: u32,
    frame: Vec<u8>,
}

fn packet() -> impl Strategy<Value = Pkt> {
    (
        1u32..4,
        0u8..7,
        any::<u32>(),
        any::<u32>(),
        any::<u16>(),
        any::<u16>(),
        0u8..4,
        prop::option::of(0u16..16),
        0usize..120,
    )
        .prop_map(|(in_port, kind, src, dst, sport, dport, ttl, vlan, len)| {
            let src_mac = [2, 0, 0, 0, 0, (src & 3) as u8];
            let dst_mac = [2, 0, 0, 0, 0, (dst & 3) as u8];
            let nw_src = 0xc0a8_0000 | (src & 0x1ff);
            let nw_dst = 0x0a00_0000 | (dst & 0x1ff);
            let ttl = if ttl == 3 { 64 } else { ttl };
            let sport = [53, 80, sport][usize::from(sport % 3)];
            let dport = [80, 443, dport][usize::from(dport % 3)];
            let payload = vec![0x5a; len];
            let mut f = Vec::new();
            let ethertype = match kind {
                0 => 0x0806,
                1 => 0x1234,
                _ => 0x0800,
            };
            ethernet::emit(&mut f, dst_mac, src_mac, ethertype);
            if kind == 6 {
                // Arbitrary bytes: truncated and malformed frames must go the same way too.
                let raw: Vec<u8> = (0..len)
                    .map(|i| (src >> (i % 29)) as u8 ^ (i as u8))
                    .collect();
                return Pkt {
                    in_port,
                    frame: raw,
                };
            }
            match kind {
                0 => arp::emit(&mut f, 1, src_mac, nw_src, [0; 6], nw_dst),
                1 => f.extend_from_slice(&payload),
                _ => {
                    let proto = [17, 6, 1, 17][usize::from(kind - 2)];
                    let mut l4 = Vec::new();
                    let l4len = match proto {
                        17 => 8 + len,
                        6 => 20 + len,
                        _ => 8 + len,
                    };
                    let pseudo = checksum::pseudo_header_v4(nw_src, nw_dst, proto, l4len as u16);
                    match proto {
                        17 => {
                            let _ = udp::emit(&mut l4, sport, dport, &payload, Some(pseudo));
                        }
                        6 => TcpHeader {
                            src_port: sport,
                            dst_port: dport,
                            ..TcpHeader::default()
                        }
                        .emit(&mut l4, &payload, pseudo),
                        _ => icmpv4::emit(&mut l4, 8, 0, [0, 1, 0, 2], &payload),
                    }
                    let ip = Ipv4Header {
                        src: nw_src,
                        dst: nw_dst,
                        protocol: proto,
                        ttl,
                        ..Ipv4Header::default()
                    };
                    let _ = ip.emit(&mut f, l4.len());
                    f.extend_from_slice(&l4);
                }
            }
            if let Some(vid) = vlan {
                f = tagged(f, vid);
            }
            Pkt { in_port, frame: f }
        })
}

/// Frames per output port, and the drop counts that changed.
type Outcome = (BTreeMap<u32, Vec<Vec<u8>>>, BTreeMap<String, u64>);

/// Port 3 has a small MTU, so that MTU drops happen too.
const PORTS: [(u32, usize); 3] = [(1, 1500), (2, 1500), (3, 100)];

/// Sends `p` through the datapath and returns (frames per output port, drop counts that
/// changed).
fn through_datapath(br: &Bridge, p: &Pkt) -> Outcome {
    let before = br.dp.drops();
    br.send(p.in_port, std::slice::from_ref(&p.frame));
    let mut out = BTreeMap::new();
    for (port, _) in PORTS {
        let sent = br.sent(port);
        if !sent.is_empty() {
            out.insert(port, sent);
        }
    }
    let drops = br
        .dp
        .drops()
        .iter()
        .zip(before)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, b)| (a.0.to_string(), a.1 - b.1))
        .collect();
    (out, drops)
}

fn through_reference(t: &Tables, p: &Pkt) -> Outcome {
    let f = forward(t, &RecircIds::new(), &PORTS, p.in_port, &p.frame);
    let mut out: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
    for (port, frame) in f.outputs {
        out.entry(port).or_default().push(frame);
    }
    let mut drops: BTreeMap<String, u64> = BTreeMap::new();
    for d in f.drops {
        *drops.entry(d.name().to_string()).or_default() += 1;
    }
    (out, drops)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn cached_path_equals_slow_path_across_table_swaps(
        rules1 in rules(),
        rules2 in rules(),
        pkts in prop::collection::vec(packet(), 1..12),
    ) {
        let cfg = DatapathConfig { upcall_rate_per_port: 0, ..DatapathConfig::default() };
        let br = Bridge::with(&[], 3, cfg, &[(3, 100)]);
        for rules in [&rules1, &rules2, &rules1] {
            let t = build(rules);
            let t = std::sync::Arc::new(t);
            br.dp.set_tables(t.clone());
            // Twice each: the first packet may upcall, the second comes from the caches (and
            // after the second swap, from megaflows made under other tables).
            for round in 0..2 {
                for p in &pkts {
                    let got = through_datapath(&br, p);
                    let want = through_reference(&t, p);
                    prop_assert_eq!(
                        &got, &want,
                        "round {} rules {:#?}\npacket {:?}", round, rules, p
                    );
                }
            }
        }
        let st = br.dp.cache_stats();
        // Every packet went through twice per version: the second time, any frame with an
        // Ethernet header was answered from a cache.
        let parsed = pkts.iter().any(|p| p.frame.len() >= 14);
        prop_assert!(st.emc_hits + st.megaflow_hits > 0 || !parsed, "{:?}", st);
    }
}

/// Tables swapped while packets flow: a packet injected after `set_tables` returned is never
/// forwarded with an older version's decision. Version `v` writes TOS `4 v`, so each output
/// frame says which version forwarded it.
#[test]
fn no_packet_uses_an_older_version_after_set_tables_returns() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    let version_tables = |v: u64| {
        tables(&[&format!(
            "ip,actions=mod_nw_tos:{},output:2",
            (v * 4) & 0xfc
        )])
    };
    let br = Arc::new(Bridge::with(&[], 2, DatapathConfig::default(), &[]));
    br.dp.set_tables(version_tables(1));
    let seq = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let injector = {
        let (br, seq, done) = (br.clone(), seq.clone(), done.clone());
        std::thread::spawn(move || {
            let h = br.handle(1);
            while !done.load(Ordering::Acquire) {
                let n = seq.fetch_add(1, Ordering::AcqRel);
                let mut f = udp4(0x0a00_0001, 0x0a00_0002, 1, 2, 8);
                let len = f.len();
                f[len - 8..].copy_from_slice(&n.to_be_bytes());
                while h.inject(&[&f]) == 0 {
                    std::thread::yield_now();
                }
                if n % 16 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(20));
                }
            }
        })
    };
    // seq_at[v]: every packet with a larger sequence number was injected after version v's
    // set_tables returned.
    let mut seq_at = Vec::new();
    for v in 2..60u64 {
        br.dp.set_tables(version_tables(v));
        seq_at.push((v, seq.load(Ordering::Acquire)));
        std::thread::sleep(std::time::Duration::from_micros(300));
    }
    done.store(true, Ordering::Release);
    injector
        .join()
        .unwrap_or_else(|_| panic!("injector panicked"));
    wait(|| br.handle(1).rx_pending() == 0);
    br.dp.quiesce();
    let out = br.sent(2);
    assert!(out.len() > 100, "only {} packets", out.len());
    for f in out {
        let tos = f[15];
        let used = u64::from(tos / 4);
        let n = u64::from_be_bytes(f[f.len() - 8..].try_into().unwrap_or_default());
        let required = seq_at
            .iter()
            .filter(|(_, s)| n > *s)
            .map(|(v, _)| *v)
            .max()
            .unwrap_or(1);
        assert!(
            used >= required,
            "packet {n} forwarded by version {used}, needs {required}"
        );
    }
}
