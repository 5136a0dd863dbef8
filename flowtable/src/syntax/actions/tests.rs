//! Unit tests of the action parser: what each form parses to, and where errors point.

use super::*;
use crate::action::{CtZone, NatKind, OfPort};

fn parse(text: &str) -> Result<Vec<Action>, SyntaxError> {
    let start = text.find("actions=").map_or(0, |i| i + "actions=".len());
    parse_actions(text, start)
}

fn err(text: &str) -> String {
    match parse(text) {
        Ok(a) => panic!("{text} parsed as {a:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parses_from_the_given_offset_to_the_end() {
    let text = "priority=5,in_port=1,actions=output:3,LOCAL";
    let a = parse_actions(text, 29).expect("valid");
    assert_eq!(
        a,
        [Action::Output(OfPort(3)), Action::Output(OfPort::LOCAL)]
    );
}

#[test]
fn drop_and_empty_are_no_actions() {
    assert_eq!(parse("actions=drop"), Ok(vec![]));
    assert_eq!(parse("actions="), Ok(vec![]));
    assert_eq!(parse("actions= "), Ok(vec![]));
}

#[test]
fn ports_by_number_and_name() {
    assert_eq!(parse("actions=5"), Ok(vec![Action::Output(OfPort(5))]));
    assert_eq!(
        parse("actions=output:65534,output:4294967294,in_port"),
        Ok(vec![
            Action::Output(OfPort::LOCAL),
            Action::Output(OfPort::LOCAL),
            Action::Output(OfPort::IN_PORT),
        ])
    );
}

#[test]
fn old_style_modifications_parse_to_set_field() {
    assert_eq!(
        parse("actions=mod_nw_tos:16,strip_vlan"),
        Ok(vec![
            Action::SetField {
                field: Field::IpDscp,
                value: 4,
                mask: 0x3f,
            },
            Action::PopVlan,
        ])
    );
}

#[test]
fn ct_arguments() {
    let a = parse("actions=ct(commit,zone=NXM_NX_REG0[0..15],table=3,nat(src=10.0.0.1-10.0.0.2:100-200,random))")
        .expect("valid");
    let [Action::Ct(ct)] = a.as_slice() else {
        panic!("{a:?}")
    };
    assert!(ct.commit);
    assert_eq!(ct.table, Some(3));
    assert_eq!(
        ct.zone,
        CtZone::Field(SubField {
            field: Field::Reg0,
            ofs: 0,
            n_bits: 16
        })
    );
    let nat = ct.nat.expect("nat");
    assert_eq!(nat.kind, Some(NatKind::Src));
    assert_eq!(nat.ports, Some((100, 200)));
    assert!(nat.random && !nat.hash);
}

#[test]
fn subfields() {
    let sf = |s: &str| parse_subfield(s, 0, s.len());
    let reg0 = |ofs, n_bits| SubField {
        field: Field::Reg0,
        ofs,
        n_bits,
    };
    assert_eq!(sf("NXM_NX_REG0[0..15]"), Ok(reg0(0, 16)));
    assert_eq!(sf("reg0[1]"), Ok(reg0(1, 1)));
    assert_eq!(sf("reg0[]"), Ok(reg0(0, 32)));
    assert_eq!(sf("reg0"), Ok(reg0(0, 32)));
    assert_eq!(sf("tun_id[]"), Ok(SubField::whole(Field::TunId)));
    assert_eq!(sf("eth_dst"), Ok(SubField::whole(Field::DlDst)));
    assert_eq!(sf("NXM_OF_IN_PORT[]").map(|s| s.n_bits), Ok(16));
    assert_eq!(sf("OXM_OF_IN_PORT[]").map(|s| s.n_bits), Ok(32));
    assert!(sf("reg0[5..3]").is_err());
    assert!(sf("reg0[x]").is_err());
    assert!(sf("reg0[0..15").is_err());
    assert_eq!(
        sf("reg0[0..40]").map_err(|e| e.to_string()),
        Err("column 5: bit range [0..40]: ending bit 40 is not valid because reg0 is only 32 bits wide".into())
    );
    assert_eq!(
        sf("nosuch[]").map_err(|e| e.to_string()),
        Err("column 1: unknown field \"nosuch\"".into())
    );
}

#[test]
fn errors_point_at_the_failing_action() {
    assert_eq!(
        err("actions=outptu:1"),
        "column 9: unknown action \"outptu\""
    );
    assert_eq!(
        err("in_port=1,actions=output:1,output:foo"),
        "column 35: expected a port number or name, found \"foo\""
    );
    assert_eq!(
        err("actions=set_field:1->nosuch"),
        "column 22: unknown field \"nosuch\""
    );
    assert_eq!(
        err("actions=load:0x1ff->NXM_NX_REG0[0..7]"),
        "column 14: value 0x1ff does not fit into 8 bits"
    );
    assert_eq!(
        err("actions=learn(table=1)"),
        "column 9: action \"learn\" is not supported"
    );
    assert_eq!(
        err("actions=conjunction(1,1/2)"),
        "column 9: action \"conjunction\" is not supported"
    );
    assert_eq!(
        err("actions=output:1,drop"),
        "column 18: \"drop\" must not be accompanied by any other action or instruction"
    );
    assert_eq!(
        err("ip,actions=ct(commit,zone=foo)"),
        "column 27: unknown field \"foo\""
    );
    assert_eq!(
        err("ip,actions=ct(commit,nat(src=10.0.0.9-10.0.0.1))"),
        "column 30: invalid nat range \"10.0.0.9-10.0.0.1\": the first address is above the last"
    );
    assert_eq!(err("actions=clone(output:1"), "column 14: missing \")\"");
    assert_eq!(
        err("actions=goto_table"),
        "column 19: goto_table needs an argument: expected a table number"
    );
    assert_eq!(
        err("actions=write_actions(goto_table:1)"),
        "column 23: goto_table is an instruction: it is not allowed inside clone(...) or write_actions(...)"
    );
}

#[test]
fn columns_count_characters() {
    // "é" is two bytes but one column.
    assert_eq!(
        err("é,actions=bogus"),
        "column 11: unknown action \"bogus\""
    );
}

#[test]
fn code_built_lists_format_without_panicking() {
    let empty = SubField {
        field: Field::Reg0,
        ofs: 0,
        n_bits: 0,
    };
    let list = [
        Action::Output(OfPort::CONTROLLER),
        Action::Load {
            dst: empty,
            value: 0,
        },
        Action::SetField {
            field: Field::Reg1,
            value: 1,
            mask: 0xff,
        },
    ];
    assert_eq!(
        format_actions(&list),
        "CONTROLLER:65535,load:0->NXM_NX_REG0[0..0],set_field:0x1/0xff->reg1"
    );
}
