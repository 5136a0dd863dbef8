//! Text and JSON forms of what the daemon returns.
//!
//! [`flow_line`] prints a flow exactly as `ovs-ofctl dump-flows` prints one (its default
//! OpenFlow 1.0 + Nicira extension layout, checked against Open vSwitch 3.1):
//!
//! ```text
//!  cookie=0x0, duration=1.234s, table=0, n_packets=3, n_bytes=294, idle_age=0, priority=10,ip actions=output:2
//! ```
//!
//! With statistics, `cookie`, `duration`, `table`, `n_packets`, `n_bytes` and `idle_age` are
//! always present; `idle_timeout` and `hard_timeout` only when not zero. Without statistics
//! (`--no-stats`) `cookie` and `table` are printed only when not zero. The priority is left out
//! when it is the default 32768, and the match is followed by a space only when something was
//! printed. The duration is seconds with the fraction's trailing zeros removed (`2.4s`, `3s`).
//! Every line starts with one space, as in `ovs-ofctl`.

use proto::v1;
use serde_json::{json, Value};

/// The priority `ovs-ofctl` leaves out.
const DEFAULT_PRIORITY: u32 = 32768;

/// `ms` milliseconds as `ovs-ofctl` prints a duration: `1.234s`, `2.4s`, `3s`.
pub fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    let frac = ms % 1000;
    if frac == 0 {
        return format!("{secs}s");
    }
    let digits = format!("{frac:03}");
    format!("{secs}.{}s", digits.trim_end_matches('0'))
}

/// The match with its priority, as `ovs-ofctl` prints it: `priority=10,ip`, `priority=0`, `ip`
/// (default priority) or nothing.
pub fn match_with_priority(priority: u32, match_text: &str) -> String {
    let mut parts: Vec<String> = Vec::with_capacity(2);
    if priority != DEFAULT_PRIORITY {
        parts.push(format!("priority={priority}"));
    }
    if !match_text.is_empty() {
        parts.push(match_text.to_string());
    }
    parts.join(",")
}

/// One line of `dump-flows` (without the final newline).
pub fn flow_line(f: &v1::FlowEntry, stats: bool) -> String {
    let mut s = String::from(" ");
    if stats || f.cookie != 0 {
        s.push_str(&format!("cookie={:#x}, ", f.cookie));
    }
    if stats {
        s.push_str(&format!("duration={}, ", duration(f.duration_ms)));
    }
    if stats || f.table != 0 {
        s.push_str(&format!("table={}, ", f.table));
    }
    if stats {
        s.push_str(&format!(
            "n_packets={}, n_bytes={}, ",
            f.packet_count, f.byte_count
        ));
    }
    if f.idle_timeout != 0 {
        s.push_str(&format!("idle_timeout={}, ", f.idle_timeout));
    }
    if f.hard_timeout != 0 {
        s.push_str(&format!("hard_timeout={}, ", f.hard_timeout));
    }
    if stats {
        s.push_str(&format!("idle_age={}, ", f.idle_age_ms / 1000));
    }
    let m = match_with_priority(f.priority, &f.match_text);
    if !m.is_empty() {
        s.push_str(&m);
        s.push(' ');
    }
    s.push_str("actions=");
    s.push_str(if f.actions_text.is_empty() {
        "drop"
    } else {
        &f.actions_text
    });
    s
}

/// A flow as a JSON object.
pub fn flow_json(f: &v1::FlowEntry, stats: bool) -> Value {
    let flags = f.flags.unwrap_or_default();
    let mut v = json!({
        "table": f.table,
        "priority": f.priority,
        "cookie": format!("{:#x}", f.cookie),
        "idle_timeout": f.idle_timeout,
        "hard_timeout": f.hard_timeout,
        "importance": f.importance,
        "flags": {
            "send_flow_rem": flags.send_flow_rem,
            "check_overlap": flags.check_overlap,
            "reset_counts": flags.reset_counts,
            "no_packet_counts": flags.no_packet_counts,
            "no_byte_counts": flags.no_byte_counts,
        },
        "match": f.match_text,
        "actions": f.actions_text,
        "text": f.text,
    });
    if stats {
        if let Value::Object(o) = &mut v {
            o.insert("duration_ms".into(), json!(f.duration_ms));
            o.insert("n_packets".into(), json!(f.packet_count));
            o.insert("n_bytes".into(), json!(f.byte_count));
            o.insert("idle_age_ms".into(), json!(f.idle_age_ms));
        }
    }
    v
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`, or `None` when it is not 6 bytes.
pub fn mac(bytes: &[u8]) -> Option<String> {
    (bytes.len() == 6).then(|| {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}

/// A port as `1(veth0)`.
pub fn port_name(ofport: u32, name: &str) -> String {
    format!("{ofport}({name})")
}

/// A port's description as a JSON object.
pub fn port_json(p: &v1::PortInfo) -> Value {
    json!({
        "name": p.name,
        "ofport": p.ofport,
        "type": p.r#type,
        "options": p.options,
        "up": p.up,
        "error": p.error,
        "description": p.description,
        "mac": mac(&p.mac),
        "mtu": p.mtu,
    })
}

/// Pretty JSON text of `v` (serialising a `Value` cannot fail; an empty string if it did).
pub fn json_text(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> v1::FlowEntry {
        v1::FlowEntry {
            table: 0,
            priority: 10,
            cookie: 0,
            duration_ms: 1234,
            packet_count: 3,
            byte_count: 294,
            idle_age_ms: 400,
            match_text: "ip".into(),
            actions_text: "output:2".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_line_is_ovs_ofctls() {
        assert_eq!(
            flow_line(&entry(), true),
            " cookie=0x0, duration=1.234s, table=0, n_packets=3, n_bytes=294, idle_age=0, priority=10,ip actions=output:2"
        );
    }

    #[test]
    fn timeouts_and_cookie_as_ovs_prints_them() {
        // ovs-ofctl 3.1 dump-flows of
        // "table=3,cookie=0x5,priority=7,idle_timeout=30,hard_timeout=60,tcp,tp_dst=80,actions=drop"
        let f = v1::FlowEntry {
            table: 3,
            priority: 7,
            cookie: 5,
            idle_timeout: 30,
            hard_timeout: 60,
            duration_ms: 124,
            match_text: "tcp,tp_dst=80".into(),
            actions_text: "drop".into(),
            ..Default::default()
        };
        assert_eq!(
            flow_line(&f, true),
            " cookie=0x5, duration=0.124s, table=3, n_packets=0, n_bytes=0, idle_timeout=30, hard_timeout=60, idle_age=0, priority=7,tcp,tp_dst=80 actions=drop"
        );
        assert_eq!(
            flow_line(&f, false),
            " cookie=0x5, table=3, idle_timeout=30, hard_timeout=60, priority=7,tcp,tp_dst=80 actions=drop"
        );
    }

    #[test]
    fn no_stats_leaves_out_zero_cookie_and_table() {
        assert_eq!(
            flow_line(&entry(), false),
            " priority=10,ip actions=output:2"
        );
        let f = v1::FlowEntry {
            table: 4,
            priority: 0,
            actions_text: "drop".into(),
            ..Default::default()
        };
        assert_eq!(flow_line(&f, false), " table=4, priority=0 actions=drop");
    }

    #[test]
    fn default_priority_and_empty_match_print_nothing() {
        let f = v1::FlowEntry {
            priority: DEFAULT_PRIORITY,
            actions_text: "NORMAL".into(),
            ..Default::default()
        };
        assert_eq!(flow_line(&f, false), " actions=NORMAL");
    }

    #[test]
    fn durations_drop_trailing_zeros() {
        assert_eq!(duration(2400), "2.4s");
        assert_eq!(duration(3000), "3s");
        assert_eq!(duration(7), "0.007s");
        assert_eq!(duration(0), "0s");
    }

    #[test]
    fn json_has_counters_only_with_stats() {
        let with = flow_json(&entry(), true);
        assert_eq!(with.get("n_packets"), Some(&json!(3)));
        let without = flow_json(&entry(), false);
        assert_eq!(without.get("n_packets"), None);
        assert_eq!(without.get("match"), Some(&json!("ip")));
    }
}
