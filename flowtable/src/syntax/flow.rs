//! Whole flows: `[table=T,][priority=P,][cookie=C,]...MATCH,actions=ACTIONS`, parsed into a
//! [`FlowMod`] and printed back exactly as `ovs-ofctl -O OpenFlow13 parse-flow` prints a flow
//! after `ADD ` ([`FlowMod`]'s `Display`).
//!
//! The text before `actions=` (or `action=`) is a list of items separated by commas or white
//! space: flow-mod keywords (`table`, `priority`, `cookie`, `idle_timeout`, `hard_timeout`,
//! `importance`, `send_flow_rem`, `check_overlap`, `reset_counts`, `no_packet_counts`,
//! `no_byte_counts`, and for modify/delete `out_port`, `out_group`) mixed in any order with
//! match items ([`super::matches`]). Everything after `actions=` is the action list
//! ([`super::actions`]).
//!
//! `idle:N` and `hard:N`, as the canonical text prints the timeouts, are accepted too, so that
//! every canonical text parses back to the same flow.
//!
//! Canonical text: `table:T ` (when not 0), then `priority=P,` (when not [`DEFAULT_PRIORITY`])
//! and the match, then `cookie:0x..`, `idle:N`, `hard:N`, the flags, and `actions=...`, separated
//! by spaces. `importance` is kept but not printed, since OpenFlow 1.3 cannot carry it and
//! `ovs-ofctl -O OpenFlow13` drops it.

use std::fmt;

use super::actions::{format_actions_for, parse_actions};
use super::matches::{split_items, MatchParser};
use super::value::{parse_number, parse_port};
use super::SyntaxError;
use crate::action::{normalize, validate, Action, OfPort};
use crate::Match;

/// The priority of a flow that does not give one.
pub const DEFAULT_PRIORITY: u16 = 32768;

/// The table number that means "all tables" (`OFPTT_ALL`); `table=255` is the same as no table.
pub const ALL_TABLES: u8 = 255;

/// What a flow-mod does with the flows it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowCommand {
    /// Add a flow (`add-flow`).
    Add,
    /// Change the actions of matching flows (`mod-flows`).
    Modify,
    /// Remove matching flows (`del-flows`).
    Delete,
}

/// The OpenFlow flow-mod flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlowModFlags {
    /// Tell the controller when the flow is removed.
    pub send_flow_rem: bool,
    /// Refuse to add a flow that overlaps one of equal priority.
    pub check_overlap: bool,
    /// Reset the counters of a modified flow.
    pub reset_counts: bool,
    /// Do not count packets.
    pub no_packet_counts: bool,
    /// Do not count bytes.
    pub no_byte_counts: bool,
}

impl FlowModFlags {
    /// The keywords of the flags that are set, in the order `ovs-ofctl` prints them.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        let FlowModFlags {
            send_flow_rem,
            check_overlap,
            reset_counts,
            no_packet_counts,
            no_byte_counts,
        } = self;
        [
            (send_flow_rem, "send_flow_rem"),
            (check_overlap, "check_overlap"),
            (reset_counts, "reset_counts"),
            (no_packet_counts, "no_packet_counts"),
            (no_byte_counts, "no_byte_counts"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
    }
}

/// One flow table modification, as a line of `ovs-ofctl add-flow`/`mod-flows`/`del-flows`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowMod {
    /// Add, modify or delete.
    pub command: FlowCommand,
    /// The table; `None` when not given (table 0 for add, every table for modify/delete).
    pub table: Option<u8>,
    /// Priority (higher wins).
    pub priority: u16,
    /// The cookie (for modify/delete with a mask: the cookie to select by).
    pub cookie: u64,
    /// For modify/delete: which cookie bits must equal `cookie` (0 = any cookie).
    pub cookie_mask: u64,
    /// Seconds without a hit after which the flow expires (0 = never).
    pub idle_timeout: u16,
    /// Seconds after which the flow expires regardless (0 = never).
    pub hard_timeout: u16,
    /// Eviction importance (OpenFlow 1.4).
    pub importance: u16,
    /// Flow-mod flags.
    pub flags: FlowModFlags,
    /// For modify/delete: only flows that output to this port.
    pub out_port: Option<OfPort>,
    /// For modify/delete: only flows that output to this group.
    pub out_group: Option<u32>,
    /// The packets the flow applies to.
    pub match_: Match,
    /// What the flow does (empty for delete, and for `actions=drop`).
    pub actions: Vec<Action>,
}

/// Parses a flow for `add-flow`.
pub fn parse_flow(text: &str) -> Result<FlowMod, SyntaxError> {
    parse_flow_mod(text, FlowCommand::Add)
}

/// Where `actions=` (or `action=`) starts and where its value starts, if present: the first
/// occurrence at the start of an item.
fn find_actions(text: &str) -> Option<(usize, usize)> {
    let mut search = 0;
    while let Some(i) = text.get(search..).and_then(|s| s.find("action")) {
        let at = search + i;
        let item_start = at == 0
            || text
                .get(..at)
                .and_then(|s| s.chars().next_back())
                .is_some_and(|c| c == ',' || c.is_whitespace());
        let rest = text.get(at..).unwrap_or("");
        let key_len = if rest.starts_with("actions") { 7 } else { 6 };
        let after = rest.get(key_len..).unwrap_or("");
        let trimmed = after.trim_start();
        if item_start && (trimmed.starts_with('=') || trimmed.starts_with(':')) {
            let value = at + key_len + (after.len() - trimmed.len()) + 1;
            return Some((at, value));
        }
        search = at + 6;
    }
    None
}

/// Parses a flow-mod of kind `command`.
///
/// Add and modify need `actions=`; delete must not have it. `cookie=V/M`, `out_port` and
/// `out_group` are only for modify and delete.
pub fn parse_flow_mod(text: &str, command: FlowCommand) -> Result<FlowMod, SyntaxError> {
    let actions_at = find_actions(text);
    let match_end = actions_at.map_or(text.len(), |(a, _)| a);
    let mut fm = FlowMod {
        command,
        table: None,
        priority: DEFAULT_PRIORITY,
        cookie: 0,
        cookie_mask: 0,
        idle_timeout: 0,
        hard_timeout: 0,
        importance: 0,
        flags: FlowModFlags::default(),
        out_port: None,
        out_group: None,
        match_: Match::any(),
        actions: Vec::new(),
    };
    let mut parser = MatchParser::new(text);
    for item in split_items(text, 0, match_end) {
        let value = item.value.map(|(s, e)| (s, text.get(s..e).unwrap_or("")));
        let flag = |fm: &mut FlowMod, set: fn(&mut FlowModFlags)| match value {
            None => {
                set(&mut fm.flags);
                Ok(())
            }
            Some((vs, _)) => Err(SyntaxError::at(
                text,
                vs,
                format!("{} is a flag and takes no value", item.name),
            )),
        };
        let need = |what: &str| {
            value.ok_or_else(|| {
                SyntaxError::at(
                    text,
                    item.name_start,
                    format!("{} needs a value: expected {what}", item.name),
                )
            })
        };
        let number = |what: &str, max: u128| -> Result<u128, SyntaxError> {
            let (vs, s) = need(what)?;
            parse_number(s)
                .filter(|&n| n <= max)
                .ok_or_else(|| SyntaxError::at(text, vs, format!("expected {what}, found \"{s}\"")))
        };
        let modify_or_delete = |what: &str| {
            if command == FlowCommand::Add {
                Err(SyntaxError::at(
                    text,
                    item.name_start,
                    format!("{what} is only valid when modifying or deleting flows"),
                ))
            } else {
                Ok(())
            }
        };
        match item.name {
            "table" => {
                let (vs, s) = need("a table number")?;
                let t = s
                    .parse::<u8>()
                    .ok()
                    .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        SyntaxError::at(
                            text,
                            vs,
                            format!("expected a table number (0 to 255), found \"{s}\""),
                        )
                    })?;
                fm.table = (t != ALL_TABLES).then_some(t);
            }
            "priority" => fm.priority = to_u16(number("a priority (0 to 65535)", 0xffff)?),
            // `idle` and `hard` are how the canonical text prints the timeouts: accepting them
            // lets that text be parsed back.
            "idle_timeout" | "idle" => {
                fm.idle_timeout = to_u16(number("a timeout in seconds (0 to 65535)", 0xffff)?)
            }
            "hard_timeout" | "hard" => {
                fm.hard_timeout = to_u16(number("a timeout in seconds (0 to 65535)", 0xffff)?)
            }
            "importance" => fm.importance = to_u16(number("an importance (0 to 65535)", 0xffff)?),
            "cookie" => {
                let (vs, s) = need("a cookie")?;
                let bad = || {
                    SyntaxError::at(
                        text,
                        vs,
                        format!("expected a 64-bit cookie with an optional /mask, found \"{s}\""),
                    )
                };
                let (c, m) = s.split_once('/').map_or((s, None), |(c, m)| (c, Some(m)));
                let c = parse_number(c).and_then(|c| u64::try_from(c).ok());
                fm.cookie = c.ok_or_else(bad)?;
                if let Some(m) = m {
                    if command == FlowCommand::Add {
                        return Err(SyntaxError::at(
                            text,
                            vs,
                            "a cookie mask is only valid when modifying or deleting flows",
                        ));
                    }
                    let m = parse_number(m).and_then(|m| u64::try_from(m).ok());
                    fm.cookie_mask = m.ok_or_else(bad)?;
                } else if fm.cookie == u64::MAX {
                    // OpenFlow reserves all-ones ("no cookie"); ovs-ofctl accepts it for a
                    // new flow and then loses it. A rule cannot carry it: refuse it.
                    return Err(SyntaxError::at(
                        text,
                        vs,
                        "cookie 0xffffffffffffffff is reserved by OpenFlow; a flow cannot have it",
                    ));
                }
            }
            "out_port" => {
                modify_or_delete("out_port")?;
                let (vs, s) = need("a port")?;
                fm.out_port = Some(parse_port(s).ok_or_else(|| {
                    SyntaxError::at(
                        text,
                        vs,
                        format!("expected a port number or a port name, found \"{s}\""),
                    )
                })?);
            }
            "out_group" => {
                modify_or_delete("out_group")?;
                let g = number("a group number", u128::from(u32::MAX))?;
                fm.out_group = Some(u32::try_from(g).unwrap_or(u32::MAX));
            }
            "send_flow_rem" => flag(&mut fm, |f| f.send_flow_rem = true)?,
            "check_overlap" => flag(&mut fm, |f| f.check_overlap = true)?,
            "reset_counts" => flag(&mut fm, |f| f.reset_counts = true)?,
            "no_packet_counts" => flag(&mut fm, |f| f.no_packet_counts = true)?,
            "no_byte_counts" => flag(&mut fm, |f| f.no_byte_counts = true)?,
            _ => parser.item(item)?,
        }
    }
    fm.match_ = parser.finish()?;
    match (command, actions_at) {
        (FlowCommand::Delete, Some((at, _))) => {
            return Err(SyntaxError::at(
                text,
                at,
                "actions are not allowed when deleting flows",
            ));
        }
        (FlowCommand::Delete, None) => {}
        (_, None) => {
            return Err(SyntaxError::at(
                text,
                text.len(),
                "expected \"actions=\" (use \"actions=drop\" to drop)",
            ));
        }
        (_, Some((_, start))) => {
            let mut actions = parse_actions(text, start)?;
            normalize(&mut actions, &fm.match_);
            validate(&actions, &fm.match_, fm.table.unwrap_or(0))
                .map_err(|e| SyntaxError::at(text, start, e.to_string()))?;
            fm.actions = actions;
        }
    }
    Ok(fm)
}

/// Narrows a number already checked to be at most `0xffff`.
fn to_u16(n: u128) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

impl fmt::Display for FlowMod {
    /// The canonical text, exactly as `ovs-ofctl -O OpenFlow13 parse-flow` prints it after
    /// `ADD ` (for modify and delete: the same form, with `out_port`/`out_group` and a cookie
    /// mask where given, and no actions for delete).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(t) = self.table.filter(|&t| t != 0) {
            parts.push(format!("table:{t}"));
        }
        let m = super::matches::format_match(&self.match_);
        let head = match (self.priority != DEFAULT_PRIORITY, m.is_empty()) {
            (true, true) => format!("priority={}", self.priority),
            (true, false) => format!("priority={},{m}", self.priority),
            (false, _) => m,
        };
        if !head.is_empty() {
            parts.push(head);
        }
        // All-ones is OpenFlow's "no cookie" value, which ovs-ofctl does not print.
        if self.cookie != 0 && self.cookie != u64::MAX || self.cookie_mask != 0 {
            if self.cookie_mask == 0 || self.command == FlowCommand::Add {
                parts.push(format!("cookie:{:#x}", self.cookie));
            } else {
                parts.push(format!("cookie:{:#x}/{:#x}", self.cookie, self.cookie_mask));
            }
        }
        if self.idle_timeout != 0 {
            parts.push(format!("idle:{}", self.idle_timeout));
        }
        if self.hard_timeout != 0 {
            parts.push(format!("hard:{}", self.hard_timeout));
        }
        parts.extend(self.flags.names().map(String::from));
        if let Some(p) = self.out_port {
            parts.push(format!("out_port:{p}"));
        }
        if let Some(g) = self.out_group {
            parts.push(format!("out_group:{g}"));
        }
        if self.command != FlowCommand::Delete {
            parts.push(format!(
                "actions={}",
                format_actions_for(&self.actions, &self.match_)
            ));
        }
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(s: &str) -> String {
        match parse_flow(s) {
            Ok(fm) => fm.to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn canonical_text() {
        assert_eq!(round("priority=32768,actions=drop"), "actions=drop");
        assert_eq!(
            round("table=0,priority=0,actions=drop"),
            "priority=0 actions=drop"
        );
        assert_eq!(round("table:1,ip,actions="), "table:1 ip actions=drop");
        assert_eq!(
            round("ip nw_src=1.1.1.1 action=drop"),
            "ip,nw_src=1.1.1.1 actions=drop"
        );
        assert_eq!(
            round("tcp,cookie=0x5,hard_timeout=6,idle_timeout=5,check_overlap,send_flow_rem,actions=drop"),
            "tcp cookie:0x5 idle:5 hard:6 send_flow_rem check_overlap actions=drop"
        );
    }

    #[test]
    fn command_rules() {
        assert!(parse_flow("ip").is_err());
        assert!(parse_flow("cookie=1/1,actions=drop").is_err());
        assert!(parse_flow("out_port=1,actions=drop").is_err());
        let d = parse_flow_mod("cookie=0x1/0xff,out_port=2,ip", FlowCommand::Delete);
        let d = d.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.to_string(), "ip cookie:0x1/0xff out_port:2");
        assert!(parse_flow_mod("ip,actions=drop", FlowCommand::Delete).is_err());
    }
}
