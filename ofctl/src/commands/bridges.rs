//! Bridges and ports: `add-br`, `del-br`, `add-port`, `del-port`, `show`.

use std::collections::HashMap;

use proto::v1;
use serde_json::{json, Value};

use super::connect::Conn;
use super::{CmdError, Format};
use crate::format::{json_text, mac, port_json, port_name};

/// `add-br BR`.
pub async fn add_br(conn: &Conn, bridge: &str) -> Result<String, CmdError> {
    conn.bridges()
        .add(v1::AddBridgeRequest {
            name: bridge.to_string(),
        })
        .await?;
    Ok(String::new())
}

/// `del-br BR`.
pub async fn del_br(conn: &Conn, bridge: &str) -> Result<String, CmdError> {
    conn.bridges()
        .delete(v1::DeleteBridgeRequest {
            name: bridge.to_string(),
        })
        .await?;
    Ok(String::new())
}

/// The `[type=T] [ofport=N] [key=value...]` arguments of `add-port`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortArgs {
    /// The port type (empty: the daemon's default, afxdp).
    pub kind: String,
    /// The requested OpenFlow port number.
    pub ofport: Option<u32>,
    /// Type-specific options.
    pub options: HashMap<String, String>,
}

/// Parses `add-port`'s trailing `key=value` words.
pub fn parse_port_args(words: &[String]) -> Result<PortArgs, CmdError> {
    let mut args = PortArgs::default();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(CmdError::new(format!(
                "\"{word}\": expected key=value (type=, ofport= or an option)"
            )));
        };
        if key.is_empty() {
            return Err(CmdError::new(format!("\"{word}\": empty key")));
        }
        match key {
            "type" => args.kind = value.to_string(),
            "ofport" => {
                let n: u32 = value.parse().map_err(|_| {
                    CmdError::new(format!("ofport={value}: expected a port number"))
                })?;
                args.ofport = Some(n);
            }
            _ => {
                if args
                    .options
                    .insert(key.to_string(), value.to_string())
                    .is_some()
                {
                    return Err(CmdError::new(format!("option {key} given twice")));
                }
            }
        }
    }
    Ok(args)
}

/// `add-port BR IFACE [type=T] [ofport=N] [key=value...]`: prints the port number; a port
/// recorded whose interface could not be opened is reported on the same line.
pub async fn add_port(
    conn: &Conn,
    bridge: &str,
    iface: &str,
    words: &[String],
) -> Result<String, CmdError> {
    let args = parse_port_args(words)?;
    let reply = conn
        .ports()
        .add(v1::AddPortRequest {
            bridge: bridge.to_string(),
            name: iface.to_string(),
            r#type: args.kind,
            options: args.options,
            ofport: args.ofport,
        })
        .await?
        .into_inner();
    if reply.error.is_empty() {
        Ok(format!("{iface}: ofport {}", reply.ofport))
    } else {
        Ok(format!(
            "{iface}: ofport {} (recorded, but not up: {})",
            reply.ofport, reply.error
        ))
    }
}

/// `del-port BR IFACE`.
pub async fn del_port(conn: &Conn, bridge: &str, iface: &str) -> Result<String, CmdError> {
    conn.ports()
        .delete(v1::DeletePortRequest {
            bridge: bridge.to_string(),
            name: iface.to_string(),
        })
        .await?;
    Ok(String::new())
}

/// `show`: every bridge with its ports.
pub async fn show(conn: &Conn, format: Format) -> Result<String, CmdError> {
    let reply = conn
        .bridges()
        .list(v1::ListBridgesRequest {})
        .await?
        .into_inner();
    Ok(match format {
        Format::Json => json_text(&Value::Array(
            reply.bridges.iter().map(bridge_json).collect(),
        )),
        Format::Text => reply
            .bridges
            .iter()
            .map(bridge_text)
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

fn bridge_json(b: &v1::BridgeInfo) -> Value {
    json!({
        "name": b.name,
        "flow_count": b.flow_count,
        "datapath_error": b.datapath_error,
        "ports": b.ports.iter().map(port_json).collect::<Vec<_>>(),
    })
}

/// A bridge and its ports, one port a line:
///
/// ```text
/// br0: 2 ports, 5 flows
///  1(veth0): afxdp, up, mtu 1500, mac 02:00:00:00:00:01: afxdp native, queue 0
///  2(veth1): afxdp, down: cannot open veth1: no such device
/// ```
pub fn bridge_text(b: &v1::BridgeInfo) -> String {
    let mut out = format!(
        "{}: {} port{}, {} flow{}",
        b.name,
        b.ports.len(),
        if b.ports.len() == 1 { "" } else { "s" },
        b.flow_count,
        if b.flow_count == 1 { "" } else { "s" }
    );
    if !b.datapath_error.is_empty() {
        out.push_str(&format!(" (datapath not running: {})", b.datapath_error));
    }
    let mut ports: Vec<&v1::PortInfo> = b.ports.iter().collect();
    ports.sort_by_key(|p| p.ofport);
    for p in ports {
        out.push_str(&format!(
            "\n {}: {}",
            port_name(p.ofport, &p.name),
            p.r#type
        ));
        let mut opts: Vec<String> = p.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !opts.is_empty() {
            opts.sort();
            out.push_str(&format!(" {{{}}}", opts.join(", ")));
        }
        if p.up {
            out.push_str(", up");
            if p.mtu != 0 {
                out.push_str(&format!(", mtu {}", p.mtu));
            }
            if let Some(m) = mac(&p.mac) {
                out.push_str(&format!(", mac {m}"));
            }
            if !p.description.is_empty() {
                out.push_str(&format!(": {}", p.description));
            }
        } else {
            out.push_str(", down");
            if !p.error.is_empty() {
                out.push_str(&format!(": {}", p.error));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn port_args_split_type_ofport_and_options() {
        let a = parse_port_args(&words(&["type=internal", "ofport=7", "xdp-mode=skb"]));
        let mut options = HashMap::new();
        options.insert("xdp-mode".to_string(), "skb".to_string());
        assert_eq!(
            a,
            Ok(PortArgs {
                kind: "internal".into(),
                ofport: Some(7),
                options
            })
        );
    }

    #[test]
    fn port_args_refuse_junk() {
        assert!(parse_port_args(&words(&["internal"])).is_err());
        assert!(parse_port_args(&words(&["ofport=x"])).is_err());
        assert!(parse_port_args(&words(&["a=1", "a=2"])).is_err());
        assert!(parse_port_args(&words(&["=1"])).is_err());
    }

    #[test]
    fn show_lists_ports_in_number_order() {
        let b = v1::BridgeInfo {
            name: "br0".into(),
            flow_count: 1,
            datapath_error: String::new(),
            ports: vec![
                v1::PortInfo {
                    name: "p2".into(),
                    ofport: 2,
                    r#type: "afxdp".into(),
                    error: "no such device".into(),
                    ..Default::default()
                },
                v1::PortInfo {
                    name: "p1".into(),
                    ofport: 1,
                    r#type: "internal".into(),
                    up: true,
                    mtu: 1500,
                    mac: vec![2, 0, 0, 0, 0, 1],
                    description: "tap p1".into(),
                    ..Default::default()
                },
            ],
        };
        assert_eq!(
            bridge_text(&b),
            "br0: 2 ports, 1 flow\n 1(p1): internal, up, mtu 1500, mac 02:00:00:00:00:01: tap p1\n 2(p2): afxdp, down: no such device"
        );
    }
}
