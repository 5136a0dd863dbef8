//! `xdpfwd`: the benchmark's ceiling. Redirects every frame between two interfaces of the
//! current network namespace with an XDP program on each (see `tests::bench::xdpfwd`), until
//! it is killed or `--seconds` have passed; the programs go with the process.
//!
//! ```text
//! xdpfwd veth-a veth-b            # forward both ways; prints "ready" once attached
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tests::bench::xdpfwd::XdpForward;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "xdpfwd",
    about = "Redirect frames between two interfaces in XDP (the benchmark's ceiling)"
)]
struct Args {
    /// One interface.
    a: String,
    /// The other.
    b: String,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 3600)]
    seconds: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let fwd = match XdpForward::attach(&args.a, &args.b) {
        Ok(fwd) => fwd,
        Err(e) => {
            eprintln!("xdpfwd: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("ready");
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs(args.seconds));
    drop(fwd);
    ExitCode::SUCCESS
}
