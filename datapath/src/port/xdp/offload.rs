//! XDP flow offload: cached flows forwarded (or dropped) by the port's XDP program itself,
//! in the kernel, without the trip through the AF_XDP socket and the PMD thread.
//!
//! # What is offloaded
//!
//! A frame qualifies when it is untagged IPv4 without options, not a fragment, TCP or UDP,
//! and its TCP/UDP checksum is not partial (see [`super::csum`]: such a frame needs the PMD
//! thread's repair). For a qualifying frame the program builds an exact key ([`XdpKey`]: the
//! port's hook and queue, both MAC addresses, both IPv4 addresses, protocol, TOS, TTL and both
//! L4 ports) and looks it up in one hash map shared by every offloading port of the process.
//! Every other field of the datapath's flow key is fixed for such a frame (no tags, no
//! tunnel, no conntrack state before the pipeline runs), except the TCP flags. So when the
//! megaflow that decided a frame does not look at the TCP flags, every frame with the same
//! exact key takes the same decision, and the PMD thread may install the key with that
//! decision: output to one afxdp port (`bpf_redirect`) or drop.
//!
//! # Consistency with table swaps
//!
//! An entry carries the table version of its decision and the datapath's slot in a small
//! ARRAY map of current versions; the program uses an entry only while the two agree.
//! `Datapath::set_tables` writes the new version there and waits an RCU grace period
//! ([`synchronize`]: no program run that read the old version is still going), so an entry
//! stops forwarding before `set_tables` returns, as the PMD threads' cached decisions do. The
//! PMD thread installs the key again, with the new version, when its next frame comes up.
//!
//! # Counters
//!
//! Each entry counts its frames and bytes; the revalidator reads them and credits the
//! megaflow, its rules, the ports and the drop counters, so nothing the kernel forwarded
//! or dropped is missing from `dump-flows`, `dump-ports` or `dump-drops` (they lag by up to
//! one revalidation period, half a second).
//!
//! # The program
//!
//! Hand-assembled, as the plain redirect program ([`super::bpf`]); the labels in
//! [`program`] name its parts. A frame that does not qualify or has no current entry goes
//! to the AF_XDP socket of its queue, exactly as with the plain program.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::bpf_sys::{
    insn, object_name, sys_bpf, Insn, MapCreateAttr, MapElemAttr, BPF_MAP_CREATE,
    BPF_MAP_DELETE_ELEM, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_PSEUDO_MAP_FD,
};

const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const FUNC_MAP_LOOKUP_ELEM: i32 = 1;
const FUNC_REDIRECT: i32 = 23;
const FUNC_REDIRECT_MAP: i32 = 51;
const XDP_DROP: i32 = 1;
const XDP_PASS: i32 = 2;

/// Entries of the shared flow map (all ports, all datapaths of the process).
pub const MAX_ENTRIES: u32 = 65_536;
/// Datapaths that can offload at once (slots of the version map).
pub const MAX_SLOTS: u32 = 64;

/// The exact key of a qualifying frame (32 bytes, laid out as the program writes it).
pub type XdpKey = [u8; 32];

/// An entry's value, as the program reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpValue {
    /// The datapath's slot in the version map.
    pub slot: u32,
    /// Interface to redirect to; 0: drop.
    pub out_ifindex: u32,
    /// The table version of the decision.
    pub version: u64,
    /// Frames the program handled with this entry.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Longer frames go to the socket (the output port's MTU plus the Ethernet header).
    pub max_len: u32,
    /// Which megaflow installed it (the program does not read it).
    pub owner: u32,
}

/// Offsets in `XdpValue`.
const V_SLOT: i16 = 0;
const V_OUT: i16 = 4;
const V_VERSION: i16 = 8;
const V_PACKETS: i16 = 16;
const V_BYTES: i16 = 24;
const V_MAX_LEN: i16 = 32;
const VALUE_SIZE: u32 = 40;
const _: () = assert!(std::mem::size_of::<XdpValue>() == VALUE_SIZE as usize);

/// What the datapath needs to know of an afxdp port for offload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpPort {
    /// The interface.
    pub ifindex: u32,
    /// Its network namespace (the inode of its namespace file): redirects stay inside one.
    pub netns: u64,
    /// The hook's offload id when its program offloads (native mode, `xdp-offload=true`).
    pub offload_id: Option<u32>,
    /// The receive queue the port serves.
    pub queue: u32,
    /// The longest frame the port sends (MTU + Ethernet header).
    pub max_len: u32,
}

/// The shared maps.
#[derive(Debug)]
pub struct Maps {
    flows: OwnedFd,
    versions: OwnedFd,
    slots: Mutex<Vec<bool>>,
}

static MAPS: OnceLock<Option<Maps>> = OnceLock::new();
static NEXT_HOOK: AtomicU32 = AtomicU32::new(1);

fn create_map(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    entries: u32,
    name: &str,
) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type,
        key_size,
        value_size,
        max_entries: entries,
        map_name: object_name(name),
        ..MapCreateAttr::default()
    };
    let fd = sys_bpf(BPF_MAP_CREATE, &mut attr)?;
    // SAFETY: BPF_MAP_CREATE returned a new descriptor that nobody else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

fn fd_u32(fd: &OwnedFd) -> u32 {
    u32::try_from(fd.as_raw_fd()).unwrap_or(u32::MAX)
}

/// The process's maps, created on first use; `None` if the kernel refused them (offload is
/// then off, and every frame takes the socket).
pub fn maps() -> Option<&'static Maps> {
    MAPS.get_or_init(|| {
        let made = create_map(BPF_MAP_TYPE_HASH, 32, VALUE_SIZE, MAX_ENTRIES, "vs_offload")
            .and_then(|flows| {
                let versions = create_map(BPF_MAP_TYPE_ARRAY, 4, 8, MAX_SLOTS, "vs_versions")?;
                Ok(Maps {
                    flows,
                    versions,
                    slots: Mutex::new(vec![false; MAX_SLOTS as usize]),
                })
            });
        match made {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(error = %e, "XDP offload unavailable: creating its maps failed");
                None
            }
        }
    })
    .as_ref()
}

/// A new id for a hook whose program offloads.
pub fn next_hook_id() -> u32 {
    NEXT_HOOK.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff
}

fn elem(map: &OwnedFd, cmd: libc::c_long, key: *const u8, value: *mut u8) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: fd_u32(map),
        key: key as u64,
        value: value as u64,
        ..MapElemAttr::default()
    };
    sys_bpf(cmd, &mut attr).map(drop)
}

impl Maps {
    /// Installs (or replaces) `key`.
    pub fn insert(&self, key: &XdpKey, value: &XdpValue) -> io::Result<()> {
        let mut v = *value;
        elem(
            &self.flows,
            BPF_MAP_UPDATE_ELEM,
            key.as_ptr(),
            (&raw mut v).cast(),
        )
    }

    /// Installs (or replaces) `keys[i]` with `values[i]` for every `i`, in one system call
    /// (`BPF_MAP_UPDATE_BATCH`); returns how many were installed, in order, before an error
    /// (the map full, say).
    pub fn insert_all(&self, keys: &[XdpKey], values: &[XdpValue]) -> io::Result<usize> {
        const BPF_MAP_UPDATE_BATCH: libc::c_long = 26;
        #[repr(C)]
        #[derive(Default)]
        struct BatchAttr {
            in_batch: u64,
            out_batch: u64,
            keys: u64,
            values: u64,
            count: u32,
            map_fd: u32,
            elem_flags: u64,
            flags: u64,
        }
        let n = keys.len().min(values.len());
        if n == 0 {
            return Ok(0);
        }
        let mut attr = BatchAttr {
            keys: keys.as_ptr() as u64,
            values: values.as_ptr() as u64,
            count: u32::try_from(n).unwrap_or(u32::MAX),
            map_fd: fd_u32(&self.flows),
            ..BatchAttr::default()
        };
        match sys_bpf(BPF_MAP_UPDATE_BATCH, &mut attr) {
            Ok(_) => Ok(n),
            // The kernel says how far it got.
            Err(e) if attr.count > 0 => {
                tracing::debug!(error = %e, done = attr.count, "batch install stopped");
                Ok(usize::try_from(attr.count).unwrap_or(0).min(n))
            }
            Err(e) => Err(e),
        }
    }

    /// Removes `key` (absent: not an error).
    pub fn remove(&self, key: &XdpKey) -> io::Result<()> {
        match elem(
            &self.flows,
            BPF_MAP_DELETE_ELEM,
            key.as_ptr(),
            std::ptr::null_mut(),
        ) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            other => other,
        }
    }

    /// The entry of `key`, if installed.
    pub fn get(&self, key: &XdpKey) -> io::Result<Option<XdpValue>> {
        let mut v = XdpValue::default();
        match elem(
            &self.flows,
            BPF_MAP_LOOKUP_ELEM,
            key.as_ptr(),
            (&raw mut v).cast(),
        ) {
            Ok(()) => Ok(Some(v)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Takes a free version slot for a datapath.
    pub fn take_slot(&'static self) -> Option<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let i = slots.iter().position(|used| !used)?;
        if let Some(s) = slots.get_mut(i) {
            *s = true;
        }
        let slot = Slot {
            maps: self,
            index: u32::try_from(i).unwrap_or(0),
            current: Mutex::new(0),
        };
        // Version 0 matches no decision (versions start at 1). (Nothing an earlier owner of
        // the slot installed can match again anyway: keys name their hook, and hook ids are
        // never reused.)
        slot.write(0).ok()?;
        Some(slot)
    }
}

/// A datapath's slot in the version map; freed on drop.
#[derive(Debug)]
pub struct Slot {
    maps: &'static Maps,
    index: u32,
    /// The version last written (written under this lock, so it only moves forward).
    current: Mutex<u64>,
}

impl Slot {
    /// The slot's index (entries carry it).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The maps.
    pub fn maps(&self) -> &'static Maps {
        self.maps
    }

    /// Makes `version` the current one, unless a later one already is: entries of other
    /// versions stop forwarding (after [`synchronize`]).
    pub fn set_version(&self, version: u64) -> io::Result<()> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if version < *current {
            return Ok(());
        }
        *current = version;
        self.write(version)
    }

    fn write(&self, version: u64) -> io::Result<()> {
        let key = self.index;
        let mut v = version;
        elem(
            &self.maps.versions,
            BPF_MAP_UPDATE_ELEM,
            (&raw const key).cast(),
            (&raw mut v).cast(),
        )
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let _ = self.write(0);
        let mut slots = self
            .maps
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = slots.get_mut(self.index as usize) {
            *s = false;
        }
    }
}

/// Waits until every XDP program run that began before the call has ended (an RCU grace
/// period: `membarrier(MEMBARRIER_CMD_GLOBAL)`, which the kernel implements with
/// `synchronize_rcu`, and XDP programs run inside RCU read-side sections).
pub fn synchronize() -> io::Result<()> {
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    // SAFETY: membarrier takes two integer arguments and touches no memory of ours.
    let ret = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

// ---- the frame ----------------------------------------------------------------------------

const ETH_P_IPV4: [u8; 2] = [0x08, 0x00];
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
/// Bytes the program needs: Ethernet, IPv4 without options, and the L4 header up to the
/// checksum (UDP: 8 bytes; TCP: 20).
const NEED_UDP: usize = 14 + 20 + 8;
const NEED_TCP: usize = 14 + 20 + 20;
const NEED_UDP_IMM: i32 = 14 + 20 + 8;
const NEED_TCP_IMM: i32 = 14 + 20 + 20;

/// Whether `frame` qualifies (module documentation), and its protocol.
///
/// A qualifying frame is one the datapath's flow extraction (`flowtable::extract`) reads in
/// full: its IPv4 total length lies within the frame and holds the whole UDP header, or a TCP
/// header whose data offset is at least 5 words and within the packet. A malformed frame
/// gets a partial key from the extraction, which must never be installed as, or matched by,
/// a well-formed frame's key.
fn qualifies(frame: &[u8]) -> Option<u8> {
    if frame.len() < NEED_UDP
        || frame.get(12..14)? != ETH_P_IPV4
        || *frame.get(14)? != 0x45
        || frame.get(20)? & 0x3f != 0
        || *frame.get(21)? != 0
    {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]));
    if 14 + total > frame.len() {
        return None;
    }
    match *frame.get(23)? {
        PROTO_UDP if total >= 20 + 8 => Some(PROTO_UDP),
        PROTO_TCP if frame.len() >= NEED_TCP && total >= 20 + 20 => {
            let data_offset = usize::from(frame.get(46)? >> 4) * 4;
            (data_offset >= 20 && data_offset <= total - 20).then_some(PROTO_TCP)
        }
        _ => None,
    }
}

/// The key the program builds for `frame` arriving on queue `queue` of hook `hook_id`, if the
/// frame qualifies. (The program also leaves frames with a partial checksum to the socket;
/// the PMD thread sees them repaired, and their key is the same.)
pub fn key_of(frame: &[u8], hook_id: u32, queue: u32) -> Option<XdpKey> {
    let proto = qualifies(frame)?;
    let mut k = [0u8; 32];
    k[0..4].copy_from_slice(&hook_id.to_ne_bytes());
    k[4..16].copy_from_slice(frame.get(0..12)?);
    k[16..24].copy_from_slice(frame.get(26..34)?);
    k[24..28].copy_from_slice(frame.get(34..38)?);
    k[28] = proto;
    k[29] = *frame.get(15)?;
    k[30] = *frame.get(22)?;
    k[31] = u8::try_from(queue).ok()?;
    Some(k)
}

/// Whether a decision that looked at the TCP flags can be offloaded for a frame of `proto`.
pub fn flags_allow(proto_of_key: u8, mask_has_tcp_flags: bool) -> bool {
    !(mask_has_tcp_flags && proto_of_key == PROTO_TCP)
}

// ---- the program ---------------------------------------------------------------------------

/// A small assembler: instructions with forward jumps to named labels.
struct Asm {
    v: Vec<Insn>,
    fixups: Vec<(usize, &'static str)>,
    labels: Vec<(&'static str, usize)>,
}

impl Asm {
    fn new() -> Asm {
        Asm {
            v: Vec::new(),
            fixups: Vec::new(),
            labels: Vec::new(),
        }
    }
    fn i(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.v.push(insn(code, dst, src, off, imm));
    }
    /// A jump (`code`) to `label`.
    fn j(&mut self, code: u8, dst: u8, src: u8, imm: i32, label: &'static str) {
        self.fixups.push((self.v.len(), label));
        self.v.push(insn(code, dst, src, 0, imm));
    }
    fn map(&mut self, dst: u8, fd: RawFd) {
        self.i(0x18, dst, BPF_PSEUDO_MAP_FD, 0, fd);
        self.i(0, 0, 0, 0, 0);
    }
    fn label(&mut self, name: &'static str) {
        self.labels.push((name, self.v.len()));
    }
    fn finish(mut self) -> Vec<Insn> {
        for (at, name) in self.fixups {
            let target = self
                .labels
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(at + 1, |(_, t)| *t);
            if let Some(i) = self.v.get_mut(at) {
                i.off = i16::try_from(target as i64 - at as i64 - 1).unwrap_or(0);
            }
        }
        self.v
    }
}

/// The wire bytes `b0 b1` as a little-endian 16-bit load sees them.
const fn wire16(b0: u8, b1: u8) -> i32 {
    (b0 as i32) | ((b1 as i32) << 8)
}

/// Assembles the offload program for hook `hook_id`, redirecting what it does not handle to
/// `xskmap`. With `csum_check`, frames whose TCP/UDP checksum is partial go to the socket.
pub fn program(maps: &Maps, xskmap: RawFd, hook_id: u32, csum_check: bool) -> Vec<Insn> {
    // Codes: LDX B/H/W/DW (0x71 0x69 0x61 0x79); STX B/W (0x73 0x63); ST W/B imm (0x62 0x72);
    // ALU64 mov/add/sub/and/lsh/rsh K (0xb7 0x07 0x17 0x57 0x67 0x77), mov/add/sub X (0xbf
    // 0x0f 0x1f); END to-BE (0xdc); JEQ/JNE/JGT X (0x1d 0x5d 0x2d); JEQ/JNE/JGT/JLT K (0x15
    // 0x55 0x25 0xa5); JSET K (0x45); JA (0x05);
    // atomic add DW (0xdb); CALL (0x85); EXIT (0x95); LD_IMM64 (0x18).
    let flows = maps.flows.as_raw_fd();
    let versions = maps.versions.as_raw_fd();
    let hook = i32::try_from(hook_id).unwrap_or(0);
    let mut a = Asm::new();
    a.i(0xbf, 6, 1, 0, 0); // r6 = ctx
    a.i(0x61, 7, 6, 0, 0); // r7 = data
    a.i(0x61, 8, 6, 4, 0); // r8 = data_end
    a.i(0xbf, 1, 7, 0, 0);
    a.i(0x07, 1, 0, 0, NEED_UDP_IMM);
    a.j(0x2d, 1, 8, 0, "xsk"); // too short
    a.i(0x69, 1, 7, 12, 0);
    a.j(0x55, 1, 0, wire16(0x08, 0x00), "xsk"); // not IPv4 (or tagged)
    a.i(0x71, 1, 7, 14, 0);
    a.j(0x55, 1, 0, 0x45, "xsk"); // options
    a.i(0x69, 1, 7, 20, 0);
    a.j(0x45, 1, 0, wire16(0x3f, 0xff), "xsk"); // MF or an offset: a fragment
    a.i(0x71, 9, 7, 23, 0); // r9 = protocol
    a.j(0x15, 9, 0, i32::from(PROTO_UDP), "l4");
    a.j(0x55, 9, 0, i32::from(PROTO_TCP), "xsk");
    a.i(0xbf, 1, 7, 0, 0);
    a.i(0x07, 1, 0, 0, NEED_TCP_IMM);
    a.j(0x2d, 1, 8, 0, "xsk");
    a.label("l4");
    // What `qualifies` checks of the lengths: r1 = total length, r2 = frame length.
    a.i(0x69, 1, 7, 16, 0);
    a.i(0xdc, 1, 0, 0, 16);
    a.i(0xbf, 2, 8, 0, 0);
    a.i(0x1f, 2, 7, 0, 0);
    a.i(0xbf, 3, 1, 0, 0);
    a.i(0x07, 3, 0, 0, 14);
    a.j(0x2d, 3, 2, 0, "xsk"); // total length beyond the frame
    a.j(0x15, 9, 0, i32::from(PROTO_TCP), "tcp_len");
    a.j(0xa5, 1, 0, 20 + 8, "xsk"); // no room for the UDP header
    a.j(0x05, 0, 0, 0, "lengths_ok");
    a.label("tcp_len");
    a.j(0xa5, 1, 0, 20 + 20, "xsk");
    a.i(0x71, 3, 7, 46, 0); // data offset, in words
    a.i(0x77, 3, 0, 0, 4);
    a.j(0xa5, 3, 0, 5, "xsk");
    a.i(0x67, 3, 0, 0, 2);
    a.i(0x17, 1, 0, 0, 20);
    a.j(0x2d, 3, 1, 0, "xsk"); // the TCP header runs past the packet
    a.label("lengths_ok");
    a.i(0x61, 1, 6, 16, 0); // rx_queue_index: the key has one byte for it
    a.j(0x25, 1, 0, 255, "xsk");
    if csum_check {
        // r4 = the L4 checksum field; a UDP datagram without a checksum is complete.
        a.j(0x15, 9, 0, i32::from(PROTO_UDP), "udp_csum");
        a.i(0x69, 4, 7, 50, 0);
        a.j(0x05, 0, 0, 0, "sum");
        a.label("udp_csum");
        a.i(0x69, 4, 7, 40, 0);
        a.j(0x15, 4, 0, 0, "key");
        a.label("sum");
        // r3 = the pseudo-header's sum in 16-bit words as loaded (the one's-complement sum
        // is the same in either byte order, compared with a field loaded the same way).
        a.i(0x69, 3, 7, 26, 0);
        for off in [28, 30, 32] {
            a.i(0x69, 1, 7, off, 0);
            a.i(0x0f, 3, 1, 0, 0);
        }
        a.i(0xbf, 1, 9, 0, 0); // protocol word: bytes [0, proto]
        a.i(0xdc, 1, 0, 0, 16);
        a.i(0x0f, 3, 1, 0, 0);
        a.i(0x69, 1, 7, 16, 0); // L4 length = total length - 20, as wire bytes
        a.i(0xdc, 1, 0, 0, 16);
        a.i(0x17, 1, 0, 0, 20);
        a.i(0xdc, 1, 0, 0, 16);
        a.i(0x0f, 3, 1, 0, 0);
        for _ in 0..2 {
            a.i(0xbf, 1, 3, 0, 0);
            a.i(0x77, 1, 0, 0, 16);
            a.i(0x57, 3, 0, 0, 0xffff);
            a.i(0x0f, 3, 1, 0, 0);
        }
        a.j(0x1d, 3, 4, 0, "xsk"); // partial: the PMD thread repairs it
    }
    a.label("key");
    // The key at fp-40 (module documentation of XdpKey's layout, in `key_of`).
    a.i(0x62, 10, 0, -40, hook);
    for (from, to) in [
        (0i16, -36i16),
        (4, -32),
        (8, -28),
        (26, -24),
        (30, -20),
        (34, -16),
    ] {
        a.i(0x61, 1, 7, from, 0);
        a.i(0x63, 10, 1, to, 0);
    }
    a.i(0x73, 10, 9, -12, 0); // protocol
    a.i(0x71, 1, 7, 15, 0);
    a.i(0x73, 10, 1, -11, 0); // TOS
    a.i(0x71, 1, 7, 22, 0);
    a.i(0x73, 10, 1, -10, 0); // TTL
    a.i(0x61, 1, 6, 16, 0); // rx_queue_index (below 256: a hook's XSKMAP size)
    a.i(0x73, 10, 1, -9, 0);
    a.map(1, flows);
    a.i(0xbf, 2, 10, 0, 0);
    a.i(0x07, 2, 0, 0, -40);
    a.i(0x85, 0, 0, 0, FUNC_MAP_LOOKUP_ELEM);
    a.j(0x15, 0, 0, 0, "xsk");
    a.i(0xbf, 9, 0, 0, 0); // r9 = the entry
    a.i(0x61, 1, 9, V_SLOT, 0);
    a.i(0x63, 10, 1, -44, 0);
    a.map(1, versions);
    a.i(0xbf, 2, 10, 0, 0);
    a.i(0x07, 2, 0, 0, -44);
    a.i(0x85, 0, 0, 0, FUNC_MAP_LOOKUP_ELEM);
    a.j(0x15, 0, 0, 0, "xsk");
    a.i(0x79, 1, 0, 0, 0);
    a.i(0x79, 2, 9, V_VERSION, 0);
    a.j(0x5d, 1, 2, 0, "xsk"); // an older table version's decision
    a.i(0xbf, 1, 8, 0, 0);
    a.i(0x1f, 1, 7, 0, 0); // r1 = length
    a.i(0x61, 2, 9, V_MAX_LEN, 0);
    a.j(0x2d, 1, 2, 0, "xsk"); // too long for the output port
    a.i(0xb7, 2, 0, 0, 1);
    a.i(0xdb, 9, 2, V_PACKETS, 0);
    a.i(0xdb, 9, 1, V_BYTES, 0);
    a.i(0x61, 1, 9, V_OUT, 0);
    a.j(0x15, 1, 0, 0, "drop");
    a.i(0xb7, 2, 0, 0, 0);
    a.i(0x85, 0, 0, 0, FUNC_REDIRECT);
    a.i(0x95, 0, 0, 0, 0);
    a.label("drop");
    a.i(0xb7, 0, 0, 0, XDP_DROP);
    a.i(0x95, 0, 0, 0, 0);
    a.label("xsk");
    a.i(0x61, 2, 6, 16, 0); // rx_queue_index
    a.map(1, xskmap);
    a.i(0xb7, 3, 0, 0, XDP_PASS);
    a.i(0x85, 0, 0, 0, FUNC_REDIRECT_MAP);
    a.i(0x95, 0, 0, 0, 0);
    a.finish()
}

// ---- can an interface take redirected frames? ---------------------------------------------

/// `NETDEV_XDP_ACT_NDO_XMIT`: the interface accepts frames redirected by XDP. A veth has it
/// only while its peer can receive them (an XDP program or GRO on the peer).
pub const XDP_ACT_NDO_XMIT: u64 = 4;

/// The XDP features of interface `ifindex` of network namespace `netns` (generic netlink
/// family `netdev`, Linux 6.3+). Asked only in the calling thread's own namespace: an error
/// for an interface of another one (its index means another interface here).
pub fn xdp_features(ifindex: u32, netns: u64) -> io::Result<u64> {
    if netns != thread_netns()? {
        return Err(io::Error::other(
            "the interface is in another network namespace",
        ));
    }
    genl::xdp_features(ifindex)
}

/// Whether interface `ifindex` of namespace `netns` takes frames redirected by XDP now (its
/// [`XDP_ACT_NDO_XMIT`] feature); no when the kernel cannot tell.
pub fn takes_redirects(ifindex: u32, netns: u64) -> bool {
    xdp_features(ifindex, netns).is_ok_and(|f| f & XDP_ACT_NDO_XMIT != 0)
}

/// The calling thread's network namespace (the inode of its namespace file), read once per
/// thread: datapath threads do not move.
pub fn thread_netns() -> io::Result<u64> {
    thread_local! {
        static NETNS: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
    }
    if let Some(n) = NETNS.with(std::cell::Cell::get) {
        return Ok(n);
    }
    let n = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata("/proc/thread-self/ns/net")?);
    NETNS.with(|c| c.set(Some(n)));
    Ok(n)
}

mod genl {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    const GENL_ID_CTRL: u16 = 0x10;
    const CTRL_CMD_GETFAMILY: u8 = 3;
    const CTRL_ATTR_FAMILY_ID: u16 = 1;
    const CTRL_ATTR_FAMILY_NAME: u16 = 2;
    const NETDEV_CMD_DEV_GET: u8 = 1;
    const NETDEV_A_DEV_IFINDEX: u16 = 1;
    const NETDEV_A_DEV_XDP_FEATURES: u16 = 3;
    const NLM_F_REQUEST: u16 = 1;

    /// The `netdev` family's id (fixed while the kernel runs).
    static FAMILY: std::sync::OnceLock<u16> = std::sync::OnceLock::new();

    use super::super::netlink::put_attr as attr;

    fn request(family: u16, cmd: u8, attrs: &[u8]) -> Vec<u8> {
        let len = u32::try_from(16 + 4 + attrs.len()).unwrap_or(u32::MAX);
        let mut m = Vec::with_capacity(len as usize);
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&family.to_ne_bytes());
        m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        m.extend_from_slice(&1u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&[cmd, 1, 0, 0]); // genlmsghdr: cmd, version
        m.extend_from_slice(attrs);
        m
    }

    /// Sends `req` and returns the attributes of the reply (after nlmsghdr and genlmsghdr).
    fn transact(sock: &OwnedFd, req: &[u8]) -> io::Result<Vec<u8>> {
        // SAFETY: `req` is valid for its length; a zeroed sockaddr_nl addresses the kernel.
        let sent = unsafe {
            let mut kernel: libc::sockaddr_nl = std::mem::zeroed();
            kernel.nl_family = super::super::abi::AF_NETLINK;
            libc::sendto(
                sock.as_raw_fd(),
                req.as_ptr().cast(),
                req.len(),
                0,
                (&raw const kernel).cast(),
                super::super::socklen::<libc::sockaddr_nl>(),
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut reply = vec![0u8; 8192];
        // SAFETY: `reply` is writable for its length.
        let n = unsafe { libc::recv(sock.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len(), 0) };
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        let msg = reply.get(..n).unwrap_or_default();
        let kind = msg
            .get(4..6)
            .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]));
        if u32::from(kind) == super::super::abi::NLMSG_ERROR {
            let code = msg
                .get(16..20)
                .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            return Err(io::Error::from_raw_os_error(code.saturating_neg().max(1)));
        }
        Ok(msg.get(20..).unwrap_or_default().to_vec())
    }

    /// The payload of attribute `kind` in `attrs`.
    fn find(mut attrs: &[u8], kind: u16) -> Option<&[u8]> {
        while attrs.len() >= 4 {
            let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
            let k = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
            if len < 4 {
                return None;
            }
            if k == kind {
                return attrs.get(4..len);
            }
            attrs = attrs.get(len.next_multiple_of(4)..)?;
        }
        None
    }

    pub(super) fn xdp_features(ifindex: u32) -> io::Result<u64> {
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_GENERIC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor that nobody else owns.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        let timeout = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: `timeout` is a valid timeval for the length passed.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                super::super::socklen::<libc::timeval>(),
            );
        }
        let family = match FAMILY.get() {
            Some(&f) => f,
            None => {
                let mut a = Vec::new();
                attr(&mut a, CTRL_ATTR_FAMILY_NAME, b"netdev\0");
                let reply = transact(&sock, &request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, &a))?;
                let f = find(&reply, CTRL_ATTR_FAMILY_ID)
                    .and_then(|b| b.get(0..2))
                    .map(|b| u16::from_ne_bytes([b[0], b[1]]))
                    .ok_or_else(|| io::Error::other("no netdev netlink family"))?;
                *FAMILY.get_or_init(|| f)
            }
        };
        let mut a = Vec::new();
        attr(&mut a, NETDEV_A_DEV_IFINDEX, &ifindex.to_ne_bytes());
        let reply = transact(&sock, &request(family, NETDEV_CMD_DEV_GET, &a))?;
        find(&reply, NETDEV_A_DEV_XDP_FEATURES)
            .and_then(|b| b.get(0..8))
            .map(|b| u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .ok_or_else(|| io::Error::other("no XDP features in the reply"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_frame() -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[15] = 0x10;
        f[16..18].copy_from_slice(&50u16.to_be_bytes());
        f[22] = 64;
        f[23] = PROTO_UDP;
        f[26..30].copy_from_slice(&[10, 1, 0, 1]);
        f[30..34].copy_from_slice(&[10, 2, 0, 1]);
        f[34..36].copy_from_slice(&10_000u16.to_be_bytes());
        f[36..38].copy_from_slice(&5_000u16.to_be_bytes());
        f
    }

    #[test]
    fn key_layout_and_what_qualifies() {
        let f = udp_frame();
        let k = key_of(&f, 7, 3).unwrap_or_else(|| panic!("qualifies"));
        assert_eq!(&k[0..4], &7u32.to_ne_bytes());
        assert_eq!(&k[4..16], &f[0..12]);
        assert_eq!(&k[16..20], &[10, 1, 0, 1]);
        assert_eq!(&k[24..26], &10_000u16.to_be_bytes());
        assert_eq!((k[28], k[29], k[30], k[31]), (PROTO_UDP, 0x10, 64, 3));
        let mut tagged = f.clone();
        tagged[12..14].copy_from_slice(&[0x81, 0x00]);
        assert!(key_of(&tagged, 7, 0).is_none());
        let mut options = f.clone();
        options[14] = 0x46;
        assert!(key_of(&options, 7, 0).is_none());
        let mut fragment = f.clone();
        fragment[20] = 0x20; // more fragments
        assert!(key_of(&fragment, 7, 0).is_none());
        let mut icmp = f.clone();
        icmp[23] = 1;
        assert!(key_of(&icmp, 7, 0).is_none());
        let mut short_tcp = f.clone();
        short_tcp[23] = PROTO_TCP;
        short_tcp.truncate(50);
        assert!(key_of(&short_tcp, 7, 0).is_none());
        assert!(key_of(&f[..40], 7, 0).is_none());
        assert!(key_of(&f, 7, 256).is_none());
        for (at, value) in [(16usize, 51u16), (16, 27), (16, 19)] {
            let mut bad = f.clone();
            bad[at..at + 2].copy_from_slice(&value.to_be_bytes());
            assert!(key_of(&bad, 7, 0).is_none(), "total length {value}");
        }
        let mut tcp = f.clone();
        tcp[23] = PROTO_TCP;
        tcp.resize(74, 0);
        tcp[16..18].copy_from_slice(&60u16.to_be_bytes());
        tcp[46] = 0x50;
        assert!(key_of(&tcp, 7, 0).is_some());
        for doff in [0x40u8, 0xb0] {
            let mut bad = tcp.clone();
            bad[46] = doff;
            assert!(key_of(&bad, 7, 0).is_none(), "data offset {doff:#x}");
        }
    }

    proptest::proptest! {
        /// Whatever `key_of` accepts, the datapath's extraction reads in full: a malformed
        /// frame's partial key is never installed as a well-formed frame's.
        #[test]
        fn what_qualifies_extracts_in_full(
            total in 0u16..120,
            tcp in proptest::bool::ANY,
            doff in 0u8..16,
            len in 30usize..120,
        ) {
            let mut f = udp_frame();
            f.resize(len, 0);
            if let Some(b) = f.get_mut(16..18) {
                b.copy_from_slice(&total.to_be_bytes());
            }
            if tcp {
                if let Some(b) = f.get_mut(23) {
                    *b = PROTO_TCP;
                }
                if let Some(b) = f.get_mut(46) {
                    *b = doff << 4;
                }
            }
            if key_of(&f, 1, 0).is_some() {
                let mut key = flowtable::FlowKey::zero();
                proptest::prop_assert!(flowtable::extract::extract_into(&f, &mut key).is_ok());
            }
        }
    }

    #[test]
    fn jumps_stay_inside_the_program() {
        let Some(maps) = maps() else {
            eprintln!("skipped: no BPF maps here (needs root)");
            return;
        };
        for csum in [false, true] {
            let p = program(maps, 3, 9, csum);
            for (at, i) in p.iter().enumerate() {
                let jump = i.code & 0x07 == 0x05 && !matches!(i.code, 0x85 | 0x95);
                if jump {
                    let target = at as i64 + 1 + i64::from(i.off);
                    assert!(i.off > 0, "jump at {at} is not forward");
                    assert!(target < p.len() as i64, "jump at {at} leaves the program");
                }
            }
        }
    }

    use super::super::bpf_sys::{TestRunAttr, BPF_PROG_TEST_RUN};

    const XDP_REDIRECT: u32 = 4;

    fn run(prog: &super::super::bpf::RedirectProgram, frame: &[u8]) -> u32 {
        let mut out = vec![0u8; frame.len() + 256];
        let mut attr = TestRunAttr {
            prog_fd: u32::try_from(prog.fd()).unwrap_or(0),
            data_size_in: u32::try_from(frame.len()).unwrap_or(0),
            data_size_out: u32::try_from(out.len()).unwrap_or(0),
            data_in: frame.as_ptr() as u64,
            data_out: out.as_mut_ptr() as u64,
            repeat: 1,
            ..TestRunAttr::default()
        };
        sys_bpf(BPF_PROG_TEST_RUN, &mut attr).unwrap_or_else(|e| panic!("BPF_PROG_TEST_RUN: {e}"));
        attr.retval
    }

    /// The program against the key builder: what it forwards, drops and leaves to the socket,
    /// and what it counts. Needs root (BPF); skipped, saying so, without it.
    #[test]
    fn the_program_uses_current_entries_only() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root for BPF");
            return;
        }
        let maps = maps().unwrap_or_else(|| panic!("offload maps"));
        let xsk = super::super::bpf::XskMap::create(4).unwrap_or_else(|e| panic!("{e}"));
        let id = next_hook_id();
        let prog = super::super::bpf::RedirectProgram::load_offload(&xsk, maps, id, true)
            .unwrap_or_else(|e| panic!("{e}"));
        let slot = maps.take_slot().unwrap_or_else(|| panic!("a slot"));
        slot.set_version(5).unwrap_or_else(|e| panic!("{e}"));
        let frame = udp_frame();
        let key = key_of(&frame, id, 0).unwrap_or_else(|| panic!("qualifies"));
        // No entry: to the socket (no socket in the map: XDP_PASS).
        assert_eq!(run(&prog, &frame), XDP_PASS as u32);
        let mut value = XdpValue {
            slot: slot.index(),
            out_ifindex: 1,
            version: 5,
            max_len: 1514,
            ..XdpValue::default()
        };
        maps.insert(&key, &value).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run(&prog, &frame), XDP_REDIRECT);
        assert_eq!(run(&prog, &frame), XDP_REDIRECT);
        let got = maps.get(&key).ok().flatten().unwrap_or_default();
        assert_eq!((got.packets, got.bytes), (2, 128));
        // Another flow (source port) misses.
        let mut other = frame.clone();
        other[35] ^= 1;
        assert_eq!(run(&prog, &other), XDP_PASS as u32);
        // A partial UDP checksum (the pseudo-header's folded sum) goes to the socket.
        let mut partial = frame.clone();
        let pseudo = flowtable::wire::checksum::pseudo_header_v4(
            u32::from_be_bytes([10, 1, 0, 1]),
            u32::from_be_bytes([10, 2, 0, 1]),
            PROTO_UDP,
            30,
        );
        let folded = flowtable::wire::checksum::fold(pseudo);
        partial[40..42].copy_from_slice(&folded.to_be_bytes());
        assert_eq!(run(&prog, &partial), XDP_PASS as u32);
        // A complete checksum is forwarded.
        let mut complete = frame.clone();
        complete[40..42].copy_from_slice(&(!folded).to_be_bytes());
        assert_eq!(run(&prog, &complete), XDP_REDIRECT);
        // Malformed lengths (the same key) go to the socket.
        for total in [51u16, 27] {
            let mut bad = frame.clone();
            bad[16..18].copy_from_slice(&total.to_be_bytes());
            assert_eq!(run(&prog, &bad), XDP_PASS as u32, "total length {total}");
        }
        // Longer than the output port takes: to the socket.
        value.max_len = 63;
        maps.insert(&key, &value).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run(&prog, &frame), XDP_PASS as u32);
        // A drop entry.
        value.max_len = 1514;
        value.out_ifindex = 0;
        maps.insert(&key, &value).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run(&prog, &frame), XDP_DROP as u32);
        // A new table version: the entry no longer counts.
        slot.set_version(6).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run(&prog, &frame), XDP_PASS as u32);
        maps.remove(&key).unwrap_or_else(|e| panic!("{e}"));
        assert!(maps.get(&key).ok().flatten().is_none());
        // TCP too.
        let mut tcp = vec![0u8; 74];
        tcp[..34].copy_from_slice(&frame[..34]);
        tcp[23] = PROTO_TCP;
        tcp[16..18].copy_from_slice(&60u16.to_be_bytes());
        tcp[46] = 0x50; // data offset: 5 words
        let tkey = key_of(&tcp, id, 0).unwrap_or_else(|| panic!("TCP qualifies"));
        value.out_ifindex = 1;
        value.version = 6;
        maps.insert(&tkey, &value).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run(&prog, &tcp), XDP_REDIRECT);
        for doff in [0x40u8, 0xb0] {
            let mut bad = tcp.clone();
            bad[46] = doff;
            assert_eq!(run(&prog, &bad), XDP_PASS as u32, "data offset {doff:#x}");
        }
        maps.remove(&tkey).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn tcp_flags_forbid_only_tcp() {
        assert!(flags_allow(PROTO_UDP, true));
        assert!(!flags_allow(PROTO_TCP, true));
        assert!(flags_allow(PROTO_TCP, false));
    }
}
