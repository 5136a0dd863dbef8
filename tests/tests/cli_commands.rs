//! The remaining `ofctl` commands against the real daemon: `show`, `trace`, `dump-tables`,
//! `dump-ports`, `monitor`, JSON output, and `del-br`/`del-port`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::Daemon;

fn setup() -> Daemon {
    let d = Daemon::start();
    d.ofctl_ok(&["add-br", "br0"]);
    d.ofctl_ok(&["add-port", "br0", "p1", "type=mem"]);
    d.ofctl_ok(&["add-port", "br0", "p2", "type=mem"]);
    d.ofctl_ok(&[
        "add-flow",
        "br0",
        "priority=50,in_port=1,actions=goto_table:1",
    ]);
    d.ofctl_ok(&[
        "add-flow",
        "br0",
        "table=1,priority=5,tcp,tp_dst=80,actions=output:2",
    ]);
    d
}

#[test]
fn show_lists_bridges_and_ports_as_text_and_json() {
    let d = setup();
    let show = d.ofctl_ok(&["show"]);
    let mut lines = show.lines();
    assert_eq!(lines.next(), Some("br0: 2 ports, 2 flows"));
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with(" 1(p1): mem, up")),
        "{show}"
    );
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with(" 2(p2): mem, up")),
        "{show}"
    );
    let json = d.ofctl_ok(&["show", "--format", "json"]);
    assert!(json.contains("\"name\": \"br0\""), "{json}");
    assert!(json.contains("\"flow_count\": 2"), "{json}");

    d.ofctl_ok(&["del-port", "br0", "p1"]);
    assert!(d
        .ofctl_ok(&["show"])
        .starts_with("br0: 1 port, 2 flows\n 2(p2)"));
    d.ofctl_ok(&["del-br", "br0"]);
    assert_eq!(d.ofctl_ok(&["show"]), "");
}

#[test]
fn trace_follows_the_pipeline() {
    let d = setup();
    let out = d.ofctl_ok(&["trace", "br0", "in_port=1,tcp,nw_dst=10.0.0.7,tp_dst=80"]);
    assert!(out.contains("bridge(\"br0\")"), "{out}");
    assert!(out.contains(" 0. in_port=1, priority 50\n"), "{out}");
    assert!(out.contains(" 1. tcp,tp_dst=80, priority 5\n"), "{out}");
    assert!(out.ends_with("Datapath actions: 2\n"), "{out}");
    let json = d.ofctl_ok(&["trace", "--format", "json", "br0", "in_port=2,udp"]);
    assert!(json.contains("\"datapath_actions\": \"drop\""), "{json}");
    let e = d.ofctl_err(&["trace", "br0", "in_port=1,tcp,nw_dst=10.0.0.7/8"]);
    assert!(e.contains("mask"), "{e}");
}

#[test]
fn table_and_port_counters() {
    let d = setup();
    assert_eq!(
        d.ofctl_ok(&["dump-tables", "br0"]),
        "  table 0: active=1, n_packets=0, n_bytes=0\n  table 1: active=1, n_packets=0, n_bytes=0\n"
    );
    let ports = d.ofctl_ok(&["dump-ports", "br0"]);
    assert!(
        ports.starts_with(
            "  port 1(p1): rx pkts=0, bytes=0, drop=0, errs=0\n              tx pkts=0"
        ),
        "{ports}"
    );
    let json = d.ofctl_ok(&["dump-ports", "--format", "json", "br0"]);
    assert!(json.contains("\"rx_packets\": 0"), "{json}");
}

#[test]
fn monitor_prints_port_status_events() {
    let d = setup();
    let mut child = Command::new(&tests::binaries().ofctl)
        .arg("--socket")
        .arg(d.socket())
        .args(["monitor", "--count", "1", "br0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    // The monitor subscribes asynchronously: add ports until it has seen one, bounded in time.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 3;
    let status = loop {
        d.ofctl_ok(&["add-port", "br0", &format!("m{n}"), "type=mem"]);
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ofctl monitor saw no event in 20 s");
        }
    };
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    assert!(status.success(), "{out}");
    let line = out.lines().next().unwrap_or_default();
    assert!(line.starts_with("br0 port_status added "), "{out}");
    assert!(line.contains("(m") && line.contains(" mem up"), "{out}");
}
