//! The few system calls the generator needs, each wrapped once: network namespaces, interface
//! lookup, `AF_PACKET` sockets and the monotonic clock.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `CLOCK_MONOTONIC` in nanoseconds (the clock the probes carry).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// The offset to add to a `CLOCK_REALTIME` time (such as the kernel's receive timestamps) to
/// get `CLOCK_MONOTONIC`, in nanoseconds (two's complement; add with `wrapping_add`).
pub fn realtime_to_monotonic() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mono0 = monotonic_ns();
    // SAFETY: as in `monotonic_ns`.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    let mono1 = monotonic_ns();
    let real = (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64);
    (mono0 / 2 + mono1 / 2).wrapping_sub(real)
}

/// CPU time (user + system) consumed so far by the calling thread, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as in `monotonic_ns`.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Pins the calling thread to CPU `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    let bits = 8 * std::mem::size_of::<libc::cpu_set_t>();
    if cpu >= bits {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("CPU {cpu} is beyond the {bits} a CPU set holds"),
        ));
    }
    // SAFETY: cpu_set_t is a plain bit array for which all-zero bytes are the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit inside `set` (cpu < its size in bits, checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: sched_setaffinity reads `size_of::<cpu_set_t>()` bytes from `set`, which we own;
    // pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("pinning to CPU {cpu}: {e}"),
        ));
    }
    Ok(())
}

/// Moves the calling thread into the network namespace `name` (as `ip netns` names them, a
/// file under /run/netns) or, if `name` contains a `/`, the namespace file at that path.
/// Only this thread moves: sockets it opens afterwards belong to that namespace.
pub fn enter_netns(name: &str) -> io::Result<()> {
    let path = if name.contains('/') {
        name.to_string()
    } else {
        format!("/run/netns/{name}")
    };
    let file = std::fs::File::open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("network namespace {path}: {e}")))?;
    // SAFETY: setns(2) on an open namespace file descriptor; it only changes this thread's
    // namespace and touches no memory of ours.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("setns {path}: {e}")));
    }
    Ok(())
}

/// The index of interface `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> io::Result<i32> {
    let c = CString::new(name).map_err(|_| io::Error::other("interface name contains NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("interface {name}: {e}")));
    }
    i32::try_from(idx).map_err(|_| io::Error::other("interface index out of range"))
}

/// The MAC address of interface `name` in the calling thread's namespace (asked with an ioctl
/// on a socket opened here: /sys shows the namespace of whoever mounted it, not this thread's).
pub fn mac_address(name: &str) -> io::Result<[u8; 6]> {
    let sock = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    // SAFETY: ifreq is a plain C struct for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::other(format!("interface name {name} too long")));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads ifr_name and writes the ifru_hwaddr member of `req`, which
    // we own exclusively.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("MAC address of {name}: {e}"),
        ));
    }
    // SAFETY: after a successful SIOCGIFHWADDR the union holds ifru_hwaddr.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}

/// `AF_PACKET` as the 16-bit family field of `sockaddr_ll` wants it (the constant is 17).
#[allow(clippy::cast_possible_truncation)]
pub const AF_PACKET_FAMILY: u16 = libc::AF_PACKET as u16;
/// `ETH_P_ALL` (0x0003) in network byte order, as `socket(2)` and `sockaddr_ll` want it.
#[allow(clippy::cast_possible_truncation)]
pub const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

/// The size of `T` as a `socklen_t` (every socket structure is far below 4 GiB).
pub fn socklen<T>() -> libc::socklen_t {
    libc::socklen_t::try_from(std::mem::size_of::<T>()).unwrap_or(libc::socklen_t::MAX)
}

/// socket(2), owned.
pub fn socket(domain: i32, ty: i32, protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) has no memory arguments.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// setsockopt(2) with a plain value.
pub fn setsockopt<T: Copy>(fd: &OwnedFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::other("option too large"))?;
    // SAFETY: `value` points to `len` readable bytes for the duration of the call.
    let rc =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An `AF_PACKET` raw socket bound to interface `ifindex` for every protocol (`ETH_P_ALL`), or
/// for none when `rx` is false (a send-only socket the kernel queues nothing to).
pub fn packet_socket(ifindex: i32, rx: bool) -> io::Result<OwnedFd> {
    let proto = if rx { ETH_P_ALL_BE } else { 0 };
    let fd = socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto))?;
    // SAFETY: sockaddr_ll is a plain C struct for which all-zero bytes are a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = AF_PACKET_FAMILY;
    addr.sll_protocol = proto;
    addr.sll_ifindex = ifindex;
    let len = socklen::<libc::sockaddr_ll>();
    // SAFETY: `addr` is a valid sockaddr_ll of `len` bytes.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}
