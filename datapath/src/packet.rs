//! A packet buffer with headroom.
//!
//! The frame lives at `buf[start..]`; the bytes before `start` are headroom into which a VLAN
//! tag push or an encapsulation header grows without moving the payload. A fresh packet has
//! [`HEADROOM`] bytes of it; when a push needs more, the buffer is reallocated with fresh
//! headroom (rare: only repeated pushes get there).
//!
//! A packet received by an AF_XDP port stays in its UMEM frame instead (see
//! [`crate::port::afxdp::xdp::umem`]): its headroom is the space the kernel left in front of
//! the frame (256 bytes), the same API reads and rewrites it in place, a push beyond that
//! headroom moves it to the heap, and dropping it returns the frame to its UMEM. A clone is
//! always a heap copy.
//!
//! Buffers are recycled: a dropped packet's buffer goes to a per-thread pool (at most
//! [`POOL_MAX`] buffers of [`BUF_CAP`] bytes or a little more) from which new packets take
//! theirs, so the hit path allocates nothing in the steady state.

use std::cell::RefCell;
use std::fmt;

use crate::port::afxdp::xdp::umem::UmemFrame;

/// Headroom of a fresh packet, enough for two VLAN tags and a VXLAN-over-IPv6 encapsulation.
pub const HEADROOM: usize = 128;

/// Capacity of a pooled buffer: headroom and a 2 KiB frame.
pub const BUF_CAP: usize = HEADROOM + 2048;

/// Most buffers kept in one thread's pool.
pub const POOL_MAX: usize = 1024;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `cap` bytes, from the pool when one fits.
fn take_buf(cap: usize) -> Vec<u8> {
    if cap <= BUF_CAP {
        let pooled = POOL
            .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()))
            .ok()
            .flatten();
        if let Some(b) = pooled {
            return b;
        }
    }
    Vec::with_capacity(cap.max(BUF_CAP))
}

/// Gives `buf` back to the pool if it is a pool-sized buffer and the pool has room.
fn give_buf(mut buf: Vec<u8>) {
    if !(BUF_CAP..=2 * BUF_CAP).contains(&buf.capacity()) {
        return;
    }
    buf.clear();
    // During thread exit the pool may be gone: the buffer is then simply freed.
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.len() < POOL_MAX {
                p.push(buf);
            }
        }
    });
}

/// Where a packet's bytes live.
enum Buf {
    /// A (pooled) heap buffer: its length is the end of the frame.
    Heap(Vec<u8>),
    /// A UMEM frame of the AF_XDP socket the packet arrived on: its bytes in use end the
    /// frame. Forwarded to a socket sharing that UMEM, the frame itself is sent.
    Umem(UmemFrame),
}

/// One packet: an Ethernet frame with headroom in front of it.
pub struct Packet {
    buf: Buf,
    start: usize,
}

impl Packet {
    /// A packet holding a copy of `frame`, with [`HEADROOM`] bytes of headroom.
    #[inline]
    pub fn from_slice(frame: &[u8]) -> Packet {
        let mut buf = take_buf(HEADROOM + frame.len());
        buf.resize(HEADROOM, 0);
        buf.extend_from_slice(frame);
        Packet {
            buf: Buf::Heap(buf),
            start: HEADROOM,
        }
    }

    /// A packet stored in a UMEM frame, starting `start` bytes into it (the bytes before are
    /// its headroom).
    pub(crate) fn from_umem(frame: UmemFrame, start: usize) -> Packet {
        let start = start.min(frame.len());
        Packet {
            buf: Buf::Umem(frame),
            start,
        }
    }

    /// The UMEM frame holding the packet, if it is stored in one.
    pub fn umem_frame(&self) -> Option<&UmemFrame> {
        match &self.buf {
            Buf::Umem(f) => Some(f),
            Buf::Heap(_) => None,
        }
    }

    /// Whether the packet is stored in a UMEM frame (else on the heap).
    #[inline]
    pub fn is_umem(&self) -> bool {
        matches!(self.buf, Buf::Umem(_))
    }

    /// The UMEM frame and the offset of the packet in it, or the packet itself when it is on
    /// the heap.
    pub(crate) fn into_umem(mut self) -> Result<(UmemFrame, usize), Packet> {
        match std::mem::replace(&mut self.buf, Buf::Heap(Vec::new())) {
            Buf::Umem(f) => Ok((f, self.start)),
            heap => {
                self.buf = heap;
                Err(self)
            }
        }
    }

    /// The packet on the heap: itself if it is there, else a copy (its UMEM frame is freed).
    /// For packets kept beyond a PMD iteration, which must not hold UMEM frames.
    #[inline]
    pub fn into_heap(self) -> Packet {
        if self.is_umem() {
            Packet::from_slice(self.data())
        } else {
            self
        }
    }

    /// The whole buffer: headroom and frame.
    #[inline]
    fn buffer(&self) -> &[u8] {
        match &self.buf {
            Buf::Heap(v) => v,
            Buf::Umem(f) => f.bytes(),
        }
    }

    /// The end of the frame in the buffer.
    #[inline]
    fn end(&self) -> usize {
        match &self.buf {
            Buf::Heap(v) => v.len(),
            Buf::Umem(f) => f.len(),
        }
    }

    /// The frame.
    #[inline]
    pub fn data(&self) -> &[u8] {
        self.buffer().get(self.start..).unwrap_or_default()
    }

    /// The frame, mutable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let start = self.start;
        self.buffer_mut().0.get_mut(start..).unwrap_or_default()
    }

    /// Length of the frame in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.end().saturating_sub(self.start)
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of headroom in front of the frame.
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Grows the frame by `n` bytes at the front and returns them (their content is
    /// unspecified). Reallocates (on the heap) when the headroom is too small; `None` only if
    /// `n` is absurd (more than 64 KiB).
    pub fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > 65_536 {
            return None;
        }
        if n > self.start {
            let mut buf = take_buf(HEADROOM + n + self.len());
            buf.resize(HEADROOM + n, 0);
            buf.extend_from_slice(self.data());
            if let Buf::Heap(old) = std::mem::replace(&mut self.buf, Buf::Heap(buf)) {
                give_buf(old);
            }
            self.start = HEADROOM + n;
        }
        self.start -= n;
        let start = self.start;
        self.buffer_mut().0.get_mut(start..start + n)
    }

    /// Removes `n` bytes from the front of the frame; `false` (nothing removed) when the frame
    /// is shorter than `n`.
    pub fn pop_front(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.start += n;
        true
    }

    /// Shortens the frame to `len` bytes (no effect when it is not longer).
    pub fn truncate(&mut self, len: usize) {
        let end = self.start.saturating_add(len);
        match &mut self.buf {
            Buf::Heap(v) => v.truncate(end),
            Buf::Umem(f) => f.truncate(end),
        }
    }

    /// The whole buffer and the offset where the frame starts, for in-place header moves
    /// (VLAN push and pop) that work on headroom and frame together.
    #[inline]
    pub fn buffer_mut(&mut self) -> (&mut [u8], usize) {
        let buf = match &mut self.buf {
            Buf::Heap(v) => v.as_mut_slice(),
            Buf::Umem(f) => f.bytes_mut(),
        };
        (buf, self.start)
    }

    /// Sets the start of the frame within the buffer (after an in-place move made with
    /// [`Packet::buffer_mut`]). Ignored when `start` is beyond the end of the buffer.
    pub fn set_start(&mut self, start: usize) {
        if start <= self.end() {
            self.start = start;
        }
    }
}

impl Clone for Packet {
    /// A copy of the frame, with fresh headroom.
    fn clone(&self) -> Packet {
        Packet::from_slice(self.data())
    }
}

impl Drop for Packet {
    fn drop(&mut self) {
        // A UMEM frame goes back to its free list when the `UmemFrame` drops.
        if let Buf::Heap(v) = &mut self.buf {
            give_buf(std::mem::take(v));
        }
    }
}

/// Packets are equal when their frames are (headroom is not part of a packet).
impl PartialEq for Packet {
    fn eq(&self, other: &Packet) -> bool {
        self.data() == other.data()
    }
}

impl Eq for Packet {}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = if self.is_umem() {
            ", in a UMEM frame"
        } else {
            ""
        };
        write!(
            f,
            "Packet({} bytes, headroom {}{place})",
            self.len(),
            self.start
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_is_four_words() {
        // The UMEM variant fits beside the heap vector's niche: moving packets through the
        // batch vectors costs what it did before there were UMEM packets.
        assert_eq!(std::mem::size_of::<Packet>(), 32);
    }

    #[test]
    fn push_and_pop_front() {
        let mut p = Packet::from_slice(&[1, 2, 3]);
        assert_eq!(p.headroom(), HEADROOM);
        if let Some(b) = p.push_front(2) {
            b.copy_from_slice(&[8, 9]);
        }
        assert_eq!(p.data(), &[8, 9, 1, 2, 3]);
        assert!(p.pop_front(3));
        assert_eq!(p.data(), &[2, 3]);
        assert!(!p.pop_front(3));
        p.truncate(1);
        assert_eq!(p.data(), &[2]);
        p.truncate(10);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn buffers_are_recycled_and_equality_ignores_headroom() {
        let p = Packet::from_slice(&[1; 100]);
        let ptr = p.data().as_ptr();
        drop(p);
        let q = Packet::from_slice(&[2; 50]);
        assert_eq!(q.data().as_ptr(), ptr);
        let mut r = q.clone();
        assert_eq!(q, r);
        assert!(r.push_front(4).is_some());
        assert!(r.pop_front(4));
        assert_eq!(q, r);
        // A huge frame gets its own buffer, not a pooled one.
        let big = Packet::from_slice(&vec![0; 3 * BUF_CAP]);
        assert_eq!(big.len(), 3 * BUF_CAP);
    }

    #[test]
    fn push_beyond_headroom_reallocates() {
        let mut p = Packet::from_slice(&[7; 10]);
        let b = p.push_front(HEADROOM + 5).map(|b| b.len());
        assert_eq!(b, Some(HEADROOM + 5));
        assert_eq!(p.len(), HEADROOM + 15);
        assert_eq!(&p.data()[HEADROOM + 5..], &[7; 10]);
        assert!(p.push_front(1 << 20).is_none());
    }
}
