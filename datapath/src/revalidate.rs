//! Revalidation: keeping megaflows equal to what the current tables say.
//!
//! # Versions
//!
//! [`crate::Datapath::set_tables`] installs a new table snapshot with the next version number,
//! then waits until no PMD thread is inside a batch that started with an older snapshot (each
//! PMD thread publishes the version it is working with; the wait lasts at most one batch).
//! Every decision carries the version it was translated from, and a PMD thread uses a cached
//! decision only if its version is the batch's version; an older one is re-translated on the
//! spot ([`revalidate`]). So once `set_tables` returns, no packet is forwarded by a decision
//! made from older tables.
//!
//! # Background revalidation
//!
//! Re-translating on hit alone would make the first packets after a swap pay for every
//! megaflow at once. The revalidator thread therefore walks all megaflows after each swap (and
//! twice a second otherwise), in chunks of [`CHUNK`], and re-translates the stale ones: a
//! megaflow whose new translation needs no more bits than its mask is updated in place; one
//! that needs more is removed (its next packet upcalls, like a new flow). The same walk evicts
//! megaflows idle for longer than `megaflow_idle_ms`.
//!
//! A re-translation uses the full key of the packet that made the megaflow. The result holds
//! for every key that agrees with that packet under the new mask, which includes the whole
//! megaflow when the new mask is a subset of the old one.

use std::sync::Arc;
use std::time::Duration;

use flowtable::pipeline::translate;

use crate::cache::{Decision, Megaflow};
use crate::clock::now_ms;
use crate::{Shared, Snapshot};

/// Megaflows handled between two checks for shutdown.
pub const CHUNK: usize = 1024;

/// How often the revalidator runs without a table swap (for idle eviction).
pub const PERIOD: Duration = Duration::from_millis(500);

/// Re-translates `flow` under `snap`. Returns the new decision when it covers the whole
/// megaflow (and stores it in the megaflow), `None` after killing the megaflow.
pub(crate) fn revalidate(
    shared: &Shared,
    snap: &Snapshot,
    flow: &Arc<Megaflow>,
) -> Option<Arc<Decision>> {
    let t = translate(&snap.tables, &shared.recirc, &flow.first_key);
    shared.count_revalidation();
    if t.mask.is_subset_of(&flow.mask) {
        let d = Arc::new(Decision::from_translation(t, snap.version));
        flow.decision.store(d.clone());
        Some(d)
    } else {
        shared.kill(flow);
        None
    }
}

/// What one revalidation pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Megaflows looked at.
    pub examined: usize,
    /// Megaflows re-translated.
    pub revalidated: usize,
    /// Megaflows removed because their translation needs more bits.
    pub removed: usize,
    /// Megaflows evicted for idleness.
    pub evicted: usize,
}

/// One pass over every megaflow: evicts idle ones and re-translates stale ones.
pub(crate) fn pass(shared: &Shared) -> PassStats {
    crate::offload::check_targets(shared);
    let flows = shared.all_megaflows();
    let idle_ms = shared.cfg.megaflow_idle_ms;
    let mut st = PassStats::default();
    for chunk in flows.chunks(CHUNK) {
        if shared.stopping() {
            break;
        }
        // A newer snapshot may arrive mid-pass: later chunks use it, and the next pass (which
        // the swap requested) catches the earlier ones.
        let snap = shared.snapshot.load_full();
        let now = now_ms();
        for flow in chunk {
            if flow.is_dead() {
                continue;
            }
            st.examined += 1;
            // What the XDP programs handled counts as use before idleness is judged.
            crate::offload::sync(shared, flow, false, None);
            if now.saturating_sub(flow.idle_since()) > idle_ms {
                shared.kill(flow);
                st.evicted += 1;
                continue;
            }
            if flow.decision.load().version != snap.version {
                st.revalidated += 1;
                if revalidate(shared, &snap, flow).is_none() {
                    st.removed += 1;
                }
            }
        }
    }
    if st.removed + st.evicted > 0 {
        shared.request_sweep();
    }
    st
}

/// The revalidator thread's loop: a pass after each table swap and every [`PERIOD`].
pub(crate) fn run(shared: Arc<Shared>) {
    while !shared.stopping() {
        shared.wait_revalidate(PERIOD);
        if shared.stopping() {
            break;
        }
        let st = pass(&shared);
        if st.revalidated + st.evicted > 0 {
            tracing::debug!(
                bridge = %shared.bridge,
                examined = st.examined,
                revalidated = st.revalidated,
                removed = st.removed,
                evicted = st.evicted,
                "revalidation pass"
            );
        }
    }
}
