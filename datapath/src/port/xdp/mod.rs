//! The kernel interfaces under the `afxdp`, `internal` and `afpacket` ports, each wrapped once
//! behind a safe API (STYLE.md rule 8): every `unsafe` block of the real ports lives here.
//!
//! * [`netdev`]: interface index, MTU and MAC address (ioctls on a throw-away socket).
//! * [`bpf`]: the `bpf(2)` system call: an `XSKMAP` and the five-instruction XDP program that
//!   redirects each frame to the AF_XDP socket of its receive queue.
//! * [`netlink`]: attaching and detaching that program on an interface (`RTM_SETLINK`,
//!   `IFLA_XDP`), in native (driver) or skb (generic) mode.
//! * [`hook`]: the program and map of an interface, shared by the ports of its queues.
//! * [`offload`]: the program that forwards cached flows itself (XDP flow offload), its maps,
//!   and the query of whether an interface takes redirected frames.
//! * [`umem`]: the frame memory, shared by the sockets of a PMD thread, and its free list;
//!   `owned`: a socket's share of it.
//! * [`xsk`]: the AF_XDP socket itself: the four rings, need-wakeup.
//! * [`csum`]: repair of TCP/UDP checksums left partial by a sender's checksum offload.
//! * [`gso`]: software segmentation of TCP super-frames from senders with TSO.
//! * [`ingress`]: the fix-ups of a received frame (repair, segmentation, batch limit).
//! * [`options`]: the ports' `options` maps, checked and parsed.
//!
//! Why not the `afxdp` crate: see docs/DATAPATH-PORTS.md ("Implementation choice"). In short,
//! it cannot force skb mode (its socket always attaches with libbpf's default flags), its
//! `Drop` frees libbpf's UMEM and socket structs twice, and it never detaches the program.

pub mod bpf;
pub mod bpf_sys;
pub mod csum;
pub mod gso;
pub mod hook;
pub mod ingress;
pub mod netdev;
pub mod netlink;
pub mod offload;
pub mod options;
mod owned;
pub mod umem;
pub mod xsk;

use std::io;

/// The last OS error, for a system call that returned -1.
fn last_err() -> io::Error {
    io::Error::last_os_error()
}

/// Converts a `-1`-on-error return value into a `Result`.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(last_err())
    } else {
        Ok(ret)
    }
}

/// `size_of::<T>()` as a `socklen_t`: the kernel structs passed by address are a few dozen
/// bytes, far below `socklen_t::MAX`.
fn socklen<T>() -> libc::socklen_t {
    libc::socklen_t::try_from(std::mem::size_of::<T>()).unwrap_or(libc::socklen_t::MAX)
}

/// Kernel ABI constants, which `libc` declares as `c_int`, in the types of the fields that
/// carry them. Every value is far below the target type's maximum.
#[allow(clippy::cast_possible_truncation)]
mod abi {
    pub const AF_XDP: libc::sa_family_t = libc::AF_XDP as libc::sa_family_t;
    pub const AF_NETLINK: libc::sa_family_t = libc::AF_NETLINK as libc::sa_family_t;
    pub const AF_PACKET: u16 = libc::AF_PACKET as u16;
    pub const AF_UNSPEC: u8 = libc::AF_UNSPEC as u8;
    pub const ETH_P_ALL: u16 = libc::ETH_P_ALL as u16;
    pub const NLM_F_REQUEST_ACK: u16 = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    pub const NLMSG_ERROR: u32 = libc::NLMSG_ERROR as u32;
    pub const IFF_TAP_NO_PI: libc::c_short = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
}
