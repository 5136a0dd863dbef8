//! The raw `bpf(2)` interface shared by the AF_XDP port's program ([`super::bpf`]) and the
//! benchmark generator's (`tests/src/bench/xdptx.rs`): instruction encoding, the prefixes of
//! `union bpf_attr` they use, and the system call.

use std::io;
use std::os::fd::RawFd;

/// `BPF_MAP_CREATE`.
pub const BPF_MAP_CREATE: libc::c_long = 0;
/// `BPF_MAP_LOOKUP_ELEM`.
pub const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
/// `BPF_MAP_UPDATE_ELEM`.
pub const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
/// `BPF_MAP_DELETE_ELEM`.
pub const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
/// `BPF_PROG_TEST_RUN` (`BPF_PROG_RUN`).
pub const BPF_PROG_TEST_RUN: libc::c_long = 10;
/// `BPF_PROG_LOAD`.
pub const BPF_PROG_LOAD: libc::c_long = 5;
/// `BPF_PROG_TYPE_XDP`.
pub const BPF_PROG_TYPE_XDP: u32 = 6;
/// `BPF_PSEUDO_MAP_FD`: the source register of a 16-byte load that names a map by descriptor.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Insn {
    /// The opcode.
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high nibble.
    pub regs: u8,
    /// The offset (of a memory access, or of a jump, in instructions).
    pub off: i16,
    /// The immediate.
    pub imm: i32,
}

/// Encodes one instruction: opcode, destination and source registers, offset, immediate.
pub const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0xf),
        off,
        imm,
    }
}

/// `bpf_attr` for BPF_MAP_CREATE (prefix; the kernel accepts a shorter attr if the rest is 0).
///
/// The fields are the kernel's, in its order.
#[repr(C)]
#[derive(Debug, Default)]
pub struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; 16],
}

/// `bpf_attr` for BPF_MAP_*_ELEM.
///
/// The fields are the kernel's, in its order.
#[repr(C)]
#[derive(Debug, Default)]
pub struct MapElemAttr {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    pub value: u64,
    pub flags: u64,
}

/// `bpf_attr` for BPF_PROG_LOAD (prefix up to `expected_attach_type`).
///
/// The fields are the kernel's, in its order.
#[repr(C)]
#[derive(Debug, Default)]
pub struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; 16],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
}

/// Calls `bpf(cmd, attr, size_of(attr))` and returns the resulting non-negative value.
/// `bpf_attr` for `BPF_PROG_TEST_RUN`: runs a program on a frame (tests, and the benchmark
/// generator's live frames).
#[repr(C)]
#[derive(Debug, Default)]
pub struct TestRunAttr {
    pub prog_fd: u32,
    pub retval: u32,
    pub data_size_in: u32,
    pub data_size_out: u32,
    pub data_in: u64,
    pub data_out: u64,
    pub repeat: u32,
    pub duration: u32,
    pub ctx_size_in: u32,
    pub ctx_size_out: u32,
    pub ctx_in: u64,
    pub ctx_out: u64,
    pub flags: u32,
    pub cpu: u32,
    pub batch_size: u32,
    pub _pad: u32,
}

pub fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<RawFd> {
    // SAFETY: `attr` is a valid, exclusively borrowed repr(C) prefix of `union bpf_attr` for
    // `cmd`, and its exact size is passed, so the kernel reads and writes only inside it. Any
    // pointers inside it were set by the caller to buffers that outlive this call.
    let ret =
        unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    RawFd::try_from(ret).map_err(|_| io::Error::other("bpf(2) returned an out-of-range value"))
}

/// Copies `name` into a NUL-padded 16-byte object name (truncated to 15 bytes).
pub fn object_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (dst, src) in out.iter_mut().take(15).zip(name.bytes()) {
        *dst = if src.is_ascii_alphanumeric() || src == b'_' {
            src
        } else {
            b'_'
        };
    }
    out
}
