//! Open vSwitch's flow syntax: parsing and canonical formatting.
//!
//! The canonical text of a flow is exactly what `ovs-ofctl -O OpenFlow13 parse-flow FLOW` prints
//! after `ADD `. Errors carry the 1-based column (in characters of the whole flow text) where the
//! problem starts, and say what was expected.

use std::fmt;

pub mod actions;
pub mod flow;
pub mod matches;
pub mod value;

/// A flow text that could not be parsed: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based column in the flow text where the problem starts.
    pub column: usize,
    /// What was expected and what was found, e.g.
    /// `expected an IPv4 address or prefix, found "10.0.0.1/33"`.
    pub message: String,
}

impl SyntaxError {
    /// An error at the 0-based byte offset `offset` of `text`.
    pub fn at(text: &str, offset: usize, message: impl Into<String>) -> SyntaxError {
        let offset = offset.min(text.len());
        // Columns count characters, not bytes, so a non-ASCII flow text still points right.
        let column = text.get(..offset).map_or(offset, |s| s.chars().count()) + 1;
        SyntaxError {
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for SyntaxError {}
