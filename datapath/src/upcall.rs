//! Upcalls: what happens to a packet that no megaflow contains.
//!
//! The packet's key is translated by the flowtable pipeline against the table snapshot the PMD
//! thread took for its batch, the resulting megaflow is installed in the PMD thread's cache
//! and the datapath-wide registry (unless the megaflow limit is reached: then the decision is
//! used for this packet only and `megaflow_limit_hits` counts it), and the packet is executed.
//!
//! Upcalls are batched (a batch's misses are handled together after its hits, and a miss first
//! looks again in the cache, where an earlier miss of the same batch may have installed its
//! megaflow) and rate-limited per input port by a [`TokenBucket`], so that a flood of new
//! flows on one port costs a bounded share of the PMD thread and established flows, which hit
//! the caches, keep flowing. Misses beyond the limit are dropped as `upcall_shed`.

use std::sync::Arc;
use std::time::Instant;

use flowtable::pipeline::translate;
use flowtable::FlowKey;

use crate::cache::megaflow::MegaflowCache;
use crate::cache::{Decision, Megaflow};
use crate::Shared;
use crate::Snapshot;

/// A token bucket: `rate` tokens per second, holding at most `burst`.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket refilled at `rate` per second, holding `burst` tokens at most. A rate of 0
    /// means unlimited.
    pub fn new(rate: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    /// Takes a token if one is available at `now`.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The burst of a per-port upcall bucket: a tenth of a second's worth, at least one batch.
pub fn upcall_burst(rate: u32, batch: usize) -> u32 {
    (rate / 10).max(u32::try_from(batch).unwrap_or(u32::MAX))
}

/// Translates `key` against `snap` and installs the megaflow in `cache` and the registry.
/// Returns the decision, and the megaflow when one was installed.
pub(crate) fn upcall(
    shared: &Shared,
    snap: &Snapshot,
    cache: &mut MegaflowCache,
    key: &FlowKey,
) -> (Arc<Decision>, Option<Arc<Megaflow>>) {
    let t = translate(&snap.tables, &shared.recirc, key);
    let mask = t.mask;
    let decision = Decision::from_translation(t, snap.version);
    match shared.register(*key, mask, decision) {
        Ok(flow) => {
            cache.insert(flow.clone());
            (flow.decision.load_full(), Some(flow))
        }
        Err(decision) => (decision, None),
    }
}

/// Whether `flow` may serve a packet under `snap`: its decision is from `snap`'s version, or
/// re-translating it on the spot gives a decision that still covers the whole megaflow (which
/// then replaces the old one). A megaflow whose new translation needs more bits is killed.
pub(crate) fn fresh_decision(
    shared: &Shared,
    snap: &Snapshot,
    flow: &Arc<Megaflow>,
) -> Option<Arc<Decision>> {
    let d = flow.decision.load_full();
    if d.version == snap.version {
        return Some(d);
    }
    crate::revalidate::revalidate(shared, snap, flow)
}
