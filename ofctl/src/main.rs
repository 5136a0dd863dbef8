//! `ofctl`: the command-line client of the switch, in the style of Open vSwitch's `ovs-ofctl`.
//!
//! Each subcommand is a variant of [`Command`] and a function in [`commands`] that returns the
//! text to print or an error; `main` prints, and maps errors to `ofctl: MESSAGE` on standard
//! error with exit status 1. Offline commands (`parse-flow`, `trace-offline`) call `flowtable`
//! directly and need no daemon.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

use commands::{offline, CmdError};

/// Command-line client of the switch, in the style of ovs-ofctl.
#[derive(Debug, Parser)]
#[command(name = "ofctl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Parse FLOW (Open vSwitch flow syntax) and print its canonical form, as
    /// `ovs-ofctl -O OpenFlow13 parse-flow` prints it after "ADD ". Offline.
    ParseFlow {
        /// The flow, e.g. "priority=10,ip,nw_dst=10.0.0.0/24,actions=output:2".
        flow: String,
    },
    /// Load the flows of FLOWS_FILE into empty tables and trace the packet FLOWSPEC through
    /// them: the rules hit, the datapath actions and the megaflow. Offline.
    TraceOffline {
        /// One flow per line, `#` comments, `-` for standard input.
        flows_file: String,
        /// The packet, e.g. "in_port=1,tcp,nw_dst=10.0.0.5,tp_dst=80".
        flowspec: String,
    },
}

/// Runs one command, returning what to print on standard output.
fn run(command: &Command) -> Result<String, CmdError> {
    match command {
        Command::ParseFlow { flow } => offline::parse_flow_cmd(flow),
        Command::TraceOffline {
            flows_file,
            flowspec,
        } => offline::trace_offline(flows_file, flowspec),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli.command) {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            // One line, whatever the message: a caller may read the first line only.
            eprintln!("ofctl: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
