//! An AF_XDP socket with its own UMEM, in copy-out style: received frames are copied out of
//! the UMEM and their frames given straight back to the fill ring; frames to send are copied
//! into free UMEM frames.
//!
//! # Memory and ring invariants
//!
//! * The UMEM is `rx_ring + tx_ring` frames of `frame_size` bytes (aligned mode, so
//!   `frame_size` is a power of two and a frame's base is `addr & !(frame_size - 1)`).
//! * Each frame is in exactly one place: the fill ring or the rx ring (the `rx_ring` frames
//!   owned by the kernel for receiving), or `free`, the tx ring or the completion ring (the
//!   `tx_ring` frames used for sending). Receive returns a frame to the fill ring as soon as
//!   its bytes have been copied, so the fill ring never runs dry while the port is polled.
//! * The fill and completion rings have the sizes of the rx and tx rings, so the frames of
//!   each side always fit into its rings and a reserve on the fill ring cannot fail.
//! * The producer/consumer words are shared with the kernel: a ring's producer index is
//!   published with a Release store after its descriptors are written, and the other side's
//!   index is read with an Acquire load before its descriptors are read.
//!
//! Sharing one UMEM between the ports of a PMD thread (forwarding without any copy in user
//! space) is a later optimisation; see docs/DATAPATH-PORTS.md.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{abi, cvt, socklen};

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

/// An anonymous or ring mapping, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes of `fd` at `offset`, or anonymous memory when `fd` is None.
    fn new(len: usize, fd: Option<RawFd>, offset: i64) -> io::Result<Mapping> {
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
        // every pointer derived from it is owned by the struct that owns this Mapping.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
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

/// An AF_XDP socket bound to one queue of one interface.
#[derive(Debug)]
pub struct Xsk {
    // Field order is drop order: the rings are unmapped before the socket is closed, and the
    // UMEM is unmapped last, after the socket that registered it.
    fill: Ring<u64>,
    comp: Ring<u64>,
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    fd: OwnedFd,
    umem: Mapping,
    /// Base addresses of the tx frames not in the tx or completion ring.
    free: Vec<u64>,
    frame_size: u32,
    need_wakeup: bool,
    zero_copy: bool,
    /// Reassembly buffer for multi-descriptor frames.
    scratch: Vec<u8>,
}

// SAFETY: the raw pointers point into mappings owned by the Xsk itself, only reached through
// `&mut self` (or `&self` for atomics); moving the Xsk to another thread moves all of them.
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

impl Xsk {
    /// Creates the socket, registers its UMEM, maps its rings, fills the fill ring and binds.
    pub fn open(cfg: &XskConfig) -> io::Result<Xsk> {
        check_pow2("rx-ring", cfg.rx_ring, 64, 1 << 16)?;
        check_pow2("tx-ring", cfg.tx_ring, 64, 1 << 16)?;
        // SAFETY: sysconf has no preconditions.
        let page = u32::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        check_pow2("frame-size", cfg.frame_size, 2048, page.max(2048))?;

        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd =
            cvt(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();

        let frames = cfg.rx_ring + cfg.tx_ring;
        let frame_size = usize::try_from(cfg.frame_size).map_err(io::Error::other)?;
        let umem_len = usize::try_from(frames).map_err(io::Error::other)? * frame_size;
        let umem = Mapping::new(umem_len, None, 0)?;
        let reg = libc::xdp_umem_reg {
            addr: umem.ptr.as_ptr() as u64,
            len: umem_len as u64,
            chunk_size: cfg.frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        setsockopt(raw, libc::XDP_UMEM_REG, &reg)?;
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
            fill,
            comp,
            rx,
            tx,
            fd,
            umem,
            free: Vec::new(),
            frame_size: cfg.frame_size,
            need_wakeup: cfg.need_wakeup,
            zero_copy: false,
            scratch: Vec::new(),
        };
        // Frames 0..rx_ring receive, the others send.
        let size = u64::from(cfg.frame_size);
        for i in 0..cfg.rx_ring {
            xsk.fill.write(i, u64::from(i) * size);
        }
        xsk.fill.submit(cfg.rx_ring);
        xsk.free = (cfg.rx_ring..frames).map(|i| u64::from(i) * size).collect();

        // SAFETY: sockaddr_xdp is plain data; zero is a valid value.
        let mut sa: libc::sockaddr_xdp = unsafe { std::mem::zeroed() };
        sa.sxdp_family = abi::AF_XDP;
        sa.sxdp_ifindex = cfg.ifindex;
        sa.sxdp_queue_id = cfg.queue;
        if cfg.need_wakeup {
            sa.sxdp_flags |= libc::XDP_USE_NEED_WAKEUP;
        }
        if cfg.multi_buffer {
            sa.sxdp_flags |= libc::XDP_USE_SG;
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
        xsk.zero_copy = xsk.options() & libc::XDP_OPTIONS_ZEROCOPY != 0;
        Ok(xsk)
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

    /// The frame bytes at UMEM address `addr`, or None if the range is outside the UMEM.
    fn frame_mut(&mut self, addr: u64, len: u32) -> Option<&mut [u8]> {
        let start = usize::try_from(addr).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        if end > self.umem.len {
            return None;
        }
        // SAFETY: `start..end` is inside the UMEM mapping, and the frame is owned by user
        // space (taken from the rx ring and not yet returned to the fill ring, or taken from
        // `free`), so the kernel does not touch it while this borrow of `self` lives.
        Some(unsafe {
            std::slice::from_raw_parts_mut(self.umem.ptr.as_ptr().add(start), end - start)
        })
    }

    /// Receives up to `max` frames, handing each to `each` (which may modify it in place)
    /// before its UMEM frames go back to the fill ring. Returns how many were received.
    ///
    /// With `multi_buffer`, a frame longer than a UMEM frame arrives as several descriptors
    /// (all but the last flagged `XDP_PKT_CONTD`); they are gathered into one buffer first.
    pub fn recv(&mut self, max: usize, mut each: impl FnMut(&mut [u8])) -> usize {
        self.complete_tx();
        let avail = self.rx.peek(u32::MAX);
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        let mut used = 0u32;
        let mut frames = 0u32;
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
                if let Some(frame) = self.frame_mut(desc.addr, desc.len) {
                    each(frame);
                }
            } else {
                let mut buf = std::mem::take(&mut self.scratch);
                buf.clear();
                for i in used..end {
                    let desc = self.rx.read(i);
                    if let Some(part) = self.frame_mut(desc.addr, desc.len) {
                        buf.extend_from_slice(part);
                    }
                }
                each(&mut buf);
                self.scratch = buf;
            }
            frames += 1;
            used = end;
        }
        if used > 0 {
            // The fill ring has room for every frame of the rx side (module invariants).
            let room = self.fill.free(used);
            let frame_mask = !(u64::from(self.frame_size) - 1);
            for i in 0..room {
                let addr = self.rx.read(i).addr & frame_mask;
                self.fill.write(i, addr);
            }
            self.rx.release(used);
            self.fill.submit(room);
        }
        if self.need_wakeup && self.fill.needs_wakeup() {
            self.kick_rx();
        }
        usize::try_from(frames).unwrap_or(0)
    }

    /// Copies up to as many `frames` as there are free tx frames into the tx ring and kicks
    /// the kernel. Frames longer than a UMEM frame are skipped. Returns how many were queued.
    pub fn send<'a>(&mut self, frames: impl Iterator<Item = &'a [u8]>) -> io::Result<usize> {
        self.complete_tx();
        let room = self.tx.free(u32::MAX);
        let mut queued = 0u32;
        for frame in frames {
            if queued == room {
                break;
            }
            let Ok(len) = u32::try_from(frame.len()) else {
                continue;
            };
            if len > self.frame_size {
                continue;
            }
            let Some(addr) = self.free.pop() else { break };
            match self.frame_mut(addr, len) {
                Some(dst) => dst.copy_from_slice(frame),
                None => {
                    self.free.push(addr);
                    continue;
                }
            }
            self.tx.write(
                queued,
                libc::xdp_desc {
                    addr,
                    len,
                    options: 0,
                },
            );
            queued += 1;
        }
        if queued > 0 {
            self.tx.submit(queued);
        }
        self.kick_tx()?;
        Ok(usize::try_from(queued).unwrap_or(0))
    }

    /// Moves completed tx frames back to the free list.
    fn complete_tx(&mut self) {
        let n = self.comp.peek(u32::MAX);
        for i in 0..n {
            let addr = self.comp.read(i);
            self.free.push(addr);
        }
        if n > 0 {
            self.comp.release(n);
        }
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
