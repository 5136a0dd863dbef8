//! `trace BR FLOWSPEC` (the daemon's pipeline explanation) and `monitor BR` (a stream of
//! packet-in, flow-removed and port-status events).

use flowtable::extract::extract;
use flowtable::field::Prereq;
use flowtable::syntax::matches::format_match;
use flowtable::{Field, FlowKey, FlowMask, Match};
use proto::v1;
use serde_json::{json, Value};

use super::connect::Conn;
use super::{CmdError, Format};
use crate::format::{flow_json, flow_line, json_text, mac, port_json, port_name};

/// `trace BR FLOWSPEC`: the explanation in `ovs-appctl ofproto/trace` layout.
pub async fn trace(
    conn: &Conn,
    bridge: &str,
    spec: &str,
    format: Format,
) -> Result<String, CmdError> {
    let r = conn
        .trace()
        .trace(v1::TraceRequest {
            bridge: bridge.to_string(),
            input: Some(v1::trace_request::Input::Flow(spec.to_string())),
        })
        .await?
        .into_inner();
    Ok(match format {
        Format::Text => r.text.trim_end().to_string(),
        Format::Json => json_text(&json!({
            "flow": r.flow,
            "megaflow": r.megaflow,
            "datapath_actions": r.datapath_actions,
            "drop_reason": r.drop_reason,
            "text": r.text,
        })),
    })
}

/// `monitor BR`: prints every event as it arrives (one line each; one JSON object a line with
/// `--format json`) until interrupted, or until `count` events were printed.
pub async fn monitor(
    conn: &Conn,
    bridge: &str,
    count: Option<u64>,
    format: Format,
) -> Result<String, CmdError> {
    let mut stream = conn
        .watch()
        .watch(v1::WatchRequest {
            bridge: bridge.to_string(),
            packet_in: false,
            flow_removed: false,
            port_status: false,
        })
        .await?
        .into_inner();
    let mut seen = 0u64;
    while count.is_none_or(|c| seen < c) {
        let event = tokio::select! {
            e = stream.message() => e?,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(event) = event else {
            return Err(CmdError::new("the daemon closed the event stream"));
        };
        let line = match format {
            Format::Text => event_text(&event),
            Format::Json => serde_json::to_string(&event_json(&event)).unwrap_or_default(),
        };
        println!("{line}");
        seen += 1;
    }
    Ok(String::new())
}

/// The fields worth showing for a received packet: those whose prerequisites it meets, plus
/// the port and the Ethernet header. Aliases are skipped (each bit is shown once), except the
/// ARP addresses, which share `nw_src`/`nw_dst` but are only named `arp_spa`/`arp_tpa` in an
/// ARP packet.
fn packet_match(key: &FlowKey) -> Match {
    let exact = Match::new(*key, FlowMask::exact());
    let mut mask = FlowMask::none();
    for &field in Field::ALL {
        let shown_alias = matches!(field, Field::ArpSpa | Field::ArpTpa);
        if (field.is_alias() && !shown_alias) || !field.def().prereq.is_met_by(&exact) {
            continue;
        }
        let always = matches!(
            field,
            Field::InPort | Field::DlSrc | Field::DlDst | Field::DlType
        );
        if always || field.def().prereq != Prereq::None {
            field.set_all_bits(&mut mask);
        }
    }
    Match::new(*key, mask)
}

/// The flow of a packet-in frame in flow syntax, or why it could not be parsed.
fn frame_text(frame: &[u8], in_port: u32) -> String {
    match extract(frame, in_port) {
        Ok(key) => format_match(&packet_match(&key)),
        Err(e) => format!("unparsable frame: {e}"),
    }
}

/// One event on one line, e.g.
/// `br0 packet_in in_port=1 reason=no_match table=0 cookie=0x0 len=98: tcp,in_port=1,...`.
pub fn event_text(e: &v1::Event) -> String {
    let mut s = String::new();
    if e.lost > 0 {
        s.push_str(&format!("({} events lost) ", e.lost));
    }
    s.push_str(&e.bridge);
    match &e.event {
        Some(v1::event::Event::PacketIn(p)) => s.push_str(&format!(
            " packet_in in_port={} reason={} table={} cookie={:#x} len={}: {}",
            p.in_port,
            p.reason,
            p.table,
            p.cookie,
            p.frame.len(),
            frame_text(&p.frame, p.in_port)
        )),
        Some(v1::event::Event::FlowRemoved(r)) => {
            s.push_str(&format!(" flow_removed reason={}:", r.reason));
            if let Some(f) = &r.flow {
                s.push_str(&flow_line(f, true));
            }
        }
        Some(v1::event::Event::PortStatus(p)) => {
            let change = match p.change() {
                v1::port_status::Change::Added => "added",
                v1::port_status::Change::Deleted => "deleted",
                v1::port_status::Change::Modified => "modified",
                v1::port_status::Change::Unspecified => "changed",
            };
            s.push_str(&format!(" port_status {change}"));
            if let Some(port) = &p.port {
                s.push_str(&format!(
                    " {} {} {}",
                    port_name(port.ofport, &port.name),
                    port.r#type,
                    if port.up { "up" } else { "down" }
                ));
                if let Some(m) = mac(&port.mac) {
                    s.push_str(&format!(" mac {m}"));
                }
            }
        }
        None => s.push_str(" (unknown event)"),
    }
    s
}

fn event_json(e: &v1::Event) -> Value {
    let mut v = json!({"bridge": e.bridge, "time_unix_ms": e.time_unix_ms, "lost": e.lost});
    let (kind, body) = match &e.event {
        Some(v1::event::Event::PacketIn(p)) => (
            "packet_in",
            json!({"in_port": p.in_port, "reason": p.reason, "table": p.table,
                   "cookie": format!("{:#x}", p.cookie),
                   "frame": p.frame.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                   "flow": frame_text(&p.frame, p.in_port)}),
        ),
        Some(v1::event::Event::FlowRemoved(r)) => (
            "flow_removed",
            json!({"reason": r.reason, "flow": r.flow.as_ref().map(|f| flow_json(f, true))}),
        ),
        Some(v1::event::Event::PortStatus(p)) => (
            "port_status",
            json!({"change": p.change().as_str_name(), "port": p.port.as_ref().map(port_json)}),
        ),
        None => ("unknown", Value::Null),
    };
    if let Value::Object(o) = &mut v {
        o.insert(kind.to_string(), body);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_in_shows_the_packet_as_a_flow() {
        // An ARP request from 02:00:00:00:00:01 (10.0.0.1) for 10.0.0.2.
        let mut frame = vec![0xff; 6];
        frame.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        frame.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
        frame.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        let e = v1::Event {
            bridge: "br0".into(),
            time_unix_ms: 0,
            lost: 0,
            event: Some(v1::event::Event::PacketIn(v1::PacketIn {
                in_port: 1,
                reason: "no_match".into(),
                table: 0,
                cookie: 0,
                frame,
            })),
        };
        let text = event_text(&e);
        assert!(
            text.starts_with(
                "br0 packet_in in_port=1 reason=no_match table=0 cookie=0x0 len=42: arp,in_port=1,"
            ),
            "{text}"
        );
        assert!(text.contains("arp_spa=10.0.0.1,arp_tpa=10.0.0.2"), "{text}");
    }

    #[test]
    fn a_port_status_names_the_port() {
        let e = v1::Event {
            bridge: "br0".into(),
            lost: 2,
            event: Some(v1::event::Event::PortStatus(v1::PortStatus {
                change: v1::port_status::Change::Added.into(),
                port: Some(v1::PortInfo {
                    name: "p1".into(),
                    ofport: 1,
                    r#type: "internal".into(),
                    up: true,
                    ..Default::default()
                }),
            })),
            ..Default::default()
        };
        assert_eq!(
            event_text(&e),
            "(2 events lost) br0 port_status added 1(p1) internal up"
        );
        let j = event_json(&e);
        assert_eq!(
            j.pointer("/port_status/change"),
            Some(&json!("CHANGE_ADDED"))
        );
    }
}
