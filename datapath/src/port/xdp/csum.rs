//! Repair of TCP and UDP checksums left *partial* by a sender's checksum offload.
//!
//! A Linux sender whose device offers transmit checksum offload (a veth in a namespace does by
//! default) hands the device a packet whose L4 checksum field holds only the folded sum of the
//! pseudo-header, expecting the hardware (or the receiving kernel, for a veth) to finish it.
//! The kernel marks such packets `CHECKSUM_PARTIAL` in their skb; AF_XDP and AF_PACKET copy the
//! bare bytes and the mark is lost, so a switch that forwards them delivers TCP segments and
//! UDP datagrams with wrong checksums, which the receiver drops.
//!
//! The repair is cheap where it is not needed: it sums only the pseudo-header (a dozen
//! additions) and compares it with the checksum field. A partial checksum equals that sum
//! exactly; a complete one equals it only by a 1-in-65536 coincidence, and recomputing a
//! complete checksum rewrites the same value, so the test has no false repair. Only the frames
//! that match pay for a sum over the whole segment.
//!
//! Handled: Ethernet with up to two VLAN tags; IPv4 (options allowed, unfragmented) and IPv6
//! without extension headers; TCP and UDP. Anything else is left untouched.

use flowtable::wire::checksum;

/// What [`repair`] found in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repair {
    /// Not TCP or UDP over IPv4/IPv6, truncated, fragmented or with a UDP checksum of zero.
    NotApplicable,
    /// The checksum was not partial; the frame is unchanged (its checksum may still be wrong:
    /// a corrupted frame is left for the receiver to reject).
    Complete,
    /// The checksum was partial and has been completed.
    Repaired,
}

const ETH_HLEN: usize = 14;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

fn be16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

fn be32(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

/// Completes the TCP/UDP checksum of `frame` if it is partial.
pub fn repair(frame: &mut [u8]) -> Repair {
    repair_inner(frame).unwrap_or(Repair::NotApplicable)
}

fn repair_inner(frame: &mut [u8]) -> Option<Repair> {
    // Ethernet and up to two VLAN tags.
    let mut l3 = ETH_HLEN;
    let mut ethertype = be16(frame, 12)?;
    for _ in 0..2 {
        if ethertype == 0x8100 || ethertype == 0x88a8 {
            ethertype = be16(frame, l3 + 2)?;
            l3 += 4;
        }
    }
    let (proto, l4, pseudo) = match ethertype {
        0x0800 => {
            let ip = frame.get(l3..)?;
            let ihl = usize::from(*ip.first()? & 0x0f) * 4;
            let total = usize::from(be16(ip, 2)?);
            let frag = be16(ip, 6)?;
            // More fragments, or a non-zero offset: the segment is not all here.
            if ihl < 20 || total < ihl || frag & 0x3fff != 0 || total > ip.len() {
                return None;
            }
            let proto = *ip.get(9)?;
            let len = u16::try_from(total - ihl).ok()?;
            let pseudo = checksum::pseudo_header_v4(be32(ip, 12)?, be32(ip, 16)?, proto, len);
            (proto, l3 + ihl..l3 + total, pseudo)
        }
        0x86dd => {
            let ip = frame.get(l3..)?;
            let payload = usize::from(be16(ip, 4)?);
            if 40 + payload > ip.len() {
                return None;
            }
            let proto = *ip.get(6)?;
            let src: &[u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: &[u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let len = u32::try_from(payload).ok()?;
            let pseudo = checksum::pseudo_header_v6(src, dst, proto, len);
            (proto, l3 + 40..l3 + 40 + payload, pseudo)
        }
        _ => return None,
    };
    let field = match proto {
        PROTO_TCP => 16,
        PROTO_UDP => 6,
        _ => return None,
    };
    let segment = frame.get_mut(l4)?;
    let check = be16(segment, field)?;
    if proto == PROTO_TCP && segment.len() < 20 || proto == PROTO_UDP && segment.len() < 8 {
        return None;
    }
    if proto == PROTO_UDP && check == 0 {
        // An IPv4 UDP datagram without checksum (an IPv6 one is invalid either way).
        return None;
    }
    if check != checksum::fold(pseudo) {
        return Some(Repair::Complete);
    }
    segment.get_mut(field..field + 2)?.copy_from_slice(&[0, 0]);
    let mut full = checksum::finish(checksum::sum(segment, pseudo));
    if proto == PROTO_UDP && full == 0 {
        full = 0xffff;
    }
    segment
        .get_mut(field..field + 2)?
        .copy_from_slice(&full.to_be_bytes());
    // A complete checksum can equal the pseudo-header sum by chance (1 in 65536): it was
    // right, is rewritten with the same value, and does not count as a repair.
    Some(if full == check {
        Repair::Complete
    } else {
        Repair::Repaired
    })
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // small test values
mod tests {
    use super::*;

    /// An Ethernet + IPv4 + TCP/UDP frame with a complete checksum and `payload_len` bytes.
    fn v4_frame(proto: u8, payload_len: usize) -> Vec<u8> {
        let l4_hdr = if proto == PROTO_TCP { 20 } else { 8 };
        let l4_len = l4_hdr + payload_len;
        let mut f = vec![0u8; 14 + 20 + l4_len];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&u16::try_from(20 + l4_len).unwrap().to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let l4 = &mut f[34..];
        l4[0..2].copy_from_slice(&1234u16.to_be_bytes());
        l4[2..4].copy_from_slice(&80u16.to_be_bytes());
        if proto == PROTO_TCP {
            l4[12] = 0x50;
        } else {
            l4[4..6].copy_from_slice(&u16::try_from(l4_len).unwrap().to_be_bytes());
        }
        for (i, b) in l4[l4_hdr..].iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        let field = if proto == PROTO_TCP { 16 } else { 6 };
        let pseudo = checksum::pseudo_header_v4(0x0a00_0001, 0x0a00_0002, proto, l4_len as u16);
        let c = checksum::finish(checksum::sum(l4, pseudo));
        l4[field..field + 2].copy_from_slice(&c.to_be_bytes());
        f
    }

    /// Makes the checksum of a frame from `v4_frame` partial, as an offloading sender would.
    fn make_partial(f: &mut [u8], proto: u8) {
        let field = 34 + if proto == PROTO_TCP { 16 } else { 6 };
        let l4_len = (f.len() - 34) as u16;
        let pseudo = checksum::pseudo_header_v4(0x0a00_0001, 0x0a00_0002, proto, l4_len);
        f[field..field + 2].copy_from_slice(&checksum::fold(pseudo).to_be_bytes());
    }

    #[test]
    fn partial_tcp_and_udp_are_completed() {
        for proto in [PROTO_TCP, PROTO_UDP] {
            for len in [0, 1, 17, 1400] {
                let good = v4_frame(proto, len);
                let mut f = good.clone();
                make_partial(&mut f, proto);
                assert_ne!(f, good);
                assert_eq!(repair(&mut f), Repair::Repaired);
                assert_eq!(f, good, "proto {proto} len {len}");
                // Idempotent: a repaired frame is complete.
                assert_eq!(repair(&mut f), Repair::Complete);
            }
        }
    }

    #[test]
    fn a_complete_checksum_equal_to_the_pseudo_header_sum_is_not_a_repair() {
        // Search payloads until the complete checksum equals the folded pseudo-header sum.
        let pseudo = checksum::pseudo_header_v4(0x0a00_0001, 0x0a00_0002, PROTO_UDP, 8 + 2);
        let mut f = v4_frame(PROTO_UDP, 2);
        let found = (0..=u16::MAX).find(|&v| {
            f[42..44].copy_from_slice(&v.to_be_bytes());
            f[40..42].copy_from_slice(&[0, 0]);
            let c = checksum::finish(checksum::sum(&f[34..], pseudo));
            f[40..42].copy_from_slice(&c.to_be_bytes());
            c == checksum::fold(pseudo)
        });
        assert!(found.is_some());
        let before = f.clone();
        assert_eq!(repair(&mut f), Repair::Complete);
        assert_eq!(f, before);
    }

    #[test]
    fn complete_and_foreign_frames_are_untouched() {
        let mut f = v4_frame(PROTO_TCP, 100);
        let orig = f.clone();
        assert_eq!(repair(&mut f), Repair::Complete);
        assert_eq!(f, orig);
        // A wrong (corrupted, not partial) checksum is left for the receiver to reject.
        f[50] ^= 0xff;
        let corrupted = f.clone();
        assert_eq!(repair(&mut f), Repair::Complete);
        assert_eq!(f, corrupted);
        // Fragments, non-IP, truncated frames and checksum-less UDP are not applicable.
        let mut frag = v4_frame(PROTO_UDP, 10);
        frag[20] = 0x20; // more fragments
        assert_eq!(repair(&mut frag), Repair::NotApplicable);
        let mut arp = v4_frame(PROTO_UDP, 10);
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(repair(&mut arp), Repair::NotApplicable);
        let mut short = v4_frame(PROTO_TCP, 10);
        short.truncate(40);
        assert_eq!(repair(&mut short), Repair::NotApplicable);
        let mut nocsum = v4_frame(PROTO_UDP, 10);
        nocsum[40..42].copy_from_slice(&[0, 0]);
        assert_eq!(repair(&mut nocsum), Repair::NotApplicable);
        assert_eq!(repair(&mut []), Repair::NotApplicable);
    }

    #[test]
    fn vlan_tagged_and_ipv6_frames() {
        // VLAN: insert a tag after the MAC addresses.
        let good = v4_frame(PROTO_UDP, 33);
        let mut tagged_good = good[..12].to_vec();
        tagged_good.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
        tagged_good.extend_from_slice(&good[12..]);
        let mut f = good.clone();
        make_partial(&mut f, PROTO_UDP);
        let mut tagged = f[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
        tagged.extend_from_slice(&f[12..]);
        assert_eq!(repair(&mut tagged), Repair::Repaired);
        assert_eq!(tagged, tagged_good);

        // IPv6 + TCP.
        let payload = 20 + 5;
        let mut v6 = vec![0u8; 14 + 40 + payload];
        v6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        v6[14] = 0x60;
        v6[18..20].copy_from_slice(&(payload as u16).to_be_bytes());
        v6[20] = PROTO_TCP;
        v6[21] = 64;
        v6[22 + 15] = 1; // src ::1
        v6[38 + 15] = 2; // dst ::2
        v6[54 + 12] = 0x50;
        let src: [u8; 16] = v6[22..38].try_into().unwrap();
        let dst: [u8; 16] = v6[38..54].try_into().unwrap();
        let pseudo = checksum::pseudo_header_v6(&src, &dst, PROTO_TCP, payload as u32);
        let full = checksum::finish(checksum::sum(&v6[54..], pseudo));
        v6[54 + 16..54 + 18].copy_from_slice(&checksum::fold(pseudo).to_be_bytes());
        assert_eq!(repair(&mut v6), Repair::Repaired);
        assert_eq!(v6[54 + 16..54 + 18], full.to_be_bytes());
    }
}
