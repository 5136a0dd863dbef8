//! Tests of the action model's helpers and of normalization.

use super::*;
use crate::Match;

#[test]
fn reserved_ports_have_names_and_numbers() {
    assert_eq!(OfPort::LOCAL.to_string(), "LOCAL");
    assert_eq!(OfPort::IN_PORT.to_string(), "IN_PORT");
    assert_eq!(OfPort(7).to_string(), "7");
    assert_eq!(OfPort::from_name("local"), Some(OfPort::LOCAL));
    assert_eq!(OfPort::from_name("In_Port"), Some(OfPort::IN_PORT));
    assert_eq!(OfPort::from_name("none"), Some(OfPort::ANY));
    assert_eq!(OfPort::from_name("eth0"), None);
    assert!(OfPort::NORMAL.is_reserved());
    assert!(!OfPort(1).is_reserved());
    for (p, _) in OfPort::NAMES {
        assert_eq!(OfPort::from_name(&p.to_string()), Some(p));
    }
}

#[test]
fn controller_reasons_round_trip_by_name() {
    for (r, n) in ControllerReason::NAMES {
        assert_eq!(r.name(), n);
        assert_eq!(ControllerReason::from_name(n), Some(r));
    }
    assert_eq!(ControllerReason::from_name("bogus"), None);
}

#[test]
fn ct_zone_resolves_from_the_key() {
    let mut k = FlowKey::zero();
    k.regs[3] = 0xabcd_1234;
    assert_eq!(CtZone::Imm(9).resolve(&k), 9);
    let hi = SubField {
        field: Field::Reg3,
        ofs: 16,
        n_bits: 16,
    };
    assert_eq!(CtZone::Field(hi).resolve(&k), 0xabcd);
}

fn sample() -> Vec<Action> {
    vec![
        Action::Meter(1),
        Action::Output(OfPort(1)),
        Action::Clone(vec![Action::Output(OfPort(2)), Action::Exit]),
        Action::Ct(Box::new(CtAction {
            commit: true,
            actions: vec![Action::SetField {
                field: Field::CtMark,
                value: 1,
                mask: 0xffff_ffff,
            }],
            ..CtAction::default()
        })),
        Action::WriteActions(vec![Action::Group(3)]),
        Action::GotoTable(2),
    ]
}

#[test]
fn walk_visits_nested_actions_depth_first() {
    let mut names = Vec::new();
    walk(&sample(), &mut |a| names.push(a.name()));
    assert_eq!(
        names,
        [
            "meter",
            "output",
            "clone",
            "output",
            "exit",
            "ct",
            "set_field",
            "write_actions",
            "group",
            "goto_table"
        ]
    );
}

#[test]
fn classification_helpers() {
    let list = sample();
    let instructions: Vec<_> = list.iter().filter(|a| a.is_instruction()).collect();
    assert_eq!(instructions.len(), 3);
    assert!(Action::Group(1).is_output());
    assert!(Action::Controller(Box::default()).is_output());
    assert!(!Action::Exit.is_output());
    assert_eq!(list.get(2).map(|a| a.nested().len()), Some(2));
    assert!(Action::Exit.nested().is_empty());
}

#[test]
fn reads_and_writes() {
    let mv = Action::Move {
        src: SubField {
            field: Field::Reg0,
            ofs: 0,
            n_bits: 8,
        },
        dst: SubField {
            field: Field::Reg1,
            ofs: 8,
            n_bits: 8,
        },
    };
    assert_eq!(mv.reads().first().map(|s| s.field), Some(Field::Reg0));
    assert_eq!(
        mv.writes().first().map(|s| (s.field, s.ofs)),
        Some((Field::Reg1, 8))
    );
    let masked = Action::WriteMetadata {
        value: 0,
        mask: 0xff00,
    };
    assert_eq!(
        masked.writes(),
        [SubField {
            field: Field::Metadata,
            ofs: 8,
            n_bits: 8
        }]
    );
    assert_eq!(
        Action::DecTtl(vec![]).writes(),
        [SubField::whole(Field::NwTtl)]
    );
    assert!(Action::Output(OfPort(1)).writes().is_empty());
}

#[test]
fn normalize_rewrites_code_built_forms() {
    let mut list = vec![
        Action::SetField {
            field: Field::Reg0,
            value: 0x5,
            mask: 0x0f0f,
        },
        Action::Output(OfPort::CONTROLLER),
        Action::Resubmit {
            port: Some(OfPort::IN_PORT),
            table: Some(3),
            ct: false,
        },
        Action::WriteActions(vec![]),
        Action::Note(vec![1]),
        Action::Clone(vec![Action::Resubmit {
            port: Some(OfPort(2)),
            table: Some(255),
            ct: false,
        }]),
    ];
    normalize(&mut list, &Match::any());
    let reg0 = |ofs, n_bits| SubField {
        field: Field::Reg0,
        ofs,
        n_bits,
    };
    assert_eq!(
        list,
        vec![
            Action::Load {
                dst: reg0(0, 4),
                value: 5
            },
            Action::Load {
                dst: reg0(8, 4),
                value: 0
            },
            Action::Controller(Box::default()),
            Action::Resubmit {
                port: None,
                table: Some(3),
                ct: false
            },
            Action::Note(vec![1, 0, 0, 0, 0, 0]),
            Action::Clone(vec![Action::Resubmit {
                port: Some(OfPort(2)),
                table: None,
                ct: false
            }]),
        ]
    );
    // Normalizing again changes nothing.
    let again = list.clone();
    normalize(&mut list, &Match::any());
    assert_eq!(list, again);
}

#[test]
fn notes_pad_to_six_plus_eight_n_bytes() {
    for (len, padded) in [(0, 6), (1, 6), (6, 6), (7, 14), (14, 14), (15, 22)] {
        let mut b = vec![0xaa; len];
        pad_note(&mut b);
        assert_eq!(b.len(), padded, "{len}");
    }
}
