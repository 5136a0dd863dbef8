//! UMEMs: the frame memory AF_XDP sockets receive into and send from, shared by the sockets of
//! one PMD thread so that a frame received on one port leaves by another without being copied
//! in user space.
//!
//! # Sharing
//!
//! A [`Umem`] is one anonymous mapping cut into `frames` frames of `frame_size` bytes (aligned
//! mode: a frame's base is its address with the low bits cleared). The first socket bound to it
//! registers the memory (`XDP_UMEM_REG`); the others bind with `XDP_SHARED_UMEM` naming a bound
//! member's descriptor. Each socket has its own fill and completion rings (the kernel requires
//! that when the sockets serve different interfaces or queues, which ours always do). The
//! sockets of one PMD thread draw on the UMEMs of that thread's [`UmemGroup`]; a socket that
//! cannot share (the kernel refuses, or the group's UMEMs are full) gets a UMEM of its own.
//!
//! # Where every frame is
//!
//! At any time a frame is in exactly one of these places:
//!
//! * the **free list** ([`Umem::take`] / [`Umem::give`]), or a socket's **stash** of free
//!   frames (at most [`STASH_MAX`], exchanged with the free list [`STASH_BULK`] at a time, so
//!   that the hot path takes no lock): nobody's;
//! * a **socket**: in its fill ring, in the kernel on the way to its rx ring, in its rx ring
//!   (its *rx side*), or in its tx ring, in the kernel on the way to its completion ring, in
//!   its completion ring (its *tx side*). The socket marks such frames in its ownership
//!   bitmap, and gives them all back to the free list after it is closed;
//! * a **[`UmemFrame`]**: the storage of one received [`Packet`](crate::Packet), owned by it
//!   alone; dropping it returns the frame to the free list, from any thread.
//!
//! Each socket publishes what it holds (frames in the kernel, in its stash, packets it made
//! and frames it handed back to the kernel) in its own gauge, with plain stores; dropped
//! packets are counted under the free list's lock. [`Umem::stats`] sums them, so that
//! `free + in_kernel + packets == frames` whenever no socket call is in progress
//! ([`UmemStats::balanced`]): the tests check it.
//!
//! # Budget
//!
//! A socket reserves `rx-ring + tx-ring + STASH_MAX` frames of its UMEM when it joins and never
//! holds more (its stash aside, which it trims after each call):
//! its rx side is topped up to `rx-ring` frames after each receive, and a send queues at most
//! `tx-ring` frames not yet completed (the rest are dropped, as when its tx ring is full). A
//! UMEM admits sockets while their reservations leave [`PACKET_SLACK`] frames for packets in
//! flight in user space. If packets hold more than that, refills come up short for a while
//! (counted in `fill_short`; the kernel drops what it cannot place), and copies into the UMEM
//! are dropped (`tx_no_frame`): the fill rings never starve for good, since every packet is
//! sent or dropped within its PMD iteration.
//!
//! # Lifetime
//!
//! Sockets and packets hold the UMEM through an `Arc`, so the mapping outlives every frame that
//! points into it, even when the sockets close while packets of theirs are in flight.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Frames of a UMEM a group creates (at least; more if one socket needs more): three ports with
/// the default rings (4096 + 2048 + [`STASH_MAX`] frames each) and [`PACKET_SLACK`].
pub const GROUP_FRAMES: u32 = 24_576;

/// Frames of a UMEM kept out of the sockets' reservations, for packets in user space.
pub const PACKET_SLACK: u32 = 2048;

/// Frames a socket takes from or gives to the free list at once.
pub const STASH_BULK: usize = 128;

/// Most free frames a socket keeps in its stash after a call.
pub const STASH_MAX: usize = 512;

/// A frame index that is no frame: the frame was handed to the kernel. UMEMs have fewer
/// frames (their sizes are `u32`s, and a frame is at least 2 KiB).
const NO_FRAME: u32 = u32::MAX;

/// Locks a mutex, recovering the data if a thread panicked while holding it (the free list and
/// the member list are valid after any completed operation).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An anonymous or ring mapping, unmapped on drop.
#[derive(Debug)]
pub(super) struct Mapping {
    pub(super) ptr: NonNull<u8>,
    pub(super) len: usize,
}

impl Mapping {
    /// Maps `len` bytes of `fd` at `offset`, or anonymous memory when `fd` is None.
    pub(super) fn new(len: usize, fd: Option<RawFd>, offset: i64) -> io::Result<Mapping> {
        let (flags, fd) = match fd {
            Some(fd) => (libc::MAP_SHARED | libc::MAP_POPULATE, fd),
            None => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
            ),
        };
        // SAFETY: a fresh mapping chosen by the kernel (null hint); the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe a mapping made by `Mapping::new` and not yet unmapped;
        // every pointer derived from it is owned by the struct that owns this Mapping (or, for
        // a UMEM, by holders of the `Arc<Umem>` that owns it, all gone by now).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// What sockets sharing a UMEM must agree on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UmemKey {
    /// Frame size: a power of two.
    pub frame_size: u32,
    /// Sockets bound to a shared UMEM inherit the first one's need-wakeup flag.
    pub need_wakeup: bool,
    /// ... and its multi-buffer flag.
    pub multi_buffer: bool,
}

/// The sockets bound to a UMEM.
#[derive(Debug, Default)]
struct Members {
    /// Bound sockets (id, descriptor): a new socket shares the UMEM through the first.
    bound: Vec<(u64, RawFd)>,
    /// The gauges of the live sockets (id, gauge).
    gauges: Vec<(u64, Arc<SocketGauge>)>,
    /// Frames reserved by the sockets.
    reserved: u32,
    next_id: u64,
}

/// What one socket holds and did, written by that socket alone with plain stores (no
/// read-modify-write on the hot path) and summed by [`Umem::stats`]. The totals of closed
/// sockets are folded into the UMEM's own gauge.
#[derive(Debug, Default)]
pub(super) struct SocketGauge {
    /// Frames given to the kernel (rx and tx sides).
    pub(super) in_kernel: AtomicU64,
    /// Free frames in the socket's stash.
    pub(super) stashed: AtomicU64,
    /// Packets made of received frames.
    pub(super) made: AtomicU64,
    /// Frames of packets handed to the tx ring by address, or straight back to the stash
    /// once their packet was copied for sending.
    pub(super) handed: AtomicU64,
    pub(super) tx_by_address: AtomicU64,
    pub(super) tx_copied: AtomicU64,
    pub(super) tx_no_frame: AtomicU64,
}

/// The free list, and the packets dropped (their frames came back here).
#[derive(Debug, Default)]
struct FreeList {
    frames: Vec<u64>,
    dropped: u64,
}

/// A snapshot of a UMEM's frames and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UmemStats {
    /// The PMD thread whose sockets share it (`None`: one port's own UMEM).
    pub pmd: Option<usize>,
    /// Bytes per frame.
    pub frame_size: u32,
    /// Frames in all.
    pub frames: u64,
    /// Frames in the free list.
    pub free: u64,
    /// Frames given to the kernel by the sockets (fill, rx, tx and completion sides).
    pub in_kernel: u64,
    /// Frames held by packets in user space.
    pub packets: u64,
    /// Sockets bound to it.
    pub sockets: u64,
    /// Packets sent by handing their frame to a socket's tx ring (no copy).
    pub tx_by_address: u64,
    /// Packets sent by copying them into a free frame (heap packets, or packets of another
    /// UMEM).
    pub tx_copied: u64,
    /// Fill-ring refills that found the free list short of frames.
    pub fill_short: u64,
    /// Packets dropped on send because the free list had no frame to copy them into.
    pub tx_no_frame: u64,
}

impl UmemStats {
    /// Whether every frame is accounted for: free, in the kernel or in a packet. Holds
    /// whenever no socket is in the middle of a receive or send.
    pub fn balanced(&self) -> bool {
        self.free
            .wrapping_add(self.in_kernel)
            .wrapping_add(self.packets)
            == self.frames
    }
}

/// A region of frames shared by AF_XDP sockets (see the module documentation).
#[derive(Debug)]
pub struct Umem {
    map: Mapping,
    key: UmemKey,
    frames: u32,
    /// log2 of the frame size.
    shift: u32,
    pmd: Option<usize>,
    /// Base addresses of the free frames.
    free: Mutex<FreeList>,
    members: Mutex<Members>,
    /// The totals of closed sockets.
    closed: SocketGauge,
    fill_short: AtomicU64,
    /// Spare handles on this UMEM, passed between its sockets in bulk: a socket that sends
    /// packets by address collects their handles, one that receives needs them. Emptied when
    /// the last socket goes, since they keep the UMEM alive.
    handles: Mutex<Vec<Arc<Umem>>>,
}

// SAFETY: the raw mapping is only reached through frames that are owned exclusively (a free
// frame by the free list, behind its mutex; a socket's by that socket, behind `&mut`; a
// packet's by its `UmemFrame`), so sharing the `Umem` between threads never lets two threads
// reach one frame's bytes at once. Everything else in it is a mutex or an atomic.
unsafe impl Send for Umem {}
// SAFETY: as for Send.
unsafe impl Sync for Umem {}

impl Umem {
    /// Maps a UMEM of `frames` frames for sockets agreeing on `key`.
    fn new(key: UmemKey, frames: u32, pmd: Option<usize>) -> io::Result<Arc<Umem>> {
        if !key.frame_size.is_power_of_two() || key.frame_size < 2048 || frames == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "frame-size {} must be a power of two from 2048",
                    key.frame_size
                ),
            ));
        }
        let frame_size = u64::from(key.frame_size);
        let len = usize::try_from(u64::from(frames) * frame_size).map_err(io::Error::other)?;
        let map = Mapping::new(len, None, 0)?;
        // Handed out from the end of the vector: the lowest addresses first.
        let free = (0..frames)
            .rev()
            .map(|i| u64::from(i) * frame_size)
            .collect();
        Ok(Arc::new(Umem {
            map,
            key,
            frames,
            shift: key.frame_size.trailing_zeros(),
            pmd,
            free: Mutex::new(FreeList {
                frames: free,
                dropped: 0,
            }),
            members: Mutex::new(Members::default()),
            closed: SocketGauge::default(),
            fill_short: AtomicU64::new(0),
            handles: Mutex::new(Vec::new()),
        }))
    }

    /// A UMEM for one socket alone, with a reservation of `frames` for it.
    pub fn private(key: UmemKey, frames: u32) -> io::Result<Reservation> {
        let umem = Umem::new(key, frames.saturating_add(PACKET_SLACK), None)?;
        Umem::reserve(&umem, frames).ok_or_else(|| io::Error::other("UMEM too small"))
    }

    /// Reserves `frames` for a socket, if the UMEM has room for them beside the others'.
    fn reserve(umem: &Arc<Umem>, frames: u32) -> Option<Reservation> {
        let mut m = lock(&umem.members);
        let total = m.reserved.checked_add(frames)?;
        if total.checked_add(PACKET_SLACK)? > umem.frames {
            return None;
        }
        m.reserved = total;
        Some(Reservation {
            umem: umem.clone(),
            frames,
        })
    }

    /// What its sockets agree on.
    pub fn key(&self) -> UmemKey {
        self.key
    }

    /// The PMD thread whose sockets share it, if it belongs to a group.
    pub fn pmd(&self) -> Option<usize> {
        self.pmd
    }

    /// Number of frames.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// The frame size in bytes.
    pub fn frame_size(&self) -> usize {
        1 << self.shift
    }

    /// The registration to pass to `XDP_UMEM_REG`. No extra headroom: the kernel already puts
    /// `XDP_PACKET_HEADROOM` (256 bytes) in front of each received frame, enough for the VLAN
    /// pushes and encapsulations done in place.
    pub(super) fn registration(&self) -> libc::xdp_umem_reg {
        libc::xdp_umem_reg {
            addr: self.map.ptr.as_ptr() as u64,
            len: self.map.len as u64,
            chunk_size: self.key.frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        }
    }

    /// The base address of the frame holding UMEM address `addr`, and its index, or None if
    /// `addr` is outside the UMEM.
    pub(super) fn frame_of(&self, addr: u64) -> Option<(u64, usize)> {
        let index = addr >> self.shift;
        if index >= u64::from(self.frames) {
            return None;
        }
        Some((index << self.shift, usize::try_from(index).ok()?))
    }

    /// Moves up to `n` free frames (their base addresses) to `out`; returns how many.
    pub(super) fn take(&self, n: usize, out: &mut Vec<u64>) -> usize {
        let mut free = lock(&self.free);
        let k = n.min(free.frames.len());
        let at = free.frames.len() - k;
        out.extend(free.frames.drain(at..));
        k
    }

    /// Returns frames (their base addresses) to the free list.
    pub(super) fn give(&self, frames: &[u64]) {
        if !frames.is_empty() {
            lock(&self.free).frames.extend_from_slice(frames);
        }
    }

    /// Returns the frame of a dropped packet to the free list.
    fn give_dropped(&self, base: u64) {
        let mut free = lock(&self.free);
        free.frames.push(base);
        free.dropped += 1;
    }

    /// A pointer to bytes `offset..offset + len` of the frame at `base`, or None if they are not
    /// inside one frame.
    fn span(&self, base: u64, offset: usize, len: usize) -> Option<*mut u8> {
        let end = offset.checked_add(len)?;
        if end > self.frame_size() || self.frame_of(base)?.0 != base {
            return None;
        }
        let start = usize::try_from(base).ok()?.checked_add(offset)?;
        // SAFETY: `base` is a frame of the mapping and `offset..end` lies inside that frame, so
        // `start` is inside the mapping.
        Some(unsafe { self.map.ptr.as_ptr().add(start) })
    }

    /// Asks the CPU to start loading the cache line at UMEM address `addr` (a hint: it reads
    /// nothing and cannot fault). Addresses outside the UMEM are ignored.
    #[inline]
    pub(super) fn prefetch(&self, addr: u64) {
        let Ok(at) = usize::try_from(addr) else {
            return;
        };
        if at >= self.map.len {
            return;
        }
        // SAFETY: `at` is inside the mapping, so the pointer stays in bounds; a prefetch
        // neither reads into Rust-visible memory nor faults.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(self.map.ptr.as_ptr().add(at).cast::<i8>().cast_const());
        }
    }

    /// Bytes `offset..offset + len` of the frame at `base`, or None if they are not inside one
    /// frame.
    ///
    /// # Safety
    ///
    /// The caller owns the frame (see the module documentation): nothing else, neither the
    /// kernel nor another thread, writes it while the slice lives.
    pub(super) unsafe fn bytes(&self, base: u64, offset: usize, len: usize) -> Option<&[u8]> {
        let ptr = self.span(base, offset, len)?;
        // SAFETY: the span is inside the mapping, which lives as long as `self`; the caller
        // guarantees no concurrent writer.
        Some(unsafe { std::slice::from_raw_parts(ptr, len) })
    }

    /// Bytes `offset..offset + len` of the frame at `base`, mutable, or None if they are not
    /// inside one frame.
    ///
    /// # Safety
    ///
    /// The caller owns the frame: nothing else, neither the kernel nor another thread nor
    /// another slice, reads or writes it while the slice lives.
    #[allow(clippy::mut_from_ref)] // exclusivity is the caller's contract, as documented
    pub(super) unsafe fn bytes_mut(
        &self,
        base: u64,
        offset: usize,
        len: usize,
    ) -> Option<&mut [u8]> {
        let ptr = self.span(base, offset, len)?;
        // SAFETY: the span is inside the mapping, which lives as long as `self`; the caller
        // guarantees exclusive access.
        Some(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
    }

    /// Moves `n` handles on `umem` to `out`: spare ones first, new ones (clones) for the rest.
    pub(super) fn take_handles(umem: &Arc<Umem>, n: usize, out: &mut Vec<Arc<Umem>>) {
        let got = {
            let mut spare = lock(&umem.handles);
            let k = n.min(spare.len());
            let at = spare.len() - k;
            out.extend(spare.drain(at..));
            k
        };
        out.extend((got..n).map(|_| umem.clone()));
    }

    /// Keeps spare handles for the sockets.
    pub(super) fn give_handles(&self, handles: impl Iterator<Item = Arc<Umem>>) {
        lock(&self.handles).extend(handles);
    }

    /// A gauge for a new socket, summed into the stats until [`Umem::detach_gauge`].
    pub(super) fn attach_gauge(&self) -> (u64, Arc<SocketGauge>) {
        let mut m = lock(&self.members);
        let id = m.next_id;
        m.next_id += 1;
        let gauge = Arc::new(SocketGauge::default());
        m.gauges.push((id, gauge.clone()));
        (id, gauge)
    }

    /// Removes a closed socket's gauge, keeping its totals (it holds no frame any more). The
    /// last socket also drops the spare handles (the caller's own keeps the UMEM alive
    /// meanwhile).
    pub(super) fn detach_gauge(&self, id: u64) {
        let spare = {
            let mut m = lock(&self.members);
            self.fold_gauge(&mut m, id);
            if m.gauges.is_empty() {
                std::mem::take(&mut *lock(&self.handles))
            } else {
                Vec::new()
            }
        };
        drop(spare);
    }

    /// Removes gauge `id` from the member list, adding its totals to the closed sockets'.
    fn fold_gauge(&self, m: &mut Members, id: u64) {
        if let Some(at) = m.gauges.iter().position(|(i, _)| *i == id) {
            let (_, g) = m.gauges.swap_remove(at);
            let c = &self.closed;
            for (total, n) in [
                (&c.made, &g.made),
                (&c.handed, &g.handed),
                (&c.tx_by_address, &g.tx_by_address),
                (&c.tx_copied, &g.tx_copied),
                (&c.tx_no_frame, &g.tx_no_frame),
            ] {
                total.fetch_add(n.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
    }

    /// Counts a refill that found the free list short.
    pub(super) fn count_fill_short(&self) {
        self.fill_short.fetch_add(1, Ordering::Relaxed);
    }

    /// Under the member lock: the descriptor of a bound member to share through (None: the
    /// caller is the first and registers the memory), and a function to record the caller once
    /// bound. The lock is held across the caller's bind, so the member it shares through stays
    /// open meanwhile.
    pub(super) fn members(&self) -> MemberLock<'_> {
        MemberLock {
            guard: lock(&self.members),
        }
    }

    /// Removes bound socket `id` from the member list (before its descriptor is closed).
    pub(super) fn leave(&self, id: u64) {
        lock(&self.members).bound.retain(|(i, _)| *i != id);
    }

    /// A snapshot of the frames and counters.
    pub fn stats(&self) -> UmemStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let c = &self.closed;
        let (mut made, mut handed) = (r(&c.made), r(&c.handed));
        let mut st = UmemStats {
            pmd: self.pmd,
            frame_size: self.key.frame_size,
            frames: u64::from(self.frames),
            tx_by_address: r(&c.tx_by_address),
            tx_copied: r(&c.tx_copied),
            tx_no_frame: r(&c.tx_no_frame),
            fill_short: r(&self.fill_short),
            ..UmemStats::default()
        };
        {
            let m = lock(&self.members);
            st.sockets = m.bound.len() as u64;
            for (_, g) in &m.gauges {
                st.in_kernel += r(&g.in_kernel);
                st.free += r(&g.stashed);
                made += r(&g.made);
                handed += r(&g.handed);
                st.tx_by_address += r(&g.tx_by_address);
                st.tx_copied += r(&g.tx_copied);
                st.tx_no_frame += r(&g.tx_no_frame);
            }
        }
        let free = lock(&self.free);
        st.free += free.frames.len() as u64;
        st.packets = made.wrapping_sub(handed).wrapping_sub(free.dropped);
        st
    }
}

/// The member list of a UMEM, locked while a socket binds to it.
pub(super) struct MemberLock<'a> {
    guard: MutexGuard<'a, Members>,
}

impl MemberLock<'_> {
    /// The descriptor of a bound socket to share the UMEM through; None when there is none
    /// (the binding socket must register the memory).
    pub(super) fn share_through(&self) -> Option<RawFd> {
        self.guard.bound.first().map(|(_, fd)| *fd)
    }

    /// Records socket `id` (its gauge's) as bound to the UMEM with descriptor `fd`.
    pub(super) fn add(&mut self, id: u64, fd: RawFd) {
        self.guard.bound.push((id, fd));
    }
}

/// A socket's reservation of frames in a UMEM, released on drop.
#[derive(Debug)]
pub struct Reservation {
    umem: Arc<Umem>,
    frames: u32,
}

impl Reservation {
    /// The UMEM.
    pub fn umem(&self) -> &Arc<Umem> {
        &self.umem
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut m = lock(&self.umem.members);
        m.reserved = m.reserved.saturating_sub(self.frames);
    }
}

/// The UMEMs of one PMD thread. It holds them weakly: a UMEM goes away with the last socket
/// and the last packet using it.
#[derive(Debug)]
pub struct UmemGroup {
    pmd: usize,
    umems: Mutex<Vec<Weak<Umem>>>,
}

impl UmemGroup {
    /// The (empty) group of PMD thread `pmd`.
    pub fn new(pmd: usize) -> UmemGroup {
        UmemGroup {
            pmd,
            umems: Mutex::new(Vec::new()),
        }
    }

    /// The PMD thread.
    pub fn pmd(&self) -> usize {
        self.pmd
    }

    /// Reserves `frames` for a socket in a UMEM of the group agreeing on `key`, making a new
    /// UMEM when none has room.
    pub fn reserve(&self, key: UmemKey, frames: u32) -> io::Result<Reservation> {
        let mut umems = lock(&self.umems);
        umems.retain(|w| w.strong_count() > 0);
        for umem in umems.iter().filter_map(Weak::upgrade) {
            if umem.key == key {
                if let Some(r) = Umem::reserve(&umem, frames) {
                    return Ok(r);
                }
            }
        }
        let size = GROUP_FRAMES.max(frames.saturating_add(PACKET_SLACK));
        let umem = Umem::new(key, size, Some(self.pmd))?;
        umems.push(Arc::downgrade(&umem));
        Umem::reserve(&umem, frames).ok_or_else(|| io::Error::other("UMEM too small"))
    }

    /// The group's live UMEMs.
    pub fn stats(&self) -> Vec<UmemStats> {
        let umems: Vec<Arc<Umem>> = lock(&self.umems).iter().filter_map(Weak::upgrade).collect();
        umems.iter().map(|u| u.stats()).collect()
    }
}

/// One frame of a UMEM owned by a packet: bytes `0..len` of the frame are in use (the packet's
/// headroom and data). Dropping it returns the frame to the UMEM's free list.
///
/// 16 bytes, so that a [`Packet`](crate::Packet) stays as small as a heap one.
pub struct UmemFrame {
    /// The UMEM (None once handed over with the frame). Recycled between packets by the
    /// sockets (see `Umem::take_handles`), so that making a packet costs no reference count.
    umem: Option<Arc<Umem>>,
    /// Index of the frame in the UMEM, or [`NO_FRAME`] once handed to the kernel.
    index: u32,
    len: u32,
}

impl UmemFrame {
    /// Takes ownership of the frame at `base` with `len` bytes in use. The caller owned it (it
    /// came out of its socket's rx ring) and counts it in its gauge's `made`.
    pub(super) fn new(umem: Arc<Umem>, base: u64, len: usize) -> UmemFrame {
        let (index, len) = match umem.frame_of(base).and_then(|(_, i)| u32::try_from(i).ok()) {
            Some(i) => (i, u32::try_from(len.min(umem.frame_size())).unwrap_or(0)),
            None => (NO_FRAME, 0),
        };
        UmemFrame {
            umem: Some(umem),
            index,
            len,
        }
    }

    fn base(&self) -> u64 {
        self.umem
            .as_ref()
            .map_or(0, |u| u64::from(self.index) << u.shift)
    }

    /// Where the frame's bytes start, or None for no frame.
    #[inline]
    fn ptr(&self) -> Option<*mut u8> {
        let umem = self.umem.as_ref()?;
        if self.index >= umem.frames {
            return None;
        }
        let offset = (self.index as usize) << umem.shift;
        // SAFETY: `index < frames`, so the frame lies inside the mapping.
        Some(unsafe { umem.map.ptr.as_ptr().add(offset) })
    }

    /// The bytes in use.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self.ptr() {
            // SAFETY: `len <= frame_size` (made so by `new` and `truncate`), so the bytes are
            // inside the frame; this UmemFrame owns the frame and `&self` excludes writers
            // through it.
            Some(p) => unsafe { std::slice::from_raw_parts(p, self.len()) },
            None => &[],
        }
    }

    /// The bytes in use, mutable.
    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        match self.ptr() {
            // SAFETY: as in `bytes`, and `&mut self` makes this the only borrow.
            Some(p) => unsafe { std::slice::from_raw_parts_mut(p, self.len()) },
            None => &mut [],
        }
    }

    /// Bytes in use.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether no byte is in use.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Shortens the bytes in use to `len` (no effect when not shorter).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.len = u32::try_from(len).unwrap_or(0);
        }
    }

    /// Whether the frame is one of `umem`'s.
    pub fn belongs_to(&self, umem: &Arc<Umem>) -> bool {
        self.umem.as_ref().is_some_and(|u| Arc::ptr_eq(u, umem))
    }

    /// Gives up the frame (it goes to a socket's tx ring): its base address, and the handle on
    /// the UMEM for the socket to reuse. The caller counts it in its gauge's `handed`.
    pub(super) fn hand_over(mut self) -> (u64, Option<Arc<Umem>>) {
        let base = self.base();
        self.index = NO_FRAME;
        (base, self.umem.take())
    }
}

impl Drop for UmemFrame {
    fn drop(&mut self) {
        if let Some(umem) = &self.umem {
            if self.index < umem.frames {
                umem.give_dropped(u64::from(self.index) << umem.shift);
            }
        }
    }
}

impl std::fmt::Debug for UmemFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UmemFrame({:#x}, {} bytes)", self.base(), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> UmemKey {
        UmemKey {
            frame_size: 2048,
            need_wakeup: true,
            multi_buffer: false,
        }
    }

    #[test]
    fn reservations_fill_a_group_umem_then_open_another() {
        let g = UmemGroup::new(3);
        let per = (GROUP_FRAMES - PACKET_SLACK) / 2;
        let a = g.reserve(key(), per).map_err(|e| e.to_string());
        let b = g.reserve(key(), per).map_err(|e| e.to_string());
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("reservations failed")
        };
        assert!(Arc::ptr_eq(a.umem(), b.umem()));
        assert_eq!(a.umem().pmd(), Some(3));
        // Full: the next socket gets a new UMEM, as does one with another frame size.
        let c = g.reserve(key(), 64).map_err(|e| e.to_string());
        assert!(c.as_ref().is_ok_and(|c| !Arc::ptr_eq(a.umem(), c.umem())));
        let other = UmemKey {
            frame_size: 4096,
            ..key()
        };
        let d = g.reserve(other, 64).map_err(|e| e.to_string());
        assert!(d.as_ref().is_ok_and(|d| d.umem().key() == other));
        assert_eq!(g.stats().len(), 3);
        // A released reservation makes room again.
        drop(b);
        let e = g.reserve(key(), per).map_err(|e| e.to_string());
        assert!(e.as_ref().is_ok_and(|e| Arc::ptr_eq(a.umem(), e.umem())));
        drop((a, c, d, e));
        assert!(g.stats().is_empty(), "UMEMs go away with their last user");
    }

    #[test]
    fn frames_are_accounted_through_gauges_packets_and_the_free_list() {
        let r = Umem::private(key(), 64).map_err(|e| e.to_string());
        let Ok(r) = r else { panic!("{r:?}") };
        let umem = r.umem().clone();
        let st = umem.stats();
        assert_eq!(
            (st.frames, st.free),
            (u64::from(64 + PACKET_SLACK), st.frames)
        );
        // A "socket" takes 10 frames: 5 go to the kernel, 3 stay stashed, 2 become packets.
        let (id, gauge) = umem.attach_gauge();
        let mut got = Vec::new();
        assert_eq!(umem.take(10, &mut got), 10);
        let publish = |kernel: u64, stashed: u64, made: u64, handed: u64| {
            gauge.in_kernel.store(kernel, Ordering::Relaxed);
            gauge.stashed.store(stashed, Ordering::Relaxed);
            gauge.made.store(made, Ordering::Relaxed);
            gauge.handed.store(handed, Ordering::Relaxed);
        };
        publish(5, 3, 2, 0);
        let mut p1 = UmemFrame::new(umem.clone(), got[0], 100);
        let p2 = UmemFrame::new(umem.clone(), got[1], 5000);
        assert_eq!(p2.len(), 2048, "clamped to the frame");
        p1.bytes_mut().fill(7);
        assert_eq!(p1.bytes(), &[7; 100][..]);
        p1.truncate(10);
        assert_eq!(p1.len(), 10);
        let st = umem.stats();
        assert!(st.balanced(), "{st:?}");
        assert_eq!((st.packets, st.in_kernel), (2, 5));
        // One packet handed over by address (now in the kernel), one dropped.
        let (base, handle) = p1.hand_over();
        assert_eq!(base, got[0]);
        assert!(handle.is_some_and(|h| Arc::ptr_eq(&h, &umem)));
        // Handles pass through the UMEM's spare list.
        let mut hs = Vec::new();
        Umem::take_handles(&umem, 3, &mut hs);
        umem.give_handles(hs.drain(..2));
        Umem::take_handles(&umem, 2, &mut hs);
        assert_eq!(hs.len(), 3);
        drop(hs);
        drop(p2);
        publish(6, 3, 2, 1);
        let st = umem.stats();
        assert!(st.balanced(), "{st:?}");
        assert_eq!((st.packets, st.in_kernel), (0, 6));
        // The socket closes: everything it held comes back; its totals stay counted.
        umem.give(&[&got[2..], &[base][..]].concat());
        gauge.tx_by_address.store(1, Ordering::Relaxed);
        publish(0, 0, 2, 1);
        umem.detach_gauge(id);
        let st = umem.stats();
        assert!(st.balanced() && st.free == st.frames, "{st:?}");
        assert_eq!(st.tx_by_address, 1);
    }

    /// A packet of `data` in a frame of `umem`, 256 bytes in (as the kernel delivers it),
    /// counted as made in `gauge`.
    fn umem_packet(umem: &Arc<Umem>, gauge: &SocketGauge, data: &[u8]) -> crate::Packet {
        let mut got = Vec::new();
        assert_eq!(umem.take(1, &mut got), 1);
        gauge.made.fetch_add(1, Ordering::Relaxed);
        let mut frame = UmemFrame::new(umem.clone(), got[0], 256 + data.len());
        frame.bytes_mut()[256..].copy_from_slice(data);
        crate::Packet::from_umem(frame, 256)
    }

    #[test]
    fn packets_in_frames_keep_the_packet_api_and_return_their_frame() {
        let r = Umem::private(key(), 64).map_err(|e| e.to_string());
        let Ok(r) = r else { panic!("{r:?}") };
        let umem = r.umem().clone();
        let frames = umem.stats().frames;
        let (_, gauge) = umem.attach_gauge();
        let mut p = umem_packet(&umem, &gauge, &[1, 2, 3, 4]);
        assert!(p.is_umem());
        assert_eq!((p.data(), p.headroom()), (&[1, 2, 3, 4][..], 256));
        // A push within the headroom stays in the frame; truncation and pops work in place.
        if let Some(front) = p.push_front(2) {
            front.copy_from_slice(&[8, 9]);
        }
        assert!(p.is_umem());
        assert_eq!(p.data(), &[8, 9, 1, 2, 3, 4]);
        assert!(p.pop_front(1));
        p.truncate(3);
        p.data_mut()[0] = 7;
        assert_eq!(p.data(), &[7, 1, 2]);
        // A clone is a heap copy; the original still holds its frame.
        let c = p.clone();
        assert!(!c.is_umem() && c == p);
        assert_eq!(umem.stats().free, frames - 1);
        // A push beyond the headroom moves the packet to the heap and frees the frame.
        assert!(p.push_front(300).is_some());
        assert!(!p.is_umem());
        assert_eq!(&p.data()[300..], &[7, 1, 2]);
        let st = umem.stats();
        assert!(st.balanced() && st.free == frames, "{st:?}");
        // `into_heap` copies; `into_umem` gives the frame and offset (dropping it frees it).
        let q = umem_packet(&umem, &gauge, &[5; 60]).into_heap();
        assert!(!q.is_umem() && q.data() == [5; 60]);
        let Ok((frame, start)) = umem_packet(&umem, &gauge, &[6; 10]).into_umem() else {
            panic!("not in a frame")
        };
        assert_eq!((start, frame.len()), (256, 266));
        assert!(frame.belongs_to(&umem));
        assert!(crate::Packet::from_slice(&[1]).into_umem().is_err());
        drop(frame);
        // Packets dropped on other threads return their frames too.
        let pkts: Vec<crate::Packet> = (0..8)
            .map(|_| umem_packet(&umem, &gauge, &[0; 60]))
            .collect();
        assert_eq!(umem.stats().packets, 8);
        let joined = std::thread::spawn(move || drop(pkts)).join();
        assert!(joined.is_ok());
        let st = umem.stats();
        assert!(
            st.balanced() && st.free == frames && st.packets == 0,
            "{st:?}"
        );
    }

    #[test]
    fn addresses_map_to_frames_and_stay_inside() {
        let r = Umem::private(key(), 64).map_err(|e| e.to_string());
        let Ok(r) = r else { panic!("{r:?}") };
        let umem = r.umem();
        assert_eq!(umem.frame_of(2048 + 300), Some((2048, 1)));
        let last = u64::from(umem.frames()) * 2048;
        assert_eq!(umem.frame_of(last), None);
        assert_eq!(umem.frame_of(u64::MAX), None);
        // SAFETY: no frame of this UMEM is in use by anything else in this test.
        unsafe {
            assert!(umem.bytes_mut(2048, 2000, 48).is_some());
            assert!(umem.bytes_mut(2048, 2000, 49).is_none());
            assert!(umem.bytes_mut(2049, 0, 1).is_none());
            assert!(umem.bytes_mut(last, 0, 1).is_none());
        }
        let bad = Umem::private(
            UmemKey {
                frame_size: 3000,
                ..key()
            },
            64,
        );
        assert!(bad.is_err());
    }
}
