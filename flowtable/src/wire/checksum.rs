//! The Internet checksum (RFC 1071): ones-complement sums, IPv4/IPv6 pseudo-headers, and
//! incremental updates (RFC 1624) for rewriting a field without re-summing the packet.
//!
//! Sums are carried as `u32` accumulators of 16-bit big-endian words and folded to 16 bits only
//! at the end, so partial sums (a pseudo-header, then a header, then a payload) add up freely.
//! Data of odd length is padded with a zero byte, as the RFC says; callers that sum a packet in
//! pieces must therefore split it at even offsets.

/// Adds the 16-bit big-endian words of `data` to `acc`.
#[inline]
pub fn sum(data: &[u8], acc: u32) -> u32 {
    let mut acc = u64::from(acc);
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    fold64(acc)
}

/// Folds a 64-bit accumulator into 32 bits without losing carries.
fn fold64(mut acc: u64) -> u32 {
    while acc >> 32 != 0 {
        acc = (acc & 0xffff_ffff) + (acc >> 32);
    }
    // The loop leaves acc < 2^32.
    u32::try_from(acc).unwrap_or(u32::MAX)
}

/// Folds an accumulator into 16 bits (the ones-complement sum, not yet complemented).
#[inline]
pub fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // The loop leaves acc < 2^16.
    u16::try_from(acc).unwrap_or(u16::MAX)
}

/// The checksum field value for `acc`: the complement of the folded sum.
#[inline]
pub fn finish(acc: u32) -> u16 {
    !fold(acc)
}

/// The Internet checksum of `data` (what goes in the checksum field when the field is zero).
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data, 0))
}

/// The sum of the IPv4 pseudo-header for a transport segment of `len` bytes.
#[inline]
pub fn pseudo_header_v4(src: u32, dst: u32, protocol: u8, len: u16) -> u32 {
    (src >> 16)
        + (src & 0xffff)
        + (dst >> 16)
        + (dst & 0xffff)
        + u32::from(protocol)
        + u32::from(len)
}

/// The sum of the IPv6 pseudo-header (RFC 8200 §8.1) for an upper-layer packet of `len` bytes.
pub fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], next_header: u8, len: u32) -> u32 {
    let acc = sum(dst, sum(src, 0));
    fold64(u64::from(acc) + u64::from(len >> 16) + u64::from(len & 0xffff) + u64::from(next_header))
}

/// Updates checksum field `check` for a 16-bit word of the covered data changing from `old` to
/// `new` (RFC 1624, equation 3: `HC' = ~(~HC + ~m + m')`).
#[inline]
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!check) + u32::from(!old) + u32::from(new);
    !fold(acc)
}

/// Updates checksum field `check` for a 32-bit value (two aligned words) changing.
#[inline]
pub fn update32(check: u16, old: u32, new: u32) -> u16 {
    let acc = u32::from(!check) + (!old >> 16) + (!old & 0xffff) + (new >> 16) + (new & 0xffff);
    !fold(acc)
}

/// Updates checksum field `check` for an even-length, word-aligned run of bytes (an IPv6
/// address) changing from `old` to `new`. Extra bytes of the longer slice are ignored.
pub fn update_bytes(check: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut acc = u64::from(!check);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        acc += u64::from(!u16::from_be_bytes([o[0], o[1]]));
        acc += u64::from(u16::from_be_bytes([n[0], n[1]]));
    }
    !fold(fold64(acc))
}

/// CRC-32C (Castagnoli), the SCTP checksum (RFC 4960 appendix B): reflected polynomial
/// 0x82F63B78, initial value and final xor all ones.
pub fn crc32c(data: &[u8]) -> u32 {
    !crc32c_update(!0, data)
}

/// Feeds `data` into a running CRC-32C register `crc` (start with `!0`, complement at the
/// end), for a CRC over pieces.
pub fn crc32c_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = CRC32C_TABLE[usize::from(crc.to_le_bytes()[0] ^ b)] ^ (crc >> 8);
    }
    crc
}

const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i: u32 = 0;
    while i < 256 {
        let mut c = i;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i as usize] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // The worked example of RFC 1071 §3: the sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data, 0)), 0xddf2);
    }

    #[test]
    fn crc32c_check_value() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        // RFC 3720 B.4: 32 zero bytes give bytes aa 36 91 8a on the wire, least significant
        // first, the order SCTP (RFC 9260 appendix A) uses too.
        assert_eq!(crc32c(&[0; 32]).to_le_bytes(), [0xaa, 0x36, 0x91, 0x8a]);
        // RFC 3720 B.4: 32 bytes of 0xff.
        assert_eq!(crc32c(&[0xff; 32]).to_le_bytes(), [0x43, 0xab, 0xa8, 0x62]);
    }

    #[test]
    fn incremental_equals_recomputed() {
        let mut data = [
            0x45u8, 0, 0, 40, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = checksum(&data);
        data[10..12].copy_from_slice(&c.to_be_bytes());
        let updated = update32(c, 0x0a00_0001, 0xc0a8_0101);
        data[12..16].copy_from_slice(&[192, 168, 1, 1]);
        data[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(updated, checksum(&data));
    }
}
