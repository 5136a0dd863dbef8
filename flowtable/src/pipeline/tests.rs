//! Translation tests: flows in Open vSwitch syntax, packets as flow specs.

use super::*;
use crate::syntax::flow::parse_flow;
use crate::syntax::matches::{format_match, parse_packet_spec};
use crate::table::Tables;

fn tables(flows: &[&str]) -> Tables {
    let mut t = Tables::new();
    for flow in flows {
        let fm = parse_flow(flow).unwrap_or_else(|e| panic!("{flow}: {e}"));
        t.apply(&fm, false, 0)
            .unwrap_or_else(|e| panic!("{flow}: {e}"));
    }
    t
}

fn key(spec: &str) -> FlowKey {
    parse_packet_spec(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// Translates and returns (datapath actions, megaflow, drop reason).
fn run(t: &Tables, spec: &str) -> (String, String, Option<DropReason>) {
    let k = key(spec);
    let x = translate(t, &RecircIds::new(), &k);
    (
        DpActions(&x.actions).to_string(),
        format_match(&Match::new(k, x.mask)),
        x.drop,
    )
}

use crate::matching::Match;

#[test]
fn goto_table_and_output() {
    let t = tables(&[
        "table=0,priority=10,ip,actions=goto_table:1",
        "table=1,priority=10,ip,nw_dst=10.0.0.0/24,actions=output:2",
    ]);
    let (actions, megaflow, drop) = run(
        &t,
        "in_port=1,tcp,nw_src=10.1.1.1,nw_dst=10.0.0.5,tp_dst=80",
    );
    assert_eq!(actions, "2");
    assert_eq!(drop, None);
    assert!(megaflow.contains("nw_dst=10.0.0.0/24"), "{megaflow}");
    assert!(!megaflow.contains("tp_dst"), "{megaflow}");
    assert!(!megaflow.contains("nw_src"), "{megaflow}");
}

#[test]
fn a_table_miss_drops_with_its_reason() {
    let t = tables(&["table=0,priority=10,ip,actions=goto_table:1"]);
    let (actions, _, drop) = run(&t, "in_port=1,ip,nw_dst=10.0.0.5");
    assert_eq!(actions, "drop");
    assert_eq!(drop, Some(DropReason::TableMiss));
    let (_, _, drop) = run(&t, "in_port=1,arp");
    assert_eq!(drop, Some(DropReason::TableMiss));
}

#[test]
fn explicit_drop_is_no_output() {
    let t = tables(&["priority=1,actions=drop"]);
    assert_eq!(run(&t, "in_port=1").2, Some(DropReason::NoOutput));
}

#[test]
fn set_field_changes_what_later_tables_see() {
    let t = tables(&[
        "table=0,ip,actions=set_field:10.0.0.9->nw_dst,resubmit(,1)",
        "table=1,ip,nw_dst=10.0.0.9,actions=output:3",
        "table=1,priority=1,actions=drop",
    ]);
    let (actions, _, _) = run(&t, "in_port=1,ip,nw_dst=10.0.0.5");
    assert_eq!(actions, "set(nw_dst=10.0.0.9),3");
}

#[test]
fn load_and_move_through_registers() {
    let t = tables(&[
        "table=0,actions=load:0x2->NXM_NX_REG0[0..15],move:NXM_NX_REG0[0..15]->NXM_NX_REG1[0..15],resubmit(,1)",
        "table=1,reg1=2,actions=output:NXM_NX_REG1[0..15]",
    ]);
    let k = key("in_port=1,ip");
    let x = translate(&t, &RecircIds::new(), &k);
    assert_eq!(DpActions(&x.actions).to_string(), "2");
    // Registers never reach the megaflow: datapath keys do not carry them.
    assert_eq!(x.mask.0.regs, [0; 16]);
    assert_eq!(x.final_key.regs[1], 2);
}

#[test]
fn resubmit_loops_and_depth_are_named_drops() {
    let looping = tables(&["table=0,actions=resubmit(,0)"]);
    assert_eq!(run(&looping, "in_port=1").2, Some(DropReason::ResubmitLoop));

    let chain: Vec<String> = (0..100)
        .map(|i| format!("table={i},actions=resubmit(,{})", i + 1))
        .collect();
    let chain: Vec<&str> = chain.iter().map(String::as_str).collect();
    assert_eq!(
        run(&tables(&chain), "in_port=1").2,
        Some(DropReason::ResubmitDepth)
    );

    // Outputs made before the error do not leak out of an abandoned translation.
    let t = tables(&["table=0,actions=output:2,resubmit(,0)"]);
    assert_eq!(
        run(&t, "in_port=1"),
        (
            "drop".into(),
            run(&t, "in_port=1").1,
            Some(DropReason::ResubmitLoop)
        )
    );
}

#[test]
fn resubmit_with_a_port_changes_in_port_for_the_lookup_only() {
    let t = tables(&[
        "table=0,in_port=1,actions=resubmit(5,1),output:7",
        "table=1,in_port=5,actions=output:6",
    ]);
    assert_eq!(run(&t, "in_port=1").0, "6,7");
}

#[test]
fn output_to_the_input_port_needs_in_port() {
    let t = tables(&["in_port=1,actions=output:1", "in_port=2,actions=in_port"]);
    assert_eq!(run(&t, "in_port=1").0, "drop");
    assert_eq!(run(&t, "in_port=2").0, "2");
}

#[test]
fn normal_and_flood_are_left_to_the_datapath() {
    let t = tables(&["priority=1,actions=NORMAL", "priority=2,arp,actions=FLOOD"]);
    let (actions, megaflow, _) = run(
        &t,
        "in_port=1,ip,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02",
    );
    assert_eq!(actions, "NORMAL");
    assert!(megaflow.contains("dl_dst=00:00:00:00:00:02"), "{megaflow}");
    assert_eq!(run(&t, "in_port=1,arp").0, "FLOOD");
}

#[test]
fn dec_ttl_reads_the_ttl_and_stops_at_one() {
    let t = tables(&["ip,actions=dec_ttl,output:2"]);
    let (actions, megaflow, _) = run(&t, "in_port=1,ip,nw_ttl=64");
    assert_eq!(actions, "set(nw_ttl=63),2");
    assert!(megaflow.contains("nw_ttl=64"), "{megaflow}");
    let (actions, _, drop) = run(&t, "in_port=1,ip,nw_ttl=1");
    assert_eq!(actions, "drop");
    assert_eq!(drop, Some(DropReason::TtlExpired));
}

#[test]
fn vlan_push_pop_and_rewrite() {
    let t = tables(&[
        // mod_vlan_vid means what OpenFlow 1.3 makes of it: rewrite the tag the match
        // guarantees, or push one.
        "in_port=1,vlan_tci=0x1000/0x1000,actions=mod_vlan_vid:10,output:2",
        "in_port=1,priority=1,actions=mod_vlan_vid:10,output:2",
        // OpenFlow 1.3 pops only a tag the match guarantees (ovs-ofctl -O OpenFlow13 refuses
        // a bare strip_vlan), so untagged packets take a rule of their own.
        "in_port=2,vlan_tci=0x1000/0x1000,actions=strip_vlan,output:1",
        "in_port=2,priority=1,actions=output:1",
        "in_port=3,actions=push_vlan:0x88a8,set_field:4116->vlan_vid,output:4",
    ]);
    assert_eq!(run(&t, "in_port=1").0, "push_vlan(vid=10,pcp=0),2");
    assert_eq!(
        run(&t, "in_port=1,dl_vlan=5,dl_vlan_pcp=3").0,
        "set(vlan_tci=0x000a/0x0fff),2"
    );
    assert_eq!(run(&t, "in_port=2,dl_vlan=5").0, "pop_vlan,1");
    assert_eq!(run(&t, "in_port=2").0, "1");
    assert_eq!(
        run(&t, "in_port=3,dl_vlan=5").0,
        "push_vlan(tpid=0x88a8,vid=20,pcp=0),4"
    );
}

#[test]
fn ct_with_a_table_recirculates_and_resumes_with_the_frozen_registers() {
    let t = tables(&[
        "table=0,ip,actions=load:0x7->NXM_NX_REG3[],ct(zone=5,table=1)",
        "table=1,ct_state=+trk+new,ip,reg3=7,actions=ct(commit,zone=5),output:2",
        "table=1,priority=1,actions=drop",
    ]);
    let recirc = RecircIds::new();
    let first = translate(&t, &recirc, &key("in_port=1,ip"));
    assert_eq!(
        DpActions(&first.actions).to_string(),
        "ct(zone=5),recirc(0x1)"
    );
    let mut again = key("in_port=1,ip,ct_state=+trk+new");
    again.recirc_id = 1;
    let second = translate(&t, &recirc, &again);
    assert_eq!(
        DpActions(&second.actions).to_string(),
        "ct(commit,zone=5),2"
    );
    assert_eq!(Field::RecircId.get_mask(&second.mask), u128::from(u32::MAX));

    let mut unknown = again;
    unknown.recirc_id = 99;
    assert_eq!(
        translate(&t, &recirc, &unknown).drop,
        Some(DropReason::UnknownRecirc)
    );
}

#[test]
fn ct_followed_by_more_actions_runs_on_a_clone() {
    let t = tables(&["ip,actions=ct(commit,table=3),output:2"]);
    assert_eq!(run(&t, "in_port=1,ip").0, "clone(ct(commit),recirc(0x1)),2");
}

#[test]
fn write_actions_run_at_the_end_in_action_set_order() {
    let t = tables(&[
        "table=0,actions=write_actions(output:3,set_field:00:00:00:00:00:09->eth_dst),goto_table:1",
        "table=1,actions=output:2",
    ]);
    assert_eq!(run(&t, "in_port=1").0, "2,set(dl_dst=00:00:00:00:00:09),3");
}

#[test]
fn trace_text_shows_tables_rules_and_datapath_actions() {
    let t = tables(&[
        "table=0,priority=10,ip,actions=goto_table:1",
        "table=1,priority=20,cookie=0x5,ip,nw_dst=10.0.0.0/24,actions=dec_ttl,output:2",
    ]);
    let tr = trace(
        &t,
        &RecircIds::new(),
        &key("in_port=1,ip,nw_dst=10.0.0.5,nw_ttl=9"),
    );
    let text = tr.render("br0");
    for needle in [
        "bridge(\"br0\")",
        " 0. ip, priority 10",
        "    goto_table:1",
        " 1. ip,nw_dst=10.0.0.0/24, priority 20, cookie 0x5",
        "    dec_ttl",
        "    output:2",
        "Megaflow: ",
        "Datapath actions: set(nw_ttl=8),2",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(matches!(
        tr.events.first(),
        Some(TraceEvent::Table {
            table: 0,
            rule: Some(_),
            ..
        })
    ));
}
