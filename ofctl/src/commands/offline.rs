//! Commands that need no daemon: `parse-flow` and `trace-offline`. They call `flowtable`
//! directly, so they show exactly what the switch would do with the same text.

use flowtable::pipeline::{trace, RecircIds};
use flowtable::syntax::flow::{parse_flow, FlowCommand};
use flowtable::syntax::matches::parse_packet_spec;
use flowtable::table::Tables;

use super::flows_file::{parse_flows, read_source};
use super::CmdError;

/// `parse-flow FLOW`: the canonical text of one flow, as `ovs-ofctl -O OpenFlow13 parse-flow`
/// prints it after `ADD `.
pub fn parse_flow_cmd(flow: &str) -> Result<String, CmdError> {
    parse_flow(flow)
        .map(|fm| fm.to_string())
        .map_err(|e| CmdError::new(e.to_string()))
}

/// `trace-offline FLOWS_FILE FLOWSPEC`: loads the flows of `flows_file` into fresh tables (as
/// one bundle would) and traces the packet `spec` through them, as if on bridge `br0`.
pub fn trace_offline(flows_file: &str, spec: &str) -> Result<String, CmdError> {
    let text = read_source(flows_file)?;
    let flows = parse_flows(&text, FlowCommand::Add)?;
    let mut tables = Tables::new();
    for (flow, fm) in &flows {
        tables
            .apply(fm, false, 0)
            .map_err(|e| CmdError::new(format!("line {}: {e}", flow.line)))?;
    }
    let key = parse_packet_spec(spec).map_err(|e| CmdError::new(format!("flow spec: {e}")))?;
    let out = trace(&tables, &RecircIds::new(), &key).render("br0");
    Ok(out.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_flow_prints_the_canonical_text() {
        assert_eq!(
            parse_flow_cmd("priority=10,ct_state=+trk+new,ip,actions=drop").ok(),
            Some("priority=10,ct_state=+new+trk,ip actions=drop".into())
        );
    }

    #[test]
    fn parse_flow_errors_name_the_column() {
        assert_eq!(
            parse_flow_cmd("ip,nw_src=10.0.0.1/33,actions=drop")
                .err()
                .map(|e| e.to_string()),
            Some("column 11: expected an IPv4 address or prefix, found \"10.0.0.1/33\"".into())
        );
    }

    fn temp_file(name: &str, body: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("ofctl-test-{}-{name}", std::process::id()));
        let written = std::fs::write(&path, body);
        assert!(written.is_ok(), "cannot write {}", path.display());
        path
    }

    #[test]
    fn trace_offline_follows_the_flows() {
        let path = temp_file(
            "trace.flows",
            "table=0,priority=10,ip,actions=goto_table:1\ntable=1,priority=5,ip,nw_dst=10.0.0.5,actions=output:3\n",
        );
        let out = trace_offline(&path.to_string_lossy(), "in_port=1,ip,nw_dst=10.0.0.5");
        let _ = std::fs::remove_file(&path);
        let out = out.unwrap_or_else(|e| e.to_string());
        assert!(
            out.contains("\n 1. ip,nw_dst=10.0.0.5, priority 5\n"),
            "{out}"
        );
        assert!(out.ends_with("Datapath actions: 3"), "{out}");
    }

    #[test]
    fn trace_offline_refuses_an_overlap_with_the_line() {
        let path = temp_file(
            "bad.flows",
            "# x\npriority=5,ip,actions=drop\npriority=5,check_overlap,tcp,actions=drop\n",
        );
        let out = trace_offline(&path.to_string_lossy(), "in_port=1");
        let _ = std::fs::remove_file(&path);
        let msg = out.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            msg,
            "line 3: flow overlaps an existing flow at priority 5 in table 0"
        );
    }
}
