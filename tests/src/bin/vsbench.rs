//! `vsbench`: sends timestamped UDP frames from one network namespace and counts what arrives
//! in another; prints offered and delivered packets per second, loss and one-way latency
//! percentiles on one `key=value` line. See `tests::bench` for how it works.
//!
//! ```text
//! vsbench --tx-netns gen --tx-iface g0 --rx-netns sink --rx-iface s0 --size 64 --flows 1000 \
//!         --duration 5            # flat out for 5 s
//! vsbench ... --rate 200000       # at 200k frames/s
//! vsbench --tx-iface g0 ...       # only send (no --rx-iface): the generator's own ceiling
//! vsbench ... --threads 2 --tx-cpus 0,1   # two sending threads, pinned
//! vsbench ... --tx-mode xdp       # the kernel builds the frames (XDP, no socket buffers)
//! vsbench ... --sink socket       # count every frame in the socket (default: an XDP counter)
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tests::bench::{self, tx, tx::TxConfig, RxSide};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "vsbench",
    about = "UDP traffic generator and sink for switch benchmarks"
)]
struct Args {
    /// Network namespace of the sender (as `ip netns` names it).
    #[arg(long)]
    tx_netns: Option<String>,
    /// Interface to send on.
    #[arg(long)]
    tx_iface: String,
    /// Network namespace of the sink.
    #[arg(long)]
    rx_netns: Option<String>,
    /// Interface to receive on; without it, only send.
    #[arg(long)]
    rx_iface: Option<String>,
    /// Destination MAC of the frames (default: a locally administered address no interface
    /// has, so the sink's host stack drops the frames at once).
    #[arg(long, default_value = "02:56:53:42:00:02", value_parser = parse_mac)]
    dst_mac: [u8; 6],
    /// Frame size in bytes (64..=1514; below 66 is rounded up to fit the probe).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Number of flows (distinct source address and ports), 1..=65536.
    #[arg(long, default_value_t = 1)]
    flows: u32,
    /// Target rate in frames per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seconds to send.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Maximum number of frames to send.
    #[arg(long, default_value_t = 1_000_000_000)]
    count: u64,
    /// Frames per sendmmsg call.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Sending threads (1..=8), each with its own socket and share of the rate and flows.
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// CPUs to pin the sending threads to, comma separated (thread t on the t-th, round robin).
    #[arg(long, value_delimiter = ',')]
    tx_cpus: Vec<usize>,
    /// How to send: `socket` (AF_PACKET, sendmmsg) or `xdp` (the kernel builds the frames with
    /// an XDP program in BPF_PROG_RUN live-frame mode; the peer must accept XDP frames: an XDP
    /// program attached, or GRO on).
    #[arg(long, default_value = "socket", value_parser = parse_mode)]
    tx_mode: tx::TxMode,
    /// How the sink counts: `xdp` (an XDP program on the sink's interface counts the run's
    /// frames and drops them, passing one in `--sample` to the socket for latency and order)
    /// or `socket` (an `AF_PACKET` socket receives and counts every frame).
    #[arg(long, default_value = "xdp", value_parser = ["xdp", "socket"])]
    sink: String,
    /// With `--sink xdp`: one frame in this many (a power of two, 1..=256) reaches the socket.
    #[arg(long, default_value_t = 64)]
    sample: u32,
    /// Milliseconds the sink keeps counting after the sender stops.
    #[arg(long, default_value_t = 500)]
    drain_ms: u64,
}

fn parse_mode(s: &str) -> Result<tx::TxMode, String> {
    match s {
        "socket" => Ok(tx::TxMode::Socket),
        "xdp" => Ok(tx::TxMode::Xdp),
        _ => Err(format!("{s}: socket or xdp")),
    }
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        let p = parts
            .next()
            .ok_or_else(|| format!("{s}: a MAC has 6 bytes"))?;
        *b = u8::from_str_radix(p, 16).map_err(|_| format!("{s}: bad byte {p:?}"))?;
    }
    if parts.next().is_some() {
        return Err(format!("{s}: a MAC has 6 bytes"));
    }
    Ok(mac)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        eprintln!("vsbench: --duration must be in (0, 3600] seconds");
        return ExitCode::FAILURE;
    }
    if args.tx_mode == tx::TxMode::Xdp && args.threads > 1 {
        eprintln!("vsbench: --tx-mode xdp sends from one thread (see tests::bench::xdptx)");
        return ExitCode::FAILURE;
    }
    if !(1..=tx::MAX_THREADS).contains(&args.threads) {
        eprintln!("vsbench: --threads must be in 1..={}", tx::MAX_THREADS);
        return ExitCode::FAILURE;
    }
    // A run id from the clock: frames of an earlier run still queued somewhere are ignored.
    let run_id =
        u32::try_from((bench::sys::monotonic_ns() / 1000) & u64::from(u32::MAX)).unwrap_or(0);
    let cfg = TxConfig {
        iface: args.tx_iface,
        dst_mac: args.dst_mac,
        size: args.size,
        flows: args.flows,
        rate: args.rate,
        duration: Duration::from_secs_f64(args.duration),
        count: args.count,
        batch: args.batch,
        run_id,
        threads: args.threads,
        cpus: args.tx_cpus,
        mode: args.tx_mode,
    };
    let rx = args.rx_iface.map(|iface| RxSide {
        netns: args.rx_netns,
        iface,
        drain: Duration::from_millis(args.drain_ms.min(10_000)),
        sample: (args.sink == "xdp").then_some(args.sample),
    });
    let header = format!(
        "size={} flows={} rate={} threads={}",
        args.size, args.flows, args.rate, args.threads
    );
    match bench::run(args.tx_netns, cfg, rx) {
        Ok(report) => {
            println!("{header} {}", report.to_line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vsbench: {e}");
            ExitCode::FAILURE
        }
    }
}
