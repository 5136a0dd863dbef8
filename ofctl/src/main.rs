//! `ofctl`: the command-line client of the switch, in the style of Open vSwitch's `ovs-ofctl`.
//!
//! Each subcommand is a variant of [`Command`] and a function in [`commands`] that returns the
//! text to print or an error; `main` prints, and maps errors to one line `ofctl: MESSAGE` on
//! standard error with exit status 1. Offline commands (`parse-flow`, `trace-offline`,
//! `completions`) need no daemon; the others talk to vswitchd over its gRPC API, on the Unix
//! socket (default `/run/vswitch/vswitchd.sock`) or a TCP server with TLS and/or a token.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod commands;
mod format;

use commands::connect::{Conn, Target};
use commands::{bridges, events, flows, offline, stats, CmdError, Format};

/// Command-line client of the switch, in the style of ovs-ofctl.
#[derive(Debug, Parser)]
#[command(name = "ofctl", version, about)]
struct Cli {
    /// vswitchd's Unix socket.
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "server")]
    socket: Option<PathBuf>,
    /// vswitchd's TCP listener instead of the socket, e.g. https://host:6640.
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
    /// Bearer token for --server.
    #[arg(long, global = true, value_name = "T", requires = "server")]
    token: Option<String>,
    /// PEM file of the CA that signed the server's certificate.
    #[arg(long, global = true, value_name = "FILE", requires = "server")]
    tls_ca: Option<PathBuf>,
    /// PEM file of the client certificate.
    #[arg(long, global = true, value_name = "FILE", requires_all = ["server", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// PEM file of the client key.
    #[arg(long, global = true, value_name = "FILE", requires_all = ["server", "tls_cert"])]
    tls_key: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Create bridge BR (no ports, empty tables).
    AddBr {
        /// Bridge name.
        bridge: String,
    },
    /// Delete bridge BR with its ports and flows.
    DelBr {
        /// Bridge name.
        bridge: String,
    },
    /// Add interface IFACE to BR as the next port number (or ofport=N).
    AddPort {
        /// Bridge name.
        bridge: String,
        /// Interface name.
        iface: String,
        /// type=afxdp|internal|afpacket|vxlan, ofport=N, and type options as key=value
        /// (e.g. xdp-mode=skb, queue=0).
        #[arg(value_name = "KEY=VALUE")]
        args: Vec<String>,
    },
    /// Remove interface IFACE from BR.
    DelPort {
        /// Bridge name.
        bridge: String,
        /// Interface name.
        iface: String,
    },
    /// Show every bridge and its ports.
    Show {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Add one flow to BR.
    AddFlow {
        /// Bridge name.
        bridge: String,
        /// The flow, e.g. "priority=10,ip,actions=output:2".
        flow: String,
    },
    /// Add every flow of FILE (one a line, `#` comments, `-` for stdin) to BR in one bundle:
    /// all or nothing.
    AddFlows {
        /// Bridge name.
        bridge: String,
        /// The file of flows.
        file: String,
    },
    /// Change the actions of the flows FLOW selects.
    ModFlows {
        /// Select by exact match and priority.
        #[arg(long)]
        strict: bool,
        /// Bridge name.
        bridge: String,
        /// The selection and the new actions, e.g. "ip,nw_dst=10.0.0.0/8,actions=drop".
        flow: String,
    },
    /// Delete the flows FLOW selects (all flows without FLOW).
    DelFlows {
        /// Select by exact match and priority.
        #[arg(long)]
        strict: bool,
        /// Bridge name.
        bridge: String,
        /// The selection, e.g. "table=1,ip" or "cookie=0x5/-1".
        flow: Option<String>,
    },
    /// Print BR's flows (those FLOW selects) in ovs-ofctl's layout.
    DumpFlows {
        /// Leave out the counters and durations.
        #[arg(long)]
        no_stats: bool,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Bridge name.
        bridge: String,
        /// The selection: table=, cookie=V/M, out_port= and a match.
        flow: Option<String>,
    },
    /// Print the packet counters of BR's ports.
    DumpPorts {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Bridge name.
        bridge: String,
    },
    /// Print the flow count and counters of BR's tables.
    DumpTables {
        /// Include the tables without flows.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Bridge name.
        bridge: String,
    },
    /// Print the datapath's megaflow cache (every bridge without BR).
    DumpMegaflows {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Bridge name.
        bridge: Option<String>,
    },
    /// Print the drop counters by reason (every bridge without BR).
    DumpDrops {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Bridge name.
        bridge: Option<String>,
    },
    /// Print the connection tracker's entries.
    DumpConntrack {
        /// Only this zone.
        #[arg(long)]
        zone: Option<u32>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Bridge name.
        bridge: Option<String>,
    },
    /// Explain what BR's pipeline does with the packet FLOWSPEC.
    Trace {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Bridge name.
        bridge: String,
        /// The packet, e.g. "in_port=1,tcp,nw_dst=10.0.0.5,tp_dst=80".
        flowspec: String,
    },
    /// Print BR's events (packet-in, flow removed, port status) as they happen.
    Monitor {
        /// Exit after this many events.
        #[arg(long)]
        count: Option<u64>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Bridge name (default: every bridge).
        bridge: Option<String>,
    },
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
    /// Print the completion script for SHELL.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

impl Cli {
    fn target(&self) -> Target {
        Target {
            socket: self.socket.clone(),
            server: self.server.clone(),
            token: self.token.clone(),
            tls_ca: self.tls_ca.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
        }
    }
}

/// Runs a command that needs no daemon; `None` for the others.
fn run_offline(command: &Command) -> Option<Result<String, CmdError>> {
    Some(match command {
        Command::ParseFlow { flow } => offline::parse_flow_cmd(flow),
        Command::TraceOffline {
            flows_file,
            flowspec,
        } => offline::trace_offline(flows_file, flowspec),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "ofctl", &mut out);
            Ok(String::from_utf8_lossy(&out).trim_end().to_string())
        }
        _ => return None,
    })
}

/// Runs a command against the daemon.
async fn run_online(target: &Target, command: &Command) -> Result<String, CmdError> {
    let conn = Conn::open(target).await?;
    let c = &conn;
    match command {
        Command::AddBr { bridge } => bridges::add_br(c, bridge).await,
        Command::DelBr { bridge } => bridges::del_br(c, bridge).await,
        Command::AddPort {
            bridge,
            iface,
            args,
        } => bridges::add_port(c, bridge, iface, args).await,
        Command::DelPort { bridge, iface } => bridges::del_port(c, bridge, iface).await,
        Command::Show { format } => bridges::show(c, *format).await,
        Command::AddFlow { bridge, flow } => flows::add_flow(c, bridge, flow).await,
        Command::AddFlows { bridge, file } => flows::add_flows(c, bridge, file).await,
        Command::ModFlows {
            strict,
            bridge,
            flow,
        } => flows::mod_flows(c, bridge, flow, *strict).await,
        Command::DelFlows {
            strict,
            bridge,
            flow,
        } => flows::del_flows(c, bridge, flow.as_deref(), *strict).await,
        Command::DumpFlows {
            no_stats,
            format,
            bridge,
            flow,
        } => flows::dump_flows(c, bridge, flow.as_deref(), !no_stats, *format).await,
        Command::DumpPorts { format, bridge } => stats::dump_ports(c, bridge, *format).await,
        Command::DumpTables {
            all,
            format,
            bridge,
        } => stats::dump_tables(c, bridge, *all, *format).await,
        Command::DumpMegaflows { format, bridge } => {
            stats::dump_megaflows(c, bridge.as_deref(), *format).await
        }
        Command::DumpDrops { format, bridge } => {
            stats::dump_drops(c, bridge.as_deref(), *format).await
        }
        Command::DumpConntrack {
            zone,
            format,
            bridge,
        } => stats::dump_conntrack(c, bridge.as_deref(), *zone, *format).await,
        Command::Trace {
            format,
            bridge,
            flowspec,
        } => events::trace(c, bridge, flowspec, *format).await,
        Command::Monitor {
            count,
            format,
            bridge,
        } => events::monitor(c, bridge.as_deref().unwrap_or_default(), *count, *format).await,
        Command::ParseFlow { .. } | Command::TraceOffline { .. } | Command::Completions { .. } => {
            run_offline(command).unwrap_or_else(|| Err(CmdError::new("not an offline command")))
        }
    }
}

fn run(cli: &Cli) -> Result<String, CmdError> {
    if let Some(result) = run_offline(&cli.command) {
        return result;
    }
    // One thread is plenty for one request at a time, and starts fastest.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CmdError::new(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(run_online(&cli.target(), &cli.command))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = Cli::try_parse_from([
            "ofctl",
            "dump-flows",
            "br0",
            "--socket",
            "/tmp/s",
            "--no-stats",
        ]);
        let cli = cli.map_err(|e| e.to_string());
        assert!(
            matches!(&cli, Ok(Cli { socket: Some(p), command: Command::DumpFlows { no_stats: true, .. }, .. }) if p.as_os_str() == "/tmp/s"),
            "{cli:?}"
        );
    }

    #[test]
    fn completions_are_offline() {
        let out = run_offline(&Command::Completions {
            shell: clap_complete::Shell::Bash,
        });
        assert!(out.is_some_and(|o| o.is_ok_and(|s| s.contains("add-flows"))));
    }
}
