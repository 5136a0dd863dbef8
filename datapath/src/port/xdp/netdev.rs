//! Interface facts read with `ioctl(2)` (index, MTU, MAC address), tap devices and AF_PACKET
//! sockets: the system calls under the `internal` and `afpacket` ports.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{abi, cvt, socklen};

/// Checks that `name` is a valid interface name (1..=15 bytes, no NUL, '/' or whitespace).
pub fn check_name(name: &str) -> io::Result<()> {
    let ok = !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name
            .bytes()
            .all(|b| b != 0 && b != b'/' && !b.is_ascii_whitespace());
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {name:?}"),
        ))
    }
}

/// An `ifreq` whose name field holds `name` (checked with [`check_name`]).
pub fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    check_name(name)?;
    // SAFETY: ifreq is a plain C struct (bytes and a union of plain fields); all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

/// Index of interface `name`.
pub fn ifindex(name: &str) -> io::Result<u32> {
    check_name(name)?;
    let c = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

/// A datagram socket used only as a handle for interface ioctls.
fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs interface ioctl `request` on `req`.
fn ifioctl(request: libc::c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
    let sock = ioctl_socket()?;
    // SAFETY: SIOCGIF* requests read the name and write one union member of `req`, which is a
    // valid, exclusively borrowed ifreq for the duration of the call.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), request as _, req as *mut libc::ifreq) })?;
    Ok(())
}

/// MTU of interface `name` (the largest L3 payload; frames may carry 14-18 more bytes).
pub fn mtu(name: &str) -> io::Result<usize> {
    let mut req = ifreq(name)?;
    ifioctl(libc::SIOCGIFMTU, &mut req)?;
    // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member of the union.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    usize::try_from(mtu).map_err(|_| io::Error::other(format!("{name}: negative MTU {mtu}")))
}

/// MAC address of interface `name`, or `None` when it has no Ethernet address.
pub fn mac(name: &str) -> io::Result<Option<[u8; 6]>> {
    let mut req = ifreq(name)?;
    ifioctl(libc::SIOCGIFHWADDR, &mut req)?;
    // SAFETY: SIOCGIFHWADDR filled the `ifru_hwaddr` member of the union.
    let addr = unsafe { req.ifr_ifru.ifru_hwaddr };
    if addr.sa_family != libc::ARPHRD_ETHER {
        return Ok(None);
    }
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(addr.sa_data.iter()) {
        *dst = *src as u8;
    }
    Ok(Some(mac))
}

/// Opens (creating if needed) the tap device `name`: Ethernet frames without a packet-info
/// header, non-blocking. The device lives as long as the returned descriptor (unless made
/// persistent by someone else).
pub fn open_tap(name: &str) -> io::Result<OwnedFd> {
    let mut req = ifreq(name)?;
    // SAFETY: open(2) of a constant NUL-terminated path; the result is checked.
    let fd = cvt(unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    req.ifr_ifru.ifru_flags = abi::IFF_TAP_NO_PI;
    // SAFETY: TUNSETIFF reads the name and flags of `req`, a valid exclusively borrowed ifreq.
    cvt(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETIFF as _,
            &mut req as *mut libc::ifreq,
        )
    })?;
    Ok(fd)
}

/// Receive buffer of an AF_PACKET socket, in bytes.
const PACKET_RCVBUF: libc::c_int = 8 << 20;

/// Opens an AF_PACKET raw socket that receives every frame of interface `ifindex` (in both
/// directions: see [`packet_recv`]) and sends frames out of it, non-blocking.
pub fn packet_socket(ifindex: u32) -> io::Result<OwnedFd> {
    let all = abi::ETH_P_ALL.to_be();
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::c_int::from(all),
        )
    })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // A receive buffer for bursts: the default (about 200 KiB, some 250 small frames) drops
    // frames whenever the polling thread is descheduled for a millisecond. FORCE lifts the
    // rmem_max cap for root; without privileges the plain option is capped, which is fine.
    let rcvbuf: libc::c_int = PACKET_RCVBUF;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: `rcvbuf` is a valid c_int for the length passed.
        let ret = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&rcvbuf as *const libc::c_int).cast(),
                socklen::<libc::c_int>(),
            )
        };
        if ret == 0 {
            break;
        }
    }
    // Copies of frames this socket sends are not looped back to it (Linux 4.20+; older
    // kernels loop them back and `packet_recv` filters them by their packet type).
    let one: libc::c_int = 1;
    // SAFETY: `one` is a valid c_int for the length passed.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            (&one as *const libc::c_int).cast(),
            socklen::<libc::c_int>(),
        )
    };
    // SAFETY: sockaddr_ll is plain data; zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = abi::AF_PACKET;
    sa.sll_protocol = all;
    sa.sll_ifindex = libc::c_int::try_from(ifindex).map_err(io::Error::other)?;
    // SAFETY: `sa` is a valid sockaddr_ll for the length passed.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_ll).cast(),
            socklen::<libc::sockaddr_ll>(),
        )
    })?;
    Ok(fd)
}

/// Reads one frame from a non-blocking packet socket into `buf`. Returns `Ok(None)` when
/// nothing is waiting, and `Some((len, outgoing))` otherwise, where `outgoing` says the frame
/// is a copy of one sent *out of* the interface (by anyone, this port included), which a
/// switch port must not forward again. `len` may exceed `buf.len()` (the frame was truncated).
pub fn packet_recv(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<(usize, bool)>> {
    // SAFETY: sockaddr_ll is plain data; zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut salen = socklen::<libc::sockaddr_ll>();
    // SAFETY: `buf` and `sa` are writable for the lengths passed. MSG_TRUNC makes the kernel
    // return the real frame length without writing past `buf`.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            (&mut sa as *mut libc::sockaddr_ll).cast(),
            &mut salen,
        )
    };
    match usize::try_from(n) {
        Ok(len) => Ok(Some((len, sa.sll_pkttype == libc::PACKET_OUTGOING))),
        Err(_) => would_block(io::Error::last_os_error()),
    }
}

/// Reads one frame from a non-blocking descriptor (a tap) into `buf`; `Ok(None)` when empty.
pub fn fd_read(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is writable for its length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    match usize::try_from(n) {
        Ok(len) => Ok(Some(len)),
        Err(_) => would_block(io::Error::last_os_error()),
    }
}

/// Writes one frame to a non-blocking descriptor (a tap or a bound packet socket). Returns
/// `Ok(false)` when the device cannot take it now (its queue is full).
pub fn fd_write(fd: RawFd, frame: &[u8]) -> io::Result<bool> {
    // SAFETY: `frame` is readable for its length.
    let n = unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
    if n >= 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::ENOBUFS) => Ok(false),
        _ => Err(err),
    }
}

/// Writes every packet of `pkts` to `fd` one frame per `write(2)`, draining `pkts`, and returns
/// how many the device took. A full queue, or the errno `dropped` (what this kind of device
/// answers for a frame it refuses outright, e.g. `EMSGSIZE` on a packet socket or `EIO` on a tap
/// that is down), drops the frame for the caller to count; any other error stops the batch.
pub fn write_batch(
    fd: RawFd,
    pkts: &mut Vec<crate::packet::Packet>,
    dropped: i32,
) -> io::Result<usize> {
    let mut sent = 0;
    let mut result = Ok(());
    for pkt in pkts.drain(..) {
        match fd_write(fd, pkt.data()) {
            Ok(true) => sent += 1,
            Ok(false) => {}
            Err(e) if e.raw_os_error() == Some(dropped) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    pkts.clear();
    result.map(|()| sent)
}

/// Maps EAGAIN to `Ok(None)`.
fn would_block<T>(err: io::Error) -> io::Result<Option<T>> {
    if err.kind() == io::ErrorKind::WouldBlock {
        Ok(None)
    } else {
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("eth0").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a-very-long-name-indeed").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("a b").is_err());
    }

    #[test]
    fn loopback_facts() {
        // `lo` exists in every network namespace.
        assert_eq!(ifindex("lo").ok(), Some(1));
        assert!(mtu("lo").is_ok_and(|m| m >= 1500));
        assert!(mac("lo").is_ok_and(|m| m.is_none()));
        assert!(ifindex("no-such-if0").is_err());
    }
}
