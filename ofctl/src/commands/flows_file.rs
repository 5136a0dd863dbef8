//! Reading a file of flows (`add-flows BR FILE`, `trace-offline FLOWS_FILE ...`): one flow per
//! line, `#` starts a comment line, blank lines are skipped, `-` is standard input.
//!
//! Errors name the line, and the column counted in the line as written (leading blanks
//! included), so an editor jumps to the right place.

use std::io::Read;

use flowtable::syntax;
use flowtable::syntax::flow::{parse_flow_mod, FlowCommand, FlowMod};

use super::CmdError;

/// One flow of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFlow {
    /// Line number in the file, from 1.
    pub line: usize,
    /// Number of characters of blank before the flow on its line.
    pub indent: usize,
    /// The flow text, trimmed.
    pub text: String,
}

impl FileFlow {
    /// `reason` for this flow: `line L, column C: ...` when the reason starts with
    /// `column C: ` (a column of the trimmed text), `line L: ...` otherwise.
    pub fn error(&self, reason: &str) -> CmdError {
        let with_column = reason.strip_prefix("column ").and_then(|rest| {
            let (col, msg) = rest.split_once(": ")?;
            let col: usize = col.parse().ok()?;
            Some(format!(
                "line {}, column {}: {msg}",
                self.line,
                col + self.indent
            ))
        });
        CmdError::new(with_column.unwrap_or_else(|| format!("line {}: {reason}", self.line)))
    }
}

/// Reads `path` (`-` for standard input) into a string.
pub fn read_source(path: &str) -> Result<String, CmdError> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CmdError::new(format!("standard input: {e}")))?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(|e| CmdError::new(format!("{path}: {e}")))
    }
}

/// The flows of `text` ([`flowtable::syntax::flow_lines`]: blank lines and `#` comments are
/// skipped).
pub fn flow_lines(text: &str) -> Vec<FileFlow> {
    syntax::flow_lines(text)
        .map(|f| FileFlow {
            line: f.number,
            indent: text
                .get(f.line_start..f.flow.start)
                .map_or(0, |s| s.chars().count()),
            text: text.get(f.flow).unwrap_or_default().to_string(),
        })
        .collect()
}

/// Whether `text` holds at least one flow line.
pub fn has_flows(text: &str) -> bool {
    syntax::flow_lines(text).next().is_some()
}

/// Parses every flow of `text` as a flow-mod of kind `command`; the first error names its line
/// and column.
pub fn parse_flows(text: &str, command: FlowCommand) -> Result<Vec<(FileFlow, FlowMod)>, CmdError> {
    flow_lines(text)
        .into_iter()
        .map(|flow| match parse_flow_mod(&flow.text, command) {
            Ok(fm) => Ok((flow, fm)),
            Err(e) => Err(flow.error(&e.to_string())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text =
            "# header\n\npriority=1,actions=drop\n   # indented comment\n  ip,actions=output:2\n";
        let flows = flow_lines(text);
        assert_eq!(
            flows,
            vec![
                FileFlow {
                    line: 3,
                    indent: 0,
                    text: "priority=1,actions=drop".into()
                },
                FileFlow {
                    line: 5,
                    indent: 2,
                    text: "ip,actions=output:2".into()
                },
            ]
        );
    }

    #[test]
    fn an_error_names_the_line_and_the_column_as_written() {
        let text = "priority=1,actions=drop\n\n  ip,nw_dst=10.0.0.1/33,actions=drop\n";
        let err = parse_flows(text, FlowCommand::Add)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("line 3, column 13: expected an IPv4 address or prefix, found \"10.0.0.1/33\"")
        );
    }

    #[test]
    fn reasons_without_a_column_name_the_line() {
        let f = FileFlow {
            line: 4,
            indent: 1,
            text: String::new(),
        };
        assert_eq!(
            f.error("table 255 is out of range").to_string(),
            "line 4: table 255 is out of range"
        );
    }
}
