//! Counters and caches: `dump-ports`, `dump-tables`, `dump-megaflows`, `dump-drops`,
//! `dump-conntrack`. Each prints text modelled on the matching Open vSwitch command, or JSON
//! with `--format json`.

use proto::v1;
use serde_json::{json, Value};

use super::connect::Conn;
use super::{CmdError, Format};
use crate::format::{json_text, port_name};

/// `dump-ports BR`:
///
/// ```text
///   port  1(veth0): rx pkts=10, bytes=980, drop=0, errs=0
///                   tx pkts=9, bytes=882, drop=0, errs=0
/// ```
pub async fn dump_ports(conn: &Conn, bridge: &str, format: Format) -> Result<String, CmdError> {
    let mut ports = conn
        .ports()
        .stats(v1::PortStatsRequest {
            bridge: bridge.to_string(),
            port: String::new(),
        })
        .await?
        .into_inner()
        .ports;
    ports.sort_by_key(|p| p.ofport);
    Ok(match format {
        Format::Json => json_text(&Value::Array(
            ports
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name, "ofport": p.ofport,
                        "rx_packets": p.rx_packets, "rx_bytes": p.rx_bytes,
                        "rx_dropped": p.rx_dropped, "rx_errors": p.rx_errors,
                        "tx_packets": p.tx_packets, "tx_bytes": p.tx_bytes,
                        "tx_dropped": p.tx_dropped, "tx_errors": p.tx_errors,
                    })
                })
                .collect(),
        )),
        Format::Text => ports
            .iter()
            .map(port_stats_text)
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

fn port_stats_text(p: &v1::PortStats) -> String {
    let head = format!("  port {:>2}: ", port_name(p.ofport, &p.name));
    format!(
        "{head}rx pkts={}, bytes={}, drop={}, errs={}\n{:width$}tx pkts={}, bytes={}, drop={}, errs={}",
        p.rx_packets,
        p.rx_bytes,
        p.rx_dropped,
        p.rx_errors,
        "",
        p.tx_packets,
        p.tx_bytes,
        p.tx_dropped,
        p.tx_errors,
        width = head.len()
    )
}

/// `dump-tables BR`: the tables that have flows (`--all`: every table).
pub async fn dump_tables(
    conn: &Conn,
    bridge: &str,
    all: bool,
    format: Format,
) -> Result<String, CmdError> {
    let tables = conn
        .tables()
        .stats(v1::TableStatsRequest {
            bridge: bridge.to_string(),
            all,
        })
        .await?
        .into_inner()
        .tables;
    Ok(match format {
        Format::Json => json_text(&Value::Array(
            tables
                .iter()
                .map(|t| {
                    json!({"table": t.table, "active": t.active_count,
                           "n_packets": t.packet_count, "n_bytes": t.byte_count})
                })
                .collect(),
        )),
        Format::Text => tables
            .iter()
            .map(|t| {
                format!(
                    "  table {}: active={}, n_packets={}, n_bytes={}",
                    t.table, t.active_count, t.packet_count, t.byte_count
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

/// `dump-megaflows [BR]`: the datapath's cached megaflows in `ovs-dpctl dump-flows` layout; the
/// bridge is named first on each line when no bridge is given.
pub async fn dump_megaflows(
    conn: &Conn,
    bridge: Option<&str>,
    format: Format,
) -> Result<String, CmdError> {
    let megaflows = conn
        .megaflows()
        .dump(v1::DumpMegaflowsRequest {
            bridge: bridge.unwrap_or_default().to_string(),
        })
        .await?
        .into_inner()
        .megaflows;
    Ok(match format {
        Format::Json => json_text(&Value::Array(
            megaflows
                .iter()
                .map(|m| {
                    json!({"bridge": m.bridge, "match": m.r#match, "actions": m.actions,
                           "packets": m.packets, "bytes": m.bytes, "used_ms": m.used_ms,
                           "offloaded_packets": m.offloaded_packets,
                           "offloaded_keys": m.offloaded_keys})
                })
                .collect(),
        )),
        Format::Text => megaflows
            .iter()
            .map(|m| match bridge {
                Some(_) => m.line.clone(),
                None => format!("{}: {}", m.bridge, m.line),
            })
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

/// `dump-drops [BR]`: every drop counter, zero ones included, one `BRIDGE REASON COUNT` a line
/// with the columns aligned.
pub async fn dump_drops(
    conn: &Conn,
    bridge: Option<&str>,
    format: Format,
) -> Result<String, CmdError> {
    let drops = conn
        .drops()
        .get(v1::GetDropsRequest {
            bridge: bridge.unwrap_or_default().to_string(),
        })
        .await?
        .into_inner()
        .drops;
    Ok(match format {
        Format::Json => json_text(&Value::Array(
            drops
                .iter()
                .map(|d| json!({"bridge": d.bridge, "reason": d.reason, "count": d.count}))
                .collect(),
        )),
        Format::Text => {
            let bw = drops.iter().map(|d| d.bridge.len()).max().unwrap_or(0);
            let rw = drops.iter().map(|d| d.reason.len()).max().unwrap_or(0);
            drops
                .iter()
                .map(|d| format!("{:bw$}  {:rw$}  {}", d.bridge, d.reason, d.count))
                .collect::<Vec<_>>()
                .join("\n")
        }
    })
}

/// `dump-conntrack [BR] [--zone N]`: the connection tracker's entries.
pub async fn dump_conntrack(
    conn: &Conn,
    bridge: Option<&str>,
    zone: Option<u32>,
    format: Format,
) -> Result<String, CmdError> {
    let entries = conn
        .conntrack()
        .dump(v1::DumpConntrackRequest {
            bridge: bridge.unwrap_or_default().to_string(),
            zone,
        })
        .await?
        .into_inner()
        .entries;
    Ok(match format {
        Format::Json => json_text(&Value::Array(
            entries
                .iter()
                .map(|e| {
                    json!({
                        "zone": e.zone, "protocol": e.protocol,
                        "orig": {"src": e.orig_src, "dst": e.orig_dst,
                                 "sport": e.orig_src_port, "dport": e.orig_dst_port},
                        "reply": {"src": e.reply_src, "dst": e.reply_dst,
                                  "sport": e.reply_src_port, "dport": e.reply_dst_port},
                        "state": e.state, "mark": e.mark,
                        "label": e.label.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                    })
                })
                .collect(),
        )),
        Format::Text => entries
            .iter()
            .map(|e| e.line.clone())
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_stats_lines_align_rx_and_tx() {
        let p = v1::PortStats {
            name: "veth0".into(),
            ofport: 1,
            rx_packets: 10,
            rx_bytes: 980,
            tx_packets: 9,
            tx_bytes: 882,
            ..Default::default()
        };
        assert_eq!(
            port_stats_text(&p),
            "  port 1(veth0): rx pkts=10, bytes=980, drop=0, errs=0\n                 tx pkts=9, bytes=882, drop=0, errs=0"
        );
    }
}
