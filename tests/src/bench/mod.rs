//! `vsbench`: a UDP traffic generator and sink for benchmarking switches between two network
//! namespaces.
//!
//! One process, two or more threads: the sink enters the receiving namespace, attaches an XDP
//! program that counts the run's frames and drops all but a sample of them ([`xdprx`]), and
//! maps an `AF_PACKET` receive ring on its interface for the sample ([`rx`]); one or more
//! senders enter the sending namespace and send timestamped UDP frames, with `sendmmsg`
//! ([`tx`], frames from [`frame`]) or an XDP program ([`xdptx`]). [`run`] ties them
//! together: the sink is ready before the first frame leaves, and keeps counting for a drain
//! period after the last one, so frames in flight are not counted as lost. Latency is one way,
//! sender to sink, from the probe's timestamp ([`hist`] keeps the percentiles).
//!
//! Every loop is bounded by a duration and a frame count.

pub mod bpf;
pub mod frame;
pub mod hist;
pub mod rx;
pub mod sys;
pub mod tx;
pub mod xdpfwd;
pub mod xdprx;
pub mod xdptx;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Where to receive.
#[derive(Clone, Debug)]
pub struct RxSide {
    /// Network namespace to enter (`None`: stay in the current one).
    pub netns: Option<String>,
    /// Interface to receive on.
    pub iface: String,
    /// How long to keep counting after the sender stops.
    pub drain: Duration,
    /// Count with the XDP counter and pass one frame in this many to the socket sink; `None`:
    /// the socket sink sees and counts every frame.
    pub sample: Option<u32>,
}

/// The outcome of one run.
#[derive(Debug)]
pub struct RunReport {
    /// The sender's side.
    pub tx: tx::TxReport,
    /// The sink's side (`None` when only sending).
    pub rx: Option<rx::RxReport>,
}

impl RunReport {
    /// Frames sent per second of the sending interval.
    pub fn offered_pps(&self) -> f64 {
        per_second(self.tx.sent, self.tx.elapsed_ns)
    }

    /// Frames of this run received per second of the sending interval.
    pub fn delivered_pps(&self) -> f64 {
        self.rx
            .as_ref()
            .map_or(0.0, |r| per_second(r.received, self.tx.elapsed_ns))
    }

    /// Percentage of sent frames that did not arrive (0 when nothing was sent).
    pub fn loss_pct(&self) -> f64 {
        let received = self.rx.as_ref().map_or(0, |r| r.received);
        if self.tx.sent == 0 {
            return 0.0;
        }
        100.0 * self.tx.sent.saturating_sub(received) as f64 / self.tx.sent as f64
    }

    /// One line of `key=value` pairs (for scripts), latency in microseconds.
    pub fn to_line(&self) -> String {
        let mut s = format!(
            "sent={} refused={} elapsed_s={:.3} offered_pps={:.0} tx_cpu_s={:.3} tx_slipped_ms={:.3}",
            self.tx.sent,
            self.tx.refused,
            self.tx.elapsed_ns as f64 / 1e9,
            self.offered_pps(),
            self.tx.cpu_ns as f64 / 1e9,
            self.tx.slipped_ns as f64 / 1e6
        );
        if let Some(r) = &self.rx {
            let q = |x: f64| r.latency.quantile(x).map_or(-1.0, |v| v as f64 / 1000.0);
            s.push_str(&format!(
                " received={} delivered_pps={:.0} loss_pct={:.3} sampled={} ring_drops={} \
                 out_of_order={} foreign={} lat_p50_us={:.1} lat_p90_us={:.1} lat_p99_us={:.1} lat_p999_us={:.1} \
                 lat_max_us={:.1} rx_cpu_s={:.3}",
                r.received,
                self.delivered_pps(),
                self.loss_pct(),
                r.sampled,
                r.ring_drops,
                r.out_of_order,
                r.foreign,
                q(0.5),
                q(0.9),
                q(0.99),
                q(0.999),
                r.latency.max() as f64 / 1000.0,
                r.cpu_ns as f64 / 1e9
            ));
        }
        s
    }
}

fn per_second(n: u64, ns: u64) -> f64 {
    if ns == 0 {
        0.0
    } else {
        n as f64 * 1e9 / ns as f64
    }
}

/// Runs one measurement: a sink on `rx` (if any) and the sender in namespace `tx_netns`.
pub fn run(
    tx_netns: Option<String>,
    cfg: tx::TxConfig,
    rx: Option<RxSide>,
) -> io::Result<RunReport> {
    let stop = Arc::new(AtomicU64::new(u64::MAX));
    let sink = match rx {
        Some(side) => {
            let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
            let stop2 = Arc::clone(&stop);
            let run_id = cfg.run_id;
            let handle = std::thread::Builder::new()
                .name("vsbench-rx".into())
                .spawn(move || {
                    let opened = side
                        .netns
                        .as_deref()
                        .map_or(Ok(()), sys::enter_netns)
                        .and_then(|()| rx::Sink::open(&side.iface))
                        .and_then(|sink| {
                            let counter = side
                                .sample
                                .map(|n| xdprx::XdpCounter::attach(&side.iface, run_id, n))
                                .transpose()?;
                            Ok((sink, counter))
                        });
                    match opened {
                        Ok((mut sink, counter)) => {
                            sink.reset_drops();
                            let _ = ready_tx.send(Ok(()));
                            let mut report = sink.run(run_id, &stop2);
                            if let Some(c) = counter {
                                let counts = c.counts()?;
                                report.received = counts.frames;
                                report.bytes = counts.bytes;
                            }
                            Ok(report)
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            let _ = ready_tx.send(Err(e));
                            Err(io::Error::other(msg))
                        }
                    }
                })?;
            match ready_rx.recv_timeout(Duration::from_secs(10)) {
                Ok(Ok(())) => Some((handle, side.drain)),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(io::Error::other("the sink did not start within 10 s")),
            }
        }
        None => None,
    };

    let threads = cfg.threads.clamp(1, tx::MAX_THREADS);
    let cfg = Arc::new(cfg);
    let mut senders = Vec::new();
    for index in 0..threads {
        let cfg = Arc::clone(&cfg);
        let netns = tx_netns.clone();
        let share = tx::Share { index, of: threads };
        let spawned = std::thread::Builder::new()
            .name(format!("vsbench-tx{index}"))
            .spawn(move || {
                if let Some(ns) = netns.as_deref() {
                    sys::enter_netns(ns)?;
                }
                match cfg.mode {
                    tx::TxMode::Socket => tx::send(&cfg, share),
                    tx::TxMode::Xdp => xdptx::send(&cfg, share),
                }
            });
        match spawned {
            Ok(h) => senders.push(h),
            Err(e) => {
                // The threads already started stop by their own duration and count bounds;
                // the sink is told to stop below.
                stop.store(0, Ordering::Release);
                return Err(e);
            }
        }
    }
    let tx_result = senders
        .into_iter()
        .map(|h| {
            h.join()
                .map_err(|_| io::Error::other("a sender panicked"))
                .and_then(|r| r)
        })
        .collect::<io::Result<Vec<_>>>()
        .map(|parts| tx::TxReport::merge(&parts));
    let drain = sink.as_ref().map_or(Duration::ZERO, |(_, d)| *d);
    let end = sys::monotonic_ns().saturating_add(u64::try_from(drain.as_nanos()).unwrap_or(0));
    stop.store(end, Ordering::Release);
    let rx_report = match sink {
        Some((h, _)) => Some(
            h.join()
                .map_err(|_| io::Error::other("the sink panicked"))??,
        ),
        None => None,
    };
    Ok(RunReport {
        tx: tx_result?,
        rx: rx_report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Two namespaces joined by one veth pair, removed on drop (even when the test fails).
    struct VethPair {
        ns_a: String,
        ns_b: String,
    }

    impl VethPair {
        /// `test` tells apart the pairs of tests running at once in one process.
        fn new(test: char) -> Option<VethPair> {
            let tag = format!("vst{}{test}", std::process::id() % 100_000);
            let pair = VethPair {
                ns_a: format!("{tag}a"),
                ns_b: format!("{tag}b"),
            };
            let ip = |args: &[&str]| {
                Command::new("ip")
                    .args(args)
                    .status()
                    .is_ok_and(|s| s.success())
            };
            let ok = ip(&["netns", "add", &pair.ns_a])
                && ip(&["netns", "add", &pair.ns_b])
                && ip(&[
                    "link", "add", "vsx", "netns", &pair.ns_a, "type", "veth", "peer", "name",
                    "vsy", "netns", &pair.ns_b,
                ])
                && ip(&["-n", &pair.ns_a, "link", "set", "vsx", "up"])
                && ip(&["-n", &pair.ns_b, "link", "set", "vsy", "up"]);
            ok.then_some(pair)
        }
    }

    impl Drop for VethPair {
        fn drop(&mut self) {
            for ns in [&self.ns_a, &self.ns_b] {
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
        }
    }

    /// The generator and the sink agree over a bare veth pair: at a rate the pair sustains,
    /// every frame arrives, in order, with a latency, and the count bound is honoured.
    /// Needs root (namespaces); skipped, saying so, without it.
    #[test]
    fn every_frame_arrives_over_a_veth_pair() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root for network namespaces");
            return;
        }
        let Some(pair) = VethPair::new('s') else {
            panic!("cannot create namespaces and a veth pair");
        };
        let cfg = tx::TxConfig {
            iface: "vsx".into(),
            dst_mac: [2, 0x56, 0x53, 0x42, 0, 2],
            size: 128,
            flows: 100,
            rate: 20_000,
            duration: Duration::from_secs(10),
            count: 5_000,
            batch: 64,
            run_id: 42,
            threads: 1,
            cpus: Vec::new(),
            mode: tx::TxMode::Socket,
        };
        let rx = RxSide {
            netns: Some(pair.ns_b.clone()),
            iface: "vsy".into(),
            drain: Duration::from_millis(300),
            sample: None,
        };
        let report = run(Some(pair.ns_a.clone()), cfg, Some(rx)).unwrap_or_else(|e| panic!("{e}"));
        let sink = report
            .rx
            .as_ref()
            .unwrap_or_else(|| panic!("no sink report"));
        assert_eq!(
            report.tx.sent,
            5_000,
            "the count bound: {}",
            report.to_line()
        );
        assert_eq!(sink.received, 5_000, "{}", report.to_line());
        assert_eq!(sink.bytes, 5_000 * 128);
        assert_eq!(sink.out_of_order, 0);
        assert_eq!(sink.latency.len(), 5_000);
        assert!(report.loss_pct() == 0.0);
        // 5000 frames at 20k/s take about 250 ms: pacing works.
        assert!(report.tx.elapsed_ns > 200_000_000, "{}", report.to_line());
        let p50 = sink.latency.quantile(0.5).unwrap_or(u64::MAX);
        assert!(p50 < 100_000_000, "median latency {p50} ns");
    }

    /// The XDP sender and the XDP-counting sink over a bare veth pair (the sink's program makes
    /// the receiving veth take XDP frames): paced, every frame is counted once, with its
    /// bytes; one in 64 reaches the socket, in order, stamped with its own sequence number and
    /// a latency; and the count bound holds. Needs root and Linux 5.18+ (live frames).
    #[test]
    fn every_xdp_frame_arrives_over_a_veth_pair() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root for network namespaces and BPF");
            return;
        }
        let Some(pair) = VethPair::new('x') else {
            panic!("cannot create namespaces and a veth pair");
        };
        let cfg = tx::TxConfig {
            iface: "vsx".into(),
            dst_mac: [2, 0x56, 0x53, 0x42, 0, 2],
            size: 64,
            flows: 1000,
            rate: 50_000,
            duration: Duration::from_secs(10),
            count: 10_000,
            batch: 64,
            run_id: 43,
            threads: 1,
            cpus: Vec::new(),
            mode: tx::TxMode::Xdp,
        };
        let rx = RxSide {
            netns: Some(pair.ns_b.clone()),
            iface: "vsy".into(),
            drain: Duration::from_millis(300),
            sample: Some(64),
        };
        let report = run(Some(pair.ns_a.clone()), cfg, Some(rx)).unwrap_or_else(|e| panic!("{e}"));
        let sink = report
            .rx
            .as_ref()
            .unwrap_or_else(|| panic!("no sink report"));
        assert_eq!(report.tx.sent, 10_000, "{}", report.to_line());
        assert_eq!(sink.received, 10_000, "{}", report.to_line());
        assert_eq!(sink.bytes, 10_000 * 66, "{}", report.to_line());
        // The sample: sequence numbers 0, 64, ..., 9984. They are per frame (the sender's
        // counter), not one template's.
        assert_eq!(sink.sampled, 157, "{}", report.to_line());
        assert_eq!(sink.out_of_order, 0, "{}", report.to_line());
        assert_eq!(sink.latency.len(), 157);
        // 10 000 frames at 50k/s take about 200 ms: the XDP sender paces too.
        assert!(report.tx.elapsed_ns > 150_000_000, "{}", report.to_line());
    }
}
