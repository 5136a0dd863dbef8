//! Golden error messages of the flow parser: each bad flow must be refused with exactly this
//! column and message, so a change in wording or position shows up here.

use flowtable::syntax::flow::{parse_flow, parse_flow_mod, FlowCommand};
use flowtable::syntax::matches::parse_packet_spec;

/// (flow, expected error) for `add-flow`.
const CASES: &[(&str, &str)] = &[
    ("ip,nw_src=10.0.0.1/33,actions=drop", "column 11: expected an IPv4 address or prefix, found \"10.0.0.1/33\""),
    ("ip,nw_src=10.0.0,actions=drop", "column 11: expected an IPv4 address or prefix, found \"10.0.0\""),
    ("ip,nw_src=10.0.0.256,actions=drop", "column 11: expected an IPv4 address or prefix, found \"10.0.0.256\""),
    ("ip,nw_dst=1.2.3.4/255.255.0.256,actions=drop", "column 11: expected an IPv4 address or prefix, found \"1.2.3.4/255.255.0.256\""),
    ("ip,nw_src=,actions=drop", "column 11: expected an IPv4 address or prefix, found \"\""),
    ("ip,nw_src,actions=drop", "column 4: field nw_src needs a value (nw_src=...)"),
    ("ipv6,ipv6_src=2001:db8::1/129,actions=drop", "column 15: expected an IPv6 address or prefix, found \"2001:db8::1/129\""),
    ("ipv6,ipv6_src=zz::1,actions=drop", "column 15: expected an IPv6 address or prefix, found \"zz::1\""),
    ("ipv6,ipv6_dst=1:2:3:4:5:6:7:8:9,actions=drop", "column 15: expected an IPv6 address or prefix, found \"1:2:3:4:5:6:7:8:9\""),
    ("dl_src=00:11:22:33:44,actions=drop", "column 8: expected an Ethernet address with an optional /mask, found \"00:11:22:33:44\""),
    ("dl_src=00:11:22:33:44:55:66,actions=drop", "column 8: expected an Ethernet address with an optional /mask, found \"00:11:22:33:44:55:66\""),
    ("dl_dst=00:11:22:33:44:gg,actions=drop", "column 8: expected an Ethernet address with an optional /mask, found \"00:11:22:33:44:gg\""),
    ("dl_dst=00:11:22:33:44:55/ff:ff,actions=drop", "column 8: expected an Ethernet address with an optional /mask, found \"00:11:22:33:44:55/ff:ff\""),
    ("tcp,tp_dst=65536,actions=drop", "column 12: value \"65536\" is too large for the 16-bit field tp_dst"),
    ("tcp,tp_dst=http,actions=drop", "column 12: expected a 16-bit number with an optional /mask, found \"http\""),
    ("ip,nw_ttl=256,actions=drop", "column 11: value \"256\" is too large for the 8-bit field nw_ttl"),
    ("ip,nw_ttl=5/0xf,actions=drop", "column 11: field nw_ttl does not take a mask, found \"5/0xf\""),
    ("ip,nw_ecn=4,actions=drop", "column 11: value \"4\" is too large for the 2-bit field nw_ecn"),
    ("ip,ip_dscp=64,actions=drop", "column 12: value \"64\" is too large for the 6-bit field ip_dscp"),
    ("ip,nw_proto=6/0xf,actions=drop", "column 13: field nw_proto does not take a mask, found \"6/0xf\""),
    ("reg0=0x100000000,actions=drop", "column 6: value \"0x100000000\" is too large for the 32-bit field reg0"),
    ("reg0=5/0x100000000,actions=drop", "column 6: mask in \"5/0x100000000\" is too large for the 32-bit field reg0"),
    ("reg16=1,actions=drop", "column 1: unknown field or keyword \"reg16\""),
    ("metadata=0xg,actions=drop", "column 10: expected a 64-bit number with an optional /mask, found \"0xg\""),
    ("in_port=0xff00,actions=drop", "column 9: expected a port number or a port name (LOCAL, IN_PORT, ...), found \"0xff00\""),
    ("in_port=70000,actions=drop", "column 9: expected a port number or a port name (LOCAL, IN_PORT, ...), found \"70000\""),
    ("in_port=foo,actions=drop", "column 9: expected a port number or a port name (LOCAL, IN_PORT, ...), found \"foo\""),
    ("ct_state=+trk+trk,actions=drop", "column 14: conntrack state flag \"trk\" is given twice"),
    ("ct_state=+trk+bogus,actions=drop", "column 14: unknown conntrack state flag \"bogus\" (expected one of new, est, rel, rpl, inv, trk, snat, dnat)"),
    ("ct_state=0x100,actions=drop", "column 10: expected conntrack state flags like +trk+new-est, or a number of at most 0xff with an optional /mask, found \"0x100\""),
    ("ct_state=new|bogus,actions=drop", "column 14: unknown conntrack state flag \"bogus\" (expected one of new, est, rel, rpl, inv, trk, snat, dnat)"),
    ("ct_state=new|new,actions=drop", "column 14: conntrack state flag \"new\" is given twice"),
    ("ct_state=,actions=drop", "column 10: expected conntrack state flags like +trk+new-est, or a number of at most 0xff with an optional /mask, found \"\""),
    ("ct_zone=65536,actions=drop", "column 9: value \"65536\" is too large for the 16-bit field ct_zone"),
    ("ct_zone=5/0xff,actions=drop", "column 9: field ct_zone does not take a mask, found \"5/0xff\""),
    ("tcp,tcp_flags=+syn+syn,actions=drop", "column 19: TCP flag \"syn\" is given twice"),
    ("tcp,tcp_flags=-syn+foo,actions=drop", "column 19: unknown TCP flag \"foo\" (expected one of fin, syn, rst, psh, ack, urg, ece, cwr, ns)"),
    ("tcp,tcp_flags=0x1000,actions=drop", "column 15: value \"0x1000\" is too large for the 12-bit field tcp_flags"),
    ("ip,nw_frag=maybe,actions=drop", "column 12: expected a fragment type (no, yes, first, later, not_later), found \"maybe\""),
    ("tun_flags=+df,actions=drop", "column 11: unknown tunnel flag \"df\" (expected one of oam)"),
    ("tun_flags=2,actions=drop", "column 11: value \"2\" is too large for the 1-bit field tun_flags"),
    ("dl_vlan=4096,actions=drop", "column 9: expected a VLAN ID (0 to 4095, or 0xffff for no VLAN), found \"4096\""),
    ("dl_vlan_pcp=8,actions=drop", "column 13: value \"8\" is too large for the 3-bit field dl_vlan_pcp"),
    ("vlan_tci=0x2000/0xe000,actions=drop", "column 1: a VLAN priority can only be matched together with a VLAN tag (set the 0x1000 bit of vlan_tci and its mask)"),
    ("nw_src=10.0.0.1,actions=drop", "column 1: nw_src requires ip or arp (add \"ip,\" or \"dl_type=0x0800\")"),
    ("in_port=1,nw_dst=10.0.0.0/8,actions=drop", "column 11: nw_dst requires ip or arp (add \"ip,\" or \"dl_type=0x0800\")"),
    ("tp_dst=80,actions=drop", "column 1: tp_dst requires tcp, udp or sctp (add \"tcp,\", \"udp,\", \"sctp,\" or their IPv6 forms)"),
    ("ip,tp_dst=80,actions=drop", "column 4: tp_dst requires tcp, udp or sctp (add \"tcp,\", \"udp,\", \"sctp,\" or their IPv6 forms)"),
    ("udp,tcp_flags=+syn,actions=drop", "column 5: tcp_flags requires tcp or tcp6 (add \"tcp,\" or \"tcp6,\")"),
    ("ipv6,nw_src=1.1.1.1,actions=drop", "column 6: nw_src requires ip or arp (add \"ip,\" or \"dl_type=0x0800\")"),
    ("ip,ipv6_src=::1,actions=drop", "column 4: ipv6_src requires ipv6 (add \"ipv6,\" or \"dl_type=0x86dd\")"),
    ("ip,arp_op=1,actions=drop", "column 4: arp_op requires arp or rarp (add \"arp,\" or \"dl_type=0x0806\")"),
    ("arp_spa=1.1.1.1,actions=drop", "column 1: arp_spa requires arp or rarp (add \"arp,\" or \"dl_type=0x0806\")"),
    ("ip,icmp_type=8,actions=drop", "column 4: icmp_type requires icmp or icmp6 (add \"icmp,\" or \"icmp6,\")"),
    ("tcp,icmp_code=0,actions=drop", "column 5: icmp_code requires icmp or icmp6 (add \"icmp,\" or \"icmp6,\")"),
    ("icmp6,nd_target=::1,actions=drop", "column 7: nd_target requires icmp6 neighbor discovery (add \"icmp6,icmp_type=135,\" or \"icmp6,icmp_type=136,\")"),
    ("icmp6,icmp_type=136,nd_sll=00:00:00:00:00:01,actions=drop", "column 21: nd_sll requires an ICMPv6 neighbor solicitation (add \"icmp6,icmp_type=135,\")"),
    ("icmp6,icmp_type=135,nd_tll=00:00:00:00:00:01,actions=drop", "column 21: nd_tll requires an ICMPv6 neighbor advertisement (add \"icmp6,icmp_type=136,\")"),
    ("nw_ttl=3,actions=drop", "column 1: nw_ttl requires ip or ipv6 (add \"ip,\" or \"ipv6,\")"),
    ("foo=1,actions=drop", "column 1: unknown field or keyword \"foo\""),
    ("ip=1,actions=drop", "column 4: ip is a shorthand and takes no value"),
    ("IP,actions=drop", "column 1: unknown field or keyword \"IP\""),
    ("table=256,actions=drop", "column 7: expected a table number (0 to 255), found \"256\""),
    ("table=-1,actions=drop", "column 7: expected a table number (0 to 255), found \"-1\""),
    ("table=x,actions=drop", "column 7: expected a table number (0 to 255), found \"x\""),
    ("priority=65536,actions=drop", "column 10: expected a priority (0 to 65535), found \"65536\""),
    ("priority=-1,actions=drop", "column 10: expected a priority (0 to 65535), found \"-1\""),
    ("priority,actions=drop", "column 1: priority needs a value: expected a priority (0 to 65535)"),
    ("idle_timeout=65536,actions=drop", "column 14: expected a timeout in seconds (0 to 65535), found \"65536\""),
    ("hard_timeout=x,actions=drop", "column 14: expected a timeout in seconds (0 to 65535), found \"x\""),
    ("cookie=0x10000000000000000,actions=drop", "column 8: expected a 64-bit cookie with an optional /mask, found \"0x10000000000000000\""),
    ("cookie=1/1,actions=drop", "column 8: a cookie mask is only valid when modifying or deleting flows"),
    ("out_port=1,actions=drop", "column 1: out_port is only valid when modifying or deleting flows"),
    ("out_group=1,actions=drop", "column 1: out_group is only valid when modifying or deleting flows"),
    ("send_flow_rem=1,actions=drop", "column 15: send_flow_rem is a flag and takes no value"),
    ("ip", "column 3: expected \"actions=\" (use \"actions=drop\" to drop)"),
    ("ip,nw_src=1.1.1.1", "column 18: expected \"actions=\" (use \"actions=drop\" to drop)"),
];

#[test]
fn add_flow_errors_are_golden() {
    assert!(CASES.len() >= 40);
    let mut wrong = Vec::new();
    for &(flow, want) in CASES {
        match parse_flow(flow) {
            Ok(fm) => wrong.push(format!("{flow}\n    accepted as: {fm}\n    want: {want}")),
            Err(e) if e.to_string() == want => {}
            Err(e) => wrong.push(format!("{flow}\n    got:  {e}\n    want: {want}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong errors:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn delete_and_modify_errors() {
    let del = parse_flow_mod("ip,actions=drop", FlowCommand::Delete).map_err(|e| e.to_string());
    assert_eq!(
        del.map(|fm| fm.to_string()),
        Err("column 4: actions are not allowed when deleting flows".into())
    );
    let modify = parse_flow_mod("ip,nw_src=1.1.1.1", FlowCommand::Modify);
    assert_eq!(
        modify.map(|fm| fm.to_string()).map_err(|e| e.to_string()),
        Err("column 18: expected \"actions=\" (use \"actions=drop\" to drop)".into())
    );
    let del = parse_flow_mod("out_port=foo", FlowCommand::Delete);
    assert_eq!(
        del.map(|fm| fm.to_string()).map_err(|e| e.to_string()),
        Err("column 10: expected a port number or a port name, found \"foo\"".into())
    );
}

#[test]
fn packet_spec_errors() {
    let e = parse_packet_spec("in_port=1,ip,nw_dst=10.0.0.0/8").map_err(|e| e.to_string());
    assert_eq!(
        e.map(|k| k.nw_dst),
        Err(
            "column 21: a packet has one value per field: expected no mask, found \"10.0.0.0/8\""
                .into()
        )
    );
    let e = parse_packet_spec("in_port=1,tp_dst=80").map_err(|e| e.to_string());
    assert_eq!(
        e.map(|k| k.tp_dst),
        Err("column 11: tp_dst requires tcp, udp or sctp (add \"tcp,\", \"udp,\", \"sctp,\" or their IPv6 forms)".into())
    );
}

/// Columns count characters, so text after a multi-byte character still points right.
#[test]
fn columns_count_characters() {
    let e = parse_flow("ip,nw_src=1.2.3.4,reg0=é,actions=drop").map_err(|e| e.to_string());
    assert_eq!(
        e.map(|fm| fm.to_string()),
        Err("column 24: expected a 32-bit number with an optional /mask, found \"é\"".into())
    );
    let e = parse_flow("ip,reg0=é,nw_ttl=999,actions=drop").map_err(|e| e.column);
    assert_eq!(e.map(|fm| fm.to_string()), Err(9));
}
