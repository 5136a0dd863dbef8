//! Field values in flow text: parsing `value[/mask]` for every [`Format`] of the field
//! registry, and printing a value and mask exactly as `ovs-ofctl` does.
//!
//! Values and masks travel right-aligned in a `u128`, as everywhere in the field registry
//! ([`crate::field`]). Parsing returns the value already confined to its mask, so two spellings of
//! one match (`10.1.2.3/8` and `10.0.0.0/8`) give equal results.
//!
//! What is accepted, per format:
//! - numbers ([`Format::Decimal`], [`Format::Hex`]): decimal, `0x` hexadecimal or `0` octal (as
//!   C's `strtoull` with base 0, which Open vSwitch uses), with `/mask` in the same forms when
//!   the field is maskable;
//! - [`Format::Ethernet`]: `xx:xx:xx:xx:xx:xx` (one or two hex digits per byte) with an optional
//!   `/xx:xx:xx:xx:xx:xx` mask;
//! - [`Format::Ipv4`]: `a.b.c.d` with `/N` (0..=32) or `/a.b.c.d`;
//! - [`Format::Ipv6`]: any RFC 4291 address with `/N` (0..=128) or an address mask;
//! - [`Format::OfPort`]: a decimal port number or a reserved port name
//!   ([`parse_port`]);
//! - [`Format::CtState`] and [`Format::TcpFlags`]: `+flag-flag...` (mask = the named flags) or a
//!   number with an optional mask;
//! - [`Format::Frag`]: `no`, `yes`, `first`, `later` or `not_later`;
//! - [`Format::TunFlags`]: `+oam`/`-oam` or a number (0 or 1) with an optional mask.
//!
//! A mask on a field that is not maskable is accepted only when it is all ones, as Open vSwitch.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::SyntaxError;
use crate::action::OfPort;
use crate::field::{Field, Format};
use crate::key::{ct_state, frag};

/// Parses a port as `ovs-ofctl` does: a reserved port name (case-insensitive, see
/// [`OfPort::from_name`]) or a decimal number (Open vSwitch reads port numbers in decimal only).
/// A 16-bit number is taken as is (`65534` is `LOCAL`, as OpenFlow 1.0 numbers it); a 32-bit
/// OpenFlow 1.1+ number from `0xffffff00` up is mapped down into the 16-bit space
/// (`4294967294` is `LOCAL` too). Returns `None` for anything else, and for `0xfff7`, which Open
/// vSwitch reserves internally.
pub fn parse_port(s: &str) -> Option<OfPort> {
    if let Some(p) = OfPort::from_name(s) {
        return Some(p);
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    const UNSET: u32 = 0xfff7;
    const OF11_RESERVED: u32 = 0xffff_ff00;
    let n = match s.parse::<u32>().ok()? {
        n if n >= OF11_RESERVED => n - 0xffff_0000,
        n => n,
    };
    (n <= 0xffff && n != UNSET).then_some(OfPort(n))
}

/// Conntrack state flag names in bit order (bit 0 first), as Open vSwitch spells them.
const CT_STATE_NAMES: [(&str, u32); 8] = [
    ("new", ct_state::NEW),
    ("est", ct_state::ESTABLISHED),
    ("rel", ct_state::RELATED),
    ("rpl", ct_state::REPLY),
    ("inv", ct_state::INVALID),
    ("trk", ct_state::TRACKED),
    ("snat", ct_state::SRC_NAT),
    ("dnat", ct_state::DST_NAT),
];

/// Every conntrack state bit that has a name.
const CT_STATE_ALL: u128 = 0xff;

/// TCP flag names in bit order (bit 0 first).
const TCP_FLAG_NAMES: [(&str, u32); 9] = [
    ("fin", 1 << 0),
    ("syn", 1 << 1),
    ("rst", 1 << 2),
    ("psh", 1 << 3),
    ("ack", 1 << 4),
    ("urg", 1 << 5),
    ("ece", 1 << 6),
    ("cwr", 1 << 7),
    ("ns", 1 << 8),
];

/// The single tunnel flag that flows can match, as Open vSwitch: OAM, the one bit of the
/// `tun_flags` field (the OAM bit of the key's tunnel flags).
const TUN_FLAG_NAMES: [(&str, u32); 1] = [("oam", 1)];

/// Parses the value of `field` found in `text[start..end]`, returning `(value, mask)`
/// right-aligned, with `mask = field.full_mask()` when the text gives none (for flag fields, the
/// named flags) and the value confined to the mask.
///
/// Errors point at `start` and say what the field expects.
pub fn parse_value(
    text: &str,
    start: usize,
    end: usize,
    field: Field,
) -> Result<(u128, u128), SyntaxError> {
    let s = text.get(start..end).unwrap_or("");
    let bad = || {
        SyntaxError::at(
            text,
            start,
            format!("expected {}, found \"{s}\"", expected(field)),
        )
    };
    let Some((value, mask)) = parse_raw(s, field) else {
        if let Some((offset, message)) = flag_error(s, field) {
            return Err(SyntaxError::at(text, start + offset, message));
        }
        return Err(bad());
    };
    let full = field.full_mask();
    if value & !full != 0 {
        return Err(SyntaxError::at(
            text,
            start,
            format!(
                "value {s:?} is too large for the {}-bit field {}",
                field.bits(),
                field.name()
            ),
        ));
    }
    if mask & !full != 0 {
        return Err(SyntaxError::at(
            text,
            start,
            format!(
                "mask in {s:?} is too large for the {}-bit field {}",
                field.bits(),
                field.name()
            ),
        ));
    }
    if !field.def().maskable && mask != full {
        return Err(SyntaxError::at(
            text,
            start,
            format!("field {} does not take a mask, found \"{s}\"", field.name()),
        ));
    }
    Ok((value & mask, mask))
}

/// What a field's value looks like, for "expected ..." messages.
fn expected(field: Field) -> String {
    let bits = field.bits();
    let maskable = field.def().maskable;
    match field.def().format {
        Format::Decimal | Format::Hex if maskable => {
            format!("a {bits}-bit number with an optional /mask")
        }
        Format::Decimal | Format::Hex => format!("a {bits}-bit number"),
        Format::Ethernet => "an Ethernet address with an optional /mask".into(),
        Format::Ipv4 => "an IPv4 address or prefix".into(),
        Format::Ipv6 => "an IPv6 address or prefix".into(),
        Format::OfPort => "a port number or a port name (LOCAL, IN_PORT, ...)".into(),
        Format::CtState => {
            "conntrack state flags like +trk+new-est, or a number of at most 0xff with an optional /mask".into()
        }
        Format::TcpFlags => {
            "TCP flags like +syn-ack, or a 12-bit number with an optional /mask".into()
        }
        Format::Frag => "a fragment type (no, yes, first, later, not_later)".into(),
        Format::TunFlags => "tunnel flags (+oam or -oam)".into(),
    }
}

/// Parses without range checks beyond what the syntax itself implies.
fn parse_raw(s: &str, field: Field) -> Option<(u128, u128)> {
    let full = field.full_mask();
    match field.def().format {
        Format::Decimal | Format::Hex => with_mask(s, full, parse_number),
        Format::Ethernet => with_mask(s, full, parse_ethernet),
        Format::Ipv4 => {
            let (addr, mask) = s.split_once('/').unwrap_or((s, ""));
            let value = u128::from(u32::from(addr.parse::<Ipv4Addr>().ok()?));
            let mask = if mask.is_empty() && !s.contains('/') {
                full
            } else if mask.contains('.') {
                u128::from(u32::from(mask.parse::<Ipv4Addr>().ok()?))
            } else {
                prefix_mask(parse_prefix_len(mask, 32)?, 32)
            };
            Some((value, mask))
        }
        Format::Ipv6 => {
            let (addr, mask) = s.split_once('/').unwrap_or((s, ""));
            let value = u128::from(addr.parse::<Ipv6Addr>().ok()?);
            // A mask with a ':' is an address. (Open vSwitch reads a mask that starts with a
            // digit as a prefix length and then refuses `/1::`; we accept it, so that every
            // mask we print parses back.)
            let mask = if !s.contains('/') {
                full
            } else if mask.contains(':') {
                u128::from(mask.parse::<Ipv6Addr>().ok()?)
            } else {
                prefix_mask(parse_prefix_len(mask, 128)?, 128)
            };
            Some((value, mask))
        }
        Format::OfPort => parse_port(s).map(|p| (u128::from(p.0), full)),
        Format::CtState => {
            let (v, m) = parse_flags(s, &CT_STATE_NAMES, CT_STATE_ALL)?;
            // Open vSwitch knows only the named bits: a number or mask naming others is refused,
            // and an unmasked number matches exactly the named bits.
            (v & !CT_STATE_ALL == 0 && m & !CT_STATE_ALL == 0).then_some((v, m))
        }
        Format::TcpFlags => parse_flags(s, &TCP_FLAG_NAMES, full),
        Format::TunFlags => parse_flags(s, &TUN_FLAG_NAMES, full),
        Format::Frag => match s {
            "no" => Some((0, u128::from(frag::ANY))),
            "yes" => Some((u128::from(frag::ANY), u128::from(frag::ANY))),
            "first" => Some((u128::from(frag::ANY), u128::from(frag::ANY | frag::LATER))),
            "later" => Some((
                u128::from(frag::ANY | frag::LATER),
                u128::from(frag::ANY | frag::LATER),
            )),
            "not_later" => Some((0, u128::from(frag::LATER))),
            // Open vSwitch takes only the keywords, not numbers.
            _ => None,
        },
    }
}

/// `value[/mask]` where both halves use `one`; no mask means `full`.
fn with_mask(s: &str, full: u128, one: fn(&str) -> Option<u128>) -> Option<(u128, u128)> {
    match s.split_once('/') {
        Some((v, m)) => Some((one(v)?, one(m)?)),
        None => Some((one(s)?, full)),
    }
}

/// A number as C's `strtoull(s, NULL, 0)` reads a whole string: `0x` hex (`0x` alone is 0),
/// leading-`0` octal, or decimal. At most 128 bits in hexadecimal, 64 otherwise.
pub fn parse_number(s: &str) -> Option<u128> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() {
            return Some(0);
        }
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return u128::from_str_radix(hex, 16).ok();
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Like `strtoull`, decimal and octal numbers stop at 64 bits; only hexadecimal reaches the
    // 128 bits of `ct_label`, as in Open vSwitch.
    if s.len() > 1 && s.starts_with('0') {
        return u64::from_str_radix(s, 8).ok().map(u128::from);
    }
    s.parse::<u64>().ok().map(u128::from)
}

/// `xx:xx:xx:xx:xx:xx` with one or two hex digits per byte.
fn parse_ethernet(s: &str) -> Option<u128> {
    let mut value = 0u128;
    let mut count = 0;
    for part in s.split(':') {
        if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        value = value << 8 | u128::from(u8::from_str_radix(part, 16).ok()?);
        count += 1;
    }
    (count == 6).then_some(value)
}

/// A prefix length in `0..=max`.
fn parse_prefix_len(s: &str, max: u32) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n| n <= max)
}

/// The mask of a `len`-bit prefix of a `bits`-bit field.
fn prefix_mask(len: u32, bits: u32) -> u128 {
    let full = if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    // `checked_shr` turns the shift by the whole width (a /128 prefix) into "no bits left".
    full & !full.checked_shr(len).unwrap_or(0)
}

/// The flag names of a flag field, with its flag noun for messages.
fn flag_names(field: Field) -> Option<(&'static [(&'static str, u32)], &'static str)> {
    match field.def().format {
        Format::CtState => Some((&CT_STATE_NAMES, "conntrack state flag")),
        Format::TcpFlags => Some((&TCP_FLAG_NAMES, "TCP flag")),
        Format::TunFlags => Some((&TUN_FLAG_NAMES, "tunnel flag")),
        _ => None,
    }
}

/// Why a `+flag-flag` value of a flag field failed: the offset of the bad flag within `s` and
/// the message (an unknown flag, or one given twice). `None` if `s` is not in flag form.
fn flag_error(s: &str, field: Field) -> Option<(usize, String)> {
    let (names, noun) = flag_names(field)?;
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let signed = s.starts_with(['+', '-']);
    let mut seen: Vec<&str> = Vec::new();
    let mut pos = 0;
    while pos < s.len() {
        // In the signed form each token starts after its sign; in the `|` form after a `|`.
        let skip = usize::from(signed || pos > 0);
        let after = s.get(pos + skip..)?;
        let len = if signed {
            after.find(['+', '-']).unwrap_or(after.len())
        } else {
            after.find('|').unwrap_or(after.len())
        };
        let name = after.get(..len)?;
        // Point at the sign of a signed flag, at the name of a `|` one.
        let at = if signed { pos } else { pos + skip };
        if flag_bit(names, name).is_none() {
            let known: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            return Some((
                at,
                format!(
                    "unknown {noun} \"{name}\" (expected one of {})",
                    known.join(", ")
                ),
            ));
        }
        if seen.contains(&name) {
            return Some((at, format!("{noun} \"{name}\" is given twice")));
        }
        seen.push(name);
        pos += skip + len;
    }
    None
}

/// The bit a flag token names: a flag name, or `[HEX]` for a bit without one (as the
/// formatter prints such bits).
fn flag_bit(names: &[(&str, u32)], token: &str) -> Option<u128> {
    if let Some(hex) = token.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let bit = u128::from_str_radix(hex, 16).ok()?;
        return bit.is_power_of_two().then_some(bit);
    }
    names
        .iter()
        .find(|(n, _)| *n == token)
        .map(|&(_, b)| u128::from(b))
}

/// Flags in one of three forms: `+name-name...` (value = the `+` flags, mask = every flag
/// named), `name|name...` (exactly these flags set and the others clear: mask = `all`), or
/// `number[/mask]` (mask defaults to `all`). Each flag may appear once.
fn parse_flags(s: &str, names: &[(&str, u32)], all: u128) -> Option<(u128, u128)> {
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return with_mask(s, all, parse_number);
    }
    let (mut value, mut mask) = (0u128, 0u128);
    if !s.starts_with(['+', '-']) {
        for token in s.split('|') {
            let bit = flag_bit(names, token)?;
            if value & bit != 0 {
                return None;
            }
            value |= bit;
        }
        return Some((value, all));
    }
    let mut rest = s;
    while let Some(sign) = rest.chars().next() {
        let after = rest.get(1..)?;
        let len = after.find(['+', '-']).unwrap_or(after.len());
        let bit = flag_bit(names, after.get(..len)?)?;
        rest = after.get(len..)?;
        if mask & bit != 0 {
            return None;
        }
        mask |= bit;
        if sign == '+' {
            value |= bit;
        }
    }
    Some((value, mask))
}

/// Prints `value` under `mask` for `field` exactly as `ovs-ofctl` prints it after `field=`.
///
/// The caller omits fields whose mask is zero; a mask equal to the field's full mask is not
/// printed.
pub fn format_value(field: Field, value: u128, mask: u128) -> String {
    let full = field.full_mask();
    let value = value & mask;
    match field.def().format {
        Format::Decimal if mask == full => value.to_string(),
        // A masked decimal field prints both halves in hexadecimal, zero included.
        Format::Decimal => format!("{value:#x}/{mask:#x}"),
        Format::Hex => {
            let num = |v: u128| match field {
                Field::VlanTci | Field::DlType => format!("0x{v:04x}"),
                Field::Ipv6Label => format!("0x{v:05x}"),
                _ => hex(v),
            };
            masked(value, mask, full, num, num)
        }
        Format::Ethernet => masked(value, mask, full, ethernet, ethernet),
        Format::Ipv4 => {
            let addr = |v: u128| ipv4(v).to_string();
            match cidr_len(mask, 32) {
                Some(32) => addr(value),
                Some(n) => format!("{}/{n}", addr(value)),
                None => format!("{}/{}", addr(value), addr(mask)),
            }
        }
        Format::Ipv6 => match cidr_len(mask, 128) {
            Some(128) => ipv6(value),
            Some(n) => format!("{}/{n}", ipv6(value)),
            None => format!("{}/{}", ipv6(value), ipv6(mask)),
        },
        Format::OfPort => {
            u32::try_from(value).map_or_else(|_| hex(value), |p| OfPort(p).to_string())
        }
        Format::CtState => flags(value, mask, &CT_STATE_NAMES, CT_STATE_ALL),
        Format::TcpFlags => flags(value, mask, &TCP_FLAG_NAMES, full),
        Format::TunFlags => signed_flags(value, mask, &TUN_FLAG_NAMES),
        Format::Frag => {
            let (any, later) = (u128::from(frag::ANY), u128::from(frag::LATER));
            let both = any | later;
            match (value, mask) {
                // An exact zero (from a megaflow mask) is "not a fragment": `later` implies `yes`.
                (0, m) if m == any || m == both => "no".into(),
                (v, m) if v == any && m == any => "yes".into(),
                (v, m) if v == any && m == both => "first".into(),
                (v, m) if v == both && m == both => "later".into(),
                (0, m) if m == later => "not_later".into(),
                _ => masked(value, mask, full, hex, hex),
            }
        }
    }
}

/// `0` or `0x...`, as Open vSwitch prints hexadecimal fields.
fn hex(v: u128) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("0x{v:x}")
    }
}

/// `value` alone under a full mask, `value/mask` otherwise.
fn masked(
    value: u128,
    mask: u128,
    full: u128,
    val: impl Fn(u128) -> String,
    msk: impl Fn(u128) -> String,
) -> String {
    if mask == full {
        val(value)
    } else {
        format!("{}/{}", val(value), msk(mask))
    }
}

fn ethernet(v: u128) -> String {
    let b = v.to_be_bytes();
    let mac = b.get(10..).unwrap_or(&[]);
    mac.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ipv4(v: u128) -> Ipv4Addr {
    Ipv4Addr::from(u32::try_from(v & 0xffff_ffff).unwrap_or(0))
}

/// The prefix length of `mask` in a `bits`-bit field, `None` if it is not a prefix.
fn cidr_len(mask: u128, bits: u32) -> Option<u32> {
    (0..=bits).find(|&n| prefix_mask(n, bits) == mask)
}

/// An IPv6 address as glibc's `inet_ntop` prints it (which is what `ovs-ofctl` shows): the
/// longest run of two or more zero groups (the first on a tie) becomes `::`, and an address
/// whose first 96 bits are zero (other than `::` and `::1`-like ones with a zero 7th group) or
/// that is IPv4-mapped ends in dotted IPv4.
pub fn ipv6(v: u128) -> String {
    let b = v.to_be_bytes();
    let mut words = [0u16; 8];
    for (i, w) in words.iter_mut().enumerate() {
        let hi = b.get(2 * i).copied().unwrap_or(0);
        let lo = b.get(2 * i + 1).copied().unwrap_or(0);
        *w = u16::from_be_bytes([hi, lo]);
    }
    // The longest run of zero words (length >= 2), first on ties.
    let (mut best, mut best_len) = (None, 0);
    let mut i = 0;
    while i < 8 {
        if words.get(i) == Some(&0) {
            let start = i;
            while words.get(i) == Some(&0) {
                i += 1;
            }
            if i - start > best_len {
                best = Some(start);
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best = None;
    }
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if best == Some(i) {
            if i == 0 {
                out.push(':');
            }
            out.push(':');
            i += best_len;
            continue;
        }
        if i == 6
            && best == Some(0)
            && (best_len == 6 || (best_len == 5 && words.get(5) == Some(&0xffff)))
        {
            let tail = u32::try_from(v & 0xffff_ffff).unwrap_or(0);
            out.push_str(&Ipv4Addr::from(tail).to_string());
            break;
        }
        out.push_str(&format!("{:x}", words.get(i).copied().unwrap_or(0)));
        if i < 7 {
            out.push(':');
        }
        i += 1;
    }
    out
}

/// Flags as Open vSwitch prints them: under the field's "every flag" mask, the set flags joined
/// by `|` (`0` when none); otherwise `+flag`/`-flag` for each masked flag in bit order.
fn flags(value: u128, mask: u128, names: &[(&str, u32)], all: u128) -> String {
    if mask == all {
        if value == 0 {
            return "0".into();
        }
        let mut parts: Vec<String> = Vec::new();
        for bit in 0..128 {
            let b = 1u128 << bit;
            if value & b != 0 {
                match names.iter().find(|&&(_, nb)| u128::from(nb) == b) {
                    Some((n, _)) => parts.push((*n).to_string()),
                    None => parts.push(format!("[{b:x}]")),
                }
            }
        }
        return parts.join("|");
    }
    signed_flags(value, mask, names)
}

/// `+flag`/`-flag` for each bit under `mask`, in bit order; a bit without a name prints as its
/// value in brackets (`+[400]`), as Open vSwitch does.
fn signed_flags(value: u128, mask: u128, names: &[(&str, u32)]) -> String {
    let mut out = String::new();
    for bit in (0..128).map(|i| 1u128 << i).filter(|b| mask & b != 0) {
        out.push(if value & bit != 0 { '+' } else { '-' });
        match names.iter().find(|&&(_, nb)| u128::from(nb) == bit) {
            Some((name, _)) => out.push_str(name),
            None => out.push_str(&format!("[{bit:x}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(field: Field, s: &str) -> Result<(u128, u128), SyntaxError> {
        parse_value(s, 0, s.len(), field)
    }

    fn round(field: Field, s: &str) -> String {
        let (v, m) = p(field, s).unwrap_or_else(|e| panic!("{s}: {e}"));
        format_value(field, v, m)
    }

    #[test]
    fn numbers() {
        assert_eq!(round(Field::Reg0, "5/0xff"), "0x5/0xff");
        assert_eq!(round(Field::Reg0, "010"), "0x8");
        assert_eq!(round(Field::Reg0, "0"), "0");
        assert_eq!(round(Field::NwTtl, "5/0xff"), "5");
        assert!(p(Field::NwTtl, "256").is_err());
        assert!(p(Field::NwTtl, "5/0xf").is_err());
        assert_eq!(round(Field::Ipv6Label, "5"), "0x00005");
    }

    #[test]
    fn addresses() {
        assert_eq!(round(Field::NwSrc, "10.1.2.3/8"), "10.0.0.0/8");
        assert_eq!(
            round(Field::NwSrc, "10.0.0.1/255.255.0.255"),
            "10.0.0.1/255.255.0.255"
        );
        assert_eq!(round(Field::NwSrc, "1.2.3.4/32"), "1.2.3.4");
        let t = "ip,nw_src=10.0.0.1/33";
        let e = parse_value(t, 10, t.len(), Field::NwSrc);
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("column 11: expected an IPv4 address or prefix, found \"10.0.0.1/33\"".into())
        );
        assert_eq!(round(Field::Ipv6Src, "2001:db8::1/ffff::"), "2001::/16");
        assert_eq!(round(Field::Ipv6Src, "::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(round(Field::Ipv6Src, "::1"), "::1");
        assert_eq!(
            round(Field::Ipv6Src, "2001:db8::1/ffff:0:0:0:0:0:0:ffff"),
            "2001::1/ffff::ffff"
        );
        assert_eq!(round(Field::DlSrc, "1:2:3:4:5:6"), "01:02:03:04:05:06");
        assert_eq!(
            round(Field::DlDst, "aa:bb:cc:dd:ee:ff/ff:ff:ff:00:00:00"),
            "aa:bb:cc:00:00:00/ff:ff:ff:00:00:00"
        );
    }

    #[test]
    fn flags_and_keywords() {
        assert_eq!(round(Field::CtState, "+trk+new-est"), "+new-est+trk");
        assert_eq!(round(Field::CtState, "0x21"), "new|trk");
        assert_eq!(round(Field::CtState, "0x21/0x23"), "+new-est+trk");
        assert!(p(Field::CtState, "0x21/0xffffffff").is_err());
        assert!(p(Field::CtState, "+trk+trk").is_err());
        assert_eq!(round(Field::TcpFlags, "0x12"), "syn|ack");
        assert_eq!(round(Field::TcpFlags, "0x12/0x12"), "+syn+ack");
        assert_eq!(round(Field::TcpFlags, "+syn-ack"), "+syn-ack");
        assert_eq!(
            round(Field::TcpFlags, "0x412/0xc12"),
            "+syn+ack+[400]-[800]"
        );
        assert_eq!(round(Field::NwFrag, "not_later"), "not_later");
        assert_eq!(round(Field::NwFrag, "first"), "first");
        assert_eq!(round(Field::InPort, "local"), "LOCAL");
        assert_eq!(round(Field::InPort, "NONE"), "ANY");
        assert!(p(Field::InPort, "0xff00").is_err());
        assert_eq!(round(Field::InPort, "65534"), "LOCAL");
        assert_eq!(round(Field::InPort, "4294967294"), "LOCAL");
        assert_eq!(round(Field::InPort, "4294967040"), "65280");
        assert!(p(Field::InPort, "70000").is_err());
    }
}
