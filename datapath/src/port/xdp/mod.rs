//! The kernel interfaces under the `afxdp`, `internal` and `afpacket` ports, each wrapped once
//! behind a safe API (STYLE.md rule 8): every `unsafe` block of the real ports lives here.
//!
//! * [`netdev`]: interface index, MTU and MAC address (ioctls on a throw-away socket).
//! * [`bpf`]: the `bpf(2)` system call: an `XSKMAP` and the five-instruction XDP program that
//!   redirects each frame to the AF_XDP socket of its receive queue.
//! * [`netlink`]: attaching and detaching that program on an interface (`RTM_SETLINK`,
//!   `IFLA_XDP`), in native (driver) or skb (generic) mode.
//! * [`xsk`]: the AF_XDP socket itself: UMEM, the four rings, need-wakeup.
//! * [`csum`]: repair of TCP/UDP checksums left partial by a sender's checksum offload.
//!
//! Why not the `afxdp` crate: see docs/DATAPATH-PORTS.md ("Implementation choice"). In short,
//! it cannot force skb mode (its socket always attaches with libbpf's default flags), its
//! `Drop` frees libbpf's UMEM and socket structs twice, and it never detaches the program.

pub mod bpf;
pub mod csum;
pub mod netdev;
pub mod netlink;
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
