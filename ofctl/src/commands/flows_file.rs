//! Reading a file of flows (`add-flows BR FILE`, `trace-offline FLOWS_FILE ...`): one flow per
//! line, `#` starts a comment line, blank lines are skipped, `-` is standard input.
//!
//! Every line is parsed before anything is sent, so a syntax error anywhere names its line and
//! column and nothing reaches the switch.

use std::io::Read;

use flowtable::syntax::flow::{parse_flow_mod, FlowCommand, FlowMod};

use super::CmdError;

/// One flow of a file, with its 1-based line number and its text.
#[derive(Clone, Debug)]
pub struct FileFlow {
    /// Line number in the file, from 1.
    pub line: usize,
    /// The flow text, trimmed.
    pub text: String,
}

/// Reads `path` (`-` for standard input) into a string.
pub fn read_source(path: &str) -> Result<String, CmdError> {
    let mut text = String::new();
    if path == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CmdError::new(format!("standard input: {e}")))?;
    } else {
        text = std::fs::read_to_string(path).map_err(|e| CmdError::new(format!("{path}: {e}")))?;
    }
    Ok(text)
}

/// Parses every flow of `text` as a flow-mod of kind `command`; the first error names the line
/// and the column (counted in the line as written, leading blanks included).
pub fn parse_flows(text: &str, command: FlowCommand) -> Result<Vec<(FileFlow, FlowMod)>, CmdError> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                return None;
            }
            let indent = raw.len() - raw.trim_start().len();
            let flow = FileFlow {
                line: i + 1,
                text: t.to_string(),
            };
            Some(match parse_flow_mod(t, command) {
                Ok(fm) => Ok((flow, fm)),
                Err(e) => Err(CmdError::new(format!(
                    "line {}, column {}: {}",
                    i + 1,
                    e.column + indent,
                    e.message
                ))),
            })
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
        let flows = parse_flows(text, FlowCommand::Add).unwrap_or_default();
        let numbers: Vec<usize> = flows.iter().map(|(f, _)| f.line).collect();
        assert_eq!(numbers, vec![3, 5]);
        assert_eq!(
            flows.get(1).map(|(f, _)| f.text.as_str()),
            Some("ip,actions=output:2")
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
    fn good_flows_keep_their_line_numbers() {
        let text = "#c\npriority=5,tcp,actions=drop\n";
        let flows = parse_flows(text, FlowCommand::Add).unwrap_or_default();
        assert_eq!(flows.len(), 1);
        assert_eq!(
            flows.first().map(|(f, fm)| (f.line, fm.priority)),
            Some((2, 5))
        );
    }
}
