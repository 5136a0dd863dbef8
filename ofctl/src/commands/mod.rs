//! One module per group of subcommands. Each command is a function that returns the text to
//! print (without the final newline) or a [`CmdError`], so `main` alone deals with standard
//! output, standard error and the exit status.

use std::fmt;

pub mod flows_file;
pub mod offline;

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
