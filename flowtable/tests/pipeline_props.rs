//! Megaflow soundness of the pipeline: every packet that agrees with a translated packet on the
//! bits of its megaflow mask must get the same datapath actions and drop reason. This is what
//! makes it safe for the datapath to cache one masked entry for all of them.

use flowtable::pipeline::{translate, DpActions, RecircIds};
use flowtable::syntax::flow::parse_flow;
use flowtable::table::Tables;
use flowtable::{ethertype, FlowKey};
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
    "reg0=0x1/0x1,",
    "dl_vlan=10,",
    "vlan_tci=0/0x1000,",
    "ip,nw_ttl=1,",
    "arp,",
];

fn action(table: u8, pick: u8) -> String {
    let next = table + 1;
    match pick % 12 {
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
        // Data flowing from a packet field through a register into a later lookup.
        10 => format!("move:NXM_OF_IP_SRC[0..7]->NXM_NX_REG0[0..7],resubmit(,{next})"),
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
    prop::collection::vec(rule, 1..25).prop_map(|rules| {
        rules
            .into_iter()
            .filter_map(|(table, m, priority, picks)| {
                let mut actions: Vec<String> = picks.iter().map(|&p| action(table, p)).collect();
                // goto_table is an instruction: last, and only once.
                let gotos: Vec<String> = actions
                    .iter()
                    .filter(|a| a.starts_with("goto"))
                    .cloned()
                    .collect();
                actions.retain(|a| !a.starts_with("goto"));
                actions.extend(gotos.into_iter().take(1));
                let m = MATCHES[m];
                let needs_ip = actions
                    .iter()
                    .any(|a| a.contains("nw_dst") || a.contains("IP_SRC"));
                if needs_ip
                    && !m.starts_with("ip")
                    && !m.starts_with("tcp")
                    && !m.starts_with("udp")
                {
                    return None;
                }
                let actions = if actions.is_empty() {
                    "drop".to_string()
                } else {
                    actions.join(",")
                };
                Some(format!(
                    "table={table},priority={priority},{m}actions={actions}"
                ))
            })
            .collect()
    })
}

/// A random packet key from a small universe, so that rules and packets meet.
fn key() -> impl Strategy<Value = FlowKey> {
    (
        1u32..4,
        0u8..4,
        any::<u32>(),
        any::<u32>(),
        0u8..3,
        any::<u16>(),
        any::<u16>(),
        0u8..4,
        prop::option::of(0u16..16),
    )
        .prop_map(|(in_port, l3, src, dst, proto, sport, dport, ttl, vlan)| {
            let mut k = FlowKey::zero();
            k.in_port = in_port;
            k.dl_src = [0, 0, 0, 0, 0, (src & 3) as u8];
            k.dl_dst = [0, 0, 0, 0, 0, (dst & 3) as u8];
            if let Some(vid) = vlan {
                k.vlan_tci = 0x1000 | vid;
                k.vlan_tpid = ethertype::VLAN;
            }
            match l3 {
                0 => k.dl_type = ethertype::ARP,
                1 => k.dl_type = 0x1234,
                _ => {
                    k.dl_type = ethertype::IPV4;
                    k.nw_src = 0xc0a8_0000 | (src & 0x1ff);
                    k.nw_dst = 0x0a00_0000 | (dst & 0x1ff);
                    k.nw_ttl = if ttl == 3 { 64 } else { ttl };
                    k.nw_proto = [6, 17, 1][usize::from(proto)];
                    if proto < 2 {
                        k.tp_src = [53, 80, sport][usize::from(sport % 3)];
                        k.tp_dst = [80, 443, dport][usize::from(dport % 3)];
                    }
                }
            }
            k
        })
}

fn tables(rules: &[String]) -> Tables {
    let mut t = Tables::new();
    for rule in rules {
        // Some random combinations are invalid (e.g. dec_ttl on non-IP, which the flow parser
        // refuses as ovs-ofctl does): skip them.
        let Ok(fm) = parse_flow(rule) else { continue };
        let _ = t.apply(&fm, false, 0);
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn packets_agreeing_on_the_megaflow_get_the_same_actions(
        rules in rules(),
        k in key(),
        others in prop::collection::vec(key(), 8),
    ) {
        let t = tables(&rules);
        let recirc = RecircIds::new();
        let x = translate(&t, &recirc, &k);
        for other in others {
            // Keep the megaflow's bits of `k`, take every other bit from `other`.
            let mut mixed = other;
            for ((w, a), m) in mixed.words_mut().iter_mut().zip(k.words()).zip(x.mask.words()) {
                *w = (*w & !m) | (a & m);
            }
            let y = translate(&t, &recirc, &mixed);
            prop_assert_eq!(
                DpActions(&x.actions).to_string(),
                DpActions(&y.actions).to_string(),
                "rules {:#?}\nkey {:?}\nmixed {:?}", rules, k, mixed
            );
            prop_assert_eq!(x.drop, y.drop);
        }
    }
}
