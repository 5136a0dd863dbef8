//! Software segmentation of TCP "super-frames" (what a sender with TSO/GSO hands its device,
//! up to 64 KiB) into frames that fit the MTU.
//!
//! A veth sender with segmentation offload passes such frames to its peer; AF_PACKET and
//! generic (skb-mode) XDP hand them to user space whole, and no interface would transmit them.
//! [`segment`] cuts one into MSS-sized segments the way the kernel's GSO does: the headers are
//! copied, the IPv4 identification increments per segment, the IP length, TCP sequence number
//! and both checksums are rewritten, FIN and PSH stay on the last segment and CWR on the first.
//! The checksums of the segments are computed in full, so a partial checksum of the
//! super-frame does not matter.
//!
//! Handled: Ethernet with up to two VLAN tags, IPv4 (with options) or IPv6 without extension
//! headers, TCP. Anything else that is too long is not segmented (the caller drops it).

use flowtable::wire::checksum;

const PROTO_TCP: u8 = 6;
/// TCP flags that belong on the last segment only.
const FIN_PSH: u8 = 0x01 | 0x08;
/// TCP flag that belongs on the first segment only.
const CWR: u8 = 0x80;

fn be16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

fn be32(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

fn put16(buf: &mut [u8], at: usize, v: u16) -> Option<()> {
    buf.get_mut(at..at + 2)?.copy_from_slice(&v.to_be_bytes());
    Some(())
}

/// The layout of a TCP frame's headers.
struct Layout {
    /// Offset of the IP header.
    l3: usize,
    /// Offset of the TCP header.
    l4: usize,
    /// Offset of the payload (end of the TCP header).
    payload: usize,
    /// End of the IP packet (frame padding excluded).
    end: usize,
    ipv4: bool,
}

fn layout(frame: &[u8]) -> Option<Layout> {
    let mut l3 = 14;
    let mut ethertype = be16(frame, 12)?;
    for _ in 0..2 {
        if ethertype == 0x8100 || ethertype == 0x88a8 {
            ethertype = be16(frame, l3 + 2)?;
            l3 += 4;
        }
    }
    let ip = frame.get(l3..)?;
    let (ipv4, l4, end) = match ethertype {
        0x0800 => {
            let ihl = usize::from(*ip.first()? & 0x0f) * 4;
            // A super-frame's total length may read 0 when it exceeds 64 KiB (kernel
            // "BIG TCP"); such frames are not handled.
            let total = usize::from(be16(ip, 2)?);
            if ihl < 20 || *ip.get(9)? != PROTO_TCP || be16(ip, 6)? & 0x3fff != 0 {
                return None;
            }
            (true, l3 + ihl, l3 + total)
        }
        0x86dd => {
            if *ip.get(6)? != PROTO_TCP {
                return None;
            }
            (false, l3 + 40, l3 + 40 + usize::from(be16(ip, 4)?))
        }
        _ => return None,
    };
    let doff = usize::from(*frame.get(l4 + 12)? >> 4) * 4;
    let payload = l4 + doff;
    if doff < 20 || payload > end || end > frame.len() {
        return None;
    }
    Some(Layout {
        l3,
        l4,
        payload,
        end,
        ipv4,
    })
}

/// Whether `frame` is longer than an MTU of `mtu` allows (IP packet longer than `mtu`).
/// Cheap for the common case: only frames within a VLAN tag or two of the limit are parsed.
pub fn oversized(frame: &[u8], mtu: usize) -> bool {
    if frame.len() <= mtu + 14 {
        false
    } else if frame.len() > mtu + 22 {
        // Longer than Ethernet plus two VLAN tags plus the MTU allows.
        true
    } else {
        layout(frame).is_some_and(|l| l.end - l.l3 > mtu)
    }
}

/// Cuts the TCP super-frame `frame` into segments whose IP packets fit `mtu`, handing each
/// to `emit`. Returns the number of segments, or `None` (nothing emitted) when the frame is
/// not TCP over IPv4/IPv6 as described in the module documentation, or `mtu` leaves no room
/// for payload.
pub fn segment(frame: &[u8], mtu: usize, mut emit: impl FnMut(&[u8])) -> Option<usize> {
    let l = layout(frame)?;
    let headers = frame.get(..l.payload)?;
    let data = frame.get(l.payload..l.end)?;
    let mss = mtu.checked_sub(l.payload - l.l3).filter(|&m| m > 0)?;
    let count = data.len().div_ceil(mss).max(1);
    let ip_id = if l.ipv4 { be16(frame, l.l3 + 4)? } else { 0 };
    let seq = be32(frame, l.l4 + 4)?;
    let flags = *frame.get(l.l4 + 13)?;
    let (tcp_off, ip_off) = (l.l4 - l.l3, l.l4);

    let mut out = Vec::with_capacity(l.payload + mss);
    for (i, chunk) in data.chunks(mss).enumerate() {
        out.clear();
        out.extend_from_slice(headers);
        out.extend_from_slice(chunk);
        let ip_len = out.len() - l.l3;
        let tcp_len = out.len() - ip_off;
        let offset = u32::try_from(i * mss).ok()?;
        let first = i == 0;
        let last = i + 1 == count;
        let mut seg_flags = flags;
        if !last {
            seg_flags &= !FIN_PSH;
        }
        if !first {
            seg_flags &= !CWR;
        }
        let ip = out.get_mut(l.l3..)?;
        let pseudo = if l.ipv4 {
            put16(ip, 2, u16::try_from(ip_len).ok()?)?;
            put16(ip, 4, ip_id.wrapping_add(u16::try_from(i).ok()?))?;
            put16(ip, 10, 0)?;
            let hc = checksum::checksum(ip.get(..tcp_off)?);
            put16(ip, 10, hc)?;
            checksum::pseudo_header_v4(
                be32(ip, 12)?,
                be32(ip, 16)?,
                PROTO_TCP,
                u16::try_from(tcp_len).ok()?,
            )
        } else {
            put16(ip, 4, u16::try_from(tcp_len).ok()?)?;
            let src: &[u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: &[u8; 16] = ip.get(24..40)?.try_into().ok()?;
            checksum::pseudo_header_v6(src, dst, PROTO_TCP, u32::try_from(tcp_len).ok()?)
        };
        let tcp = out.get_mut(ip_off..)?;
        tcp.get_mut(4..8)?
            .copy_from_slice(&seq.wrapping_add(offset).to_be_bytes());
        *tcp.get_mut(13)? = seg_flags;
        put16(tcp, 16, 0)?;
        let c = checksum::finish(checksum::sum(tcp, pseudo));
        put16(tcp, 16, c)?;
        emit(&out);
    }
    Some(count)
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // small test values
mod tests {
    use super::*;

    /// An Ethernet/IPv4/TCP frame with `payload` bytes, TCP options of `opts` bytes, `flags`.
    fn tcp_v4(payload: usize, opts: usize, flags: u8) -> Vec<u8> {
        let tcp_len = 20 + opts + payload;
        let mut f = vec![0u8; 34 + tcp_len];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        f[18..20].copy_from_slice(&0xfff0u16.to_be_bytes()); // id, to see it wrap
        f[20] = 0x40;
        f[22] = 64;
        f[23] = PROTO_TCP;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        f[38..42].copy_from_slice(&0xffff_ff00u32.to_be_bytes()); // seq, to see it wrap
        f[46] = (((20 + opts) / 4) as u8) << 4;
        f[47] = flags;
        for (i, b) in f[34 + 20 + opts..].iter_mut().enumerate() {
            *b = (i % 253) as u8;
        }
        f
    }

    fn verify_v4(seg: &[u8]) {
        let ip = &seg[14..];
        let ihl = usize::from(ip[0] & 0xf) * 4;
        assert_eq!(checksum::checksum(&ip[..ihl]), 0, "IPv4 header checksum");
        let tcp = &ip[ihl..];
        let src = u32::from_be_bytes(ip[12..16].try_into().unwrap());
        let dst = u32::from_be_bytes(ip[16..20].try_into().unwrap());
        let pseudo = checksum::pseudo_header_v4(src, dst, PROTO_TCP, tcp.len() as u16);
        assert_eq!(
            checksum::finish(checksum::sum(tcp, pseudo)),
            0,
            "TCP checksum"
        );
    }

    #[test]
    fn a_super_frame_is_cut_like_gso() {
        let payload = 10_000;
        let f = tcp_v4(payload, 12, 0x18 | CWR); // PSH|ACK|CWR
        assert!(oversized(&f, 1500));
        let mut segs: Vec<Vec<u8>> = Vec::new();
        let n = segment(&f, 1500, |s| segs.push(s.to_vec()));
        let mss = 1500 - 20 - 32;
        assert_eq!(n, Some(payload.div_ceil(mss)));
        assert_eq!(segs.len(), payload.div_ceil(mss));
        let mut data = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            verify_v4(s);
            assert!(s.len() - 14 <= 1500 && !oversized(s, 1500));
            let id = u16::from_be_bytes([s[18], s[19]]);
            assert_eq!(id, 0xfff0u16.wrapping_add(i as u16));
            let seq = u32::from_be_bytes(s[38..42].try_into().unwrap());
            assert_eq!(seq, 0xffff_ff00u32.wrapping_add((i * mss) as u32));
            let flags = s[47];
            assert_eq!(
                flags & 0x08 != 0,
                i + 1 == segs.len(),
                "PSH on the last only"
            );
            assert_eq!(flags & CWR != 0, i == 0, "CWR on the first only");
            assert_eq!(flags & 0x10, 0x10, "ACK on all");
            assert_eq!(
                s[34..66],
                f[34..66]
                    .iter()
                    .enumerate()
                    .map(|(j, b)| match j {
                        4..=7 | 13 | 16 | 17 => s[34 + j],
                        _ => *b,
                    })
                    .collect::<Vec<_>>()[..],
                "TCP header and options copied"
            );
            data.extend_from_slice(&s[66..]);
        }
        assert_eq!(data, f[66..]);
    }

    #[test]
    fn ipv6_and_vlan_super_frames() {
        let payload = 4000;
        let tcp_len = 20 + payload;
        let mut f = vec![0u8; 18 + 40 + tcp_len];
        f[12..14].copy_from_slice(&[0x81, 0x00]);
        f[14..16].copy_from_slice(&[0x00, 0x07]);
        f[16..18].copy_from_slice(&[0x86, 0xdd]);
        f[18] = 0x60;
        f[22..24].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        f[24] = PROTO_TCP;
        f[25] = 64;
        f[18 + 8 + 15] = 1;
        f[18 + 24 + 15] = 2;
        f[58 + 12] = 0x50;
        f[58 + 13] = 0x11; // FIN|ACK
        let mut segs = Vec::new();
        assert_eq!(segment(&f, 1500, |s| segs.push(s.to_vec())), Some(3));
        for (i, s) in segs.iter().enumerate() {
            let tcp = &s[58..];
            let plen = u16::from_be_bytes([s[22], s[23]]);
            assert_eq!(usize::from(plen), tcp.len());
            let src: [u8; 16] = s[26..42].try_into().unwrap();
            let dst: [u8; 16] = s[42..58].try_into().unwrap();
            let pseudo = checksum::pseudo_header_v6(&src, &dst, PROTO_TCP, tcp.len() as u32);
            assert_eq!(checksum::finish(checksum::sum(tcp, pseudo)), 0);
            assert_eq!(tcp[13] & 0x01 != 0, i == 2, "FIN on the last only");
        }
    }

    #[test]
    fn full_mtu_frames_with_vlan_tags_are_not_oversized() {
        let full = tcp_v4(1460, 0, 0x10);
        assert_eq!(full.len(), 1514);
        assert!(!oversized(&full, 1500));
        let mut tagged = full[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&full[12..]);
        assert!(!oversized(&tagged, 1500));
        let bigger = tcp_v4(1461, 0, 0x10);
        let mut tagged = bigger[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&bigger[12..]);
        assert!(oversized(&tagged, 1500));
    }

    #[test]
    fn small_or_foreign_frames_are_not_segmented() {
        let small = tcp_v4(100, 0, 0x10);
        assert!(!oversized(&small, 1500));
        let mut count = 0;
        assert_eq!(segment(&small, 1500, |_| count += 1), Some(1));
        let mut udp = tcp_v4(3000, 0, 0x10);
        udp[23] = 17;
        assert!(oversized(&udp, 1500));
        assert_eq!(segment(&udp, 1500, |_| count += 1), None);
        assert_eq!(
            segment(&small, 20, |_| count += 1),
            None,
            "no room for payload"
        );
        assert_eq!(segment(&small[..40], 1500, |_| count += 1), None);
        assert_eq!(count, 1);
    }
}
