//! Golden tests of the action syntax against `ovs-ofctl -O OpenFlow13 parse-flow`.
//!
//! `tests/data/ovs_flows_actions.txt` holds one case per line:
//!
//! - `FLOW<TAB>ACTIONS`: `FLOW` is a whole flow text; `ACTIONS` is what `ovs-ofctl -O OpenFlow13
//!   parse-flow FLOW` printed after `actions=` (recorded from the real binary). We must parse,
//!   normalize, validate and format the actions of `FLOW` to exactly `ACTIONS`.
//! - `!FLOW<TAB>SUBSTRING`: a flow that both `ovs-ofctl` and we reject; our error message must
//!   contain `SUBSTRING`.
//! - `?FLOW<TAB>SUBSTRING`: a flow that `ovs-ofctl` accepts and we reject on purpose (`learn`,
//!   `conjunction`, an unclosed parenthesis); our error message must contain `SUBSTRING`.
//!
//! `golden_corpus` checks our side offline. `live_oracle` re-runs `ovs-ofctl` on every line, so
//! the recorded expectations cannot drift from the real tool: it is required when `CI=true` and
//! skipped, with the reason printed, when `ovs-ofctl` is not installed elsewhere.
//!
//! The match part of each flow is limited to what action prerequisites need (protocol shorthands,
//! `table=`, `dl_vlan=`, `vlan_tci=`, `icmp_type=`, `ct_state=`); [`context`] builds the
//! [`Match`] for it directly, so this test depends only on the action syntax.

use std::process::Command;

use flowtable::action::{normalize, validate};
use flowtable::field::ipproto;
use flowtable::key::ct_state;
use flowtable::syntax::actions::{format_actions_for, parse_actions};
use flowtable::{ethertype, Field, Match};

const CORPUS: &str = include_str!("data/ovs_flows_actions.txt");

/// One line of the corpus.
struct Case<'a> {
    line: usize,
    flow: &'a str,
    /// `Ok(canonical actions)` or `Err(error substring)`.
    expect: Result<&'a str, &'a str>,
    /// Whether `ovs-ofctl` accepts a flow we reject (a `?` line).
    ovs_accepts: bool,
}

fn cases() -> Vec<Case<'static>> {
    CORPUS
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let (input, expected) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("line {}: no tab in {l:?}", i + 1));
            let (flow, expect, ovs_accepts) =
                match (input.strip_prefix('!'), input.strip_prefix('?')) {
                    (Some(flow), _) => (flow, Err(expected), false),
                    (_, Some(flow)) => (flow, Err(expected), true),
                    _ => (input, Ok(expected), true),
                };
            Case {
                line: i + 1,
                flow,
                expect,
                ovs_accepts,
            }
        })
        .collect()
}

/// The match and table of the part of a flow before `actions=`.
fn context(prefix: &str) -> (Match, u8) {
    let mut m = Match::any();
    let mut table = 0;
    let ip = |m: &mut Match, t: u16, proto: Option<u8>| {
        m.set(Field::DlType, t.into());
        if let Some(p) = proto {
            m.set(Field::NwProto, p.into());
        }
    };
    for tok in prefix.split(',').filter(|t| !t.is_empty()) {
        let (v4, v6) = (ethertype::IPV4, ethertype::IPV6);
        match tok.split_once('=') {
            None => match tok {
                "ip" => ip(&mut m, v4, None),
                "ipv6" => ip(&mut m, v6, None),
                "arp" => m.set(Field::DlType, ethertype::ARP.into()),
                "tcp" => ip(&mut m, v4, Some(ipproto::TCP)),
                "udp" => ip(&mut m, v4, Some(ipproto::UDP)),
                "sctp" => ip(&mut m, v4, Some(ipproto::SCTP)),
                "icmp" => ip(&mut m, v4, Some(ipproto::ICMP)),
                "tcp6" => ip(&mut m, v6, Some(ipproto::TCP)),
                "udp6" => ip(&mut m, v6, Some(ipproto::UDP)),
                "sctp6" => ip(&mut m, v6, Some(ipproto::SCTP)),
                "icmp6" => ip(&mut m, v6, Some(ipproto::ICMPV6)),
                _ => panic!("corpus match token {tok:?} is not known to this test"),
            },
            Some(("table", t)) => table = t.parse().expect("table number"),
            Some(("dl_vlan", v)) => {
                let vid: u128 = v.parse().expect("vlan id");
                m.set_masked(Field::VlanTci, 0x1000 | vid, 0x1fff);
            }
            Some(("vlan_tci", "0x1000/0x1000")) => m.set_masked(Field::VlanTci, 0x1000, 0x1000),
            Some(("icmp_type", t)) => m.set(Field::IcmpType, t.parse().expect("icmp type")),
            Some(("ct_state", "+trk-inv")) => m.set_masked(
                Field::CtState,
                ct_state::TRACKED.into(),
                (ct_state::TRACKED | ct_state::INVALID).into(),
            ),
            Some(("ct_state", "+trk")) => m.set_masked(
                Field::CtState,
                ct_state::TRACKED.into(),
                ct_state::TRACKED.into(),
            ),
            _ => panic!("corpus match token {tok:?} is not known to this test"),
        }
    }
    (m, table)
}

/// Our canonical actions for `flow`, or our error message.
fn ours(flow: &str) -> Result<String, String> {
    let at = flow.find("actions=").ok_or("no actions=")? + "actions=".len();
    let prefix = flow[..at - "actions=".len()].trim_end_matches(',');
    let (m, table) = context(prefix);
    let mut actions = parse_actions(flow, at).map_err(|e| e.to_string())?;
    normalize(&mut actions, &m);
    validate(&actions, &m, table).map_err(|e| e.to_string())?;
    Ok(format_actions_for(&actions, &m))
}

#[test]
fn golden_corpus() {
    let cases = cases();
    assert!(cases.len() >= 150, "corpus too small: {}", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        match (ours(c.flow), c.expect) {
            (Ok(got), Ok(want)) if got == want => {}
            (Err(got), Err(want)) if got.contains(want) => {}
            (got, want) => failures.push(format!(
                "line {}: {}\n    want {want:?}\n    got  {got:?}",
                c.line, c.flow
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// What `ovs-ofctl` prints after `actions=` for `flow`, or `Err` with its error output. A flow
/// that `ovs-ofctl` parses but cannot encode and decode again (it prints a decode error and a hex
/// dump) counts as rejected.
fn ovs(flow: &str) -> Result<String, String> {
    let out = Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow13", "parse-flow", flow])
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let added = stdout.lines().find(|l| l.contains(" ADD "));
    match added.and_then(|l| l.split_once("actions=")) {
        Some((_, actions)) if out.status.success() => Ok(actions.to_string()),
        _ => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
    }
}

#[test]
fn live_oracle() {
    let available = Command::new("ovs-ofctl").arg("--version").output().is_ok();
    if !available {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ovs-ofctl is required under CI=true (install openvswitch-common)"
        );
        println!("skipping live_oracle: ovs-ofctl is not installed");
        return;
    }
    let mut failures = Vec::new();
    for c in cases() {
        match (ovs(c.flow), c.expect) {
            (Ok(got), Ok(want)) if got == want => {}
            (Err(_), Err(_)) if !c.ovs_accepts => {}
            (Ok(_), Err(_)) if c.ovs_accepts => {}
            (got, want) => failures.push(format!(
                "line {}: {}\n    recorded {want:?}\n    ovs-ofctl {got:?}",
                c.line, c.flow
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "ovs-ofctl disagrees with the corpus:\n{}",
        failures.join("\n")
    );
}

/// The canonical text is a fixed point: parsing what we print and printing it again gives the
/// same text, for every accepted flow of the corpus.
#[test]
fn canonical_text_reparses_to_itself() {
    for c in cases() {
        let Ok(canonical) = c.expect else { continue };
        let at = c.flow.find("actions=").map_or(0, |i| i + "actions=".len());
        let prefix = c.flow[..at - "actions=".len()].trim_end_matches(',');
        let flow = format!("{prefix},actions={canonical}");
        let again = ours(&flow).unwrap_or_else(|e| panic!("line {}: {flow}: {e}", c.line));
        assert_eq!(again, canonical, "line {}: {flow}", c.line);
    }
}

proptest::proptest! {
    /// The parser returns an error, never panics, on any text and any start offset.
    #[test]
    fn parser_never_panics(
        text in "[a-z_0-9():=,.\\[\\]/>\\- é+]{0,60}",
        start in 0usize..70,
    ) {
        let _ = parse_actions(&text, start);
        let _ = flowtable::syntax::actions::parse_subfield(&text, start.min(text.len()), text.len());
    }

    /// Random lists built from the corpus's valid actions parse, validate and print the same
    /// way whatever their order (up to the order of instructions, which is fixed).
    #[test]
    fn concatenated_corpus_actions_print_as_the_concatenation(
        picks in proptest::collection::vec(0usize..10_000, 1..5),
    ) {
        let plain: Vec<(&str, &str)> = cases()
            .into_iter()
            .filter_map(|c| {
                let want = c.expect.ok()?;
                let input = c.flow.strip_prefix("actions=")?;
                // Only match-free, instruction-free single lists compose freely.
                let simple = !want.is_empty()
                    && want != "drop"
                    && !["goto_table", "meter", "clear_actions", "write_", "push_vlan", "pop_vlan", "set_field:4", "vlan"]
                        .iter()
                        .any(|k| want.contains(k) || input.contains(k));
                simple.then_some((input, want))
            })
            .collect();
        proptest::prop_assume!(!plain.is_empty());
        let chosen: Vec<_> = picks.iter().map(|p| plain[p % plain.len()]).collect();
        let input: Vec<&str> = chosen.iter().map(|c| c.0).collect();
        let want: Vec<&str> = chosen.iter().map(|c| c.1).collect();
        let flow = format!("actions={}", input.join(","));
        proptest::prop_assert_eq!(ours(&flow), Ok(want.join(",")));
    }
}
