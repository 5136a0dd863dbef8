//! Flow syntax: the action list after `actions=`.
//!
//! [`parse_actions`] reads Open vSwitch's action syntax (`output:2`, `mod_dl_src:...`,
//! `set_field:10.0.0.1->ip_dst`, `ct(commit,nat(src=10.0.0.1))`, ...) into [`Action`]s;
//! [`format_actions`] prints them exactly as `ovs-ofctl -O OpenFlow13 parse-flow` does.
//! The canonical text is the OpenFlow 1.3 form: `mod_dl_src:X` prints as `set_field:X->eth_src`,
//! a masked `set_field` as `load`s, `strip_vlan` as `pop_vlan`. Two forms depend on the rule's
//! match, and [`format_actions_for`] takes them from it: `mod_vlan_vid` / `mod_vlan_pcp` (which
//! push a tag on untagged packets, so they print as `push_vlan` and `set_field` where the match
//! does not guarantee a tag), and the names of the L4 port fields (`tcp_src`, `udp_src` or
//! `sctp_src`).
//!
//! # Grammar
//!
//! An action list is a comma-separated list of items, each a keyword followed by nothing, by
//! `:ARG` (or `=ARG`) running to the next comma outside parentheses, or by `(ARGS)`. A bare port
//! number is `output`. Errors point at the item that failed and say what was expected.

use crate::action::Action;
use crate::field::{Field, SubField};
use crate::syntax::SyntaxError;
use crate::Match;

mod ct;
mod format;
mod parse;

/// One comma-separated item of an action list (or of a parenthesized argument list).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Item<'a> {
    /// The keyword.
    pub key: &'a str,
    /// Byte offset of the keyword in the whole text.
    pub key_start: usize,
    /// The argument's byte range in the whole text, if any.
    pub arg: Option<(usize, usize)>,
    /// Whether the argument was written in parentheses.
    pub paren: bool,
}

impl Item<'_> {
    /// The argument text (empty without one).
    pub fn arg_str<'t>(&self, text: &'t str) -> &'t str {
        self.arg.and_then(|(s, e)| text.get(s..e)).unwrap_or("")
    }
}

/// Splits `text[start..end]` into items at commas outside parentheses.
pub(crate) fn split_items(
    text: &str,
    start: usize,
    end: usize,
) -> Result<Vec<Item<'_>>, SyntaxError> {
    let bytes = text.as_bytes();
    let end = end.min(text.len());
    let mut items = Vec::new();
    let mut i = start;
    let at = |i: usize| bytes.get(i).copied().unwrap_or(b',');
    loop {
        while i < end && (at(i) == b',' || at(i).is_ascii_whitespace()) {
            i += 1;
        }
        if i >= end {
            return Ok(items);
        }
        let key_start = i;
        while i < end && !matches!(at(i), b':' | b'=' | b'(' | b',') && !at(i).is_ascii_whitespace()
        {
            i += 1;
        }
        let key = text.get(key_start..i).unwrap_or("");
        if key.is_empty() {
            return Err(SyntaxError::at(text, key_start, "expected an action name"));
        }
        while i < end && at(i).is_ascii_whitespace() {
            i += 1;
        }
        let mut item = Item {
            key,
            key_start,
            arg: None,
            paren: false,
        };
        if i < end {
            match at(i) {
                b'(' => {
                    let close = matching_paren(text, i, end)?;
                    item.arg = Some((i + 1, close));
                    item.paren = true;
                    i = close + 1;
                }
                b':' | b'=' => {
                    let arg_start = i + 1;
                    let mut depth = 0usize;
                    i = arg_start;
                    while i < end {
                        match at(i) {
                            b'(' => depth += 1,
                            b')' if depth == 0 => {
                                return Err(SyntaxError::at(text, i, "unbalanced \")\""));
                            }
                            b')' => depth -= 1,
                            b',' if depth == 0 => break,
                            _ => {}
                        }
                        i += 1;
                    }
                    if depth != 0 {
                        return Err(SyntaxError::at(text, arg_start, "missing \")\""));
                    }
                    let mut arg_end = i;
                    while arg_end > arg_start && at(arg_end - 1).is_ascii_whitespace() {
                        arg_end -= 1;
                    }
                    item.arg = Some((arg_start, arg_end));
                }
                _ => {}
            }
        }
        while i < end && at(i).is_ascii_whitespace() {
            i += 1;
        }
        if i < end && at(i) != b',' {
            return Err(SyntaxError::at(
                text,
                i,
                format!("expected \",\" after action \"{key}\""),
            ));
        }
        items.push(item);
    }
}

/// The offset of the `)` that closes the `(` at `open`.
fn matching_paren(text: &str, open: usize, end: usize) -> Result<usize, SyntaxError> {
    let mut depth = 0usize;
    for (i, b) in text.as_bytes().iter().enumerate().take(end).skip(open) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err(SyntaxError::at(text, open, "missing \")\""))
}

/// Parses the action list that starts at byte `start` of the flow text `text` and runs to its
/// end. An empty list and `drop` both give no actions.
pub fn parse_actions(text: &str, start: usize) -> Result<Vec<Action>, SyntaxError> {
    parse::parse_list(text, start, text.len(), parse::Context::Top)
}

/// Formats `actions` as `ovs-ofctl -O OpenFlow13` prints them after `actions=` (`drop` when
/// empty) for a rule that matches every packet. Use [`format_actions_for`] when the rule's match
/// is known.
pub fn format_actions(actions: &[Action]) -> String {
    format_actions_for(actions, &Match::any())
}

/// Formats `actions` of a rule with match `m` as `ovs-ofctl -O OpenFlow13` prints them: L4 port
/// fields are named after the match's protocol (`udp_src` for a UDP match), and `mod_vlan_vid` /
/// `mod_vlan_pcp` print as `set_field` preceded by `push_vlan:0x8100` where the packet is not
/// known to carry a tag at that point (what they do at run time).
pub fn format_actions_for(actions: &[Action], m: &Match) -> String {
    format::format_list(actions, format::Ctx::of(m))
}

/// Parses a subfield `text[start..end]`: a field name (canonical, alias or NXM/OXM) followed by
/// `[]` (the whole field), `[N]` (one bit), `[A..B]` (bits A to B inclusive) or nothing (the
/// whole field).
pub fn parse_subfield(text: &str, start: usize, end: usize) -> Result<SubField, SyntaxError> {
    let s = text.get(start..end).unwrap_or("");
    let (name, range) = match s.find('[') {
        Some(i) => (s.get(..i).unwrap_or(""), s.get(i..)),
        None => (s, None),
    };
    let field = Field::from_name(name)
        .ok_or_else(|| SyntaxError::at(text, start, format!("unknown field \"{name}\"")))?;
    let width = field.bits();
    let whole = SubField::whole(field);
    let Some(range) = range else {
        return Ok(whole);
    };
    let roff = start + name.len();
    let inner = range
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| {
            SyntaxError::at(
                text,
                roff,
                format!("expected a bit range like [0..15] after {name}, found \"{range}\""),
            )
        })?;
    if inner.is_empty() {
        return Ok(whole);
    }
    let bad = || {
        SyntaxError::at(
            text,
            roff,
            format!("expected a bit range like [0..15] after {name}, found \"{range}\""),
        )
    };
    let (a, b) = match inner.split_once("..") {
        Some((a, b)) => (a, b),
        None => (inner, inner),
    };
    let a: u32 = a.parse().map_err(|_| bad())?;
    let b: u32 = b.parse().map_err(|_| bad())?;
    if a > b {
        return Err(SyntaxError::at(
            text,
            roff,
            format!("bit range {range}: start {a} is after end {b}"),
        ));
    }
    if b >= width {
        return Err(SyntaxError::at(
            text,
            roff,
            format!(
                "bit range {range}: ending bit {b} is not valid because {name} is only {width} bits wide"
            ),
        ));
    }
    Ok(SubField {
        field,
        ofs: a,
        n_bits: b - a + 1,
    })
}

#[cfg(test)]
mod tests;
