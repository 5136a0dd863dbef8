//! Properties of the flow syntax that must hold beyond the recorded corpora:
//!
//! - the parser never panics, whatever the text, and every error points inside the text;
//! - the canonical text is a fixed point: parsing it gives the same flow, which prints the same;
//! - every field's value printer and parser agree (`parse(format(v, m)) == (v, m)`).

use std::path::Path;

use flowtable::field::{Field, Format};
use flowtable::syntax::flow::parse_flow;
use flowtable::syntax::matches::{format_match, parse_match};
use flowtable::syntax::value::{format_value, parse_value};
use proptest::prelude::*;

/// Flow-looking text: keywords, separators, digits and address characters.
fn flowish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "ip",
        "tcp",
        "ipv6",
        "arp",
        "nw_src=",
        "nw_dst=",
        "ipv6_src=",
        "tp_dst=",
        "dl_src=",
        "ct_state=",
        "tcp_flags=",
        "vlan_tci=",
        "dl_vlan=",
        "in_port=",
        "reg0=",
        "table=",
        "priority=",
        "cookie=",
        "actions=",
        "output:",
        "drop",
        ",",
        " ",
        "/",
        ":",
        ".",
        "+",
        "-",
        "0x",
        "1",
        "10",
        "255",
        "65535",
        "ff",
        "::",
        "trk",
        "syn",
        "é",
        "=",
        "(",
        ")",
    ]);
    prop::collection::vec(atoms, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsing_never_panics_and_errors_point_inside(text in flowish()) {
        if let Err(e) = parse_flow(&text) {
            prop_assert!(e.column >= 1 && e.column <= text.chars().count() + 1, "{e}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(text in "\\PC{0,64}") {
        let _ = parse_flow(&text);
    }

    #[test]
    fn canonical_text_is_a_fixed_point(text in flowish()) {
        if let Ok(fm) = parse_flow(&text) {
            let canonical = fm.to_string();
            let again = parse_flow(&canonical)
                .unwrap_or_else(|e| panic!("{text:?} printed {canonical:?}, which fails: {e}"));
            prop_assert_eq!(&again.match_, &fm.match_);
            prop_assert_eq!(again.to_string(), canonical);
        }
    }

    #[test]
    fn values_round_trip(
        index in 0..Field::ALL.len(),
        value in any::<u128>(),
        mask in any::<u128>(),
        masked in any::<bool>(),
    ) {
        let field = Field::ALL[index];
        let full = field.full_mask();
        let mask = if masked && field.def().maskable { mask & full } else { full };
        let mask = match field.def().format {
            // Only the named conntrack flags exist; fragment bits are keywords.
            Format::CtState => mask & 0xff,
            Format::OfPort => full,
            // Fragment matches are keywords, checked one by one below.
            Format::Frag => return Ok(()),
            _ => mask,
        };
        let mut value = value & mask;
        if field.def().format == Format::OfPort {
            value &= 0xff00;
        }
        if field == Field::NwTos {
            value &= 0xfc;
        }
        if mask == 0 {
            return Ok(());
        }
        let text = format_value(field, value, mask);
        let parsed = parse_value(&text, 0, text.len(), field)
            .unwrap_or_else(|e| panic!("{field}: {text:?} does not parse back: {e}"));
        prop_assert_eq!(parsed, (value, mask), "{}: {:?}", field, text);
    }
}

/// Every fragment keyword prints as itself.
#[test]
fn fragment_keywords_round_trip() {
    for kw in ["no", "yes", "first", "later", "not_later"] {
        let (v, m) =
            parse_value(kw, 0, kw.len(), Field::NwFrag).unwrap_or_else(|e| panic!("{kw}: {e}"));
        assert_eq!(format_value(Field::NwFrag, v, m), kw);
    }
    assert!(parse_value("1/1", 0, 3, Field::NwFrag).is_err());
}

/// Every flow of the corpora prints a canonical text that parses back to the same flow.
#[test]
fn corpus_canonical_texts_are_fixed_points() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut checked = 0;
    for name in ["syntax_seed.txt", "syntax_generated.txt", "ovs_flows.txt"] {
        let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
            continue;
        };
        for flow in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let Ok(fm) = parse_flow(flow) else { continue };
            let canonical = fm.to_string();
            let again = parse_flow(&canonical)
                .unwrap_or_else(|e| panic!("{flow:?} printed {canonical:?}, which fails: {e}"));
            assert_eq!(again.match_, fm.match_, "{flow}");
            assert_eq!(again.to_string(), canonical, "{flow}");
            let m = format_match(&fm.match_);
            assert_eq!(parse_match(&m, 0, m.len()).ok(), Some(fm.match_), "{flow}");
            checked += 1;
        }
    }
    assert!(checked >= 600, "only {checked} corpus flows checked");
}
