//! A packet buffer with headroom.
//!
//! The frame lives at `buf[start..]`; the bytes before `start` are headroom into which a VLAN
//! tag push or an encapsulation header grows without moving the payload. A fresh packet has
//! [`HEADROOM`] bytes of it; when a push needs more, the buffer is reallocated with fresh
//! headroom (rare: only repeated pushes get there).

use std::fmt;

/// Headroom of a fresh packet, enough for two VLAN tags and a VXLAN-over-IPv6 encapsulation.
pub const HEADROOM: usize = 128;

/// One packet: an Ethernet frame with headroom in front of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    buf: Vec<u8>,
    start: usize,
}

impl Packet {
    /// A packet holding a copy of `frame`, with [`HEADROOM`] bytes of headroom.
    pub fn from_slice(frame: &[u8]) -> Packet {
        let mut buf = Vec::with_capacity(HEADROOM + frame.len());
        buf.resize(HEADROOM, 0);
        buf.extend_from_slice(frame);
        Packet {
            buf,
            start: HEADROOM,
        }
    }

    /// The frame.
    pub fn data(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    /// The frame, mutable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.start..).unwrap_or_default()
    }

    /// Length of the frame in bytes.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
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
    /// unspecified). Reallocates when the headroom is too small; `None` only if `n` is absurd
    /// (more than 64 KiB).
    pub fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > 65_536 {
            return None;
        }
        if n > self.start {
            let mut buf = Vec::with_capacity(HEADROOM + n + self.len());
            buf.resize(HEADROOM + n, 0);
            buf.extend_from_slice(self.data());
            self.buf = buf;
            self.start = HEADROOM + n;
        }
        self.start -= n;
        self.buf.get_mut(self.start..self.start + n)
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
        self.buf.truncate(self.start.saturating_add(len));
    }

    /// The whole buffer and the offset where the frame starts, for in-place header moves
    /// (VLAN push and pop) that work on headroom and frame together.
    pub fn buffer_mut(&mut self) -> (&mut [u8], usize) {
        (&mut self.buf, self.start)
    }

    /// Sets the start of the frame within the buffer (after an in-place move made with
    /// [`Packet::buffer_mut`]). Ignored when `start` is beyond the end of the buffer.
    pub fn set_start(&mut self, start: usize) {
        if start <= self.buf.len() {
            self.start = start;
        }
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Packet({} bytes, headroom {})", self.len(), self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn push_beyond_headroom_reallocates() {
        let mut p = Packet::from_slice(&[7; 10]);
        let b = p.push_front(HEADROOM + 5).map(|b| b.len());
        assert_eq!(b, Some(HEADROOM + 5));
        assert_eq!(p.len(), HEADROOM + 15);
        assert_eq!(&p.data()[HEADROOM + 5..], &[7; 10]);
        assert!(p.push_front(1 << 20).is_none());
    }
}
