//! `ofctl`: the command-line client of the switch, in the style of Open vSwitch's `ovs-ofctl`.
//!
//! Each subcommand is a variant of [`Command`] and a function that returns the text to print or
//! an error; `main` prints, and maps errors to `ofctl: MESSAGE` on standard error with exit
//! status 1. Offline commands (`parse-flow`) call `flowtable` directly and need no daemon.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flowtable::syntax::flow::parse_flow;

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
    /// `ovs-ofctl -O OpenFlow13 parse-flow` prints it after "ADD ".
    ParseFlow {
        /// The flow, e.g. "priority=10,ip,nw_dst=10.0.0.0/24,actions=output:2".
        flow: String,
    },
}

/// Runs one command, returning what to print on standard output.
fn run(command: &Command) -> Result<String, String> {
    match command {
        Command::ParseFlow { flow } => parse_flow(flow)
            .map(|fm| fm.to_string())
            .map_err(|e| e.to_string()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli.command) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            // One line, whatever the message: a caller may read the first line only.
            eprintln!("ofctl: {}", e.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_flow_prints_the_canonical_text() {
        let c = Command::ParseFlow {
            flow: "priority=10,ct_state=+trk+new,ip,actions=drop".into(),
        };
        assert_eq!(
            run(&c),
            Ok("priority=10,ct_state=+new+trk,ip actions=drop".into())
        );
    }

    #[test]
    fn parse_flow_errors_name_the_column() {
        let c = Command::ParseFlow {
            flow: "ip,nw_src=10.0.0.1/33,actions=drop".into(),
        };
        assert_eq!(
            run(&c),
            Err("column 11: expected an IPv4 address or prefix, found \"10.0.0.1/33\"".into())
        );
    }
}
