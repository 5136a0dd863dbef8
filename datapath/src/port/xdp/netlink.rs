//! Attaching an XDP program to an interface with rtnetlink (`RTM_SETLINK` + `IFLA_XDP`).
//!
//! Netlink attachment outlives the process: a switch that is killed leaves its program on the
//! interface (harmless: with no socket in its map the program passes frames to the kernel
//! stack). [`Netlink::attach`] therefore first removes whatever program is attached in either
//! mode, so a leftover never stops the next start, and [`Netlink::detach_if_ours`] removes the
//! program on
//! shutdown only if it is still the one this port attached (`XDP_FLAGS_REPLACE` with
//! `IFLA_XDP_EXPECTED_FD`), so closing one port never removes another's program.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{abi, cvt, socklen};

const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_EXPECTED_FD: u16 = 8;
const NLA_F_NESTED: u16 = 1 << 15;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const XDP_FLAGS_REPLACE: u32 = 1 << 4;

/// Where the XDP program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver, before an skb is allocated (veth, most physical NICs).
    Native,
    /// Generic XDP, after the skb is built: works on every interface, slower.
    Skb,
}

impl XdpMode {
    /// The mode's name in options and logs.
    pub fn name(self) -> &'static str {
        match self {
            XdpMode::Native => "native",
            XdpMode::Skb => "skb",
        }
    }

    fn flags(self) -> u32 {
        match self {
            XdpMode::Native => XDP_FLAGS_DRV_MODE,
            XdpMode::Skb => XDP_FLAGS_SKB_MODE,
        }
    }
}

/// Appends a netlink attribute (header, payload, padding to 4 bytes).
pub(super) fn put_attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// Builds the RTM_SETLINK request that sets the XDP program of `ifindex` to `fd` (-1: none).
fn setlink_request(ifindex: u32, fd: RawFd, flags: u32, expected_fd: Option<RawFd>) -> Vec<u8> {
    let mut xdp = Vec::with_capacity(32);
    put_attr(&mut xdp, IFLA_XDP_FD, &fd.to_ne_bytes());
    put_attr(&mut xdp, IFLA_XDP_FLAGS, &flags.to_ne_bytes());
    if let Some(expected) = expected_fd {
        put_attr(&mut xdp, IFLA_XDP_EXPECTED_FD, &expected.to_ne_bytes());
    }
    let mut body = Vec::with_capacity(64);
    // struct ifinfomsg: family, pad, type, index, flags, change.
    body.extend_from_slice(&[abi::AF_UNSPEC, 0, 0, 0]);
    body.extend_from_slice(&ifindex.to_ne_bytes());
    body.extend_from_slice(&0u32.to_ne_bytes());
    body.extend_from_slice(&0u32.to_ne_bytes());
    put_attr(&mut body, IFLA_XDP | NLA_F_NESTED, &xdp);

    let mut msg = Vec::with_capacity(16 + body.len());
    let len = u32::try_from(16 + body.len()).unwrap_or(u32::MAX);
    msg.extend_from_slice(&len.to_ne_bytes());
    msg.extend_from_slice(&libc::RTM_SETLINK.to_ne_bytes());
    let nl_flags = abi::NLM_F_REQUEST_ACK;
    msg.extend_from_slice(&nl_flags.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    msg.extend_from_slice(&body);
    msg
}

/// A route netlink socket, opened in the network namespace of the thread that created it, so
/// that a port can detach its program on drop even when dropped by a thread of another
/// namespace.
#[derive(Debug)]
pub struct Netlink {
    sock: OwnedFd,
}

impl Netlink {
    /// Opens a route netlink socket in the current thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        })?;
        // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        // A bounded wait for the acknowledgement: the kernel answers at once, but a lost
        // answer must not hang the caller forever.
        let timeout = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: `timeout` is a valid timeval for the length passed.
        cvt(unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                socklen::<libc::timeval>(),
            )
        })?;
        Ok(Netlink { sock })
    }

    /// Sends one request and returns its acknowledgement's verdict.
    fn transact(&self, request: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is plain data; all-zero addresses the kernel.
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = abi::AF_NETLINK;
        // SAFETY: `request` and `kernel` are valid for the lengths passed.
        let sent = unsafe {
            libc::sendto(
                self.sock.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                socklen::<libc::sockaddr_nl>(),
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut reply = [0u8; 4096];
        loop {
            // SAFETY: `reply` is a valid writable buffer of the length passed.
            let n = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    reply.as_mut_ptr().cast(),
                    reply.len(),
                    0,
                )
            };
            let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
            if let Some(verdict) = find_ack(reply.get(..n).unwrap_or_default()) {
                return verdict;
            }
        }
    }

    /// Attaches `prog_fd` to `ifindex` in `mode`, first removing any program already
    /// attached in either mode (a leftover of a killed process, or of an earlier port).
    pub fn attach(&self, ifindex: u32, prog_fd: RawFd, mode: XdpMode) -> io::Result<()> {
        // Errors are expected here: no program attached, or no native support in the driver.
        for old in [XdpMode::Native, XdpMode::Skb] {
            let _ = self.transact(&setlink_request(ifindex, -1, old.flags(), None));
        }
        self.transact(&setlink_request(ifindex, prog_fd, mode.flags(), None))
    }

    /// Removes `prog_fd` from `ifindex` if it is still the program attached in `mode`.
    pub fn detach_if_ours(&self, ifindex: u32, prog_fd: RawFd, mode: XdpMode) -> io::Result<()> {
        let flags = mode.flags() | XDP_FLAGS_REPLACE;
        self.transact(&setlink_request(ifindex, -1, flags, Some(prog_fd)))
    }
}

/// Finds the acknowledgement (`NLMSG_ERROR`) in a datagram of netlink messages.
fn find_ack(mut rest: &[u8]) -> Option<io::Result<()>> {
    while rest.len() >= 16 {
        let word = |at: usize| {
            rest.get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_ne_bytes)
                .unwrap_or(0)
        };
        let len = usize::try_from(word(0)).unwrap_or(0);
        if word(4) & 0xffff == abi::NLMSG_ERROR {
            // struct nlmsgerr: a negative errno (0 for success), then the request's header.
            let code = i32::from_ne_bytes(word(16).to_ne_bytes());
            return Some(if code == 0 {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(code.saturating_neg()))
            });
        }
        if len < 16 {
            return None;
        }
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    None
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // small test values
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let msg = setlink_request(7, 5, XDP_FLAGS_SKB_MODE, None);
        // nlmsghdr 16 + ifinfomsg 16 + IFLA_XDP header 4 + two 8-byte attributes.
        assert_eq!(msg.len(), 16 + 16 + 4 + 8 + 8);
        assert_eq!(&msg[0..4], &(msg.len() as u32).to_ne_bytes());
        assert_eq!(&msg[20..24], &7u32.to_ne_bytes());
        assert_eq!(&msg[34..36], &(IFLA_XDP | NLA_F_NESTED).to_ne_bytes());
        assert_eq!(&msg[40..44], &5i32.to_ne_bytes());
        assert_eq!(&msg[48..52], &XDP_FLAGS_SKB_MODE.to_ne_bytes());
        let replace = setlink_request(7, -1, XDP_FLAGS_REPLACE, Some(5));
        assert_eq!(replace.len(), msg.len() + 8);
    }

    #[test]
    fn acks_are_found() {
        let mut ack = vec![0u8; 36];
        ack[0..4].copy_from_slice(&36u32.to_ne_bytes());
        ack[4..6].copy_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        assert!(matches!(find_ack(&ack), Some(Ok(()))));
        ack[16..20].copy_from_slice(&(-libc::EBUSY).to_ne_bytes());
        let err = find_ack(&ack)
            .and_then(Result::err)
            .and_then(|e| e.raw_os_error());
        assert_eq!(err, Some(libc::EBUSY));
        assert!(find_ack(&ack[..10]).is_none());
        let mut other = ack.clone();
        other[4..6].copy_from_slice(&16u16.to_ne_bytes());
        assert!(find_ack(&other).is_none());
    }
}
