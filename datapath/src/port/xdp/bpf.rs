//! The `bpf(2)` system call, reduced to what an AF_XDP port needs: one `XSKMAP` (receive queue
//! index -> AF_XDP socket) and one XDP program that redirects every frame to the socket of the
//! queue it arrived on, or passes it to the kernel stack when that queue has no socket.
//!
//! The program is five instructions, assembled here rather than compiled from C, so building
//! the switch needs neither clang nor libbpf:
//!
//! ```text
//! r2 = *(u32 *)(r1 + 16)        ; ctx->rx_queue_index
//! r1 = map_fd(XSKMAP)           ; 16-byte load of a map reference
//! r3 = XDP_PASS                 ; flags: the action when the map has no entry for r2
//! call bpf_redirect_map
//! exit                          ; r0 = XDP_REDIRECT or XDP_PASS
//! ```

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::bpf_sys::{
    insn, object_name, sys_bpf, Insn, MapCreateAttr, MapElemAttr, ProgLoadAttr, BPF_MAP_CREATE,
    BPF_MAP_DELETE_ELEM, BPF_MAP_UPDATE_ELEM, BPF_PROG_LOAD, BPF_PROG_TYPE_XDP, BPF_PSEUDO_MAP_FD,
};
use super::offload;

const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
const XDP_PASS: i32 = 2;
const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;
/// Offset of `rx_queue_index` in `struct xdp_md`.
const XDP_MD_RX_QUEUE_INDEX: i16 = 16;

/// An `XSKMAP`: receive queue index -> AF_XDP socket.
#[derive(Debug)]
pub struct XskMap {
    fd: OwnedFd,
    max_entries: u32,
}

impl XskMap {
    /// Creates a map for queues `0..max_entries`.
    pub fn create(max_entries: u32) -> io::Result<XskMap> {
        let mut attr = MapCreateAttr {
            map_type: BPF_MAP_TYPE_XSKMAP,
            key_size: 4,
            value_size: 4,
            max_entries,
            map_name: object_name("xsks_map"),
            ..MapCreateAttr::default()
        };
        let fd = sys_bpf(BPF_MAP_CREATE, &mut attr)?;
        // SAFETY: BPF_MAP_CREATE returned a new file descriptor that nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(XskMap { fd, max_entries })
    }

    /// Directs frames received on `queue` to the AF_XDP socket `xsk_fd`.
    pub fn insert(&self, queue: u32, xsk_fd: RawFd) -> io::Result<()> {
        self.check_queue(queue)?;
        let key = queue;
        let value = u32::try_from(xsk_fd).map_err(|_| io::Error::other("negative socket fd"))?;
        let mut attr = MapElemAttr {
            map_fd: self.map_fd()?,
            key: &key as *const u32 as u64,
            value: &value as *const u32 as u64,
            ..MapElemAttr::default()
        };
        sys_bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
    }

    /// Stops redirecting `queue` (its frames go to the kernel stack again).
    pub fn remove(&self, queue: u32) -> io::Result<()> {
        self.check_queue(queue)?;
        let key = queue;
        let mut attr = MapElemAttr {
            map_fd: self.map_fd()?,
            key: &key as *const u32 as u64,
            ..MapElemAttr::default()
        };
        sys_bpf(BPF_MAP_DELETE_ELEM, &mut attr).map(drop)
    }

    fn check_queue(&self, queue: u32) -> io::Result<()> {
        if queue < self.max_entries {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "queue {queue} outside the XSKMAP (size {})",
                    self.max_entries
                ),
            ))
        }
    }

    fn map_fd(&self) -> io::Result<u32> {
        u32::try_from(self.fd.as_raw_fd()).map_err(|_| io::Error::other("negative map fd"))
    }
}

/// A loaded XDP program that redirects each frame to `map`'s socket for its receive queue.
/// The kernel keeps the map alive as long as the program exists.
#[derive(Debug)]
pub struct RedirectProgram {
    fd: OwnedFd,
}

impl RedirectProgram {
    /// Loads the program for `map`. With `frags`, the program declares that it handles
    /// multi-buffer frames (`BPF_F_XDP_HAS_FRAGS`: it reads only `rx_queue_index`), which lets
    /// generic XDP pass frames larger than a page to a socket bound with `XDP_USE_SG`.
    pub fn load(map: &XskMap, frags: bool) -> io::Result<RedirectProgram> {
        let map_fd = map.fd.as_raw_fd();
        let insns = vec![
            // BPF_LDX | BPF_MEM | BPF_W
            insn(0x61, 2, 1, XDP_MD_RX_QUEUE_INDEX, 0),
            // BPF_LD | BPF_DW | BPF_IMM, two slots
            insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, map_fd),
            insn(0, 0, 0, 0, 0),
            // BPF_ALU64 | BPF_MOV | BPF_K
            insn(0xb7, 3, 0, 0, XDP_PASS),
            // BPF_JMP | BPF_CALL
            insn(0x85, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
            // BPF_JMP | BPF_EXIT
            insn(0x95, 0, 0, 0, 0),
        ];
        Self::load_insns("xsk_redirect", &insns, frags)
    }

    /// Loads the offload program ([`super::offload`]) of hook `hook_id`, which sends what it
    /// does not forward itself to `map`'s sockets; native mode only (no frags).
    pub fn load_offload(
        map: &XskMap,
        maps: &offload::Maps,
        hook_id: u32,
        csum_check: bool,
    ) -> io::Result<RedirectProgram> {
        let insns = offload::program(maps, map.fd.as_raw_fd(), hook_id, csum_check);
        Self::load_insns("vs_offload", &insns, false)
    }

    fn load_insns(name: &str, insns: &[Insn], frags: bool) -> io::Result<RedirectProgram> {
        let license = c"Apache-2.0";
        let mut log = vec![0u8; 0];
        let attempt = |log: &mut Vec<u8>| {
            let mut attr = ProgLoadAttr {
                prog_type: BPF_PROG_TYPE_XDP,
                insn_cnt: u32::try_from(insns.len()).unwrap_or(0),
                insns: insns.as_ptr() as u64,
                license: license.as_ptr() as u64,
                prog_name: object_name(name),
                prog_flags: if frags { BPF_F_XDP_HAS_FRAGS } else { 0 },
                ..ProgLoadAttr::default()
            };
            if !log.is_empty() {
                attr.log_level = 1;
                attr.log_size = u32::try_from(log.len()).unwrap_or(u32::MAX);
                attr.log_buf = log.as_mut_ptr() as u64;
            }
            sys_bpf(BPF_PROG_LOAD, &mut attr)
        };
        let fd = match attempt(&mut log) {
            Ok(fd) => fd,
            Err(err) => {
                // Load again with the verifier log, only to explain the failure.
                log.resize(16 * 1024, 0);
                let _ = attempt(&mut log);
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(log.get(..end).unwrap_or_default());
                return Err(io::Error::new(
                    err.kind(),
                    format!("loading the XDP program: {err}; verifier: {}", text.trim()),
                ));
            }
        };
        // SAFETY: BPF_PROG_LOAD returned a new file descriptor that nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(RedirectProgram { fd })
    }

    /// The program's file descriptor (for attaching it).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
