//! One module per group of subcommands. Each command is a function that returns the text to
//! print (without the final newline) or a [`CmdError`], so `main` alone deals with standard
//! output, standard error and the exit status.

use std::fmt;

pub mod bridges;
pub mod connect;
pub mod events;
pub mod flows;
pub mod flows_file;
pub mod offline;
pub mod stats;

/// How dump commands print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Open vSwitch-style text.
    #[default]
    Text,
    /// Pretty-printed JSON (for `monitor`: one object a line).
    Json,
}

/// Why a command failed: one line, printed by `main` as `ofctl: MESSAGE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdError(String);

impl CmdError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> CmdError {
        CmdError(message.into())
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CmdError {}

impl From<tonic::Status> for CmdError {
    /// The daemon's reason; for a failure on the client's side of the connection (refused
    /// TLS handshake, connection lost) the transport's chain of causes, which says more than
    /// the status alone; the gRPC code's description when there is nothing else.
    fn from(s: tonic::Status) -> CmdError {
        let message = s.message().trim();
        if let Some(cause) = std::error::Error::source(&s) {
            return CmdError::new(format!(
                "connection to the daemon failed: {}",
                connect::source_text(cause)
            ));
        }
        if message.is_empty() {
            CmdError::new(s.code().description())
        } else if s.code() == tonic::Code::Unavailable {
            CmdError::new(format!("{}: {message}", s.code().description()))
        } else {
            CmdError::new(message)
        }
    }
}
