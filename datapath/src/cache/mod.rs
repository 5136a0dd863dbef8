//! The datapath's flow caches: the exact-match cache ([`emc`]) in front of the megaflow cache
//! ([`megaflow`]).
//!
//! # Entries
//!
//! A [`Megaflow`] is a masked key (every packet equal to it under its mask takes the same
//! decision) with a [`Decision`]: the datapath actions and the rules to credit, stamped with
//! the table version it was translated from. The decision sits behind an `ArcSwap`, so the
//! revalidator can replace it while PMD threads use it, and its counters are atomics, so dumps
//! read them from any thread. Only the PMD thread whose cache holds a megaflow writes its
//! counters (and its batch slot), so they are updated with plain loads and stores, without a
//! locked instruction on the hit path.
//!
//! # Ownership and threads
//!
//! Each PMD thread owns its own exact-match cache and megaflow cache (no locks and no shared
//! cache lines on the hit path; a flow's packets arrive on one port, so on one PMD thread, and
//! duplicating a megaflow across threads is rare). Every megaflow is also registered in the
//! datapath-wide registry (a mutex-protected map), which the revalidator, dumps and flushes walk.
//! A megaflow leaves service by being marked dead (an atomic flag checked on every hit); the
//! owning PMD thread sweeps dead entries out of its tables later.
//!
//! # Consistency
//!
//! A hit is used only when the decision's version equals the version of the table snapshot the
//! PMD thread took for its current batch; otherwise the packet's megaflow is re-translated on
//! the spot (see `revalidate`). Dead entries are never used.

pub mod emc;
pub mod megaflow;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use flowtable::pipeline::{DpAction, Translation};
use flowtable::table::{FlowRule, Millis};
use flowtable::{FlowKey, FlowMask};

use crate::drops::Drop;
use crate::offload::Offloaded;
use crate::port::afxdp::xdp::offload::XdpKey;

/// What to do with the packets of a megaflow, as translated from one table version.
#[derive(Debug)]
pub struct Decision {
    /// The table version the translation used.
    pub version: u64,
    /// The datapath actions (empty: drop).
    pub actions: Vec<DpAction>,
    /// Why the packets are dropped, when `actions` is empty.
    pub drop: Option<Drop>,
    /// The rules that matched, credited with the megaflow's packets.
    pub rules: Vec<Arc<FlowRule>>,
}

impl Decision {
    /// The decision of a translation made from table `version`.
    pub fn from_translation(t: Translation, version: u64) -> Decision {
        let drop = if t.actions.is_empty() {
            Some(t.drop.map_or(Drop::NoOutput, Drop::from))
        } else {
            None
        };
        Decision {
            version,
            actions: t.actions,
            drop,
            rules: t.rules,
        }
    }

    /// Credits the rules with `packets` packets of `bytes` bytes.
    pub fn credit_rules(&self, packets: u64, bytes: u64, now: Millis) {
        for r in &self.rules {
            r.stats.credit(packets, bytes, now);
        }
    }
}

/// One megaflow.
#[derive(Debug)]
pub struct Megaflow {
    /// Unique within the datapath.
    pub id: u64,
    /// The masked key.
    pub key: FlowKey,
    /// The bits matched.
    pub mask: FlowMask,
    /// The full key of the packet whose upcall made the megaflow (translated again on
    /// revalidation).
    pub first_key: FlowKey,
    /// The current decision.
    pub decision: ArcSwap<Decision>,
    packets: AtomicU64,
    bytes: AtomicU64,
    used: AtomicU64,
    /// Where the megaflow sits in its PMD thread's current batch: the batch's number times
    /// [`SLOT_SPAN`] plus its index in the batch's flow table (a hint the PMD thread checks).
    slot: AtomicU64,
    created: Millis,
    dead: AtomicBool,
    /// What the ports' XDP programs forwarded or dropped for it ([`crate::offload`]), counted
    /// by whichever thread reads the kernel's counters (hence read-modify-writes).
    xdp_packets: AtomicU64,
    xdp_bytes: AtomicU64,
    xdp_used: AtomicU64,
    /// The exact keys installed in the XDP offload map for it.
    pub(crate) offloaded: Mutex<HashMap<XdpKey, Offloaded>>,
}

/// Room for a batch flow index in [`Megaflow::slot`] (batches hold at most 1024 packets).
const SLOT_SPAN: u64 = 1 << 16;

impl Megaflow {
    /// A megaflow for packets equal to `first_key` under `mask`.
    pub fn new(
        id: u64,
        first_key: FlowKey,
        mask: FlowMask,
        decision: Decision,
        now: Millis,
    ) -> Megaflow {
        Megaflow {
            id,
            key: first_key.masked(&mask),
            mask,
            first_key,
            decision: ArcSwap::from_pointee(decision),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            used: AtomicU64::new(0),
            slot: AtomicU64::new(0),
            created: now,
            dead: AtomicBool::new(false),
            xdp_packets: AtomicU64::new(0),
            xdp_bytes: AtomicU64::new(0),
            xdp_used: AtomicU64::new(0),
            offloaded: Mutex::new(HashMap::new()),
        }
    }

    /// Counts `packets` packets of `bytes` bytes at `now`. Only the PMD thread whose cache
    /// holds the megaflow may call it (see the module docs).
    #[inline]
    pub fn hit(&self, packets: u64, bytes: u64, now: Millis) {
        // One writer, so a load and a store instead of a locked read-modify-write (readers on
        // other threads see either value). Relaxed: statistics only.
        let add = |c: &AtomicU64, n: u64| c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        add(&self.packets, packets);
        add(&self.bytes, bytes);
        if self.used.load(Ordering::Relaxed) < now {
            self.used.store(now, Ordering::Relaxed);
        }
    }

    /// The megaflow's index in the flow table of batch number `batch` of its PMD thread, if
    /// [`Megaflow::set_batch_slot`] recorded one for that batch.
    #[inline]
    pub fn batch_slot(&self, batch: u64) -> Option<usize> {
        let s = self.slot.load(Ordering::Relaxed);
        (s / SLOT_SPAN == batch).then_some((s % SLOT_SPAN) as usize)
    }

    /// Records that the megaflow is entry `index` of the flow table of batch number `batch`
    /// (numbers start at 1; an index past [`SLOT_SPAN`] is not recorded).
    #[inline]
    pub fn set_batch_slot(&self, batch: u64, index: usize) {
        if let Ok(i) = u64::try_from(index) {
            if i < SLOT_SPAN {
                self.slot
                    .store(batch.wrapping_mul(SLOT_SPAN) + i, Ordering::Relaxed);
            }
        }
    }

    /// Counts `packets` packets of `bytes` bytes that an XDP program handled, seen at `now`.
    pub fn hit_offloaded(&self, packets: u64, bytes: u64, now: Millis) {
        self.xdp_packets.fetch_add(packets, Ordering::Relaxed);
        self.xdp_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.xdp_used.fetch_max(now, Ordering::Relaxed);
    }

    /// Packets counted (the PMD thread's and the XDP programs').
    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed) + self.xdp_packets.load(Ordering::Relaxed)
    }

    /// Bytes counted.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed) + self.xdp_bytes.load(Ordering::Relaxed)
    }

    /// Of the packets, those an XDP program handled.
    pub fn packets_offloaded(&self) -> u64 {
        self.xdp_packets.load(Ordering::Relaxed)
    }

    /// Last hit, 0 if none.
    pub fn used(&self) -> Millis {
        self.used
            .load(Ordering::Relaxed)
            .max(self.xdp_used.load(Ordering::Relaxed))
    }

    /// The time idleness counts from: the last hit, or the creation.
    pub fn idle_since(&self) -> Millis {
        self.used().max(self.created)
    }

    /// Whether the megaflow was taken out of service.
    #[inline]
    pub fn is_dead(&self) -> bool {
        // Acquire pairs with the Release in `kill`, though nothing is published through the
        // flag: a late observer merely keeps using a valid, version-checked decision.
        self.dead.load(Ordering::Acquire)
    }

    /// Takes the megaflow out of service; true for the caller that did it first.
    pub fn kill(&self) -> bool {
        !self.dead.swap(true, Ordering::AcqRel)
    }

    /// Whether `key` is in this megaflow.
    #[inline]
    pub fn matches(&self, key: &FlowKey) -> bool {
        key.equal_under(&self.key, &self.mask)
    }
}

/// A fast 64-bit hash of `key` under the mask words `words` (indices of nonzero mask words).
#[inline]
pub fn hash_masked(key: &FlowKey, mask: &FlowMask, words: &[usize]) -> u64 {
    let k = key.words();
    let m = mask.words();
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    for &i in words {
        let (Some(kw), Some(mw)) = (k.get(i), m.get(i)) else {
            continue;
        };
        h = mix(h, kw & mw);
    }
    finish(h)
}

/// A fast 64-bit hash of the whole key: four independent lanes over the key's words (so the
/// multiplications overlap in the CPU), combined at the end.
#[inline]
pub fn hash_full(key: &FlowKey) -> u64 {
    let mut lanes: [u64; 4] = [
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ];
    for chunk in key.words().chunks(4) {
        for (lane, &w) in lanes.iter_mut().zip(chunk) {
            *lane = mix(*lane, w);
        }
    }
    let [a, b, c, d] = lanes;
    finish(mix(mix(mix(a, b), c), d))
}

#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x9fb2_1c65_1e98_df25).rotate_left(29)
}

#[inline(always)]
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}
