//! Flow commands: `add-flow`, `add-flows`, `mod-flows`, `del-flows`, `dump-flows`.
//!
//! Flows travel as Open vSwitch text; the daemon parses them with the same `flowtable` code as
//! `parse-flow`, so a syntax error comes back as `column N: ...`. `add-flows` sends the whole
//! file as one bundle (all or nothing) and turns the bundle's failing index back into the line
//! of the file.

use prost::Message as _;
use proto::v1;
use serde_json::Value;

use flowtable::syntax::flow::{parse_flow_mod, FlowCommand, ALL_TABLES};
use flowtable::syntax::matches::format_match;

use super::connect::Conn;
use super::flows_file::{flow_lines, has_flows, read_source, FileFlow};
use super::{CmdError, Format};
use crate::format::{flow_json, flow_line, json_text};

fn text_spec(text: &str) -> Option<v1::FlowSpec> {
    Some(v1::FlowSpec {
        spec: Some(v1::flow_spec::Spec::Text(text.to_string())),
    })
}

/// `add-flow BR FLOW`.
pub async fn add_flow(conn: &Conn, bridge: &str, flow: &str) -> Result<String, CmdError> {
    conn.flows()
        .add(v1::AddFlowRequest {
            bridge: bridge.to_string(),
            flow: text_spec(flow),
        })
        .await?;
    Ok(String::new())
}

/// `add-flows BR FILE`: every flow of FILE in one bundle.
pub async fn add_flows(conn: &Conn, bridge: &str, file: &str) -> Result<String, CmdError> {
    let text = read_source(file)?;
    if !has_flows(&text) {
        return Ok(String::new());
    }
    // The file goes as it is, as one string rather than a message per flow (a bundle of
    // 100 000 flows is 6 MB of text either way, but one string is far cheaper to build,
    // encode and decode): the daemon skips blank and comment lines and trims as
    // `flow_lines` does, so an error's index maps back to the file's line and indent.
    let result = conn
        .bundles()
        .commit(v1::BundleRequest {
            bridge: bridge.to_string(),
            mods: Vec::new(),
            add_flows_text: text.clone(),
        })
        .await;
    match result {
        Ok(_) => Ok(String::new()),
        Err(status) => Err(bundle_error(&status, &flow_lines(&text))),
    }
}

/// The error of a refused bundle, naming the line (and column) of the failing flow.
fn bundle_error(status: &tonic::Status, flows: &[FileFlow]) -> CmdError {
    let failed = v1::BundleError::decode(status.details())
        .ok()
        .filter(|e| !e.reason.is_empty())
        .map(|e| (e.index, e.reason))
        .or_else(|| {
            // Without details: the message is "flow mod N: REASON".
            let rest = status.message().strip_prefix("flow mod ")?;
            let (n, reason) = rest.split_once(": ")?;
            Some((n.parse().ok()?, reason.to_string()))
        });
    let Some((index, reason)) = failed else {
        return CmdError::from(status.clone());
    };
    let Some(flow) = usize::try_from(index).ok().and_then(|i| flows.get(i)) else {
        return CmdError::from(status.clone());
    };
    flow.error(&reason)
}

/// `mod-flows [--strict] BR FLOW`.
pub async fn mod_flows(
    conn: &Conn,
    bridge: &str,
    flow: &str,
    strict: bool,
) -> Result<String, CmdError> {
    conn.flows()
        .modify(v1::ModifyFlowsRequest {
            bridge: bridge.to_string(),
            flow: text_spec(flow),
            strict,
        })
        .await?;
    Ok(String::new())
}

/// `del-flows [--strict] BR [FLOW]`.
pub async fn del_flows(
    conn: &Conn,
    bridge: &str,
    flow: Option<&str>,
    strict: bool,
) -> Result<String, CmdError> {
    conn.flows()
        .delete(v1::DeleteFlowsRequest {
            bridge: bridge.to_string(),
            flow: flow.and_then(text_spec),
            strict,
        })
        .await?;
    Ok(String::new())
}

/// The dump filter of `dump-flows BR FLOW`: `table=`, `cookie=V/M`, `out_port=` and a match.
pub fn dump_filter(bridge: &str, flow: Option<&str>) -> Result<v1::DumpFlowsRequest, CmdError> {
    let mut req = v1::DumpFlowsRequest {
        bridge: bridge.to_string(),
        ..Default::default()
    };
    let Some(text) = flow else {
        return Ok(req);
    };
    let fm = parse_flow_mod(text, FlowCommand::Delete).map_err(|e| CmdError::new(e.to_string()))?;
    req.table = fm.table.filter(|t| *t != ALL_TABLES).map(u32::from);
    req.cookie = fm.cookie;
    req.cookie_mask = fm.cookie_mask;
    req.out_port = fm.out_port.map(|p| v1::PortRef {
        port: Some(v1::port_ref::Port::Number(p.0)),
    });
    req.r#match = format_match(&fm.match_);
    Ok(req)
}

/// `dump-flows [--no-stats] BR [FLOW]`.
pub async fn dump_flows(
    conn: &Conn,
    bridge: &str,
    flow: Option<&str>,
    stats: bool,
    format: Format,
) -> Result<String, CmdError> {
    let req = dump_filter(bridge, flow)?;
    let mut stream = conn.flows().dump(req).await?.into_inner();
    let mut out = String::new();
    let mut json: Vec<Value> = Vec::new();
    while let Some(batch) = stream.message().await? {
        for f in &batch.flows {
            match format {
                Format::Text => {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(&flow_line(f, stats));
                }
                Format::Json => json.push(flow_json(f, stats)),
            }
        }
    }
    Ok(match format {
        Format::Text => out,
        Format::Json => json_text(&Value::Array(json)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dump_filter_splits_table_cookie_port_and_match() {
        let req = dump_filter(
            "br0",
            Some("table=2,cookie=0x10/0xf0,out_port=3,ip,nw_dst=10.0.0.0/8"),
        );
        let req = req.unwrap_or_default();
        assert_eq!(req.table, Some(2));
        assert_eq!((req.cookie, req.cookie_mask), (0x10, 0xf0));
        assert_eq!(
            req.out_port,
            Some(v1::PortRef {
                port: Some(v1::port_ref::Port::Number(3))
            })
        );
        assert_eq!(req.r#match, "ip,nw_dst=10.0.0.0/8");
    }

    #[test]
    fn an_empty_filter_selects_everything() {
        let req = dump_filter("br0", Some("table=255")).unwrap_or_default();
        assert_eq!((req.table, req.r#match.as_str()), (None, ""));
        let req = dump_filter("br0", None).unwrap_or_default();
        assert_eq!((req.bridge.as_str(), req.table), ("br0", None));
    }

    #[test]
    fn a_bad_filter_names_the_column() {
        let err = dump_filter("br0", Some("ip,nw_dst=1.2.3"))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("column 11: ")));
    }

    #[test]
    fn bundle_errors_name_the_line_and_column() {
        let flows = vec![
            FileFlow {
                line: 3,
                indent: 0,
                text: "ip,actions=drop".into(),
            },
            FileFlow {
                line: 9,
                indent: 2,
                text: "ip,nw_dst=1.2.3,actions=drop".into(),
            },
        ];
        let details = v1::BundleError {
            index: 1,
            reason: "column 4: expected an IPv4 address".into(),
        };
        let status = tonic::Status::with_details(
            tonic::Code::InvalidArgument,
            "flow mod 1: column 4: expected an IPv4 address",
            details.encode_to_vec().into(),
        );
        assert_eq!(
            bundle_error(&status, &flows).to_string(),
            "line 9, column 6: expected an IPv4 address"
        );
        let status = tonic::Status::invalid_argument("flow mod 0: table 255 is out of range");
        assert_eq!(
            bundle_error(&status, &flows).to_string(),
            "line 3: table 255 is out of range"
        );
        let status = tonic::Status::not_found("no bridge br9");
        assert_eq!(bundle_error(&status, &flows).to_string(), "no bridge br9");
    }
}
