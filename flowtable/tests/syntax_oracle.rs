//! Differential test of our flow syntax against Open vSwitch's `ovs-ofctl`.
//!
//! Corpora live in `tests/data`: `NAME.txt` holds flows, one per line (blank lines and lines
//! starting with `#` are skipped); `NAME.expected` holds, line for line, the canonical text that
//! `ovs-ofctl -O OpenFlow13 parse-flow FLOW` prints after `ADD `. For each corpus this test checks
//!
//! 1. our canonical text ([`FlowMod`]'s `Display`) equals the recorded one, exactly;
//! 2. when `ovs-ofctl` is installed, that it still prints the recorded text (so the recording
//!    cannot go stale). Under `CI=true` a missing `ovs-ofctl` fails the test; elsewhere the live
//!    check is skipped with a message.
//!
//! `NAME_rejected.txt` (flows `ovs-ofctl` refuses) and `NAME_stricter.txt` (flows it accepts but
//! silently changes, because a prerequisite is missing) must be refused by our parser.
//!
//! Corpora: `syntax_seed` (hand-written, every field, shorthand, mask form and action),
//! `syntax_generated` (random combinations, see `tests/data/syntax_generate.py`) and, when
//! present, `ovs_flows` (written for CI). Re-record `syntax_seed.expected` with
//! `SYNTAX_ORACLE_RECORD=1 cargo test -p flowtable --test syntax_oracle`.

use std::path::{Path, PathBuf};
use std::process::Command;

use flowtable::syntax::flow::parse_flow;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The flow lines of a corpus file, or `None` if it does not exist.
fn flows(name: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(data(name)).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(str::to_owned)
            .collect(),
    )
}

/// What `ovs-ofctl -O OpenFlow13 parse-flow` prints after `ADD `, or `Err` with its error.
/// `Ok(None)` if `ovs-ofctl` is not installed.
fn ovs_ofctl(flow: &str) -> Result<Option<String>, String> {
    let out = match Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow13", "parse-flow", flow])
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("running ovs-ofctl: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().find_map(|l| l.split_once(": ADD ")) {
        Some((_, rest)) if out.status.success() => Ok(Some(rest.to_owned())),
        _ => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
    }
}

/// Whether a live `ovs-ofctl` must be present.
fn live_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn ovs_available() -> bool {
    let found = Command::new("ovs-ofctl").arg("--version").output().is_ok();
    if !found {
        assert!(
            !live_required(),
            "CI=true but ovs-ofctl is not installed (install Debian's openvswitch-common)"
        );
        eprintln!("skipping the live ovs-ofctl comparison: ovs-ofctl is not installed");
    }
    found
}

/// Checks one corpus; returns (flows, exact matches).
fn check_corpus(name: &str, record: bool) -> Option<(usize, usize)> {
    let flows = flows(&format!("{name}.txt"))?;
    let expected_path = data(&format!("{name}.expected"));
    if record {
        let mut lines = Vec::new();
        for f in &flows {
            match ovs_ofctl(f) {
                Ok(Some(text)) => lines.push(text),
                Ok(None) => panic!("recording needs ovs-ofctl"),
                Err(e) => panic!("ovs-ofctl refuses corpus flow {f:?}: {e}"),
            }
        }
        let mut body = lines.join("\n");
        body.push('\n');
        std::fs::write(&expected_path, body).unwrap_or_else(|e| panic!("writing: {e}"));
    }
    let expected_text = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
    let expected: Vec<&str> = expected_text.lines().collect();
    assert_eq!(
        expected.len(),
        flows.len(),
        "{name}: {} flows but {} expected lines",
        flows.len(),
        expected.len()
    );
    let live = ovs_available();
    let mut failures = Vec::new();
    let mut exact = 0;
    for (flow, want) in flows.iter().zip(&expected) {
        match parse_flow(flow) {
            Ok(fm) if fm.to_string() == *want => exact += 1,
            Ok(fm) => failures.push(format!("{flow}\n    ours: {fm}\n    ovs:  {want}")),
            Err(e) => failures.push(format!("{flow}\n    ours: error {e}\n    ovs:  {want}")),
        }
        if live {
            match ovs_ofctl(flow) {
                Ok(Some(now)) if now == *want => {}
                Ok(Some(now)) => {
                    failures.push(format!("{flow}\n    recorded: {want}\n    ovs now:  {now}"))
                }
                Ok(None) => {}
                Err(e) => failures.push(format!("{flow}\n    ovs-ofctl now refuses it: {e}")),
            }
        }
    }
    eprintln!(
        "{name}: {exact} of {} flows match ovs-ofctl exactly",
        flows.len()
    );
    assert!(
        failures.is_empty(),
        "{name}: {} of {} flows differ:\n{}",
        failures.len(),
        flows.len(),
        failures.join("\n")
    );
    Some((flows.len(), exact))
}

/// Checks that every flow of `file` is refused by our parser.
fn check_refused(file: &str) -> Option<usize> {
    let flows = flows(file)?;
    let accepted: Vec<String> = flows
        .iter()
        .filter_map(|f| parse_flow(f).ok().map(|fm| format!("{f}  =>  {fm}")))
        .collect();
    assert!(
        accepted.is_empty(),
        "{file}: we accept flows that must be refused:\n{}",
        accepted.join("\n")
    );
    Some(flows.len())
}

#[test]
fn seed_corpus_matches_ovs_ofctl() {
    let record = std::env::var("SYNTAX_ORACLE_RECORD").is_ok_and(|v| v == "1");
    let (n, _) = check_corpus("syntax_seed", record).unwrap_or_else(|| panic!("no seed corpus"));
    assert!(n >= 100, "the seed corpus has only {n} flows");
}

#[test]
fn generated_corpus_matches_ovs_ofctl() {
    let (n, _) =
        check_corpus("syntax_generated", false).unwrap_or_else(|| panic!("no generated corpus"));
    assert!(n >= 400, "the generated corpus has only {n} flows");
}

#[test]
fn ovs_flows_corpus_matches_ovs_ofctl() {
    match check_corpus("ovs_flows", false) {
        Some((n, _)) => assert!(n >= 200, "ovs_flows has only {n} flows"),
        None => eprintln!("skipping: tests/data/ovs_flows.txt is not present"),
    }
}

#[test]
fn flows_ovs_rejects_are_refused() {
    for file in ["syntax_seed_rejected.txt", "ovs_flows_rejected.txt"] {
        if check_refused(file).is_none() {
            eprintln!("skipping: tests/data/{file} is not present");
        }
    }
}

#[test]
fn flows_ovs_silently_changes_are_refused() {
    for file in ["syntax_seed_stricter.txt", "ovs_flows_stricter.txt"] {
        if check_refused(file).is_none() {
            eprintln!("skipping: tests/data/{file} is not present");
        }
    }
}
