//! Open vSwitch's flow syntax: parsing and canonical formatting.
//!
//! The canonical text of a flow is exactly what `ovs-ofctl -O OpenFlow13 parse-flow FLOW` prints
//! after `ADD `. Errors carry the 1-based column (in characters of the whole flow text) where the
//! problem starts, and say what was expected.

use std::fmt;
use std::ops::Range;

pub mod actions;
pub mod flow;
pub mod matches;
pub mod value;

/// One flow of a flow file: a line that is neither blank nor a `#` comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLine {
    /// Line number, from 1.
    pub number: usize,
    /// Byte offset in the text where the line starts.
    pub line_start: usize,
    /// Byte range of the flow in the text: the line, trimmed.
    pub flow: Range<usize>,
}

/// The flows of a flow file's `text`, one a line, skipping blank lines and lines whose first
/// non-blank character is `#`. `ofctl add-flows` and the daemon's `Bundles.Commit`
/// (`add_flows_text`) both number flows this way, so a failing flow's index names its line.
pub fn flow_lines(text: &str) -> impl Iterator<Item = FlowLine> + '_ {
    let mut line_start = 0;
    text.split_inclusive('\n')
        .enumerate()
        .filter_map(move |(i, raw)| {
            let start = line_start;
            line_start += raw.len();
            let lead = raw.len() - raw.trim_start().len();
            let flow = start + lead..start + raw.trim_end().len();
            let is_flow = text
                .get(flow.clone())
                .is_some_and(|t| !t.is_empty() && !t.starts_with('#'));
            is_flow.then_some(FlowLine {
                number: i + 1,
                line_start: start,
                flow,
            })
        })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_lines_skip_blanks_and_comments_and_trim() {
        let text =
            "# header\r\n\r\n  ip,actions=drop \r\n   \n\t# indented comment\ntcp,actions=output:1";
        let flows: Vec<(usize, &str, usize)> = flow_lines(text)
            .map(|f| {
                let flow = text.get(f.flow.clone()).unwrap_or("?");
                (f.number, flow, f.flow.start - f.line_start)
            })
            .collect();
        assert_eq!(
            flows,
            [(3, "ip,actions=drop", 2), (6, "tcp,actions=output:1", 0)]
        );
        assert_eq!(flow_lines("").count(), 0);
        assert_eq!(flow_lines("\n \n#x\n").count(), 0);
    }
}
