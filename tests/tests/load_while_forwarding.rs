//! Forwarding of existing flows continues while 100 000 flows are loaded: two namespaces joined
//! by a bridge of AF_XDP ports ping each other 200 times a second through the real vswitchd
//! while `ofctl add-flows` loads a bundle of 100 000 unrelated flows; no ping may be lost
//! (the one in flight when ping is stopped aside).
//!
//! Needs root, `ip` and `ping`; without them it prints why and passes, unless `CI=true`.
//! Resources are named after the process id and removed even when the test fails.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::Daemon;

/// Why this test cannot run here, if it cannot.
fn missing_requirement() -> Option<String> {
    // SAFETY: geteuid has no preconditions and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in ["ip", "ping"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Some(format!("`{tool}` not found"));
        }
    }
    None
}

fn run(args: &[&str]) {
    let out = Command::new(args.first().copied().unwrap_or("true"))
        .args(args.get(1..).unwrap_or_default())
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces, each with `eth0` joined by a veth pair to the root namespace; removed on drop.
struct Net {
    ns: [String; 2],
    host: [String; 2],
}

impl Net {
    fn create() -> Net {
        let id = std::process::id() % 100_000;
        let net = Net {
            ns: [format!("vslw{id}a"), format!("vslw{id}b")],
            host: [format!("vslw{id}a0"), format!("vslw{id}b0")],
        };
        net.remove();
        for (i, (ns, host)) in net.ns.iter().zip(&net.host).enumerate() {
            let addr = format!("192.168.77.{}/24", i + 1);
            run(&["ip", "netns", "add", ns]);
            run(&[
                "ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ]);
            run(&["ip", "-n", ns, "addr", "add", &addr, "dev", "eth0"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            run(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
            run(&["ip", "link", "set", host, "up"]);
        }
        net
    }

    fn remove(&self) {
        for ns in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        for host in &self.host {
            let _ = Command::new("ip").args(["link", "del", host]).output();
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.remove();
    }
}

/// `(transmitted, received)` from ping's summary line.
fn ping_counts(summary: &str) -> Option<(u32, u32)> {
    let line = summary
        .lines()
        .find(|l| l.contains("packets transmitted"))?;
    let mut numbers = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse::<u32>().ok());
    Some((numbers.next()?, numbers.next()?))
}

#[test]
fn forwarding_continues_during_a_100k_flow_load() {
    if let Some(why) = missing_requirement() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "cannot run: {why}"
        );
        eprintln!("skipped: {why}");
        return;
    }
    let net = Net::create();
    let d = Daemon::start();
    d.ofctl_ok(&["add-br", "br0"]);
    for host in &net.host {
        d.ofctl_ok(&["add-port", "br0", host, "type=afxdp"]);
    }
    for flow in [
        "priority=2000,arp,actions=flood",
        "priority=2000,ip,nw_dst=192.168.77.1,actions=output:1",
        "priority=2000,ip,nw_dst=192.168.77.2,actions=output:2",
    ] {
        d.ofctl_ok(&["add-flow", "br0", flow]);
    }
    let [ns_a, _] = &net.ns;
    // Wait until the path works (ARP resolved, ports up).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !Command::new("ip")
        .args([
            "netns",
            "exec",
            ns_a,
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            "192.168.77.2",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(
            Instant::now() < deadline,
            "no ping across br0:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let file = d.dir().join("flows.txt");
    std::fs::write(&file, tests::many_flows(100_000)).unwrap_or_else(|e| panic!("{e}"));
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns_a,
            "ping",
            "-i",
            "0.005",
            "-W",
            "1",
            "192.168.77.2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("ping: {e}"));
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let loaded = d.ofctl(&["add-flows", "br0", &file.to_string_lossy()]);
    let load = t.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    if let Ok(pid) = libc::pid_t::try_from(ping.id()) {
        // SAFETY: kill(2) on the ping we spawned; SIGINT makes it print its summary.
        unsafe { libc::kill(pid, libc::SIGINT) };
    }
    let out = ping
        .wait_with_output()
        .unwrap_or_else(|e| panic!("ping: {e}"));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );

    let (sent, received) =
        ping_counts(&summary).unwrap_or_else(|| panic!("no ping summary:\n{summary}"));
    eprintln!("load {load:?}; pings during it: {sent} sent, {received} received");
    assert!(sent >= 50, "too few pings to tell: {summary}");
    assert!(
        sent - received <= 1,
        "pings lost during the load:\n{summary}"
    );
    let tables = d.ofctl_ok(&["dump-tables", "br0"]);
    assert!(tables.starts_with("  table 0: active=100003, "), "{tables}");
}
