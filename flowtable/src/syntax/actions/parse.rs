//! Parsing of each action keyword.

use super::{ct, parse_subfield, split_items, Item};
use crate::action::{masked_set_field, pad_note, Action, Controller, ControllerReason, OfPort};
use crate::ethertype;
use crate::field::Field;
use crate::syntax::value::{parse_number, parse_value};
use crate::syntax::SyntaxError;

/// Where an action list appears, which decides what it may contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    /// The rule's own list: actions and instructions.
    Top,
    /// Inside `clone(...)` or `write_actions(...)`: actions only.
    Nested,
}

/// Parses the items of `text[start..end]`.
pub(crate) fn parse_list(
    text: &str,
    start: usize,
    end: usize,
    ctx: Context,
) -> Result<Vec<Action>, SyntaxError> {
    let items = split_items(text, start, end)?;
    let mut out = Vec::new();
    let mut drop_at = None;
    for item in &items {
        if item.key.eq_ignore_ascii_case("drop") && item.arg.is_none() {
            drop_at = Some(item.key_start);
            continue;
        }
        parse_item(text, item, ctx, &mut out)?;
    }
    if let Some(at) = drop_at {
        if items.len() > 1 {
            return Err(SyntaxError::at(
                text,
                at,
                "\"drop\" must not be accompanied by any other action or instruction",
            ));
        }
    }
    Ok(out)
}

/// A required argument's text and start offset.
fn need_arg<'t>(
    text: &'t str,
    item: &Item<'_>,
    what: &str,
) -> Result<(&'t str, usize), SyntaxError> {
    match item.arg {
        Some((s, e)) if e > s => Ok((text.get(s..e).unwrap_or(""), s)),
        _ => Err(SyntaxError::at(
            text,
            item.key_start + item.key.len(),
            format!("{} needs an argument: expected {what}", item.key),
        )),
    }
}

/// Parses an unsigned number argument no larger than `max`.
fn number(text: &str, s: &str, at: usize, what: &str, max: u128) -> Result<u128, SyntaxError> {
    match parse_number(s) {
        Some(n) if n <= max => Ok(n),
        Some(_) => Err(SyntaxError::at(
            text,
            at,
            format!("{what} {s} is out of range (at most {max})"),
        )),
        None => Err(SyntaxError::at(
            text,
            at,
            format!("expected {what}, found \"{s}\""),
        )),
    }
}

fn u8_arg(text: &str, s: &str, at: usize, what: &str, max: u8) -> Result<u8, SyntaxError> {
    let n = number(text, s, at, what, u128::from(max))?;
    Ok(u8::try_from(n).unwrap_or(max))
}

fn u16_arg(text: &str, s: &str, at: usize, what: &str, max: u16) -> Result<u16, SyntaxError> {
    let n = number(text, s, at, what, u128::from(max))?;
    Ok(u16::try_from(n).unwrap_or(max))
}

fn u32_arg(text: &str, s: &str, at: usize, what: &str) -> Result<u32, SyntaxError> {
    let n = number(text, s, at, what, u128::from(u32::MAX))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Parses a port: a reserved name (`LOCAL`, `in_port`, ...) or a decimal number. Reserved ports
/// may also be given by number, in OpenFlow 1.0's 16-bit form (`65534`) or OpenFlow 1.3's 32-bit
/// form (`4294967294`), as `ovs-ofctl` reads them; both mean the same [`OfPort`].
pub(crate) fn parse_port(text: &str, s: &str, at: usize) -> Result<OfPort, SyntaxError> {
    if let Some(p) = OfPort::from_name(s) {
        return Ok(p);
    }
    let err = || {
        SyntaxError::at(
            text,
            at,
            format!("expected a port number or name, found \"{s}\""),
        )
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let n: u32 = s.parse().map_err(|_| err())?;
    const OF13_RESERVED: u32 = 0xffff_0000;
    match n {
        0..=0xffff => Ok(OfPort(n)),
        _ if n >= OF13_RESERVED | OfPort::MAX.0 => Ok(OfPort(n & 0xffff)),
        _ => Err(SyntaxError::at(
            text,
            at,
            format!("port {n} is out of range: ports are below 65280 or reserved names"),
        )),
    }
}

/// Parses one item into `out` (a masked `set_field` may give several actions).
fn parse_item(
    text: &str,
    item: &Item<'_>,
    ctx: Context,
    out: &mut Vec<Action>,
) -> Result<(), SyntaxError> {
    let key = item.key.to_ascii_lowercase();
    let at = item.key_start;
    // A bare number or port name is an output.
    if item.arg.is_none() {
        if let Some(port) = bare_port(item.key) {
            out.push(match port {
                OfPort::CONTROLLER => Action::Controller(Box::default()),
                p => Action::Output(p),
            });
            return Ok(());
        }
        if item.key.bytes().all(|b| b.is_ascii_digit()) {
            out.push(output_to(parse_port(text, item.key, at)?, true));
            return Ok(());
        }
    }
    if ctx != Context::Top
        && matches!(
            key.as_str(),
            "goto_table" | "write_metadata" | "meter" | "clear_actions" | "write_actions"
        )
    {
        return Err(SyntaxError::at(
            text,
            at,
            format!("{key} is an instruction: it is not allowed inside clone(...) or write_actions(...)"),
        ));
    }
    let action = match key.as_str() {
        "output" => parse_output(text, item)?,
        "controller" => parse_controller(text, item)?,
        "enqueue" => return parse_enqueue(text, item, out),
        "set_tunnel" | "set_tunnel64" => {
            let (s, a) = need_arg(text, item, "a tunnel ID")?;
            // Both take any 64-bit ID: Open vSwitch picks the wire form by the value's size.
            let id = number(text, s, a, "a tunnel ID", u64::MAX.into())?;
            set_field(Field::TunId, id)
        }
        "set_queue" => {
            let (s, a) = need_arg(text, item, "a queue number")?;
            Action::SetQueue(u32_arg(text, s, a, "a queue number")?)
        }
        "pop_queue" => no_arg(text, item, Action::PopQueue)?,
        "push_vlan" => {
            let (s, a) = need_arg(text, item, "a VLAN ethertype (0x8100 or 0x88a8)")?;
            let tpid = u16_arg(text, s, a, "a VLAN ethertype (0x8100 or 0x88a8)", u16::MAX)?;
            if tpid != ethertype::VLAN && tpid != ethertype::QINQ {
                return Err(SyntaxError::at(
                    text,
                    a,
                    format!("expected a VLAN ethertype (0x8100 or 0x88a8), found \"{s}\""),
                ));
            }
            Action::PushVlan(tpid)
        }
        "pop_vlan" | "strip_vlan" => no_arg(text, item, Action::PopVlan)?,
        "mod_vlan_vid" => {
            let (s, a) = need_arg(text, item, "a VLAN ID (0 to 4095)")?;
            Action::SetVlanVid(u16_arg(text, s, a, "a VLAN ID (0 to 4095)", 0x0fff)?)
        }
        "mod_vlan_pcp" => {
            let (s, a) = need_arg(text, item, "a VLAN priority (0 to 7)")?;
            Action::SetVlanPcp(u8_arg(text, s, a, "a VLAN priority (0 to 7)", 7)?)
        }
        "mod_dl_src" => set_whole(text, item, Field::DlSrc)?,
        "mod_dl_dst" => set_whole(text, item, Field::DlDst)?,
        "mod_nw_src" => set_whole(text, item, Field::NwSrc)?,
        "mod_nw_dst" => set_whole(text, item, Field::NwDst)?,
        "mod_tp_src" => set_whole(text, item, Field::TpSrc)?,
        "mod_tp_dst" => set_whole(text, item, Field::TpDst)?,
        "mod_nw_ecn" => {
            let (s, a) = need_arg(text, item, "an ECN value (0 to 3)")?;
            let ecn = u8_arg(text, s, a, "an ECN value (0 to 3)", 3)?;
            set_field(Field::NwEcn, u128::from(ecn))
        }
        "mod_nw_tos" => {
            let (s, a) = need_arg(text, item, "a TOS value (a multiple of 4, 0 to 252)")?;
            let tos = u8_arg(
                text,
                s,
                a,
                "a TOS value (a multiple of 4, 0 to 252)",
                u8::MAX,
            )?;
            if tos & 0x03 != 0 {
                return Err(SyntaxError::at(
                    text,
                    a,
                    format!("expected a TOS value with the ECN bits clear (a multiple of 4), found \"{s}\""),
                ));
            }
            set_field(Field::IpDscp, u128::from(tos >> 2))
        }
        "mod_nw_ttl" => {
            let (s, a) = need_arg(text, item, "a TTL (0 to 255)")?;
            Action::SetNwTtl(u8_arg(text, s, a, "a TTL (0 to 255)", u8::MAX)?)
        }
        "dec_ttl" => parse_dec_ttl(text, item)?,
        "set_field" => return parse_set_field(text, item, out),
        "load" => parse_load(text, item)?,
        "move" => parse_move(text, item)?,
        "resubmit" => parse_resubmit(text, item)?,
        "clone" => Action::Clone(nested(text, item)?),
        "write_actions" => {
            let list = nested(text, item)?;
            // An empty action set write changes nothing; Open vSwitch drops it, and so do we.
            if list.is_empty() {
                return Ok(());
            }
            Action::WriteActions(list)
        }
        "ct" => Action::Ct(Box::new(ct::parse_ct(text, item)?)),
        "nat" => {
            return Err(SyntaxError::at(
                text,
                at,
                "nat is only allowed inside ct(...), as ct(nat(...))",
            ))
        }
        "ct_clear" => no_arg(text, item, Action::CtClear)?,
        "exit" => no_arg(text, item, Action::Exit)?,
        "group" => {
            let (s, a) = need_arg(text, item, "a group number")?;
            Action::Group(u32_arg(text, s, a, "a group number")?)
        }
        "meter" => {
            let (s, a) = need_arg(text, item, "a meter number")?;
            Action::Meter(u32_arg(text, s, a, "a meter number")?)
        }
        "note" => parse_note(text, item)?,
        "clear_actions" => no_arg(text, item, Action::ClearActions)?,
        "write_metadata" => parse_write_metadata(text, item)?,
        "goto_table" => {
            let (s, a) = need_arg(text, item, "a table number")?;
            Action::GotoTable(u8_arg(text, s, a, "a table number (0 to 254)", u8::MAX)?)
        }
        "learn" | "conjunction" | "bundle" | "bundle_load" | "multipath" | "fin_timeout"
        | "sample" | "check_pkt_larger" | "encap" | "decap" | "push_mpls" | "pop_mpls"
        | "set_mpls_label" | "set_mpls_tc" | "set_mpls_ttl" | "dec_mpls_ttl" | "debug_recirc"
        | "debug_slow" | "delete_field" | "stack_push" | "stack_pop" => {
            return Err(SyntaxError::at(
                text,
                at,
                format!("action \"{}\" is not supported", item.key),
            ))
        }
        _ => {
            return Err(SyntaxError::at(
                text,
                at,
                format!("unknown action \"{}\"", item.key),
            ))
        }
    };
    out.push(action);
    Ok(())
}

/// The port a bare keyword names (`normal`, `LOCAL`, ...), not counting numbers.
fn bare_port(key: &str) -> Option<OfPort> {
    OfPort::from_name(key).filter(|p| *p != OfPort::ANY)
}

/// `output` to a port. The controller port means `controller`: with default settings when named,
/// and sending no bytes of the packet when given by number (OpenFlow 1.0's `output:65533` carries
/// a zero `max_len`), as Open vSwitch reads them.
fn output_to(port: OfPort, by_number: bool) -> Action {
    if port == OfPort::CONTROLLER {
        Action::Controller(Box::new(Controller {
            max_len: if by_number { 0 } else { u16::MAX },
            ..Controller::default()
        }))
    } else {
        Action::Output(port)
    }
}

/// `enqueue:PORT:QUEUE` or `enqueue(PORT,QUEUE)`: output through a queue, which OpenFlow 1.3
/// spells `set_queue:QUEUE,output:PORT,pop_queue`.
fn parse_enqueue(text: &str, item: &Item<'_>, out: &mut Vec<Action>) -> Result<(), SyntaxError> {
    let (s, a) = need_arg(text, item, "PORT:QUEUE")?;
    let sep = if item.paren { ',' } else { ':' };
    let Some((port, queue)) = s.split_once(sep) else {
        return Err(SyntaxError::at(
            text,
            a,
            format!("expected enqueue:PORT:QUEUE or enqueue(PORT,QUEUE), found \"{s}\""),
        ));
    };
    let port = parse_port(text, port.trim(), a)?;
    let qa = a + s.find(sep).map_or(0, |i| i + 1);
    let queue = u32_arg(text, queue.trim(), qa, "a queue number")?;
    out.extend([
        Action::SetQueue(queue),
        output_to(port, false),
        Action::PopQueue,
    ]);
    Ok(())
}

fn no_arg(text: &str, item: &Item<'_>, action: Action) -> Result<Action, SyntaxError> {
    match item.arg {
        None => Ok(action),
        Some((s, _)) => Err(SyntaxError::at(
            text,
            s,
            format!("{} takes no argument", item.key),
        )),
    }
}

fn set_field(field: Field, value: u128) -> Action {
    Action::SetField {
        field,
        value,
        mask: field.full_mask(),
    }
}

fn set_whole(text: &str, item: &Item<'_>, field: Field) -> Result<Action, SyntaxError> {
    let (s, a) = need_arg(text, item, &format!("a value for {}", field.name()))?;
    let (value, mask) = parse_value(text, a, a + s.len(), field)?;
    if mask != field.full_mask() {
        return Err(SyntaxError::at(
            text,
            a,
            format!("{} takes no mask", item.key),
        ));
    }
    Ok(set_field(field, value))
}

fn parse_output(text: &str, item: &Item<'_>) -> Result<Action, SyntaxError> {
    if item.paren {
        let (s, e) = item.arg.unwrap_or((item.key_start, item.key_start));
        let mut port = None;
        let mut max_len = None;
        for kv in split_items(text, s, e)? {
            let (v, a) = need_arg(text, &kv, "a value")?;
            match kv.key {
                "port" => port = Some(parse_port(text, v, a)?),
                "max_len" => max_len = Some(u32_arg(text, v, a, "a length in bytes")?),
                k => {
                    return Err(SyntaxError::at(
                        text,
                        kv.key_start,
                        format!("unknown output argument \"{k}\": expected port= or max_len="),
                    ))
                }
            }
        }
        let port = port.ok_or_else(|| SyntaxError::at(text, s, "output(...) needs port="))?;
        let max_len =
            max_len.ok_or_else(|| SyntaxError::at(text, s, "output(...) needs max_len="))?;
        return Ok(Action::OutputTrunc { port, max_len });
    }
    let (s, a) = need_arg(text, item, "a port number or name")?;
    let looks_like_field = s.contains('[') || Field::from_name(s).is_some();
    if looks_like_field && OfPort::from_name(s).is_none() {
        let src = parse_subfield(text, a, a + s.len())?;
        return Ok(Action::OutputReg { src, max_len: 0 });
    }
    let by_number = s.bytes().all(|b| b.is_ascii_digit());
    Ok(output_to(parse_port(text, s, a)?, by_number))
}

fn parse_controller(text: &str, item: &Item<'_>) -> Result<Action, SyntaxError> {
    let mut c = Controller::default();
    match (item.arg, item.paren) {
        (None, _) => {}
        (Some((s, e)), false) => {
            let v = text.get(s..e).unwrap_or("");
            c.max_len = u16_arg(text, v, s, "a length in bytes", u16::MAX)?;
        }
        (Some((s, e)), true) => {
            for kv in split_items(text, s, e)? {
                let v = kv.arg_str(text);
                let a = kv.arg.map_or(kv.key_start, |(s, _)| s);
                match kv.key {
                    "reason" => {
                        c.reason = ControllerReason::from_name(v).ok_or_else(|| {
                            SyntaxError::at(
                                text,
                                a,
                                format!("expected a controller reason (no_match, action, invalid_ttl, action_set, group, packet_out), found \"{v}\""),
                            )
                        })?;
                    }
                    "max_len" => c.max_len = u16_arg(text, v, a, "a length in bytes", u16::MAX)?,
                    "id" => c.controller_id = u16_arg(text, v, a, "a controller id", u16::MAX)?,
                    "userdata" => c.userdata = parse_hex_bytes(text, v, a, "userdata")?,
                    "pause" if kv.arg.is_none() => c.pause = true,
                    "meter_id" => c.meter_id = Some(u32_arg(text, v, a, "a meter number")?),
                    k => {
                        return Err(SyntaxError::at(
                            text,
                            kv.key_start,
                            format!("unknown controller argument \"{k}\": expected reason=, max_len=, id=, userdata=, pause or meter_id="),
                        ))
                    }
                }
            }
        }
    }
    Ok(Action::Controller(Box::new(c)))
}

fn parse_dec_ttl(text: &str, item: &Item<'_>) -> Result<Action, SyntaxError> {
    let mut ids = Vec::new();
    if let Some((s, e)) = item.arg {
        if !item.paren {
            return Err(SyntaxError::at(
                text,
                s,
                "expected dec_ttl or dec_ttl(ID,...)",
            ));
        }
        for id in split_items(text, s, e)? {
            if id.arg.is_some() {
                return Err(SyntaxError::at(
                    text,
                    id.key_start,
                    "expected a controller id",
                ));
            }
            ids.push(u16_arg(
                text,
                id.key,
                id.key_start,
                "a controller id",
                u16::MAX,
            )?);
        }
    }
    Ok(Action::DecTtl(ids))
}

/// A piece of the flow text and its byte offset.
type Span<'t> = (&'t str, usize);

/// Splits `V->F` at the arrow.
fn split_arrow<'t>(
    text: &'t str,
    item: &Item<'_>,
    what: &str,
) -> Result<(Span<'t>, Span<'t>), SyntaxError> {
    let (s, a) = need_arg(text, item, what)?;
    match s.find("->") {
        Some(i) => Ok((
            (s.get(..i).unwrap_or(""), a),
            (s.get(i + 2..).unwrap_or(""), a + i + 2),
        )),
        None => Err(SyntaxError::at(
            text,
            a,
            format!("expected {what}, found \"{s}\""),
        )),
    }
}

fn parse_set_field(text: &str, item: &Item<'_>, out: &mut Vec<Action>) -> Result<(), SyntaxError> {
    let ((v, va), (f, fa)) = split_arrow(text, item, "VALUE[/MASK]->FIELD")?;
    // set_field names fields by their OXM-style names (`eth_src`, `reg0`), not NXM/OXM ones.
    let field = Field::from_name(f)
        .filter(|field| !f.is_empty() && !field.def().nxm.contains(&f))
        .ok_or_else(|| SyntaxError::at(text, fa, format!("unknown field \"{f}\"")))?;
    let (value, mask) = parse_value(text, va, va + v.len(), field)?;
    if mask == field.full_mask() {
        out.push(set_field(field, value));
        return Ok(());
    }
    // A masked set_field is a load of each run of mask bits, which is how Open vSwitch prints it.
    out.extend(masked_set_field(field, value, mask));
    Ok(())
}

fn parse_load(text: &str, item: &Item<'_>) -> Result<Action, SyntaxError> {
    let ((v, va), (f, fa)) = split_arrow(text, item, "VALUE->FIELD[A..B]")?;
    let dst = parse_subfield(text, fa, fa + f.len())?;
    let value = parse_number(v)
        .ok_or_else(|| SyntaxError::at(text, va, format!("expected a number, found \"{v}\"")))?;
    if dst.n_bits < 128 && value >> dst.n_bits != 0 {
        return Err(SyntaxError::at(
            text,
            va,
            format!("value {v} does not fit into {} bits", dst.n_bits),
        ));
    }
    Ok(Action::Load { dst, value })
}

fn parse_move(text: &str, item: &Item<'_>) -> Result<Action, SyntaxError> {
    let ((s, sa), (d, da)) = split_arrow(text, item, "FIELD[A..B]->FIELD[C..D]")?;
    let src = parse_subfield(text, sa, sa + s.len())?;
    let dst = parse_subfield(text, da, da + d.len())?;
    if src.n_bits != dst.n_bits {
        return Err(SyntaxError::at(
            text,
            sa,
            format!(
                "source is {} bits wide but destination is {} bits wide",
                src.n_bits, dst.n_bits
            ),
        ));
    }
    Ok(Action::Move { src, dst })
}

fn parse_resubmit(text: &str, item: &Item<'_>) -> Result<Action, SyntaxError> {
    let (s, e) = item.arg.ok_or_else(|| {
        SyntaxError::at(
            text,
            item.key_start + item.key.len(),
            "expected resubmit:PORT or resubmit(PORT,TABLE[,ct])",
        )
    })?;
    // "in_port" means "keep the packet's in_port", and table 255 "the current table".
    let port_of = |s: &str, a: usize| -> Result<Option<OfPort>, SyntaxError> {
        if s.is_empty() {
            return Ok(None);
        }
        let p = parse_port(text, s, a)?;
        Ok((p != OfPort::IN_PORT).then_some(p))
    };
    if !item.paren {
        let port = port_of(text.get(s..e).unwrap_or(""), s)?;
        return Ok(Action::Resubmit {
            port,
            table: None,
            ct: false,
        });
    }
    let inner = text.get(s..e).unwrap_or("");
    let mut parts = Vec::new();
    let mut off = s;
    for p in inner.split(',') {
        let lead = p.len() - p.trim_start().len();
        parts.push((p.trim(), off + lead));
        off += p.len() + 1;
    }
    let (port_s, port_a) = parts.first().copied().unwrap_or(("", s));
    let port = port_of(port_s, port_a)?;
    let table = match parts.get(1).copied() {
        None | Some(("", _)) => None,
        Some((t, a)) => match u8_arg(text, t, a, "a table number", u8::MAX)? {
            u8::MAX => None,
            t => Some(t),
        },
    };
    let ct = match parts.get(2).copied() {
        None => false,
        Some(("ct", _)) => true,
        Some((x, a)) => {
            return Err(SyntaxError::at(
                text,
                a,
                format!("expected \"ct\" as the third resubmit argument, found \"{x}\""),
            ))
        }
    };
    if let Some((_, a)) = parts.get(3) {
        return Err(SyntaxError::at(
            text,
            *a,
            "resubmit takes at most 3 arguments",
        ));
    }
    if port.is_none() && table.is_none() {
        return Err(SyntaxError::at(
            text,
            s,
            "resubmit needs a port or a table other than in_port and 255",
        ));
    }
    Ok(Action::Resubmit { port, table, ct })
}

fn nested(text: &str, item: &Item<'_>) -> Result<Vec<Action>, SyntaxError> {
    match (item.arg, item.paren) {
        (Some((s, e)), true) => parse_list(text, s, e, Context::Nested),
        _ => Err(SyntaxError::at(
            text,
            item.key_start + item.key.len(),
            format!("expected {}(ACTIONS)", item.key),
        )),
    }
}

/// Parses hex bytes, optionally separated by dots (`01.02`, `0102`).
fn parse_hex_bytes(text: &str, s: &str, at: usize, what: &str) -> Result<Vec<u8>, SyntaxError> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b.get(i) == Some(&b'.') {
            i += 1;
            continue;
        }
        let pair = s
            .get(i..i + 2)
            .filter(|p| p.bytes().all(|c| c.is_ascii_hexdigit()));
        match pair.and_then(|p| u8::from_str_radix(p, 16).ok()) {
            Some(byte) => out.push(byte),
            None => {
                return Err(SyntaxError::at(
                    text,
                    at + i,
                    format!(
                        "expected pairs of hex digits in {what}, found \"{}\"",
                        s.get(i..).unwrap_or("")
                    ),
                ))
            }
        }
        i += 2;
    }
    Ok(out)
}

fn parse_note(text: &str, item: &Item<'_>) -> Result<Action, SyntaxError> {
    let (s, a) = match item.arg {
        Some((s, e)) => (text.get(s..e).unwrap_or(""), s),
        None => ("", item.key_start),
    };
    let mut bytes = parse_hex_bytes(text, s, a, "note")?;
    pad_note(&mut bytes);
    Ok(Action::Note(bytes))
}

fn parse_write_metadata(text: &str, item: &Item<'_>) -> Result<Action, SyntaxError> {
    let (s, a) = need_arg(text, item, "VALUE[/MASK]")?;
    let (v, m) = match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    };
    let n64 = |x: &str, at: usize| -> Result<u64, SyntaxError> {
        let n = number(text, x, at, "a 64-bit number", u128::from(u64::MAX))?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    };
    let value = n64(v, a)?;
    let mask = match m {
        Some(m) => n64(m, a + v.len() + 1)?,
        None => u64::MAX,
    };
    Ok(Action::WriteMetadata { value, mask })
}
