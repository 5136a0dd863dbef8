//! An AF_XDP socket in a [`Umem`] it may share with the other sockets of its PMD thread.
//!
//! Received frames become [`Packet`]s that keep their bytes in the UMEM frame; the fill ring is
//! topped up from the UMEM's free list. A packet to send whose frame is in this socket's UMEM
//! goes to the tx ring by address; any other is copied into a free frame. Completed tx frames
//! go back to the free list. `umem.rs` says where every frame is at any time.
//!
//! # Ring invariants
//!
//! * The UMEM is in aligned mode: `frame_size` is a power of two and a frame's base is
//!   `addr & !(frame_size - 1)`.
//! * The socket holds at most `rx_ring` frames on its rx side (fill ring, kernel, rx ring) and
//!   `tx_ring` on its tx side (tx ring, kernel, completion ring), so its fill and completion
//!   rings, of those sizes, never overflow.
//! * The socket marks each frame it gives the kernel in a bitmap and accepts back from the
//!   rx and completion rings only marked frames, so a frame is never handed out twice.
//! * The producer/consumer words are shared with the kernel: a ring's producer index is
//!   published with a Release store after its descriptors are written, and the other side's
//!   index is read with an Acquire load before its descriptors are read.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::owned::Owned;
use super::umem::{Mapping, Reservation, Umem, UmemFrame, UmemKey, STASH_MAX};
use super::{abi, cvt, socklen};
use crate::packet::Packet;

/// How many `sendto` kicks one [`Xsk::send`] may issue: the kernel's copy-mode transmit
/// handles at most 32 descriptors per kick (unless [`TX_BUDGET`] was accepted), so this
/// covers a 64-frame batch with margin.
const MAX_TX_KICKS: usize = 8;

/// `XDP_MAX_TX_SKB_BUDGET` (Linux 6.17+; not in the `libc` crate yet): how many descriptors
/// one copy-mode transmit kick may take (the kernel's default is 32).
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

/// The transmit budget asked for (at most the tx ring size): a PMD batch of 64 frames then
/// needs one `sendto` instead of two.
const TX_BUDGET: u32 = 256;

/// How many completed transmit frames a copy-mode socket keeps apart, most recent first, to
/// copy the next packets into (see [`Xsk::set_tx_warm`]): a few batches' worth.
const WARM_MAX: usize = 256;

/// How long binding retries while the queue is still held by a socket being released.
const BIND_BUSY_WAIT: Duration = Duration::from_secs(2);

/// Configuration of one socket.
#[derive(Clone, Copy, Debug)]
pub struct XskConfig {
    /// Interface index.
    pub ifindex: u32,
    /// Receive queue to bind to.
    pub queue: u32,
    /// Rx (and fill) ring size: a power of two.
    pub rx_ring: u32,
    /// Tx (and completion) ring size: a power of two.
    pub tx_ring: u32,
    /// UMEM frame size: a power of two from 2048 to the page size.
    pub frame_size: u32,
    /// Bind with `XDP_USE_NEED_WAKEUP`: the kernel says when a kick is needed.
    pub need_wakeup: bool,
    /// Bind with `XDP_USE_SG`: frames longer than a UMEM frame arrive in several
    /// descriptors instead of being dropped (needs a frags-aware program, Linux 6.6+).
    pub multi_buffer: bool,
}

/// One of the four rings, shared with the kernel through a mapping of the socket.
#[derive(Debug)]
struct Ring<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    descs: NonNull<T>,
    mask: u32,
    size: u32,
    /// Our copy of the index we own (producer of a producer ring, consumer of a consumer ring).
    local: u32,
    _map: Mapping,
}

impl<T: Copy> Ring<T> {
    /// Maps ring `pgoff` of socket `fd` with `size` entries at offsets `off`.
    fn map(fd: RawFd, pgoff: i64, size: u32, off: &libc::xdp_ring_offset) -> io::Result<Ring<T>> {
        let entries = usize::try_from(size).map_err(io::Error::other)?;
        let desc_off = usize::try_from(off.desc).map_err(io::Error::other)?;
        let len = desc_off + entries * std::mem::size_of::<T>();
        let map = Mapping::new(len, Some(fd), pgoff)?;
        let field = |offset: u64| -> io::Result<NonNull<u8>> {
            let offset = usize::try_from(offset).map_err(io::Error::other)?;
            if offset >= len {
                return Err(io::Error::other("ring offset outside the mapping"));
            }
            // SAFETY: `offset < len`, so the result stays inside the mapping.
            Ok(unsafe { map.ptr.add(offset) })
        };
        let producer = field(off.producer)?.cast();
        let consumer = field(off.consumer)?.cast();
        let flags = field(off.flags)?.cast();
        let descs = field(off.desc)?.cast();
        Ok(Ring {
            producer,
            consumer,
            flags,
            descs,
            mask: size - 1,
            size,
            local: 0,
            _map: map,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping at the kernel-given, 4-byte aligned offset.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `producer`.
        let flags = unsafe { self.flags.as_ref() };
        flags.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    fn slot(&self, index: u32) -> *mut T {
        let i = usize::try_from(index & self.mask).unwrap_or(0);
        // SAFETY: `i <= mask < size`, the number of descriptors in the mapping.
        unsafe { self.descs.as_ptr().add(i) }
    }

    /// Consumer side: how many entries are ready (at most `max`).
    fn peek(&mut self, max: u32) -> u32 {
        let ready = self
            .producer()
            .load(Ordering::Acquire)
            .wrapping_sub(self.local);
        ready.min(max)
    }

    /// Consumer side: reads entry `i` of those returned by `peek`.
    fn read(&self, i: u32) -> T {
        // SAFETY: the slot is inside the ring, and the Acquire load in `peek` ordered the
        // kernel's write of this entry before this read.
        unsafe { self.slot(self.local.wrapping_add(i)).read_volatile() }
    }

    /// Consumer side: gives `n` peeked entries back to the kernel.
    fn release(&mut self, n: u32) {
        self.local = self.local.wrapping_add(n);
        self.consumer().store(self.local, Ordering::Release);
    }

    /// Producer side: how many entries can be written now (at most `max`).
    fn free(&self, max: u32) -> u32 {
        let used = self
            .local
            .wrapping_sub(self.consumer().load(Ordering::Acquire));
        self.size.saturating_sub(used).min(max)
    }

    /// Producer side: writes entry `i` past the published producer index.
    fn write(&mut self, i: u32, value: T) {
        // SAFETY: callers write only `i < free()`, slots the kernel has consumed and will not
        // read before the Release store in `submit`.
        unsafe { self.slot(self.local.wrapping_add(i)).write_volatile(value) }
    }

    /// Producer side: publishes `n` written entries.
    fn submit(&mut self, n: u32) {
        self.local = self.local.wrapping_add(n);
        self.producer().store(self.local, Ordering::Release);
    }

    /// Producer side: entries published but not yet consumed by the kernel.
    fn outstanding(&self) -> u32 {
        self.local
            .wrapping_sub(self.consumer().load(Ordering::Acquire))
    }
}

/// Kernel statistics of a socket (`XDP_STATISTICS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskStats {
    /// Frames dropped for reasons other than an invalid descriptor.
    pub rx_dropped: u64,
    /// Frames dropped because the rx ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a frame arrived.
    pub rx_fill_ring_empty: u64,
    /// Invalid rx/tx descriptors.
    pub invalid_descs: u64,
}

/// Removes the socket from its UMEM's member list when dropped: declared first in [`Xsk`],
/// so that no new socket shares the UMEM through a descriptor about to be closed.
#[derive(Debug)]
struct Membership {
    umem: Arc<Umem>,
    id: Option<u64>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.umem.leave(id);
        }
    }
}

/// An AF_XDP socket bound to one queue of one interface.
#[derive(Debug)]
pub struct Xsk {
    // Field order is drop order: the membership ends before the socket is closed; the rings
    // are unmapped before the socket is closed; the frames the kernel held return to the
    // free list after (`Owned`).
    member: Membership,
    fill: Ring<u64>,
    comp: Ring<u64>,
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    fd: OwnedFd,
    owned: Owned,
    umem: Arc<Umem>,
    shared: bool,
    need_wakeup: bool,
    zero_copy: bool,
    /// Copy every packet into a recently completed frame rather than send a frame of the
    /// UMEM by address (see [`Xsk::set_tx_warm`]).
    tx_warm: bool,
    /// Reassembly buffer for multi-descriptor frames.
    scratch: Vec<u8>,
}

// SAFETY: the raw pointers point into mappings owned by the Xsk itself (or by its UMEM, which
// is Send and Sync), only reached through `&mut self` (or `&self` for atomics); moving the Xsk
// to another thread moves all of them.
unsafe impl Send for Xsk {}

fn setsockopt<T>(fd: RawFd, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a valid T for the length passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            name,
            (value as *const T).cast(),
            socklen::<T>(),
        )
    })
    .map(drop)
}

fn check_pow2(what: &str, value: u32, min: u32, max: u32) -> io::Result<()> {
    if value.is_power_of_two() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {value} must be a power of two in {min}..={max}"),
        ))
    }
}

impl XskConfig {
    /// Checks the ring and frame sizes (`InvalidInput` when one is bad).
    pub fn check(&self) -> io::Result<()> {
        check_pow2("rx-ring", self.rx_ring, 64, 1 << 16)?;
        check_pow2("tx-ring", self.tx_ring, 64, 1 << 16)?;
        // SAFETY: sysconf has no preconditions.
        let page = u32::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        check_pow2("frame-size", self.frame_size, 2048, page.max(2048))
    }

    /// What the socket's UMEM must agree on.
    pub fn umem_key(&self) -> UmemKey {
        UmemKey {
            frame_size: self.frame_size,
            need_wakeup: self.need_wakeup,
            multi_buffer: self.multi_buffer,
        }
    }

    /// Frames the socket reserves in its UMEM: its rx and tx sides and its stash.
    pub fn umem_frames(&self) -> u32 {
        self.rx_ring
            .saturating_add(self.tx_ring)
            .saturating_add(u32::try_from(STASH_MAX).unwrap_or(u32::MAX))
    }
}

impl Xsk {
    /// Creates the socket in the UMEM of `reservation` (registering it if no bound socket uses
    /// it yet, else sharing it), maps its rings, fills the fill ring and binds.
    pub fn open(cfg: &XskConfig, reservation: Reservation) -> io::Result<Xsk> {
        cfg.check()?;
        let umem = reservation.umem().clone();
        if umem.key() != cfg.umem_key() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the UMEM's frame size or flags differ from the socket's",
            ));
        }

        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd =
            cvt(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();

        // Every socket has its own fill and completion rings, whether it registers the UMEM
        // or shares one (Linux 5.10+ for sockets of different interfaces or queues).
        setsockopt(raw, libc::XDP_UMEM_FILL_RING, &cfg.rx_ring)?;
        setsockopt(raw, libc::XDP_UMEM_COMPLETION_RING, &cfg.tx_ring)?;
        setsockopt(raw, libc::XDP_RX_RING, &cfg.rx_ring)?;
        setsockopt(raw, libc::XDP_TX_RING, &cfg.tx_ring)?;
        // Best effort: older kernels refuse the option and keep 32 descriptors per kick.
        if let Err(e) = setsockopt(raw, XDP_MAX_TX_SKB_BUDGET, &TX_BUDGET.min(cfg.tx_ring)) {
            tracing::debug!(error = %e, "AF_XDP transmit budget left at the kernel's default");
        }

        // SAFETY: xdp_mmap_offsets is plain data; zero is a valid value.
        let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let mut optlen = socklen::<libc::xdp_mmap_offsets>();
        // SAFETY: `off` is writable for `optlen` bytes.
        cvt(unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                (&mut off as *mut libc::xdp_mmap_offsets).cast(),
                &mut optlen,
            )
        })?;
        if optlen as usize != std::mem::size_of::<libc::xdp_mmap_offsets>() {
            return Err(io::Error::other(
                "kernel without ring flags (needs Linux 5.4+)",
            ));
        }
        let pgoff = |v: u64| i64::try_from(v).map_err(io::Error::other);
        let fill = Ring::map(
            raw,
            pgoff(libc::XDP_UMEM_PGOFF_FILL_RING)?,
            cfg.rx_ring,
            &off.fr,
        )?;
        let comp = Ring::map(
            raw,
            pgoff(libc::XDP_UMEM_PGOFF_COMPLETION_RING)?,
            cfg.tx_ring,
            &off.cr,
        )?;
        let rx = Ring::map(raw, libc::XDP_PGOFF_RX_RING, cfg.rx_ring, &off.rx)?;
        let tx = Ring::map(raw, libc::XDP_PGOFF_TX_RING, cfg.tx_ring, &off.tx)?;

        let mut xsk = Xsk {
            member: Membership {
                umem: umem.clone(),
                id: None,
            },
            fill,
            comp,
            rx,
            tx,
            fd,
            owned: Owned::new(reservation, cfg.rx_ring, cfg.tx_ring),
            umem,
            shared: false,
            need_wakeup: cfg.need_wakeup,
            zero_copy: false,
            tx_warm: false,
            scratch: Vec::new(),
        };
        xsk.refill();
        xsk.owned.settle();
        xsk.register_and_bind(cfg)?;
        xsk.zero_copy = xsk.options() & libc::XDP_OPTIONS_ZEROCOPY != 0;
        xsk.tx_warm = !xsk.zero_copy;
        Ok(xsk)
    }

    /// Registers the UMEM (first socket) or names the member to share it through, and binds.
    /// The member lock is held throughout and released on return, before any error drops
    /// the half-made socket.
    fn register_and_bind(&mut self, cfg: &XskConfig) -> io::Result<()> {
        let raw = self.fd.as_raw_fd();
        let mut members = self.umem.members();
        // SAFETY: sockaddr_xdp is plain data; zero is a valid value.
        let mut sa: libc::sockaddr_xdp = unsafe { std::mem::zeroed() };
        sa.sxdp_family = abi::AF_XDP;
        sa.sxdp_ifindex = cfg.ifindex;
        sa.sxdp_queue_id = cfg.queue;
        match members.share_through() {
            Some(member) => {
                // A shared socket inherits the flags of the UMEM's first socket (the key
                // guarantees they are the ones asked for) and may not repeat them.
                sa.sxdp_flags = libc::XDP_SHARED_UMEM;
                sa.sxdp_shared_umem_fd = u32::try_from(member).map_err(io::Error::other)?;
                self.shared = true;
            }
            None => {
                setsockopt(raw, libc::XDP_UMEM_REG, &self.umem.registration())?;
                if cfg.need_wakeup {
                    sa.sxdp_flags |= libc::XDP_USE_NEED_WAKEUP;
                }
                if cfg.multi_buffer {
                    sa.sxdp_flags |= libc::XDP_USE_SG;
                }
            }
        }
        // A socket of a process that just died releases its queue asynchronously: the queue
        // stays busy for a moment after the process is gone, so EBUSY is retried briefly.
        let deadline = Instant::now() + BIND_BUSY_WAIT;
        loop {
            // SAFETY: `sa` is a valid sockaddr_xdp for the length passed.
            let bound = cvt(unsafe {
                libc::bind(
                    raw,
                    (&sa as *const libc::sockaddr_xdp).cast(),
                    socklen::<libc::sockaddr_xdp>(),
                )
            });
            match bound {
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
        }
        members.add(self.owned.gauge_id, raw);
        self.member.id = Some(self.owned.gauge_id);
        Ok(())
    }

    fn options(&self) -> u32 {
        // SAFETY: xdp_options is plain data; zero is a valid value.
        let mut opts: libc::xdp_options = unsafe { std::mem::zeroed() };
        let mut len = socklen::<libc::xdp_options>();
        // SAFETY: `opts` is writable for `len` bytes.
        let ret = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_OPTIONS,
                (&mut opts as *mut libc::xdp_options).cast(),
                &mut len,
            )
        };
        if ret == 0 {
            opts.flags
        } else {
            0
        }
    }

    /// The socket's file descriptor: readable when the rx ring has frames.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Whether the kernel bound the socket in zero-copy mode (else copy mode).
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// Whether packets are sent from warm frames (on by default in copy mode).
    ///
    /// In copy mode the kernel copies each frame out of the UMEM at transmit, through its
    /// own page-by-page mapping of it. A received frame has been round the fill ring (thousands
    /// of frames, as many pages) since that CPU last touched it, so sending it by address
    /// costs the kernel a TLB miss and a cache miss per frame: with 4096-entry rx rings,
    /// `__pi_memcpy` under `__xsk_generic_xmit` took 12-17% of the PMD thread (3.8% with 64
    /// entries). With warm frames the packet is copied, in user space, into one of the few
    /// hundred frames that completed last, whose pages the kernel has just read, and its
    /// received frame goes straight back to the stash. Zero-copy sockets send by address:
    /// there the device reads the frame, not the CPU.
    pub fn set_tx_warm(&mut self, on: bool) {
        self.tx_warm = on;
        if !on {
            let warm = std::mem::take(&mut self.owned.warm);
            self.owned.stash.extend(warm);
            self.owned.settle();
        }
    }

    /// Whether packets are sent from warm frames ([`Xsk::set_tx_warm`]).
    pub fn tx_warm(&self) -> bool {
        self.tx_warm
    }

    /// Whether the socket shares its UMEM with a socket bound before it.
    pub fn shares_umem(&self) -> bool {
        self.shared
    }

    /// The socket's UMEM.
    pub fn umem(&self) -> &Arc<Umem> {
        &self.umem
    }

    /// Packets sent by handing over their frame, and packets sent by copying them.
    pub fn tx_counts(&self) -> (u64, u64) {
        (self.owned.handed, self.owned.copied)
    }

    /// Tops the rx side up to `rx_limit` frames from the stash.
    fn refill(&mut self) {
        let want = self.owned.rx_limit.saturating_sub(self.owned.rx_held);
        let room = self.fill.free(want);
        if room == 0 {
            return;
        }
        if !self.owned.stock(usize::try_from(room).unwrap_or(0)) {
            self.umem.count_fill_short();
        }
        let mut n = 0u32;
        while n < room {
            let Some(base) = self.owned.stash.pop() else {
                break;
            };
            self.owned.mark(base);
            self.fill.write(n, base);
            n += 1;
        }
        if n > 0 {
            self.fill.submit(n);
            self.owned.rx_held += n;
        }
    }

    /// Receives up to `max` frames, handing each to `each` as a [`Packet`] whose storage is
    /// the frame itself (no copy), and tops the fill ring up. Returns how many were received.
    ///
    /// With `multi_buffer`, a frame longer than a UMEM frame arrives as several descriptors
    /// (all but the last flagged `XDP_PKT_CONTD`); they are gathered into one heap packet.
    pub fn recv(&mut self, max: usize, mut each: impl FnMut(Packet)) -> usize {
        self.complete_tx();
        let avail = self.rx.peek(u32::MAX);
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        let frame_size = self.umem.frame_size();
        let mut used = 0u32;
        let mut frames = 0u32;
        let mut made = 0u64;
        self.owned
            .stock_handles(usize::try_from(avail.min(max)).unwrap_or(0));
        // The kernel wrote these frames on another CPU: start every first read now, so that
        // the misses overlap instead of stalling one packet at a time.
        for i in 0..avail.min(max) {
            self.umem.prefetch(self.rx.read(i).addr);
        }
        while frames < max && used < avail {
            let mut end = used;
            let complete = loop {
                if end == avail {
                    break false;
                }
                let more = self.rx.read(end).options & libc::XDP_PKT_CONTD != 0;
                end += 1;
                if !more {
                    break true;
                }
            };
            if !complete {
                // The kernel publishes a frame's descriptors together; wait for the rest.
                break;
            }
            if end - used == 1 {
                let desc = self.rx.read(used);
                if let Some(base) = self.owned.unmark(desc.addr) {
                    let offset = usize::try_from(desc.addr - base).unwrap_or(usize::MAX);
                    let len = usize::try_from(desc.len).unwrap_or(usize::MAX);
                    match offset.checked_add(len).filter(|e| *e <= frame_size) {
                        Some(end) => {
                            let handle = match self.owned.handles.pop() {
                                Some(h) => h,
                                None => self.umem.clone(),
                            };
                            let frame = UmemFrame::new(handle, base, end);
                            made += 1;
                            each(Packet::from_umem(frame, offset));
                        }
                        None => self.owned.stash.push(base),
                    }
                }
            } else {
                let mut buf = std::mem::take(&mut self.scratch);
                buf.clear();
                for i in used..end {
                    let desc = self.rx.read(i);
                    let Some(base) = self.owned.unmark(desc.addr) else {
                        continue;
                    };
                    let offset = usize::try_from(desc.addr - base).unwrap_or(usize::MAX);
                    let len = usize::try_from(desc.len).unwrap_or(0);
                    // SAFETY: the frame came out of the rx ring and is this socket's until
                    // it is recycled below; nothing else touches it meanwhile.
                    if let Some(part) = unsafe { self.umem.bytes(base, offset, len) } {
                        buf.extend_from_slice(part);
                    }
                    self.owned.stash.push(base);
                }
                each(Packet::from_slice(&buf));
                self.scratch = buf;
            }
            frames += 1;
            used = end;
        }
        if used > 0 {
            self.rx.release(used);
            self.owned.rx_held = self.owned.rx_held.saturating_sub(used);
            self.owned.made += made;
        }
        self.refill();
        self.owned.settle();
        if self.need_wakeup && self.fill.needs_wakeup() {
            self.kick_rx();
        }
        usize::try_from(frames).unwrap_or(0)
    }

    /// Sends the packets (drains `pkts`) and kicks the kernel. A packet whose frame is in this
    /// socket's UMEM goes to the tx ring by address, unless warm frames are on
    /// ([`Xsk::set_tx_warm`]); any other is copied into a free frame.
    /// Packets beyond the room of the tx ring (or the socket's tx side), longer than a frame,
    /// or finding no free frame to be copied into are dropped. Returns how many were queued.
    pub fn send(&mut self, pkts: &mut Vec<Packet>) -> io::Result<usize> {
        self.complete_tx();
        let room = self
            .tx
            .free(self.owned.tx_limit.saturating_sub(self.owned.tx_held));
        let room_n = usize::try_from(room).unwrap_or(0);
        let frame_size = self.umem.frame_size();
        // Stash frames for the packets to copy.
        let copies = pkts
            .iter()
            .take(room_n)
            .filter(|p| self.tx_warm || !p.umem_frame().is_some_and(|f| f.belongs_to(&self.umem)))
            .count()
            .saturating_sub(self.owned.warm.len());
        if copies > 0 {
            self.owned.stock(copies);
        }
        let (mut queued, mut by_address) = (0u32, 0u64);
        for pkt in pkts.drain(..) {
            if queued == room {
                break;
            }
            let desc = match pkt.into_umem() {
                Ok((frame, start)) if frame.belongs_to(&self.umem) && self.tx_warm => {
                    let data = frame.bytes().get(start..).unwrap_or_default();
                    let desc = copy_into_frame(&self.umem, data, &mut self.owned, frame_size);
                    // The received frame is free again: to the stash, without the free
                    // list's lock.
                    let (base, handle) = frame.hand_over();
                    self.owned.stash.push(base);
                    self.owned.handles.extend(handle);
                    self.owned.reclaimed += 1;
                    desc
                }
                Ok((frame, start)) if frame.belongs_to(&self.umem) => {
                    let len = frame.len().saturating_sub(start);
                    by_address += 1;
                    let (base, handle) = frame.hand_over();
                    self.owned.handles.extend(handle);
                    Some((base, start, len))
                }
                Ok((frame, start)) => {
                    let data = frame.bytes().get(start..).unwrap_or_default();
                    copy_into_frame(&self.umem, data, &mut self.owned, frame_size)
                }
                Err(pkt) => copy_into_frame(&self.umem, pkt.data(), &mut self.owned, frame_size),
            };
            let Some((base, offset, len)) = desc else {
                continue;
            };
            self.owned.mark(base);
            self.tx.write(
                queued,
                libc::xdp_desc {
                    addr: base + offset as u64,
                    len: u32::try_from(len).unwrap_or(0),
                    options: 0,
                },
            );
            queued += 1;
        }
        if queued > 0 {
            self.tx.submit(queued);
            self.owned.tx_held += queued;
        }
        self.owned.handed += by_address;
        self.owned.copied += u64::from(queued) - by_address;
        self.owned.settle();
        self.kick_tx()?;
        Ok(usize::try_from(queued).unwrap_or(0))
    }

    /// Moves completed tx frames to the stash.
    fn complete_tx(&mut self) {
        let n = self.comp.peek(u32::MAX);
        if n == 0 {
            return;
        }
        for i in 0..n {
            let addr = self.comp.read(i);
            if let Some(base) = self.owned.unmark(addr) {
                if self.tx_warm && self.owned.warm.len() < WARM_MAX {
                    self.owned.warm.push(base);
                } else {
                    self.owned.stash.push(base);
                }
            }
        }
        self.comp.release(n);
        self.owned.tx_held = self.owned.tx_held.saturating_sub(n);
    }

    /// Asks the kernel to transmit what the tx ring holds, if it needs asking.
    fn kick_tx(&mut self) -> io::Result<()> {
        for _ in 0..MAX_TX_KICKS {
            if self.tx.outstanding() == 0 || (self.need_wakeup && !self.tx.needs_wakeup()) {
                return Ok(());
            }
            // SAFETY: a zero-length sendto on our own socket: no buffer is read.
            let ret = unsafe {
                libc::sendto(
                    self.fd(),
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                )
            };
            if ret >= 0 {
                continue;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                // The kernel sent a batch and wants another kick, or is busy: retry.
                Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS) => {}
                _ => return Err(err),
            }
        }
        Ok(())
    }

    /// Wakes the driver to refill its receive queue from the fill ring.
    fn kick_rx(&self) {
        // SAFETY: a zero-length, non-blocking recvfrom on our own socket: nothing is written.
        unsafe {
            libc::recvfrom(
                self.fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
    }

    /// The kernel's drop counters for this socket.
    pub fn stats(&self) -> XskStats {
        // SAFETY: xdp_statistics is plain data; zero is a valid value.
        let mut st: libc::xdp_statistics = unsafe { std::mem::zeroed() };
        let mut len = socklen::<libc::xdp_statistics>();
        // SAFETY: `st` is writable for `len` bytes.
        let ret = unsafe {
            libc::getsockopt(
                self.fd(),
                libc::SOL_XDP,
                libc::XDP_STATISTICS,
                (&mut st as *mut libc::xdp_statistics).cast(),
                &mut len,
            )
        };
        if ret != 0 {
            return XskStats::default();
        }
        XskStats {
            rx_dropped: st.rx_dropped,
            rx_ring_full: st.rx_ring_full,
            rx_fill_ring_empty: st.rx_fill_ring_empty_descs,
            invalid_descs: st.rx_invalid_descs + st.tx_invalid_descs,
        }
    }
}

/// Copies `data` into a free frame of the socket, a warm one first (see [`Xsk::set_tx_warm`]),
/// else one from its stash: the frame's base, offset 0 and the length, or None (the packet is
/// dropped) when the data is longer than a frame or no frame is left (counted in `no_frame`).
fn copy_into_frame(
    umem: &Umem,
    data: &[u8],
    owned: &mut Owned,
    frame_size: usize,
) -> Option<(u64, usize, usize)> {
    if data.len() > frame_size {
        return None;
    }
    let Some(base) = owned.warm.pop().or_else(|| owned.stash.pop()) else {
        owned.no_frame += 1;
        return None;
    };
    // SAFETY: the frame came from the free list into the stash and is this socket's alone
    // until it is put on the tx ring or back on the free list.
    match unsafe { umem.bytes_mut(base, 0, data.len()) } {
        Some(dst) => {
            dst.copy_from_slice(data);
            Some((base, 0, data.len()))
        }
        None => {
            owned.stash.push(base);
            None
        }
    }
}
