//! One test per validation rule, on action lists built in code (so that lists the parser would
//! never produce are covered too).

use super::*;
use crate::action::{Controller, Nat, NatAddrs};
use crate::field::ipproto;
use std::net::Ipv4Addr;

fn any() -> Match {
    Match::any()
}

fn ip() -> Match {
    let mut m = Match::any();
    m.set(Field::DlType, ethertype::IPV4.into());
    m
}

fn ipv6() -> Match {
    let mut m = Match::any();
    m.set(Field::DlType, ethertype::IPV6.into());
    m
}

fn l4(proto: u8) -> Match {
    let mut m = ip();
    m.set(Field::NwProto, proto.into());
    m
}

fn tagged() -> Match {
    let mut m = Match::any();
    m.set_masked(Field::VlanTci, 0x1000, 0x1000);
    m
}

fn set(field: Field, value: u128) -> Action {
    Action::SetField {
        field,
        value,
        mask: field.full_mask(),
    }
}

fn sf(field: Field, ofs: u32, n_bits: u32) -> SubField {
    SubField { field, ofs, n_bits }
}

fn ct(f: impl FnOnce(&mut CtAction)) -> Action {
    let mut c = CtAction::default();
    f(&mut c);
    Action::Ct(Box::new(c))
}

fn nat4(kind: NatKind, min: [u8; 4], max: [u8; 4]) -> Nat {
    Nat {
        kind: Some(kind),
        addrs: Some(NatAddrs {
            min: IpAddr::V4(Ipv4Addr::from(min)),
            max: IpAddr::V4(Ipv4Addr::from(max)),
        }),
        ..Nat::default()
    }
}

fn check(actions: &[Action], m: &Match) -> Result<(), ActionError> {
    validate(actions, m, 0)
}

#[test]
fn empty_and_plain_outputs_are_valid() {
    assert_eq!(check(&[], &any()), Ok(()));
    let list = [
        Action::Output(OfPort(1)),
        Action::Output(OfPort::NORMAL),
        Action::Output(OfPort::IN_PORT),
        Action::Output(OfPort::LOCAL),
        Action::Controller(Box::<Controller>::default()),
        Action::Group(7),
        Action::Note(vec![0; 6]),
    ];
    assert_eq!(check(&list, &any()), Ok(()));
}

#[test]
fn output_to_any_or_unnamed_reserved_numbers_is_refused() {
    for p in [OfPort::ANY, OfPort::MAX, OfPort(0xfff0)] {
        assert_eq!(
            check(&[Action::Output(p)], &any()),
            Err(ActionError::BadOutPort(p))
        );
        let trunc = Action::OutputTrunc {
            port: p,
            max_len: 10,
        };
        assert_eq!(check(&[trunc], &any()), Err(ActionError::BadOutPort(p)));
    }
}

#[test]
fn set_field_checks_the_match_prerequisite() {
    let a = [set(Field::NwDst, 1)];
    assert_eq!(
        check(&a, &any()),
        Err(ActionError::MissingPrereq {
            action: "set_field",
            field: "nw_dst",
            prereq: Prereq::Ipv4.describe(),
        })
    );
    assert_eq!(check(&a, &ip()), Ok(()));
    assert!(check(&a, &ipv6()).is_err());
    let tp = [set(Field::TpDst, 80)];
    assert!(check(&tp, &ip()).is_err());
    assert_eq!(check(&tp, &l4(ipproto::UDP)), Ok(()));
}

#[test]
fn load_and_move_check_prerequisites_of_both_ends() {
    let load = [Action::Load {
        dst: sf(Field::NwSrc, 0, 8),
        value: 1,
    }];
    assert!(matches!(
        check(&load, &any()),
        Err(ActionError::MissingPrereq { action: "load", .. })
    ));
    let mv = [Action::Move {
        src: sf(Field::NwSrc, 0, 32),
        dst: sf(Field::Reg0, 0, 32),
    }];
    assert!(check(&mv, &any()).is_err());
    assert_eq!(check(&mv, &ip()), Ok(()));
    let mv_dst = [Action::Move {
        src: sf(Field::Reg0, 0, 16),
        dst: sf(Field::TpSrc, 0, 16),
    }];
    assert!(check(&mv_dst, &ip()).is_err());
    assert_eq!(check(&mv_dst, &l4(ipproto::TCP)), Ok(()));
}

#[test]
fn read_only_fields_cannot_be_written() {
    for a in [
        set(Field::RecircId, 1),
        Action::Load {
            dst: sf(Field::DlType, 0, 16),
            value: 1,
        },
        Action::Move {
            src: sf(Field::Reg0, 0, 8),
            dst: sf(Field::NwProto, 0, 8),
        },
    ] {
        assert!(
            matches!(
                check(std::slice::from_ref(&a), &ip()),
                Err(ActionError::ReadOnly(_))
            ),
            "{a:?}"
        );
    }
}

#[test]
fn conntrack_fields_are_written_only_inside_ct_exec() {
    assert_eq!(
        check(&[set(Field::CtMark, 1)], &ip()),
        Err(ActionError::CtFieldOutsideCt("ct_mark"))
    );
    let inside = ct(|c| {
        c.commit = true;
        c.actions = vec![set(Field::CtMark, 1), set(Field::CtLabel, 5)];
    });
    assert_eq!(check(&[inside], &ip()), Ok(()));
}

#[test]
fn values_and_subfields_must_fit() {
    let wide = Action::SetField {
        field: Field::Reg0,
        value: 1 << 32,
        mask: 0xffff_ffff,
    };
    assert!(matches!(
        check(&[wide], &any()),
        Err(ActionError::ValueTooWide { bits: 32, .. })
    ));
    let load = Action::Load {
        dst: sf(Field::Reg0, 0, 4),
        value: 0x10,
    };
    assert!(matches!(
        check(&[load], &any()),
        Err(ActionError::ValueTooWide { bits: 4, .. })
    ));
    for bad in [sf(Field::Reg0, 30, 4), sf(Field::Reg0, 0, 0)] {
        let load = Action::Load { dst: bad, value: 0 };
        assert!(matches!(
            check(&[load], &any()),
            Err(ActionError::BadSubField { .. })
        ));
    }
}

#[test]
fn move_needs_equal_widths() {
    let mv = Action::Move {
        src: sf(Field::Reg0, 0, 8),
        dst: sf(Field::Reg1, 0, 16),
    };
    assert_eq!(
        check(&[mv], &any()),
        Err(ActionError::WidthMismatch { src: 8, dst: 16 })
    );
}

#[test]
fn goto_table_goes_forward_to_a_real_table() {
    assert_eq!(validate(&[Action::GotoTable(4)], &any(), 3), Ok(()));
    assert_eq!(
        validate(&[Action::GotoTable(3)], &any(), 3),
        Err(ActionError::GotoTableBackward { from: 3, to: 3 })
    );
    assert_eq!(
        validate(&[Action::GotoTable(1)], &any(), 3),
        Err(ActionError::GotoTableBackward { from: 3, to: 1 })
    );
    assert_eq!(
        validate(&[Action::GotoTable(255)], &any(), 3),
        Err(ActionError::BadTable("goto_table"))
    );
}

#[test]
fn instructions_follow_the_openflow_order() {
    let full = [
        Action::Meter(1),
        Action::Output(OfPort(1)),
        Action::Output(OfPort(2)),
        Action::ClearActions,
        Action::WriteActions(vec![Action::Output(OfPort(3))]),
        Action::WriteMetadata { value: 1, mask: 1 },
        Action::GotoTable(1),
    ];
    assert_eq!(check(&full, &any()), Ok(()));
    assert_eq!(
        check(&[Action::GotoTable(1), Action::Output(OfPort(1))], &any()),
        Err(ActionError::InstructionOrder {
            later: "goto_table",
            earlier: "apply_actions",
        })
    );
    assert_eq!(
        check(&[Action::Output(OfPort(1)), Action::Meter(1)], &any()),
        Err(ActionError::InstructionOrder {
            later: "apply_actions",
            earlier: "meter",
        })
    );
    assert_eq!(
        check(&[Action::ClearActions, Action::ClearActions], &any()),
        Err(ActionError::DuplicateInstruction("clear_actions"))
    );
}

#[test]
fn instructions_are_refused_inside_nested_lists() {
    let a = Action::Clone(vec![Action::GotoTable(1)]);
    assert_eq!(
        check(&[a], &any()),
        Err(ActionError::InstructionNotAllowed {
            name: "goto_table",
            inside: "clone",
        })
    );
    let w = Action::WriteActions(vec![Action::Meter(1)]);
    assert!(matches!(
        check(&[w], &any()),
        Err(ActionError::InstructionNotAllowed { .. })
    ));
}

#[test]
fn action_sets_hold_only_set_actions() {
    for inner in [
        Action::Clone(vec![]),
        Action::Exit,
        Action::Resubmit {
            port: None,
            table: Some(1),
            ct: false,
        },
    ] {
        let name = inner.name();
        let w = Action::WriteActions(vec![inner]);
        assert_eq!(check(&[w], &ip()), Err(ActionError::NotInActionSet(name)));
    }
}

#[test]
fn vlan_fields_need_a_tag_and_the_tag_is_tracked() {
    let vid = set(Field::VlanVid, 0x1005);
    assert_eq!(
        check(std::slice::from_ref(&vid), &any()),
        Err(ActionError::NoVlan("set_field of a VLAN field"))
    );
    assert_eq!(check(std::slice::from_ref(&vid), &tagged()), Ok(()));
    assert_eq!(
        check(&[Action::PushVlan(ethertype::VLAN), vid.clone()], &any()),
        Ok(())
    );
    assert!(check(&[Action::PopVlan, vid.clone()], &tagged()).is_err());
    assert_eq!(
        check(&[Action::PopVlan], &any()),
        Err(ActionError::NoVlan("pop_vlan"))
    );
    // mod_vlan_vid pushes a tag when there is none, so later VLAN writes are fine.
    assert_eq!(check(&[Action::SetVlanVid(5), vid], &any()), Ok(()));
    // A clone's changes do not leak into the rest of the list.
    let clone = Action::Clone(vec![Action::PushVlan(ethertype::VLAN)]);
    assert!(check(&[clone, Action::PopVlan], &any()).is_err());
}

#[test]
fn vlan_constants_are_range_checked() {
    assert_eq!(
        check(&[Action::PushVlan(0x0800)], &any()),
        Err(ActionError::BadVlanTpid(0x0800))
    );
    assert_eq!(
        check(&[Action::SetVlanVid(4096)], &any()),
        Err(ActionError::BadVlanVid(4096))
    );
    assert_eq!(
        check(&[Action::SetVlanPcp(8)], &any()),
        Err(ActionError::BadVlanPcp(8))
    );
}

#[test]
fn ttl_actions_need_ip() {
    assert_eq!(
        check(&[Action::DecTtl(vec![])], &any()),
        Err(ActionError::NeedsIp("dec_ttl"))
    );
    assert_eq!(
        check(&[Action::SetNwTtl(1)], &any()),
        Err(ActionError::NeedsIp("mod_nw_ttl"))
    );
    assert_eq!(check(&[Action::DecTtl(vec![1, 2])], &ipv6()), Ok(()));
}

#[test]
fn ct_needs_ip_and_a_real_table() {
    let plain = ct(|_| {});
    assert_eq!(
        check(std::slice::from_ref(&plain), &any()),
        Err(ActionError::NeedsIp("ct"))
    );
    assert_eq!(check(&[plain], &ip()), Ok(()));
    assert_eq!(
        check(&[ct(|c| c.table = Some(255))], &ip()),
        Err(ActionError::BadTable("ct(table=255)"))
    );
}

#[test]
fn ct_force_and_exec_need_commit() {
    assert_eq!(
        check(&[ct(|c| c.force = true)], &ip()),
        Err(ActionError::ForceWithoutCommit)
    );
    assert_eq!(
        check(&[ct(|c| c.actions = vec![set(Field::CtMark, 1)])], &ip()),
        Err(ActionError::ExecWithoutCommit)
    );
}

#[test]
fn ct_exec_holds_only_ct_mark_and_ct_label_writes() {
    let out = ct(|c| {
        c.commit = true;
        c.actions = vec![Action::Output(OfPort(1))];
    });
    assert_eq!(
        check(&[out], &ip()),
        Err(ActionError::BadExecAction("output".into()))
    );
    let reg = ct(|c| {
        c.commit = true;
        c.actions = vec![set(Field::Reg0, 1)];
    });
    assert_eq!(
        check(&[reg], &ip()),
        Err(ActionError::BadExecAction("set_field of reg0".into()))
    );
}

#[test]
fn ct_zone_field_is_16_bits() {
    let z = |n| ct(|c| c.zone = CtZone::Field(sf(Field::Reg0, 0, n)));
    assert_eq!(check(&[z(16)], &ip()), Ok(()));
    assert_eq!(check(&[z(8)], &ip()), Err(ActionError::CtZoneWidth("reg0")));
}

#[test]
fn ct_alg_needs_its_protocol() {
    let ftp = ct(|c| {
        c.commit = true;
        c.alg = Some(21);
    });
    assert_eq!(check(std::slice::from_ref(&ftp), &l4(ipproto::TCP)), Ok(()));
    assert!(matches!(
        check(&[ftp], &l4(ipproto::UDP)),
        Err(ActionError::AlgNeedsProtocol { alg: "ftp", .. })
    ));
    let tftp = ct(|c| {
        c.commit = true;
        c.alg = Some(69);
    });
    assert_eq!(check(&[tftp], &l4(ipproto::UDP)), Ok(()));
    let other = ct(|c| c.alg = Some(80));
    assert_eq!(check(&[other], &ip()), Err(ActionError::UnknownAlg(80)));
}

#[test]
fn nat_rules() {
    let with = |commit: bool, nat: Nat| {
        ct(|c| {
            c.commit = commit;
            c.nat = Some(nat);
        })
    };
    let src = nat4(NatKind::Src, [10, 0, 0, 1], [10, 0, 0, 9]);
    assert_eq!(check(&[with(true, src)], &ip()), Ok(()));
    assert_eq!(
        check(&[with(false, src)], &ip()),
        Err(ActionError::NatWithoutCommit)
    );
    // A bare nat needs no commit: it applies the translation of an existing connection.
    assert_eq!(check(&[with(false, Nat::default())], &ip()), Ok(()));
    let flags_only = Nat {
        random: true,
        ..Nat::default()
    };
    assert_eq!(
        check(&[with(true, flags_only)], &ip()),
        Err(ActionError::NatFlagsWithoutKind)
    );
    let both = Nat {
        hash: true,
        random: true,
        ..src
    };
    assert_eq!(
        check(&[with(true, both)], &ip()),
        Err(ActionError::NatHashAndRandom)
    );
    let backwards = nat4(NatKind::Dst, [10, 0, 0, 9], [10, 0, 0, 1]);
    assert!(matches!(
        check(&[with(true, backwards)], &ip()),
        Err(ActionError::NatRange(_))
    ));
    let ports = Nat {
        ports: Some((90, 80)),
        ..src
    };
    assert!(matches!(
        check(&[with(true, ports)], &ip()),
        Err(ActionError::NatRange(_))
    ));
    assert_eq!(
        check(&[with(true, src)], &ipv6()),
        Err(ActionError::NatFamily { family: "ip" })
    );
}

#[test]
fn resubmit_rules() {
    let nothing = Action::Resubmit {
        port: None,
        table: None,
        ct: false,
    };
    assert_eq!(check(&[nothing], &any()), Err(ActionError::ResubmitNothing));
    let with_ct = Action::Resubmit {
        port: None,
        table: Some(2),
        ct: true,
    };
    assert_eq!(
        check(std::slice::from_ref(&with_ct), &ip()),
        Err(ActionError::ResubmitCtUntracked)
    );
    let mut tracked = ip();
    let bits = ct_state::TRACKED | ct_state::INVALID;
    tracked.set_masked(Field::CtState, ct_state::TRACKED.into(), bits.into());
    assert_eq!(check(&[with_ct], &tracked), Ok(()));
}

#[test]
fn meter_zero_is_refused() {
    assert_eq!(
        check(&[Action::Meter(0)], &any()),
        Err(ActionError::BadMeter)
    );
    assert_eq!(check(&[Action::Meter(1)], &any()), Ok(()));
}

#[test]
fn errors_read_as_one_clear_line() {
    let e = check(&[set(Field::TpDst, 80)], &any()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "set_field of tp_dst needs tcp, udp or sctp (or their IPv6 forms) in the match"
    );
    let e = validate(&[Action::GotoTable(2)], &any(), 2).unwrap_err();
    assert_eq!(
        e.to_string(),
        "goto_table:2 in table 2: goto_table must go to a later table"
    );
}
