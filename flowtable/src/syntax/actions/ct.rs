//! `ct(...)` and its `nat(...)`: parsing and formatting.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::format::{format_list, format_subfield, Ctx};
use super::parse::{parse_list, Context};
use super::{parse_subfield, split_items, Item};
use crate::action::{CtAction, CtZone, Nat, NatAddrs, NatKind};
use crate::syntax::value::parse_number;
use crate::syntax::SyntaxError;

/// Application-layer gateways by name and the port that identifies them.
const ALGS: [(&str, u16); 2] = [("ftp", 21), ("tftp", 69)];

/// Parses the `ct` item (`ct`, `ct()`, `ct(commit,zone=1,...)`).
pub(crate) fn parse_ct(text: &str, item: &Item<'_>) -> Result<CtAction, SyntaxError> {
    let mut ct = CtAction::default();
    let Some((s, e)) = item.arg else {
        return Ok(ct);
    };
    if !item.paren {
        return Err(SyntaxError::at(text, s, "expected ct or ct(ARGS)"));
    }
    for kv in split_items(text, s, e)? {
        let v = kv.arg_str(text);
        let a = kv.arg.map_or(kv.key_start, |(s, _)| s);
        let flag = |set: &mut bool| -> Result<(), SyntaxError> {
            match kv.arg {
                None => {
                    *set = true;
                    Ok(())
                }
                Some((s, _)) => Err(SyntaxError::at(
                    text,
                    s,
                    format!("{} takes no value", kv.key),
                )),
            }
        };
        match kv.key {
            "commit" => flag(&mut ct.commit)?,
            "force" => flag(&mut ct.force)?,
            "zone" => {
                ct.zone = if v.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
                    let n = parse_number(v).and_then(|n| u16::try_from(n).ok());
                    CtZone::Imm(n.ok_or_else(|| {
                        SyntaxError::at(text, a, format!("expected a zone (0 to 65535) or a 16-bit field, found \"{v}\""))
                    })?)
                } else {
                    CtZone::Field(parse_subfield(text, a, a + v.len())?)
                };
            }
            "table" => {
                let t = parse_number(v).and_then(|n| u8::try_from(n).ok());
                ct.table = Some(t.ok_or_else(|| {
                    SyntaxError::at(text, a, format!("expected a table number (0 to 254), found \"{v}\""))
                })?);
            }
            "alg" => {
                let port = ALGS.iter().find(|(n, _)| *n == v).map(|(_, p)| *p);
                ct.alg = Some(port.ok_or_else(|| {
                    SyntaxError::at(text, a, format!("expected a conntrack helper (ftp or tftp), found \"{v}\""))
                })?);
            }
            "nat" => {
                if ct.nat.is_some() {
                    return Err(SyntaxError::at(text, kv.key_start, "ct(...) takes at most one nat"));
                }
                ct.nat = Some(parse_nat(text, &kv)?);
            }
            "exec" => match (kv.arg, kv.paren) {
                (Some((s, e)), true) => {
                    let list = parse_list(text, s, e, Context::Nested)?;
                    ct.actions.extend(list);
                }
                _ => return Err(SyntaxError::at(text, kv.key_start, "expected exec(ACTIONS)")),
            },
            k => {
                return Err(SyntaxError::at(
                    text,
                    kv.key_start,
                    format!("unknown ct argument \"{k}\": expected commit, force, zone=, table=, alg=, nat or exec(...)"),
                ))
            }
        }
    }
    Ok(ct)
}

/// Parses `nat`, `nat(src)`, `nat(dst=A[-B][:P[-Q]],random|hash|persistent)`.
fn parse_nat(text: &str, item: &Item<'_>) -> Result<Nat, SyntaxError> {
    let mut nat = Nat::default();
    let Some((s, e)) = item.arg else {
        return Ok(nat);
    };
    if !item.paren {
        return Err(SyntaxError::at(text, s, "expected nat or nat(ARGS)"));
    }
    for kv in split_items(text, s, e)? {
        match kv.key {
            "src" | "dst" => {
                if nat.kind.is_some() {
                    return Err(SyntaxError::at(
                        text,
                        kv.key_start,
                        "nat takes only one of src and dst",
                    ));
                }
                nat.kind = Some(if kv.key == "src" {
                    NatKind::Src
                } else {
                    NatKind::Dst
                });
                if let Some((a, b)) = kv.arg {
                    let (addrs, ports) = parse_nat_range(text, a, b)?;
                    nat.addrs = Some(addrs);
                    nat.ports = ports;
                }
            }
            "random" if kv.arg.is_none() => nat.random = true,
            "hash" if kv.arg.is_none() => nat.hash = true,
            "persistent" if kv.arg.is_none() => nat.persistent = true,
            k => {
                return Err(SyntaxError::at(
                    text,
                    kv.key_start,
                    format!(
                    "unknown nat argument \"{k}\": expected src, dst, random, hash or persistent"
                ),
                ))
            }
        }
    }
    Ok(nat)
}

/// Parses `A[-B][:P[-Q]]`, with IPv6 addresses optionally in brackets (required with ports).
fn parse_nat_range(
    text: &str,
    start: usize,
    end: usize,
) -> Result<(NatAddrs, Option<(u16, u16)>), SyntaxError> {
    let s = text.get(start..end).unwrap_or("");
    let bad = |why: &str| SyntaxError::at(text, start, format!("invalid nat range \"{s}\": {why}"));
    let (addr_part, port_part) = if s.starts_with('[') {
        // [A]-[B]:P-Q
        let close = s.rfind(']').ok_or_else(|| bad("missing \"]\""))?;
        let (a, rest) = s.split_at(close + 1);
        match rest.strip_prefix(':') {
            Some(p) => (a, Some(p)),
            None if rest.is_empty() => (a, None),
            None => return Err(bad("expected \":PORT\" after the addresses")),
        }
    } else if s.contains("::") || s.matches(':').count() > 1 {
        (s, None)
    } else {
        match s.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        }
    };
    let addr = |x: &str| -> Result<IpAddr, SyntaxError> {
        let x = x
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .unwrap_or(x);
        x.parse::<IpAddr>()
            .map_err(|_| bad(&format!("expected an IP address, found \"{x}\"")))
    };
    let (min, max) = match addr_part.split_once('-') {
        Some((a, b)) => (addr(a)?, addr(b)?),
        None => {
            let a = addr(addr_part)?;
            (a, a)
        }
    };
    let ordered = match (min, max) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a <= b,
        (IpAddr::V6(a), IpAddr::V6(b)) => a <= b,
        _ => return Err(bad("the addresses are of different families")),
    };
    if !ordered {
        return Err(bad("the first address is above the last"));
    }
    let ports = match port_part {
        None => None,
        Some(p) => {
            let port = |x: &str| {
                x.parse::<u16>()
                    .map_err(|_| bad(&format!("expected a port number, found \"{x}\"")))
            };
            let (lo, hi) = match p.split_once('-') {
                Some((a, b)) => (port(a)?, port(b)?),
                None => {
                    let a = port(p)?;
                    (a, a)
                }
            };
            if lo > hi {
                return Err(bad("the first port is above the last"));
            }
            // A port range of 0 means "any port": Open vSwitch drops it.
            (hi != 0).then_some((lo, hi))
        }
    };
    Ok((NatAddrs { min, max }, ports))
}

/// Formats a `ct` action.
pub(crate) fn format_ct(ct: &CtAction, ctx: Ctx, out: &mut String) {
    let mut parts: Vec<String> = Vec::new();
    if ct.commit {
        parts.push("commit".into());
    }
    if ct.force {
        parts.push("force".into());
    }
    if let Some(t) = ct.table {
        parts.push(format!("table={t}"));
    }
    match ct.zone {
        CtZone::Imm(0) => {}
        CtZone::Imm(z) => parts.push(format!("zone={z}")),
        CtZone::Field(sf) => parts.push(format!("zone={}", format_subfield(&sf, ctx.l4))),
    }
    if let Some(nat) = &ct.nat {
        parts.push(format_nat(nat));
    }
    if !ct.actions.is_empty() {
        parts.push(format!("exec({})", format_list(&ct.actions, ctx)));
    }
    if let Some(alg) = ct.alg {
        match ALGS.iter().find(|(_, p)| *p == alg) {
            Some((name, _)) => parts.push(format!("alg={name}")),
            None => parts.push(format!("alg={alg}")),
        }
    }
    out.push_str("ct(");
    out.push_str(&parts.join(","));
    out.push(')');
}

fn format_nat(nat: &Nat) -> String {
    let Some(kind) = nat.kind else {
        return "nat".into();
    };
    let mut s = String::from(match kind {
        NatKind::Src => "nat(src",
        NatKind::Dst => "nat(dst",
    });
    if let Some(addrs) = &nat.addrs {
        s.push('=');
        let bracket = nat.ports.is_some();
        let fmt = |a: &IpAddr| match a {
            IpAddr::V4(a) => Ipv4Addr::to_string(a),
            IpAddr::V6(a) if bracket => format!("[{}]", Ipv6Addr::to_string(a)),
            IpAddr::V6(a) => Ipv6Addr::to_string(a),
        };
        s.push_str(&fmt(&addrs.min));
        if addrs.max != addrs.min {
            s.push('-');
            s.push_str(&fmt(&addrs.max));
        }
        if let Some((lo, hi)) = nat.ports {
            s.push_str(&format!(":{lo}"));
            if hi != lo {
                s.push_str(&format!("-{hi}"));
            }
        }
    }
    if nat.persistent {
        s.push_str(",persistent");
    }
    if nat.hash {
        s.push_str(",hash");
    }
    if nat.random {
        s.push_str(",random");
    }
    s.push(')');
    s
}
