//! End-to-end forwarding through the real `vswitchd`, programmed with the real `ofctl`.
//!
//! Each test makes two uniquely named network namespaces `…a` and `…b`, each with an `eth0`
//! joined by a veth pair to the root namespace, starts `vswitchd` (temporary socket and state
//! directory, see [`tests::Daemon`]) and with `ofctl`: `add-br br0`, `add-port` of the two root
//! ends as `afxdp` ports in the XDP mode under test (`xdp-mode=native` or `xdp-mode=skb`), and
//! `add-flow in_port=1,actions=output:2` and back. Then, in that order:
//!
//! 1. `ping` between the namespaces (bounded count and deadline), reporting the RTT;
//! 2. a 5-second `iperf3` TCP run (server in `…b`, client in `…a`, JSON output parsed), with
//!    transmit checksum offload left on at the namespace ends (the ports' `csum-repair` makes
//!    the checksums whole), reporting the rate;
//! 3. 100 000 UDP datagrams at 20 000 a second from `…a` to `…b`, none lost (counted by
//!    sequence number at the receiver);
//! 4. `dump-flows` shows packets on both flows, `dump-ports` and `dump-drops` answer with the
//!    counters of that traffic, `show` names the XDP mode asked for;
//! 5. `del-flows br0` stops the traffic (pings fail) and the drops are counted;
//! 6. an `internal` port (a tap in the root namespace) given an address in a subnet that only
//!    `…a` shares: the host stack pings `…a` through the bridge.
//!
//! 7. after `SIGTERM` the daemon has detached its XDP programs and its tap is gone.
//!
//! The XDP mode is also checked on the kernel's side (`ip link` shows `xdp` for native mode,
//! `xdpgeneric` for skb mode), and the offload on the namespace ends with `ethtool -k`.
//!
//! Every traffic loop is bounded in count and time and only touches the namespaces and ports
//! the test made; the namespaces and veths are removed by a guard's `Drop`, the daemon (and so
//! its tap) is killed by [`tests::Daemon`]'s, even when the test fails. The tests run one at a
//! time (a lock) so that their traffic does not compete for the machine's cores.
//!
//! They need root, `ip`, `ping`, `ss`, `ethtool` and `iperf3`. Without them they print why and pass,
//! except under `CI=true`, where a missing prerequisite is a failure.

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tests::Daemon;

/// Serialises the tests of this file (see the module documentation).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether the prerequisites are there; panics under `CI=true` when they are not.
fn prerequisites() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let have = |tool: &str, arg: &str| Command::new(tool).arg(arg).output().is_ok();
    let missing = if !root {
        Some("not running as root".to_string())
    } else {
        [
            ("ip", "-V"),
            ("ping", "-V"),
            ("ss", "-V"),
            ("iperf3", "--version"),
            ("ethtool", "--version"),
        ]
        .into_iter()
        .find(|(tool, arg)| !have(tool, arg))
        .map(|(tool, _)| format!("`{tool}` not found"))
    };
    match missing {
        None => true,
        Some(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("end-to-end forwarding tests cannot run under CI: {why}")
        }
        Some(why) => {
            eprintln!("skipping end-to-end forwarding test: {why}");
            false
        }
    }
}

/// Runs a command, panicking with its standard error when it fails.
fn run(args: &[&str]) {
    let out = Command::new(args.first().copied().unwrap_or("true"))
        .args(args.get(1..).unwrap_or_default())
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("{args:?} failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("{args:?}: {e}"),
    }
}

/// Runs `cmd` with its output captured, killing it if it is still running after `limit`.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    // Read both pipes on threads so that a talkative child never blocks on a full pipe.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                break child.wait().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
            }
        }
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Reads `pipe` to its end on a new thread.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// A child process killed and reaped on drop (a server the test no longer needs).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two namespaces, each with `eth0` joined by a veth pair to the root namespace; the root ends
/// are the switch's ports. Everything is removed on drop.
struct Net {
    /// Namespaces of hosts A and B.
    ns: [String; 2],
    /// Root-namespace ends of the veth pairs towards A and B.
    host: [String; 2],
    /// Name of the internal port (a tap the daemon creates in the root namespace).
    tap: String,
    /// Addresses of A and B (10.231.SUBNET.1 and .2, /24).
    ip: [Ipv4Addr; 2],
}

impl Net {
    /// Creates the namespaces and veths, with A and B in 10.231.`subnet`.0/24.
    fn create(subnet: u8) -> Net {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = format!("e2{}x{n}", std::process::id() % 100_000);
        let net = Net {
            ns: [format!("{p}a"), format!("{p}b")],
            host: [format!("{p}ha"), format!("{p}hb")],
            tap: format!("{p}t"),
            ip: [
                Ipv4Addr::new(10, 231, subnet, 1),
                Ipv4Addr::new(10, 231, subnet, 2),
            ],
        };
        net.remove();
        for ((ns, host), ip) in net.ns.iter().zip(&net.host).zip(net.ip) {
            run(&["ip", "netns", "add", ns]);
            run(&[
                "ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ]);
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                "eth0",
            ]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            run(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
            run(&["ip", "link", "set", host, "up"]);
        }
        net
    }

    fn remove(&self) {
        // Deleting a namespace deletes its veth end, and so the peer; the explicit deletes
        // cover a namespace whose creation failed half-way.
        for ns in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        for dev in self.host.iter().chain([&self.tap]) {
            let _ = Command::new("ip").args(["link", "del", dev]).output();
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.remove();
    }
}

/// What one `ping` run reported.
#[derive(Debug)]
struct PingResult {
    sent: u32,
    received: u32,
    /// Average round-trip time in milliseconds, when any reply came.
    rtt_avg_ms: Option<f64>,
    text: String,
}

/// Pings `dst` `count` times, every `interval` seconds, each reply awaited at most a second,
/// from namespace `ns` (the root namespace when `None`); the whole run is bounded in time.
fn ping(ns: Option<&str>, dst: Ipv4Addr, count: u32, interval: &str) -> PingResult {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "ping"]);
            c
        }
        None => Command::new("ping"),
    };
    let deadline = (count / 5 + 3).to_string();
    cmd.args([
        "-n",
        "-c",
        &count.to_string(),
        "-i",
        interval,
        "-W",
        "1",
        "-w",
        &deadline,
        &dst.to_string(),
    ]);
    let out = run_bounded(&mut cmd, Duration::from_secs(u64::from(count / 5 + 10)));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (sent, received) = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .and_then(|line| {
            let mut numbers = line
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|s| s.parse::<u32>().ok());
            Some((numbers.next()?, numbers.next()?))
        })
        .unwrap_or_else(|| {
            panic!(
                "no ping summary: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    // "rtt min/avg/max/mdev = 0.041/0.052/0.071/0.009 ms"
    let rtt_avg_ms = text
        .lines()
        .find_map(|l| l.split_once(" = ").filter(|(k, _)| k.starts_with("rtt")))
        .and_then(|(_, v)| v.split('/').nth(1))
        .and_then(|v| v.parse().ok());
    PingResult {
        sent,
        received,
        rtt_avg_ms,
        text,
    }
}

/// Waits (at most 10 s) until one ping from `ns` to `dst` is answered: ports up, ARP done.
fn wait_for_path(d: &Daemon, ns: Option<&str>, dst: Ipv4Addr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while ping(ns, dst, 1, "0.2").received == 0 {
        assert!(
            Instant::now() < deadline,
            "no ping from {ns:?} to {dst} across br0:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts a thread that has entered network namespace `ns` and runs `f` there; sockets it
/// opens belong to that namespace.
fn spawn_in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
        // SAFETY: setns on a valid namespace descriptor; it changes only this thread.
        let ret = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(ret, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

fn join<T>(handle: JoinHandle<T>) -> T {
    match handle.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Result of an `iperf3` TCP run.
#[derive(Debug)]
struct TcpRun {
    bytes: u64,
    bits_per_second: f64,
    retransmits: u64,
}

/// Runs a `seconds`-long `iperf3` TCP test from namespace `client` to a server in `server`
/// listening on `server_ip`, and returns what the receiver got.
fn iperf3_tcp(server: &str, client: &str, server_ip: Ipv4Addr, seconds: u32) -> TcpRun {
    const PORT: &str = "5201";
    let ip = server_ip.to_string();
    let _server = KillOnDrop(
        Command::new("ip")
            .args([
                "netns", "exec", server, "iperf3", "-s", "-1", "-B", &ip, "-p", PORT,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("iperf3 server: {e}")),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listening = run_bounded(
            Command::new("ip").args([
                "netns",
                "exec",
                server,
                "ss",
                "-Hltn",
                &format!("sport = :{PORT}"),
            ]),
            Duration::from_secs(5),
        );
        if !listening.stdout.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "iperf3 server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = run_bounded(
        Command::new("ip").args([
            "netns",
            "exec",
            client,
            "iperf3",
            "-c",
            &ip,
            "-p",
            PORT,
            "-t",
            &seconds.to_string(),
            "-J",
            "--connect-timeout",
            "3000",
        ]),
        Duration::from_secs(u64::from(seconds) + 20),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("iperf3 output is not JSON ({e}):\n{text}"));
    assert!(
        out.status.success() && json.get("error").is_none(),
        "iperf3 failed:\n{text}"
    );
    let end = &json["end"];
    TcpRun {
        bytes: end["sum_received"]["bytes"].as_u64().unwrap_or(0),
        bits_per_second: end["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap_or(0.0),
        retransmits: end["sum_sent"]["retransmits"].as_u64().unwrap_or(0),
    }
}

/// Result of a paced UDP run.
#[derive(Debug)]
struct UdpRun {
    sent: u64,
    /// Distinct sequence numbers received.
    received: u64,
    elapsed: Duration,
}

/// Sends `count` UDP datagrams (22-byte payloads: 64-byte frames) at `rate` a second from
/// namespace `from` to `to_ip:5001` in namespace `to`, and counts at the receiver the
/// distinct sequence numbers that arrived (waiting at most 2 s after the last one was sent).
fn udp_paced(from: &str, to: &str, to_ip: Ipv4Addr, count: u32, rate: u32) -> UdpRun {
    const PORT: u16 = 5001;
    let ready = Arc::new(AtomicBool::new(false));
    let sent_all = Arc::new(AtomicBool::new(false));
    let receiver = {
        let (ready, sent_all) = (ready.clone(), sent_all.clone());
        spawn_in_ns(to, move || {
            let sock = UdpSocket::bind((to_ip, PORT)).unwrap_or_else(|e| panic!("bind: {e}"));
            let size: libc::c_int = 16 << 20;
            #[allow(clippy::cast_possible_truncation)] // the size of a C int fits any socklen_t
            let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: `size` is a valid c_int for the length passed. SO_RCVBUFFORCE (root)
            // goes beyond rmem_max, so a descheduled receiver does not drop a burst.
            unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    (&size as *const libc::c_int).cast(),
                    len,
                )
            };
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap_or_else(|e| panic!("{e}"));
            ready.store(true, Ordering::Release);
            let mut seen = vec![false; count as usize];
            let mut received = 0u64;
            let mut buf = [0u8; 64];
            let hard_deadline = Instant::now() + Duration::from_secs(60);
            let mut drain_deadline: Option<Instant> = None;
            while received < u64::from(count) && Instant::now() < hard_deadline {
                if drain_deadline.is_none() && sent_all.load(Ordering::Acquire) {
                    drain_deadline = Some(Instant::now() + Duration::from_secs(2));
                }
                if drain_deadline.is_some_and(|d| Instant::now() > d) {
                    break;
                }
                if let Ok(n) = sock.recv(&mut buf) {
                    let seq = buf
                        .get(..4)
                        .filter(|_| n >= 4)
                        .and_then(|b| b.try_into().ok())
                        .map(u32::from_be_bytes);
                    if let Some(slot) = seq.and_then(|s| seen.get_mut(s as usize)) {
                        if !*slot {
                            *slot = true;
                            received += 1;
                        }
                    }
                }
            }
            received
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ready.load(Ordering::Acquire) {
        assert!(Instant::now() < deadline, "UDP receiver did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sender = spawn_in_ns(from, move || {
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap_or_else(|e| panic!("bind: {e}"));
        sock.connect((to_ip, PORT))
            .unwrap_or_else(|e| panic!("connect: {e}"));
        // Bursts of `rate / 1000` every millisecond, on a fixed schedule.
        let burst = (rate / 1000).max(1);
        let start = Instant::now();
        let mut sent = 0u64;
        let mut payload = [0u8; 22];
        for seq in 0..count {
            if seq % burst == 0 {
                let due = start + Duration::from_millis(u64::from(seq / burst));
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            payload[..4].copy_from_slice(&seq.to_be_bytes());
            // A full local queue (ENOBUFS) is retried a few times rather than counted as lost
            // in the switch.
            for _ in 0..100 {
                match sock.send(&payload) {
                    Ok(_) => {
                        sent += 1;
                        break;
                    }
                    Err(_) => std::thread::sleep(Duration::from_micros(100)),
                }
            }
        }
        (sent, start.elapsed())
    });
    let (sent, elapsed) = join(sender);
    sent_all.store(true, Ordering::Release);
    let received = join(receiver);
    UdpRun {
        sent,
        received,
        elapsed,
    }
}

/// How an XDP program is attached to root-namespace interface `dev`, as `ip link` shows it:
/// `xdp` (native), `xdpgeneric` (skb), or `None` when no program is attached.
fn xdp_attachment(dev: &str) -> Option<String> {
    let out = run_bounded(
        Command::new("ip").args(["link", "show", "dev", dev]),
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // "5: dev@if4: <...> mtu 1500 xdpgeneric qdisc noqueue ..."
    let first = text.lines().next().unwrap_or_default();
    first
        .split_whitespace()
        .find(|w| w.starts_with("xdp"))
        .map(str::to_string)
}

/// The numbers after `key` in `text`, one per occurrence (e.g. every `n_packets=`).
fn numbers_after(text: &str, key: &str) -> Vec<u64> {
    text.match_indices(key)
        .filter_map(|(i, _)| {
            let rest = text.get(i + key.len()..)?;
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest.get(..end)?.parse().ok()
        })
        .collect()
}

/// The count of drop reason `reason` in `ofctl dump-drops` output.
fn drop_count(drops: &str, reason: &str) -> u64 {
    drops
        .lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            let (_, r, n) = (words.next()?, words.next()?, words.next()?);
            (r == reason).then(|| n.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no {reason} in dump-drops:\n{drops}"))
}

/// The whole scenario of the module documentation, with afxdp ports in XDP mode `mode`.
fn forwarding(mode: &str, subnet: u8) {
    if !prerequisites() {
        return;
    }
    let _serial = serial();
    let net = Net::create(subnet);
    let d = Daemon::start();
    let [ns_a, ns_b] = &net.ns;
    let [ip_a, ip_b] = net.ip;
    d.ofctl_ok(&["add-br", "br0"]);
    let xdp_mode = format!("xdp-mode={mode}");
    for (host, ofport) in net.host.iter().zip(["1", "2"]) {
        let out = d.ofctl_ok(&["add-port", "br0", host, "type=afxdp", &xdp_mode]);
        assert_eq!(
            out.trim_end(),
            format!("{host}: ofport {ofport}"),
            "{}",
            d.log()
        );
    }
    d.ofctl_ok(&["add-flow", "br0", "in_port=1,actions=output:2"]);
    d.ofctl_ok(&["add-flow", "br0", "in_port=2,actions=output:1"]);
    let show = d.ofctl_ok(&["show"]);
    for host in &net.host {
        let line = show
            .lines()
            .find(|l| l.contains(&format!("({host}): afxdp ")) && l.contains(", up, "))
            .unwrap_or_else(|| panic!("{host} is not up:\n{show}\n{}", d.log()));
        assert!(line.contains(&format!(": afxdp {mode}, ")), "{show}");
    }

    for host in &net.host {
        let attached = xdp_attachment(host);
        let expected = if mode == "skb" { "xdpgeneric" } else { "xdp" };
        assert_eq!(attached.as_deref(), Some(expected), "{host}");
    }
    for ns in &net.ns {
        let features = run_bounded(
            Command::new("ip").args(["netns", "exec", ns, "ethtool", "-k", "eth0"]),
            Duration::from_secs(5),
        );
        let features = String::from_utf8_lossy(&features.stdout);
        assert!(
            features
                .lines()
                .any(|l| l.starts_with("tx-checksumming: on")),
            "transmit checksum offload is off in {ns}:\n{features}"
        );
    }

    // 1. Ping.
    wait_for_path(&d, Some(ns_a), ip_b);
    let p = ping(Some(ns_a), ip_b, 20, "0.05");
    assert_eq!((p.sent, p.received), (20, 20), "{}", p.text);
    let back = ping(Some(ns_b), ip_a, 5, "0.05");
    assert_eq!(back.received, 5, "{}", back.text);
    let rtt = p.rtt_avg_ms.unwrap_or_else(|| panic!("no RTT: {}", p.text));
    eprintln!("[{mode}] ping a->b: 20/20, rtt avg {rtt:.3} ms");

    // 2. TCP with iperf3, transmit checksum offload on at the namespace ends (the default).
    let tcp = iperf3_tcp(ns_b, ns_a, ip_b, 5);
    eprintln!(
        "[{mode}] iperf3 TCP 5 s: {} bytes, {:.3} Gbit/s, {} retransmits",
        tcp.bytes,
        tcp.bits_per_second / 1e9,
        tcp.retransmits
    );
    assert!(tcp.bytes > 0, "iperf3 moved no bytes: {tcp:?}");

    // 3. 100k UDP datagrams at 20k/s, none lost.
    let udp = udp_paced(ns_a, ns_b, ip_b, 100_000, 20_000);
    eprintln!(
        "[{mode}] UDP: {} sent in {:.2?}, {} received, {} lost",
        udp.sent,
        udp.elapsed,
        udp.received,
        udp.sent.saturating_sub(udp.received)
    );
    assert_eq!(udp.sent, 100_000, "the sender could not send everything");
    if udp.received != 100_000 {
        // Where they were lost: before the switch (port 1 rx), in it (drops), after it (port 2
        // tx against the veth and the receiver's UDP counters).
        let mut why = d.ofctl_ok(&["dump-ports", "br0"]);
        why.push_str(&d.ofctl_ok(&["dump-drops", "br0"]));
        let [host_a, host_b] = &net.host;
        for args in [
            ["-s", "link", "show", "dev", host_a],
            ["-s", "link", "show", "dev", host_b],
            ["netns", "exec", ns_b, "cat", "/proc/net/snmp"],
        ] {
            let out = run_bounded(Command::new("ip").args(args), Duration::from_secs(5));
            why.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        panic!(
            "{} of 100000 UDP datagrams lost:\n{why}",
            100_000 - udp.received
        );
    }

    // 4. Counters.
    let flows = d.ofctl_ok(&["dump-flows", "br0"]);
    let n_packets = numbers_after(&flows, "n_packets=");
    assert_eq!(n_packets.len(), 2, "{flows}");
    assert!(n_packets.iter().all(|&n| n > 0), "{flows}");
    // The A->B flow carried at least the UDP run and the pings.
    assert!(n_packets.iter().any(|&n| n >= 100_020), "{flows}");
    let ports = d.ofctl_ok(&["dump-ports", "br0"]);
    let rx = numbers_after(&ports, "rx pkts=");
    let tx = numbers_after(&ports, "tx pkts=");
    assert_eq!((rx.len(), tx.len()), (2, 2), "{ports}");
    assert!(
        rx.first().is_some_and(|&n| n >= 100_020) && tx.get(1).is_some_and(|&n| n >= 100_020),
        "{ports}"
    );
    let drops_before = d.ofctl_ok(&["dump-drops", "br0"]);
    let misses_before = drop_count(&drops_before, "table_miss");
    // The kernel's counts for the AF_XDP sockets are listed too (`drop_count` panics
    // without them); the paced traffic above fit the rx rings.
    for reason in ["xsk_rx_ring_full", "xsk_rx_dropped", "xsk_invalid_desc"] {
        assert_eq!(drop_count(&drops_before, reason), 0, "{drops_before}");
    }

    // 5. Without flows nothing passes, and the misses are counted.
    d.ofctl_ok(&["del-flows", "br0"]);
    assert_eq!(d.ofctl_ok(&["dump-flows", "br0"]), "");
    let none = ping(Some(ns_a), ip_b, 3, "0.2");
    assert_eq!(
        none.received, 0,
        "pings passed without flows:\n{}",
        none.text
    );
    let drops_after = d.ofctl_ok(&["dump-drops", "br0"]);
    assert!(
        drop_count(&drops_after, "table_miss") >= misses_before + 3,
        "{drops_before}\n{drops_after}"
    );

    // 6. An internal port: the host stack reaches A, in a subnet only A shares, through br0.
    let out = d.ofctl_ok(&["add-port", "br0", &net.tap, "type=internal"]);
    assert_eq!(
        out.trim_end(),
        format!("{}: ofport 3", net.tap),
        "{}",
        d.log()
    );
    let host_ip = Ipv4Addr::new(10, 232, subnet, 254);
    let a_ip = Ipv4Addr::new(10, 232, subnet, 1);
    run(&[
        "ip",
        "-n",
        ns_a,
        "addr",
        "add",
        &format!("{a_ip}/24"),
        "dev",
        "eth0",
    ]);
    run(&[
        "ip",
        "addr",
        "add",
        &format!("{host_ip}/24"),
        "dev",
        &net.tap,
    ]);
    run(&["ip", "link", "set", &net.tap, "up"]);
    d.ofctl_ok(&["add-flow", "br0", "in_port=1,actions=output:3"]);
    d.ofctl_ok(&["add-flow", "br0", "in_port=3,actions=output:1"]);
    wait_for_path(&d, None, a_ip);
    let host = ping(None, a_ip, 10, "0.05");
    assert_eq!(host.received, 10, "{}", host.text);
    eprintln!(
        "[{mode}] host -> a through internal port {}: 10/10, rtt avg {:.3} ms",
        net.tap,
        host.rtt_avg_ms.unwrap_or(f64::NAN)
    );
    // The pings went through the tap, both ways (the tap's other traffic only adds).
    let ports = d.ofctl_ok(&["dump-ports", "br0"]);
    let tap_counters = ports
        .split_once(&format!("port 3({}):", net.tap))
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no port 3 in dump-ports:\n{ports}"));
    let (tap_rx, tap_tx) = (
        numbers_after(tap_counters, "rx pkts="),
        numbers_after(tap_counters, "tx pkts="),
    );
    assert!(
        tap_rx.first().is_some_and(|&n| n >= 10) && tap_tx.first().is_some_and(|&n| n >= 10),
        "{ports}"
    );

    // 7. A stopped daemon leaves nothing attached behind.
    let mut d = d;
    d.stop();
    for host in &net.host {
        assert_eq!(xdp_attachment(host), None, "{host} kept its program");
    }
    let tap = run_bounded(
        Command::new("ip").args(["link", "show", "dev", &net.tap]),
        Duration::from_secs(5),
    );
    assert!(
        !tap.status.success(),
        "the tap {} outlived the daemon",
        net.tap
    );
}

#[test]
fn afxdp_native_mode_forwards_between_namespaces() {
    forwarding("native", 1);
}

#[test]
fn afxdp_skb_mode_forwards_between_namespaces() {
    forwarding("skb", 2);
}

/// XDP flow offload, end to end: with peers that take redirected frames (GRO on their veth
/// ends) and complete checksums from A, the native-mode ports' XDP programs forward the UDP
/// flow themselves; what they forward shows in the megaflow, flow and port counters; a table
/// change to drop stops it at once (the drops counted), and the change back restores it.
#[test]
fn afxdp_native_mode_offloads_cached_flows() {
    if !prerequisites() {
        return;
    }
    let _serial = serial();
    let net = Net::create(3);
    let [ns_a, ns_b] = &net.ns;
    let ip_b = net.ip[1];
    for ns in &net.ns {
        run(&[
            "ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "gro", "on",
        ]);
    }
    // A partial checksum (transmit offload) would leave every frame to the PMD thread.
    run(&[
        "ip", "netns", "exec", ns_a, "ethtool", "-K", "eth0", "tx", "off",
    ]);
    let d = Daemon::start();
    d.ofctl_ok(&["add-br", "br0"]);
    for host in &net.host {
        d.ofctl_ok(&["add-port", "br0", host, "type=afxdp", "xdp-mode=native"]);
    }
    d.ofctl_ok(&["add-flow", "br0", "in_port=1,actions=output:2"]);
    d.ofctl_ok(&["add-flow", "br0", "in_port=2,actions=output:1"]);
    wait_for_path(&d, Some(ns_a), ip_b);

    // 1. Forwarded, mostly by the XDP program.
    let udp = udp_paced(ns_a, ns_b, ip_b, 20_000, 10_000);
    assert_eq!((udp.sent, udp.received), (20_000, 20_000), "{}", d.log());
    let megaflows = d.ofctl_ok(&["dump-megaflows", "br0"]);
    let offloaded: u64 = numbers_after(&megaflows, "xdp_packets:").iter().sum();
    assert!(offloaded >= 15_000, "{megaflows}");
    eprintln!("offload: {offloaded} of 20000 UDP datagrams forwarded by XDP");

    // 2. Counted as if the PMD thread had forwarded them.
    let flows = d.ofctl_ok(&["dump-flows", "br0"]);
    assert!(
        numbers_after(&flows, "n_packets=")
            .iter()
            .any(|&n| n >= 20_000),
        "{flows}"
    );
    let ports = d.ofctl_ok(&["dump-ports", "br0"]);
    let (rx, tx) = (
        numbers_after(&ports, "rx pkts="),
        numbers_after(&ports, "tx pkts="),
    );
    assert!(
        rx.first().is_some_and(|&n| n >= 20_000) && tx.get(1).is_some_and(|&n| n >= 20_000),
        "{ports}"
    );

    // 3. A table change to drop takes effect for the offloaded flow too, and is counted.
    let before = drop_count(&d.ofctl_ok(&["dump-drops", "br0"]), "no_output");
    d.ofctl_ok(&[
        "add-flow",
        "br0",
        "priority=40000,in_port=1,udp,actions=drop",
    ]);
    let blocked = udp_paced(ns_a, ns_b, ip_b, 5_000, 10_000);
    assert_eq!(
        blocked.received,
        0,
        "{}",
        d.ofctl_ok(&["dump-megaflows", "br0"])
    );
    let drops = d.ofctl_ok(&["dump-drops", "br0"]);
    assert!(drop_count(&drops, "no_output") >= before + 5_000, "{drops}");
    let megaflows = d.ofctl_ok(&["dump-megaflows", "br0"]);
    assert!(
        megaflows
            .lines()
            .any(|l| l.contains("actions:drop") && l.contains("offloaded:yes")),
        "{megaflows}"
    );

    // 4. And back.
    d.ofctl_ok(&["del-flows", "br0", "in_port=1,udp"]);
    let again = udp_paced(ns_a, ns_b, ip_b, 5_000, 10_000);
    assert_eq!(
        again.received,
        5_000,
        "{}",
        d.ofctl_ok(&["dump-megaflows", "br0"])
    );

    // 5. A stopped daemon leaves nothing attached behind.
    let mut d = d;
    d.stop();
    for host in &net.host {
        assert_eq!(xdp_attachment(host), None, "{host} kept its program");
    }
}
