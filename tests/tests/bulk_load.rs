//! 100 000 flows through `ofctl add-flows` in one bundle, and `dump-flows` of all of them;
//! also `add-flows -` from standard input with comments. The load time is printed (run with
//! `--nocapture` to see it); `scripts/bench-load.sh` measures it against Open vSwitch.

use std::time::Instant;

use tests::Daemon;

const N: u32 = 100_000;

#[test]
fn one_hundred_thousand_flows_in_one_bundle() {
    let d = Daemon::start();
    d.ofctl_ok(&["add-br", "br0"]);
    let file = d.dir().join("flows.txt");
    std::fs::write(&file, tests::many_flows(N)).unwrap_or_else(|e| panic!("{e}"));

    let t = Instant::now();
    let out = d.ofctl_ok(&["add-flows", "br0", &file.to_string_lossy()]);
    let load = t.elapsed();
    assert_eq!(out, "");

    let t = Instant::now();
    let dump = d.ofctl_ok(&["dump-flows", "br0"]);
    let dumped = t.elapsed();
    eprintln!("add-flows of {N} flows: {load:?}; dump-flows: {dumped:?}");

    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), usize::try_from(N).unwrap_or(usize::MAX));
    // Highest priority (1099: flows 999, 1999, ...) first.
    let first = lines.first().copied().unwrap_or_default();
    assert!(first.starts_with(" cookie=0x0, duration="), "{first}");
    assert!(
        first.contains(", table=0, n_packets=0, n_bytes=0, idle_age=")
            && first.contains(", priority=1099,ip,nw_dst="),
        "{first}"
    );
    // Every flow is there once.
    let mut dsts: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split("nw_dst=").nth(1))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    dsts.sort_unstable();
    dsts.dedup();
    assert_eq!(dsts.len(), lines.len());

    let tables = d.ofctl_ok(&["dump-tables", "br0"]);
    assert_eq!(
        tables,
        format!("  table 0: active={N}, n_packets=0, n_bytes=0\n")
    );

    // The filtered dump goes through the daemon's filter.
    let one = d.ofctl_ok(&["dump-flows", "--no-stats", "br0", "ip,nw_dst=10.1.134.159"]);
    assert_eq!(
        one,
        " priority=1099,ip,nw_dst=10.1.134.159 actions=output:2\n"
    );
}

#[test]
fn add_flows_reads_standard_input_and_skips_comments() {
    let d = Daemon::start();
    d.ofctl_ok(&["add-br", "br0"]);
    let file = d.dir().join("stdin.txt");
    std::fs::write(
        &file,
        "# a comment\n\n   priority=5,ip,actions=output:1\n\t# another\ntable=2,arp,actions=flood\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = d.ofctl_with_input(&["add-flows", "br0", "-"], Some(&file));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        d.ofctl_ok(&["dump-flows", "--no-stats", "br0"]),
        " priority=5,ip actions=output:1\n table=2, arp actions=FLOOD\n"
    );
    // JSON dump of the same flows.
    let json = d.ofctl_ok(&["dump-flows", "--format", "json", "br0", "table=2"]);
    assert!(json.contains("\"actions\": \"FLOOD\""), "{json}");
    assert!(json.contains("\"n_packets\": 0"), "{json}");
}
