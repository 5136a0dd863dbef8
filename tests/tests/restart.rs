//! Nothing is lost on restart: bridges, ports and flows configured through the real `ofctl`
//! come back after a clean stop (SIGTERM) and after `kill -9`, with the same port numbers and
//! the same flows, and the last change before the kill is among them.

use tests::Daemon;

/// What a restart must preserve: the bridges and ports, and every flow without its counters.
fn snapshot(d: &Daemon) -> (String, String, String) {
    (
        d.ofctl_ok(&["show"]),
        d.ofctl_ok(&["dump-flows", "--no-stats", "br0"]),
        d.ofctl_ok(&["dump-flows", "--no-stats", "br1"]),
    )
}

fn configure(d: &Daemon) {
    d.ofctl_ok(&["add-br", "br0"]);
    d.ofctl_ok(&["add-br", "br1"]);
    assert_eq!(
        d.ofctl_ok(&["add-port", "br0", "p1", "type=mem"]),
        "p1: ofport 1\n"
    );
    assert_eq!(
        d.ofctl_ok(&["add-port", "br0", "p2", "type=mem", "ofport=7"]),
        "p2: ofport 7\n"
    );
    assert_eq!(
        d.ofctl_ok(&["add-port", "br1", "q1", "type=mem"]),
        "q1: ofport 1\n"
    );
    d.ofctl_ok(&[
        "add-flow",
        "br0",
        "priority=10,ip,nw_dst=10.0.0.0/24,actions=output:7",
    ]);
    d.ofctl_ok(&[
        "add-flow",
        "br0",
        "table=1,cookie=0x5,priority=7,hard_timeout=3600,tcp,tp_dst=80,actions=drop",
    ]);
    d.ofctl_ok(&["add-flow", "br0", "priority=0,actions=goto_table:1"]);
    d.ofctl_ok(&["add-flow", "br1", "in_port=1,actions=controller"]);
    // Without table=, mod-flows changes every table: both ip flows (tcp is ip).
    d.ofctl_ok(&["mod-flows", "br0", "ip,actions=output:1"]);
}

#[test]
fn a_clean_restart_keeps_bridges_ports_and_flows() {
    let mut d = Daemon::start();
    configure(&d);
    let before = snapshot(&d);
    assert_eq!(
        before.1,
        " priority=10,ip,nw_dst=10.0.0.0/24 actions=output:1\n priority=0 actions=goto_table:1\n cookie=0x5, table=1, hard_timeout=3600, priority=7,tcp,tp_dst=80 actions=output:1\n"
    );
    assert!(before.0.contains("br0: 2 ports, 3 flows"), "{}", before.0);
    assert!(before.0.contains(" 7(p2): mem"), "{}", before.0);

    d.restart();
    assert_eq!(
        snapshot(&d),
        before,
        "after SIGTERM and start:\n{}",
        d.log()
    );

    // Port numbering continues after the restored ports.
    assert_eq!(
        d.ofctl_ok(&["add-port", "br0", "p3", "type=mem"]),
        "p3: ofport 8\n"
    );
}

#[test]
fn kill_9_then_restart_keeps_everything_including_the_last_change() {
    let mut d = Daemon::start();
    configure(&d);
    // The last change before the kill: it was acknowledged, so it must survive.
    d.ofctl_ok(&["del-flows", "--strict", "br0", "priority=0"]);
    d.ofctl_ok(&["del-port", "br0", "p1"]);
    let before = snapshot(&d);
    assert!(!before.1.contains("goto_table"), "{}", before.1);
    assert!(!before.0.contains("(p1)"), "{}", before.0);

    d.kill9();
    d.start_again();
    assert_eq!(
        snapshot(&d),
        before,
        "after kill -9 and start:\n{}",
        d.log()
    );

    // And once more, with a bundle as the last change.
    let file = d.dir().join("flows.txt");
    std::fs::write(&file, tests::many_flows(500)).unwrap_or_else(|e| panic!("{e}"));
    d.ofctl_ok(&["add-flows", "br1", &file.to_string_lossy()]);
    let before = snapshot(&d);
    d.kill9();
    d.start_again();
    let after = snapshot(&d);
    assert_eq!(after, before);
    assert_eq!(after.2.lines().count(), 501);
}

#[test]
fn a_deleted_bridge_stays_deleted() {
    let mut d = Daemon::start();
    configure(&d);
    d.ofctl_ok(&["del-br", "br1"]);
    d.kill9();
    d.start_again();
    let show = d.ofctl_ok(&["show"]);
    assert!(show.starts_with("br0: "), "{show}");
    assert!(!show.contains("br1"), "{show}");
    let err = d.ofctl_err(&["dump-flows", "br1"]);
    assert!(err.contains("br1"), "{err}");
}
