//! The pieces of `bpf(2)` both benchmark programs use ([`xdptx`](super::xdptx), the sender,
//! and [`xdprx`](super::xdprx), the sink's counter): ARRAY maps, loading a hand-assembled XDP
//! program with the verifier's log on failure, and attaching one to an interface through a
//! BPF link (which the kernel detaches when the link's descriptor closes, even if the process
//! is killed).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use datapath::port::afxdp::xdp::bpf_sys::{
    object_name, sys_bpf, Insn, MapCreateAttr, MapElemAttr, ProgLoadAttr, BPF_MAP_CREATE,
    BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_PROG_LOAD, BPF_PROG_TYPE_XDP,
};

const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_XDP: u32 = 37;
const BPF_MAP_TYPE_ARRAY: u32 = 2;

/// `XDP_FLAGS_SKB_MODE`: generic XDP, run on socket buffers.
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
/// `XDP_FLAGS_DRV_MODE`: native XDP, run by the driver.
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// XDP verdicts.
pub const XDP_DROP: i32 = 1;
pub const XDP_PASS: i32 = 2;

/// Helper function numbers.
pub const FUNC_MAP_LOOKUP_ELEM: i32 = 1;
pub const FUNC_KTIME_GET_NS: i32 = 5;
pub const FUNC_REDIRECT: i32 = 23;

/// `bpf_attr` for BPF_LINK_CREATE (prefix).
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// Takes ownership of a descriptor bpf(2) just returned.
pub fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by bpf(2) as a new descriptor that nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A descriptor as the `u32` fields of `bpf_attr` want it.
pub fn fd_u32(fd: &OwnedFd) -> io::Result<u32> {
    u32::try_from(fd.as_raw_fd()).map_err(|_| io::Error::other("negative descriptor"))
}

/// A descriptor as the immediate of a map load wants it.
pub fn fd_i32(fd: &OwnedFd) -> i32 {
    fd.as_raw_fd()
}

/// An ARRAY map with u32 keys and `value_size`-byte values, all zero.
pub fn array_map(value_size: u32, entries: u32) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size,
        max_entries: entries,
        ..MapCreateAttr::default()
    };
    sys_bpf(BPF_MAP_CREATE, &mut attr).map(owned)
}

/// Stores `value` at `key` of an ARRAY map whose values are `N` bytes.
pub fn map_store<const N: usize>(map: &OwnedFd, key: u32, value: &[u8; N]) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: fd_u32(map)?,
        key: &key as *const u32 as u64,
        value: value.as_ptr() as u64,
        ..MapElemAttr::default()
    };
    sys_bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// Reads the `N`-byte value at `key` of an ARRAY map.
pub fn map_load<const N: usize>(map: &OwnedFd, key: u32) -> io::Result<[u8; N]> {
    let mut value = [0u8; N];
    let mut attr = MapElemAttr {
        map_fd: fd_u32(map)?,
        key: &key as *const u32 as u64,
        value: value.as_mut_ptr() as u64,
        ..MapElemAttr::default()
    };
    sys_bpf(BPF_MAP_LOOKUP_ELEM, &mut attr)?;
    Ok(value)
}

/// Loads an XDP program named `name`; on failure the error carries the verifier's log.
pub fn load_xdp(name: &str, insns: &[Insn]) -> io::Result<OwnedFd> {
    let license = c"Apache-2.0";
    let attempt = |log: &mut Vec<u8>| {
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: u32::try_from(insns.len()).unwrap_or(0),
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            prog_name: object_name(name),
            ..ProgLoadAttr::default()
        };
        if !log.is_empty() {
            attr.log_level = 1;
            attr.log_size = u32::try_from(log.len()).unwrap_or(u32::MAX);
            attr.log_buf = log.as_mut_ptr() as u64;
        }
        sys_bpf(BPF_PROG_LOAD, &mut attr)
    };
    match attempt(&mut Vec::new()) {
        Ok(fd) => Ok(owned(fd)),
        Err(err) => {
            // Load again with the verifier log, only to explain the failure.
            let mut log = vec![0u8; 64 * 1024];
            let _ = attempt(&mut log);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(log.get(..end).unwrap_or_default());
            Err(io::Error::new(
                err.kind(),
                format!(
                    "loading the XDP program {name}: {err}; verifier: {}",
                    text.trim()
                ),
            ))
        }
    }
}

/// Attaches an XDP program to interface `ifindex` in the mode `flags` names, through a BPF
/// link: the program stays attached while the returned descriptor is open.
pub fn attach_xdp(prog: &OwnedFd, ifindex: u32, flags: u32) -> io::Result<OwnedFd> {
    let mut link = LinkCreateAttr {
        prog_fd: fd_u32(prog)?,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags,
    };
    sys_bpf(BPF_LINK_CREATE, &mut link).map(owned)
}
