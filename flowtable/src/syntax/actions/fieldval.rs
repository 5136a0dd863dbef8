//! Field values as actions write them (`set_field:V[/M]->F`, `load:V->F`): parsing and
//! formatting by the field's [`Format`].
//!
//! Only the formats a writable field can have are handled; flag fields (`tun_flags`) take
//! numbers. Values are right-aligned `u128`, as everywhere in the field registry.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::action::OfPort;
use crate::field::{Field, Format};
use crate::syntax::SyntaxError;

/// Parses an unsigned number in decimal or `0x` hexadecimal, as Open vSwitch accepts it.
pub(crate) fn parse_number(s: &str) -> Option<u128> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || hex.len() > 32 {
            return None;
        }
        u128::from_str_radix(hex, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn parse_mac(s: &str) -> Option<u128> {
    let mut v = 0u128;
    let mut n = 0;
    for part in s.split(':') {
        if part.is_empty() || part.len() > 2 {
            return None;
        }
        v = v << 8 | u128::from(u8::from_str_radix(part, 16).ok()?);
        n += 1;
    }
    (n == 6).then_some(v)
}

fn prefix_mask(bits: u32, len: u32) -> u128 {
    if len == 0 {
        0
    } else {
        (u128::MAX << (128 - len)) >> (128 - bits)
    }
}

/// What a value of `format` looks like, for error messages.
fn expected(field: Field) -> String {
    let what = match field.def().format {
        Format::Ethernet => "an Ethernet address",
        Format::Ipv4 => "an IPv4 address",
        Format::Ipv6 => "an IPv6 address",
        Format::OfPort => "a port number or name",
        _ => "a number",
    };
    format!("expected {what} for {}", field.name())
}

/// Parses one value (no mask) of `field`.
fn parse_one(field: Field, s: &str) -> Option<u128> {
    match field.def().format {
        Format::Ethernet => parse_mac(s),
        Format::Ipv4 => s.parse::<Ipv4Addr>().ok().map(|a| u128::from(u32::from(a))),
        Format::Ipv6 => s.parse::<Ipv6Addr>().ok().map(u128::from),
        Format::OfPort => OfPort::from_name(s)
            .map(|p| u128::from(p.0))
            .or_else(|| parse_number(s)),
        _ => parse_number(s),
    }
}

/// Parses `text[start..end]` as a value of `field` with an optional `/mask` (a prefix length for
/// IP addresses), returning the value and the mask (the full mask when none is given).
pub(crate) fn parse_value(
    text: &str,
    start: usize,
    end: usize,
    field: Field,
) -> Result<(u128, u128), SyntaxError> {
    let s = text.get(start..end).unwrap_or("");
    let full = field.full_mask();
    let (v, m) = match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    };
    let value = parse_one(field, v).ok_or_else(|| {
        SyntaxError::at(text, start, format!("{}, found \"{v}\"", expected(field)))
    })?;
    if value & !full != 0 {
        return Err(SyntaxError::at(
            text,
            start,
            format!(
                "value {v} does not fit in the {} bits of {}",
                field.bits(),
                field.name()
            ),
        ));
    }
    let mask = match m {
        None => full,
        Some(m) => {
            let moff = start + v.len() + 1;
            let is_ip = matches!(field.def().format, Format::Ipv4 | Format::Ipv6);
            let mask = match m.parse::<u32>() {
                Ok(len) if is_ip && !m.starts_with('0') || m == "0" => {
                    if len > field.bits() {
                        return Err(SyntaxError::at(
                            text,
                            moff,
                            format!("prefix length {len} is longer than {} bits", field.bits()),
                        ));
                    }
                    prefix_mask(field.bits(), len)
                }
                _ => parse_one(field, m).ok_or_else(|| {
                    SyntaxError::at(
                        text,
                        moff,
                        format!("{} mask, found \"{m}\"", expected(field)),
                    )
                })?,
            };
            if mask & !full != 0 {
                return Err(SyntaxError::at(
                    text,
                    moff,
                    format!(
                        "mask {m} does not fit in the {} bits of {}",
                        field.bits(),
                        field.name()
                    ),
                ));
            }
            mask
        }
    };
    Ok((value & mask, mask))
}

/// Formats a value of `field` as `ovs-ofctl` prints it in `set_field`.
pub(crate) fn format_value(field: Field, value: u128) -> String {
    match field.def().format {
        Format::Ethernet => {
            let b = value.to_be_bytes();
            b.get(10..)
                .unwrap_or(&[])
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        }
        Format::Ipv4 => match u32::try_from(value) {
            Ok(a) => Ipv4Addr::from(a).to_string(),
            Err(_) => format!("{value:#x}"),
        },
        Format::Ipv6 => Ipv6Addr::from(value).to_string(),
        Format::OfPort => match u32::try_from(value) {
            Ok(p) => OfPort(p).to_string(),
            Err(_) => value.to_string(),
        },
        Format::Decimal => value.to_string(),
        _ => format_hex(value),
    }
}

/// `0x`-prefixed hexadecimal, except zero, which `ovs-ofctl` prints as `0`.
pub(crate) fn format_hex(value: u128) -> String {
    if value == 0 {
        "0".to_string()
    } else {
        format!("{value:#x}")
    }
}
