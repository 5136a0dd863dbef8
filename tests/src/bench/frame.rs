//! UDP/IPv4 test frames and the probe carried in their payload.
//!
//! Every frame `vsbench` sends is Ethernet + IPv4 (no options) + UDP, padded to the requested
//! size, and starts its UDP payload with a [`Probe`]: a magic number, the run id, a sequence
//! number and the sender's `CLOCK_MONOTONIC` time. The receiver recognises our frames by the
//! magic and run id (anything else on the wire is ignored) and computes one-way latency from the
//! timestamp, which is valid because both ends run on the same machine and clock.
//!
//! Flows differ by source address and ports: flow `i` of `n` uses source `10.1.H.L` (H, L the
//! high and low bytes of `i`), source port `10000 + i % 50000` and destination port
//! `5000 + i % 1000`. The 10.1.0.0/16 sources and 10.2.0.1 destination are what the benchmark's
//! ACL rules are written against.

/// Length of an Ethernet header without VLAN tag.
pub const ETH_LEN: usize = 14;
/// Length of an IPv4 header without options.
pub const IPV4_LEN: usize = 20;
/// Length of a UDP header.
pub const UDP_LEN: usize = 8;
/// Offset of the UDP payload (the probe) in a frame.
pub const PAYLOAD_OFFSET: usize = ETH_LEN + IPV4_LEN + UDP_LEN;
/// The smallest frame we build: headers plus a whole probe (60 bytes of frame, the minimum
/// Ethernet frame without its FCS, is rounded up to this).
pub const MIN_FRAME: usize = PAYLOAD_OFFSET + Probe::LEN;
/// The largest frame we build (a 1500-byte IP MTU plus the Ethernet header).
pub const MAX_FRAME: usize = 1514;

/// Destination IPv4 address of every flow.
pub const DST_IP: [u8; 4] = [10, 2, 0, 1];

/// The header `vsbench` writes at the start of every UDP payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Identifies the run, so frames of an earlier run still in flight are not counted.
    pub run_id: u32,
    /// Sequence number of the frame in the run: the sending thread's index in the top byte
    /// (see [`Probe::SENDER_SHIFT`]), and the frame's number in that thread's share from 0
    /// below it.
    pub seq: u64,
    /// Sender's `CLOCK_MONOTONIC` in nanoseconds when the frame was handed to the kernel.
    pub tx_ns: u64,
}

impl Probe {
    /// Marks a payload as ours ("VSBN").
    pub const MAGIC: u32 = 0x5653_424e;
    /// Encoded length: magic, run id, sequence, timestamp.
    pub const LEN: usize = 4 + 4 + 8 + 8;
    /// `seq >> SENDER_SHIFT` is the index of the thread that sent the frame: each thread
    /// numbers its frames from 0, so the sink checks the order per thread.
    pub const SENDER_SHIFT: u32 = 56;

    /// The index of the thread that sent this frame.
    pub fn sender(&self) -> u8 {
        u8::try_from(self.seq >> Self::SENDER_SHIFT).unwrap_or(u8::MAX)
    }

    /// Writes the probe at the start of `buf` (`buf` must hold [`Probe::LEN`] bytes; shorter
    /// buffers are left untouched and `false` returned).
    pub fn write(&self, buf: &mut [u8]) -> bool {
        let Some(dst) = buf.get_mut(..Self::LEN) else {
            return false;
        };
        dst[0..4].copy_from_slice(&Self::MAGIC.to_be_bytes());
        dst[4..8].copy_from_slice(&self.run_id.to_be_bytes());
        dst[8..16].copy_from_slice(&self.seq.to_be_bytes());
        dst[16..24].copy_from_slice(&self.tx_ns.to_be_bytes());
        true
    }

    /// Reads the probe of a whole frame: `None` unless the frame is IPv4/UDP without VLAN tag or
    /// IP options and its payload starts with our magic.
    pub fn parse(frame: &[u8]) -> Option<Probe> {
        let eth_type = frame.get(12..14)?;
        if eth_type != [0x08, 0x00] || *frame.get(ETH_LEN)? != 0x45 || *frame.get(23)? != 17 {
            return None;
        }
        let p = frame.get(PAYLOAD_OFFSET..PAYLOAD_OFFSET + Self::LEN)?;
        let u32_at = |o: usize| {
            p.get(o..o + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
        };
        let u64_at = |o: usize| {
            p.get(o..o + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        };
        if u32_at(0)? != Self::MAGIC {
            return None;
        }
        Some(Probe {
            run_id: u32_at(4)?,
            seq: u64_at(8)?,
            tx_ns: u64_at(16)?,
        })
    }
}

/// The addresses and ports of flow `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowAddrs {
    /// IPv4 source address.
    pub src_ip: [u8; 4],
    /// IPv4 destination address.
    pub dst_ip: [u8; 4],
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
}

impl FlowAddrs {
    /// Flow `index` (see the module documentation); indices wrap at 65536.
    pub fn of(index: u32) -> FlowAddrs {
        let [_, _, hi, lo] = index.to_be_bytes();
        let port =
            |base: u16, modulus: u32| u16::try_from(index % modulus).map_or(base, |o| base + o);
        FlowAddrs {
            src_ip: [10, 1, hi, lo],
            dst_ip: DST_IP,
            src_port: port(10_000, 50_000),
            dst_port: port(5_000, 1_000),
        }
    }
}

/// Builds the frame template of one flow: `size` bytes (clamped to [`MIN_FRAME`]..=[`MAX_FRAME`]),
/// headers filled in, IPv4 checksum computed, UDP checksum 0 (none, as IPv4 allows), payload
/// zero apart from the probe the sender writes per frame.
pub fn build_frame(size: usize, src_mac: [u8; 6], dst_mac: [u8; 6], flow: FlowAddrs) -> Vec<u8> {
    let size = size.clamp(MIN_FRAME, MAX_FRAME);
    let mut f = vec![0u8; size];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    // Both fit: size <= MAX_FRAME.
    let ip_len = u16::try_from(size - ETH_LEN).unwrap_or(u16::MAX);
    let udp_len = u16::try_from(size - ETH_LEN - IPV4_LEN).unwrap_or(u16::MAX);
    let ip = &mut f[ETH_LEN..ETH_LEN + IPV4_LEN];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64; // ttl
    ip[9] = 17; // udp
    ip[12..16].copy_from_slice(&flow.src_ip);
    ip[16..20].copy_from_slice(&flow.dst_ip);
    let csum = ipv4_checksum(ip);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    let udp = &mut f[ETH_LEN + IPV4_LEN..PAYLOAD_OFFSET];
    udp[0..2].copy_from_slice(&flow.src_port.to_be_bytes());
    udp[2..4].copy_from_slice(&flow.dst_port.to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    f
}

/// The Internet checksum of an IPv4 header whose checksum field is zero.
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // Folded to 16 bits above.
    !u16::try_from(sum).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_round_trips_through_a_frame() {
        let mut f = build_frame(
            64,
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            FlowAddrs::of(300),
        );
        assert_eq!(
            f.len(),
            66,
            "64 is below the probe's minimum and is rounded up"
        );
        let p = Probe {
            run_id: 7,
            seq: 1 << 40,
            tx_ns: 123_456_789,
        };
        assert!(p.write(&mut f[PAYLOAD_OFFSET..]));
        assert_eq!(Probe::parse(&f), Some(p));
        f[PAYLOAD_OFFSET] ^= 1;
        assert_eq!(Probe::parse(&f), None, "a wrong magic is not ours");
    }

    #[test]
    fn headers_are_valid() {
        let f = build_frame(512, [2; 6], [4; 6], FlowAddrs::of(258));
        assert_eq!(f.len(), 512);
        assert_eq!(&f[26..30], &[10, 1, 1, 2], "source address of flow 258");
        assert_eq!(u16::from_be_bytes([f[34], f[35]]), 10_258);
        assert_eq!(u16::from_be_bytes([f[36], f[37]]), 5_258);
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 512 - 14);
        assert_eq!(u16::from_be_bytes([f[38], f[39]]), 512 - 34);
        // A header with its checksum in place sums to 0xffff.
        assert_eq!(ipv4_checksum(&f[14..34]), 0);
        assert_eq!(
            build_frame(9000, [0; 6], [0; 6], FlowAddrs::of(0)).len(),
            MAX_FRAME
        );
    }
}
