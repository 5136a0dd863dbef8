//! The datapath over mem ports: forwarding, rewrites, drops, caches, counters, table swaps.

// Test inputs: small numbers cast freely; cloned one-element slices read best.
#![allow(clippy::cast_possible_truncation, clippy::cloned_ref_to_slice_refs)]

mod common;

use common::*;
use datapath::DatapathConfig;
use flowtable::wire::ethernet::Ethernet;
use flowtable::wire::ipv4::Ipv4;
use flowtable::wire::tcp::Tcp;
use flowtable::wire::udp::Udp;
use flowtable::wire::vlan::Vlan;

const A: u32 = 0x0a00_0001;
const B: u32 = 0x0a00_0002;

#[test]
fn l2_forwarding_both_ways_with_port_counters() {
    let br = Bridge::new(
        &["in_port=1,actions=output:2", "in_port=2,actions=output:1"],
        2,
    );
    let f = udp4(A, B, 1000, 2000, 50);
    br.send(1, &vec![f.clone(); 10]);
    assert_eq!(br.sent(2), vec![f.clone(); 10]);
    br.send(2, &[f.clone()]);
    assert_eq!(br.sent(1), vec![f.clone()]);
    let st = br.dp.port_stats();
    let p1 = st
        .iter()
        .find(|p| p.ofport == 1)
        .map(|p| (p.rx_packets, p.tx_packets));
    let p2 = st
        .iter()
        .find(|p| p.ofport == 2)
        .map(|p| (p.rx_packets, p.tx_bytes));
    assert_eq!(p1, Some((10, 1)));
    assert_eq!(p2, Some((1, 10 * f.len() as u64)));
}

#[test]
fn vlan_push_and_pop() {
    let br = Bridge::new(
        &[
            "in_port=1,actions=mod_vlan_vid:10,output:2",
            "in_port=2,dl_vlan=10,actions=strip_vlan,output:1",
        ],
        2,
    );
    let f = udp4(A, B, 1, 2, 20);
    br.send(1, &[f.clone()]);
    let out = br.sent(2);
    assert_eq!(out, vec![tagged(f.clone(), 10)]);
    let tag = Ethernet::parse(&out[0]).and_then(|e| Vlan::parse(e.payload()));
    assert_eq!(tag.map(|t| t.vid()).ok(), Some(10));
    br.send(2, &[tagged(f.clone(), 10)]);
    assert_eq!(br.sent(1), vec![f]);
}

fn ipv4_of(frame: &[u8]) -> Ipv4<'_> {
    let eth = Ethernet::parse(frame).unwrap_or_else(|e| panic!("{e}"));
    Ipv4::parse(eth.payload()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn set_field_keeps_checksums_right() {
    let br = Bridge::new(
        &[
            "tcp,actions=set_field:10.1.1.1->nw_dst,set_field:8080->tp_dst,mod_nw_tos:32,dec_ttl,mod_dl_src:02:00:00:00:00:99,output:2",
            "udp,actions=set_field:192.168.7.7->nw_src,set_field:5353->tp_src,output:2",
        ],
        2,
    );
    br.send(1, &[tcp4(A, B, 1234, 80, 64), udp4(A, B, 53, 99, 33)]);
    let out = br.sent(2);
    assert_eq!(out.len(), 2);
    // TCP: every field written, every checksum verified by full recomputation.
    let ip = ipv4_of(&out[0]);
    assert!(ip.verify_checksum());
    assert_eq!((ip.dst(), ip.ttl(), ip.tos() & 0xfc), (0x0a01_0101, 63, 32));
    let tcp = Tcp::parse(ip.payload()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tcp.dst_port(), 8080);
    assert!(tcp.verify_checksum(ip.pseudo_header_sum()));
    assert_eq!(
        Ethernet::parse(&out[0]).map(|e| e.src()).ok(),
        Some([2, 0, 0, 0, 0, 0x99])
    );
    // UDP.
    let ip = ipv4_of(&out[1]);
    assert!(ip.verify_checksum());
    assert_eq!(ip.src(), 0xc0a8_0707);
    let udp = Udp::parse(ip.payload()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(udp.src_port(), 5353);
    assert!(udp.verify_checksum(ip.pseudo_header_sum()));
}

#[test]
fn drops_are_counted_by_reason() {
    let br = Bridge::new(
        &[
            "in_port=1,udp,actions=drop",
            "in_port=1,tcp,actions=dec_ttl,output:2",
        ],
        2,
    );
    br.send(1, &[udp4(A, B, 1, 2, 0)]);
    br.send(1, &[tcp4(A, B, 1, 2, 1)]);
    br.send(2, &[udp4(A, B, 1, 2, 0)]);
    br.send(1, &[vec![1, 2, 3]]);
    assert!(br.sent(2).is_empty());
    assert_eq!(br.drop_count("no_output"), 1);
    assert_eq!(br.drop_count("ttl_expired"), 1);
    assert_eq!(br.drop_count("table_miss"), 1);
    assert_eq!(br.drop_count("parse_error"), 1);
    assert_eq!(br.drop_count("mtu_exceeded"), 0);
    let rx_dropped: u64 = br.dp.port_stats().iter().map(|p| p.rx_dropped).sum();
    assert_eq!(rx_dropped, 4);
}

#[test]
fn megaflow_is_installed_then_hit_and_rules_are_credited() {
    let t = tables(&[
        "priority=5,ip,nw_dst=10.0.0.2,actions=output:2",
        "priority=1,actions=drop",
    ]);
    let br = Bridge::new(&[], 2);
    br.dp.set_tables(t.clone());
    let f = udp4(A, B, 7, 8, 10);
    br.send(1, &[f.clone()]);
    let st = br.dp.cache_stats();
    assert_eq!((st.upcalls, st.megaflows), (1, 1));
    // Different ports and sources: same megaflow (the rule looks at nw_dst only).
    let more: Vec<Vec<u8>> = (0..100)
        .map(|i| udp4(A + i, B, 7 + i as u16, 8, 10))
        .collect();
    br.send(1, &more);
    let st = br.dp.cache_stats();
    assert_eq!((st.upcalls, st.megaflows), (1, 1));
    assert_eq!(st.emc_hits + st.megaflow_hits, 100);
    assert_eq!(br.sent(2).len(), 101);
    let mf = br.dp.megaflows();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].packets, 101);
    let line = mf[0].dpctl_line();
    assert!(line.contains("ipv4(dst=10.0.0.2,frag=no)"), "{line}");
    assert!(line.contains("packets:101"), "{line}");
    assert!(line.ends_with("actions:2"), "{line}");
    let rule = t
        .rules()
        .find(|r| r.priority == 5)
        .map(|r| r.stats.packets());
    assert_eq!(rule, Some(101));
    br.dp.flush_megaflows();
    assert_eq!(br.dp.cache_stats().megaflows, 0);
    br.send(1, &[f]);
    assert_eq!(br.dp.cache_stats().upcalls, 2);
}

#[test]
fn the_emc_is_consulted_only_with_more_than_one_subtable() {
    // UDP packets' megaflow masks in_port, dl_type and nw_proto; TCP packets' adds tp_dst.
    let br = Bridge::new(
        &[
            "priority=10,in_port=1,tcp,tp_dst=80,actions=output:3",
            "priority=5,in_port=1,actions=output:2",
        ],
        3,
    );
    let udp = udp4(A, B, 7, 8, 10);
    br.send(1, &vec![udp.clone(); 1000]);
    let st = br.dp.cache_stats();
    // One subtable: a megaflow lookup is one probe, and the EMC is left out.
    assert_eq!((st.megaflows, st.emc_hits), (1, 0), "{st:?}");
    assert_eq!(st.megaflow_hits + st.misses, 1000, "{st:?}");
    br.send(1, &[tcp4(A, B, 7, 80, 64)]);
    let before = br.dp.cache_stats();
    assert_eq!(before.megaflows, 2);
    br.send(1, &vec![udp; 1000]);
    let st = br.dp.cache_stats();
    // Two: the EMC takes the flow in (with probability 1/100 per megaflow hit) and serves it.
    assert!(st.emc_hits > 0, "{st:?}");
    let hits = |s: &datapath::CacheStats| s.emc_hits + s.megaflow_hits;
    assert_eq!(hits(&st) - hits(&before), 1000, "{st:?}");
    assert_eq!(br.sent(2).len(), 2000);
    assert_eq!(br.sent(3).len(), 1);
}

#[test]
fn batches_of_many_megaflows_credit_every_rule_and_megaflow() {
    // 20 rules of their own (more than a batch sums per rule before crediting directly) and
    // one shared by 30 megaflows (tp_dst is in every mask because of the rules above it).
    let mut rules: Vec<String> = (0..20)
        .map(|i| format!("priority=20,udp,tp_dst={},actions=output:2", 500 + i))
        .collect();
    rules.push("priority=10,udp,actions=output:3".to_string());
    let t = tables(&rules.iter().map(String::as_str).collect::<Vec<_>>());
    let br = Bridge::new(&[], 3);
    br.dp.set_tables(t.clone());
    let own: Vec<Vec<u8>> = (0..40).map(|i| udp4(A, B, 7, 500 + i % 20, 10)).collect();
    let shared: Vec<Vec<u8>> = (0..30).map(|i| udp4(A, B, 7, 900 + i, 10)).collect();
    // Interleaved, so that a batch holds megaflows of both kinds.
    let frames: Vec<Vec<u8>> = own
        .chunks(4)
        .zip(shared.chunks(3))
        .flat_map(|(a, b)| a.iter().chain(b).cloned())
        .collect();
    for _ in 0..5 {
        br.send(1, &frames);
    }
    assert_eq!(br.sent(2).len(), 200);
    assert_eq!(br.sent(3).len(), 150);
    let st = br.dp.cache_stats();
    assert_eq!((st.upcalls, st.megaflows), (50, 50));
    for r in t.rules() {
        let want = if r.priority == 20 { 10 } else { 150 };
        assert_eq!(r.stats.packets(), want, "{r:?}");
        assert_eq!(r.stats.bytes(), want * frames[0].len() as u64);
    }
    for m in br.dp.megaflows() {
        let want = if m.dpctl_line().ends_with("actions:2") {
            10
        } else {
            5
        };
        assert_eq!(m.packets, want, "{}", m.dpctl_line());
    }
}

#[test]
fn set_tables_takes_effect_before_it_returns() {
    let br = Bridge::new(&["actions=output:2"], 3);
    let f = udp4(A, B, 7, 8, 10);
    for _ in 0..3 {
        br.send(1, &vec![f.clone(); 50]);
    }
    assert_eq!(br.sent(2).len(), 150);
    // Swap; the cached megaflow is stale from now on and must be re-translated on hit.
    br.dp.set_tables(tables(&["actions=output:3"]));
    br.send(1, &vec![f.clone(); 5]);
    assert!(br.sent(2).is_empty());
    assert_eq!(br.sent(3).len(), 5);
    assert!(br.dp.cache_stats().revalidations >= 1);
    // No storm: the megaflow was updated in place, not removed.
    assert_eq!(br.dp.cache_stats().upcalls, 1);
}

#[test]
fn background_revalidation_updates_and_removes() {
    let br = Bridge::new(&["ip,actions=output:2"], 3);
    let frames: Vec<Vec<u8>> = (0..20).map(|i| udp4(A, B + i, 7, 8, 10)).collect();
    br.send(1, &frames);
    assert_eq!(br.dp.cache_stats().megaflows, 1);
    // Now the decision depends on nw_dst: the megaflow (which ignores it) must go.
    br.dp.set_tables(tables(&[
        "ip,nw_dst=10.0.0.2,actions=output:3",
        "ip,actions=output:2",
    ]));
    // The background revalidator may be first; either way the megaflow goes.
    br.dp.revalidate_now();
    assert_eq!(br.dp.cache_stats().megaflows, 0);
    assert!(br.dp.cache_stats().revalidations >= 1);
    br.send(1, &frames);
    assert_eq!(br.sent(3).len(), 1);
}

#[test]
fn mtu_exceeded_is_dropped_and_counted() {
    let br = Bridge::with(
        &["actions=output:2"],
        2,
        DatapathConfig::default(),
        &[(2, 100)],
    );
    br.send(1, &[udp4(A, B, 1, 2, 200), udp4(A, B, 1, 2, 10)]);
    assert_eq!(br.sent(2).len(), 1);
    assert_eq!(br.drop_count("mtu_exceeded"), 1);
    let tx_dropped = br
        .dp
        .port_stats()
        .iter()
        .find(|p| p.ofport == 2)
        .map(|p| p.tx_dropped);
    assert_eq!(tx_dropped, Some(1));
}

#[test]
fn normal_floods_except_input_port_and_controller_gets_packet_ins() {
    let br = Bridge::new(
        &[
            "in_port=1,actions=NORMAL",
            "in_port=2,actions=controller:64",
        ],
        3,
    );
    let rx = br.dp.packet_ins();
    let f = udp4(A, B, 1, 2, 100);
    br.send(1, &[f.clone()]);
    assert!(br.sent(1).is_empty());
    assert_eq!(br.sent(2), vec![f.clone()]);
    assert_eq!(br.sent(3), vec![f.clone()]);
    br.send(2, &[f.clone()]);
    let pi = rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((pi.ofport, pi.frame.len()), (2, 64));
    assert_eq!(pi.frame[..], f[..64]);
}

#[test]
fn upcalls_beyond_the_rate_limit_are_shed() {
    let cfg = DatapathConfig {
        upcall_rate_per_port: 1,
        batch: 16,
        ..DatapathConfig::default()
    };
    // One exact rule per destination: each of the 200 packets needs its own megaflow, but the
    // bucket holds one batch (16) of upcalls and refills at 1 per second.
    let rules: Vec<String> = (0..200)
        .map(|i| format!("ip,nw_dst=10.0.{i}.1,actions=output:2"))
        .collect();
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    let br = Bridge::with(&rules, 2, cfg, &[]);
    let frames: Vec<Vec<u8>> = (0..200)
        .map(|i| udp4(A, 0x0a00_0001 + (i << 8), 1, 2, 0))
        .collect();
    br.send(1, &frames);
    let st = br.dp.cache_stats();
    assert!(st.upcalls <= 17, "{st:?}");
    assert_eq!(st.upcalls + st.upcalls_shed, 200, "{st:?}");
    assert_eq!(br.drop_count("upcall_shed"), st.upcalls_shed);
    assert_eq!(br.sent(2).len() as u64, st.upcalls);
}

#[test]
fn removed_port_is_released_and_outputs_to_it_count_port_down() {
    let br = Bridge::new(&["in_port=1,actions=output:2"], 2);
    br.dp.remove_port(2).unwrap_or_else(|e| panic!("{e}"));
    assert!(br.dp.remove_port(2).is_err());
    br.send(1, &[udp4(A, B, 1, 2, 0)]);
    assert_eq!(br.drop_count("port_down"), 1);
    assert_eq!(br.dp.port_stats().len(), 1);
}

#[test]
fn idle_datapath_sleeps() {
    let dp = datapath::Datapath::start(
        "idle",
        DatapathConfig::default(),
        tables(&["actions=output:2"]),
        std::sync::Arc::new(flowtable::pipeline::RecircIds::new()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let p = datapath::port::MemPort::new("p1");
    let h = p.handle();
    dp.add_port(1, Box::new(p))
        .unwrap_or_else(|e| panic!("{e}"));
    h.inject(&[&udp4(A, B, 1, 2, 0)]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let before = pmd_ticks("pmd0-idle");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let used = pmd_ticks("pmd0-idle") - before;
    // Busy-polling would burn ~100 ticks (1 s of one core); sleeping in poll(2) almost none.
    assert!(used <= 5, "{used} ticks");
    dp.shutdown();
}

/// Under light traffic a PMD thread with a nap pauses between polls instead of spinning: every
/// packet is forwarded, at a fraction of a core (busy-polling would take the whole core, as the
/// packets come closer together than the idle spin).
#[test]
fn lightly_loaded_pmd_naps_between_polls() {
    let dp = datapath::Datapath::start(
        "nap",
        DatapathConfig {
            nap: std::time::Duration::from_micros(50),
            ..DatapathConfig::default()
        },
        tables(&["in_port=1,actions=output:2"]),
        std::sync::Arc::new(flowtable::pipeline::RecircIds::new()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (p1, p2) = (
        datapath::port::MemPort::new("p1"),
        datapath::port::MemPort::new("p2"),
    );
    let (h1, h2) = (p1.handle(), p2.handle());
    for (n, p) in [(1, p1), (2, p2)] {
        dp.add_port(n, Box::new(p))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let frame = udp4(A, B, 1, 2, 0);
    h1.inject(&[&frame]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let before = pmd_ticks("pmd0-nap");
    // A packet about every 100 µs for one second: closer together than the 200 µs idle spin.
    let start = std::time::Instant::now();
    let (mut injected, mut forwarded, mut rounds) = (1, 0, 0u32);
    while start.elapsed() < std::time::Duration::from_secs(1) {
        // What the port's receive ring took (all of it, unless the thread fell far behind).
        injected += h1.inject(&[&frame]);
        rounds += 1;
        // The mem port keeps what it sent until taken (at most its ring's worth).
        if rounds.is_multiple_of(1000) {
            forwarded += h2.take_sent().len();
        }
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
    let used = pmd_ticks("pmd0-nap") - before;
    dp.quiesce();
    forwarded += h2.take_sent().len();
    assert_eq!(forwarded, injected, "every packet forwarded");
    // Busy-polling would take ~100 ticks (one core for 1 s).
    assert!(used <= 60, "{used} ticks");
    dp.shutdown();
}

/// User plus system clock ticks of the thread named `name`.
fn pmd_ticks(name: &str) -> u64 {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap_or_else(|e| panic!("{e}"));
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the ")" that ends the command: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        return f[11] + f[12];
    }
    panic!("no thread {name}");
}

#[test]
fn manual_mode_runs_only_when_asked() {
    let cfg = DatapathConfig {
        pmd_threads: 0,
        ..DatapathConfig::default()
    };
    let br = Bridge::with(&["actions=output:2"], 2, cfg, &[]);
    let h = br.handle(1);
    h.inject(&[&udp4(A, B, 1, 2, 0)]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(h.rx_pending(), 1, "no thread may have received it");
    assert_eq!(br.dp.run_once(), 1);
    assert_eq!(br.sent(2).len(), 1);
    assert_eq!(br.dp.run_once(), 0);
    // No revalidator thread either: a swap is applied on hit, and on demand.
    br.dp.set_tables(tables(&["actions=drop"]));
    assert_eq!(br.dp.revalidate_now().revalidated, 1);
}

#[test]
fn two_pmd_threads_forward_between_their_ports() {
    let cfg = DatapathConfig {
        pmd_threads: 2,
        ..DatapathConfig::default()
    };
    let br = Bridge::with(
        &[
            "in_port=1,actions=output:4",
            "in_port=4,actions=output:1",
            "in_port=2,actions=output:3",
            "in_port=3,actions=output:2",
        ],
        4,
        cfg,
        &[],
    );
    let f = udp4(A, B, 1, 2, 30);
    for (i, o) in [(1, 4), (4, 1), (2, 3), (3, 2)] {
        br.send(i, &vec![f.clone(); 100]);
        assert_eq!(br.sent(o).len(), 100, "{i} -> {o}");
    }
    let st = br.dp.cache_stats();
    assert_eq!(st.upcalls, 4);
}

#[test]
fn pmd_threads_are_pinned_to_the_configured_cpus() {
    // The last CPU this process may use (the machine's cpuset may not include CPU 0).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("0")
        .trim()
        .to_string();
    let last = allowed
        .rsplit([',', '-'])
        .next()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(0);
    let dp = datapath::Datapath::start(
        "pin",
        DatapathConfig {
            cpus: vec![last],
            ..DatapathConfig::default()
        },
        tables(&[]),
        std::sync::Arc::new(flowtable::pipeline::RecircIds::new()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The thread pins itself as it starts: wait for it (`wait` fails the test after 10 s).
    let want = last.to_string();
    wait(|| thread_status("pmd0-pin", "Cpus_allowed_list:").as_deref() == Some(want.as_str()));
    dp.shutdown();
}

/// A line of /proc/self/task/*/status of the thread named `name`, after `field`.
fn thread_status(name: &str, field: &str) -> Option<String> {
    for t in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let status = std::fs::read_to_string(t.path().join("status")).ok()?;
            return status
                .lines()
                .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()));
        }
    }
    None
}

#[test]
fn a_full_tx_ring_counts_the_rest() {
    let dp = datapath::Datapath::start(
        "ring",
        DatapathConfig::default(),
        tables(&["actions=output:2"]),
        std::sync::Arc::new(flowtable::pipeline::RecircIds::new()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let p1 = datapath::port::MemPort::new("p1");
    let opts = [("ring".to_string(), "4".to_string())].into();
    let p2 = datapath::port::MemPort::open("p2", &opts).unwrap_or_else(|e| panic!("{e}"));
    let (h1, h2) = (p1.handle(), p2.handle());
    dp.add_port(1, Box::new(p1))
        .unwrap_or_else(|e| panic!("{e}"));
    dp.add_port(2, Box::new(p2))
        .unwrap_or_else(|e| panic!("{e}"));
    let f = udp4(A, B, 1, 2, 0);
    h1.inject(&[f.as_slice(); 10]);
    wait(|| h1.rx_pending() == 0);
    dp.quiesce();
    assert_eq!(h2.take_sent().len(), 4);
    let drops = dp.drops();
    assert!(drops.contains(&("tx_ring_full", 6)), "{drops:?}");
    let p2 = dp.port_stats().into_iter().find(|p| p.ofport == 2);
    assert_eq!(p2.map(|p| (p.tx_packets, p.tx_dropped)), Some((4, 6)));
    dp.shutdown();
}

#[test]
fn the_megaflow_limit_is_counted_and_packets_still_forwarded() {
    let cfg = DatapathConfig {
        megaflow_limit: 2,
        ..DatapathConfig::default()
    };
    let rules: Vec<String> = (0..5)
        .map(|i| format!("ip,nw_dst=10.0.{i}.1,actions=output:2"))
        .collect();
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    let br = Bridge::with(&rules, 2, cfg, &[]);
    let frames: Vec<Vec<u8>> = (0..5)
        .map(|i| udp4(A, 0x0a00_0001 + (i << 8), 1, 2, 0))
        .collect();
    br.send(1, &frames);
    assert_eq!(br.sent(2).len(), 5);
    let st = br.dp.cache_stats();
    assert_eq!((st.megaflows, st.megaflow_limit_hits), (2, 3), "{st:?}");
}

#[test]
fn idle_megaflows_are_evicted() {
    let cfg = DatapathConfig {
        megaflow_idle_ms: 50,
        ..DatapathConfig::default()
    };
    let br = Bridge::with(&["actions=output:2"], 2, cfg, &[]);
    br.send(1, &[udp4(A, B, 1, 2, 0)]);
    assert_eq!(br.dp.cache_stats().megaflows, 1);
    // The revalidator runs every 500 ms.
    wait(|| br.dp.cache_stats().megaflows == 0);
    br.send(1, &[udp4(A, B, 1, 2, 0)]);
    assert_eq!(br.dp.cache_stats().upcalls, 2);
}
