//! A socket's share of its UMEM (see `umem.rs` for where every frame is): the frames it has
//! given the kernel, its stash of free frames, its handles on the UMEM, and the gauge in which
//! it publishes them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::umem::{Reservation, SocketGauge, Umem, STASH_BULK, STASH_MAX};

/// A socket's share of its UMEM: which frames it has given the kernel, how many on each side,
/// and its stash of free frames. Declared after the rings and the descriptor in `Xsk`, so
/// that it is dropped after the socket is closed: only then does it give the frames the kernel
/// held back to the free list.
#[derive(Debug)]
pub(super) struct Owned {
    /// One bit per frame of the UMEM: set while the frame is this socket's (fill, rx, tx or
    /// completion side).
    pub(super) bits: Vec<u64>,
    /// Frames on the rx side (fill ring, kernel, rx ring), at most `rx_limit`.
    pub(super) rx_held: u32,
    pub(super) rx_limit: u32,
    /// Frames on the tx side (tx ring, kernel, completion ring), at most `tx_limit`.
    pub(super) tx_held: u32,
    pub(super) tx_limit: u32,
    /// Free frames of this socket (see `umem.rs`): refills and copies take from it, completed
    /// frames go to it, and it is topped up from or trimmed into the free list in bulk.
    pub(super) stash: Vec<u64>,
    /// Free frames that completed a transmit last, most recent at the end: copies take them
    /// first (see `Xsk::set_tx_warm`). Counted with the stash.
    pub(super) warm: Vec<u64>,
    /// Packets made of received frames, frames handed over by address, packets copied, and
    /// packets dropped for want of a frame: published in `gauge`.
    pub(super) made: u64,
    pub(super) handed: u64,
    pub(super) copied: u64,
    pub(super) no_frame: u64,
    /// Received frames whose packet was copied for sending and that came straight back to
    /// the stash (left the packets like `handed`, but not to the kernel).
    pub(super) reclaimed: u64,
    pub(super) gauge_id: u64,
    pub(super) gauge: Arc<SocketGauge>,
    /// Handles on the UMEM for the packets the socket makes, recycled from the frames it sends
    /// by address (so that neither costs a reference count), exchanged in bulk with the UMEM.
    pub(super) handles: Vec<Arc<Umem>>,
    /// The frames reserved for the socket (dropped last: the UMEM outlives the bitmap).
    pub(super) reservation: Reservation,
}

impl Owned {
    pub(super) fn new(reservation: Reservation, rx_limit: u32, tx_limit: u32) -> Owned {
        let frames = usize::try_from(reservation.umem().frames()).unwrap_or(0);
        let (gauge_id, gauge) = reservation.umem().attach_gauge();
        Owned {
            bits: vec![0; frames.div_ceil(64)],
            rx_held: 0,
            rx_limit,
            tx_held: 0,
            tx_limit,
            stash: Vec::with_capacity(STASH_MAX + STASH_BULK),
            warm: Vec::new(),
            made: 0,
            handed: 0,
            copied: 0,
            no_frame: 0,
            reclaimed: 0,
            gauge_id,
            gauge,
            handles: Vec::with_capacity(STASH_MAX + STASH_BULK),
            reservation,
        }
    }

    pub(super) fn umem(&self) -> &Arc<Umem> {
        self.reservation.umem()
    }

    /// Marks the frame at base `base` as this socket's.
    pub(super) fn mark(&mut self, base: u64) {
        if let Some((_, i)) = self.umem().frame_of(base) {
            if let Some(w) = self.bits.get_mut(i / 64) {
                debug_assert!(*w & (1 << (i % 64)) == 0, "frame {base:#x} given twice");
                *w |= 1 << (i % 64);
            }
        }
    }

    /// Takes back the frame holding address `addr` from the kernel: its base address, or None
    /// if it is not a frame this socket gave (the kernel never returns such an address; it
    /// is then ignored rather than handed out twice).
    pub(super) fn unmark(&mut self, addr: u64) -> Option<u64> {
        let (base, i) = self.umem().frame_of(addr)?;
        let w = self.bits.get_mut(i / 64)?;
        let bit = 1u64 << (i % 64);
        if *w & bit == 0 {
            return None;
        }
        *w &= !bit;
        Some(base)
    }

    /// Makes the stash hold at least `n` frames if the free list has them (taking a bulk more,
    /// so that the next calls need no lock); returns whether it does.
    pub(super) fn stock(&mut self, n: usize) -> bool {
        if self.stash.len() < n {
            let want = n - self.stash.len() + STASH_BULK;
            let umem = self.reservation.umem().clone();
            umem.take(want, &mut self.stash);
        }
        self.stash.len() >= n
    }

    /// Makes `handles` hold at least `n` handles.
    pub(super) fn stock_handles(&mut self, n: usize) {
        if self.handles.len() < n {
            let want = n - self.handles.len() + STASH_BULK;
            Umem::take_handles(self.reservation.umem(), want, &mut self.handles);
        }
    }

    /// Gives the stash's surplus back to the free list (and the spare handles' to the UMEM),
    /// and publishes the socket's counts.
    pub(super) fn settle(&mut self) {
        if self.handles.len() > STASH_MAX {
            let keep = STASH_MAX - STASH_BULK;
            let umem = self.reservation.umem().clone();
            umem.give_handles(self.handles.drain(keep..));
        }
        if self.stash.len() > STASH_MAX {
            let keep = STASH_MAX - STASH_BULK;
            self.umem().give(self.stash.get(keep..).unwrap_or_default());
            self.stash.truncate(keep);
        }
        let g = &self.gauge;
        for (gauge, n) in [
            (
                &g.in_kernel,
                u64::from(self.rx_held) + u64::from(self.tx_held),
            ),
            (&g.stashed, (self.stash.len() + self.warm.len()) as u64),
            (&g.made, self.made),
            (&g.handed, self.handed + self.reclaimed),
            (&g.tx_by_address, self.handed),
            (&g.tx_copied, self.copied),
            (&g.tx_no_frame, self.no_frame),
        ] {
            gauge.store(n, Ordering::Relaxed);
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // The socket is closed (its rings and descriptor were dropped before this): the
        // kernel holds none of these frames any more.
        let umem = self.reservation.umem().clone();
        let size = u64::try_from(umem.frame_size()).unwrap_or(0);
        let mut back = std::mem::take(&mut self.stash);
        back.append(&mut self.warm);
        for (w, word) in self.bits.iter().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let b = u64::from(bits.trailing_zeros());
                bits &= bits - 1;
                back.push((w as u64 * 64 + b) * size);
            }
        }
        umem.give(&back);
        (self.rx_held, self.tx_held) = (0, 0);
        self.settle();
        umem.detach_gauge(self.gauge_id);
    }
}
