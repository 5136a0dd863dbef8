//! XDP flow offload, the datapath's side: which decisions a port's XDP program may carry out
//! itself, installing their exact keys, and bringing what the kernel counted back into the
//! megaflows, rules, ports and drop counters. The kernel's side (program, maps, what a frame
//! must be) is [`crate::port::afxdp::xdp::offload`]; docs/DATAPATH.md ("XDP flow offload")
//! tells the whole story.
//!
//! A decision is offloadable when the frame came in on an afxdp port whose program offloads
//! (native mode), the megaflow is registered, and the decision is a drop or a single output to
//! another afxdp port of the same network namespace whose interface takes redirected frames
//! (the kernel's `NDO_XMIT` XDP feature; a veth has it while its peer runs XDP or GRO). A TCP
//! frame also needs a megaflow that ignores the TCP flags.
//!
//! Threads: the PMD thread installs keys; the revalidator reads the counters every pass and
//! checks the output interfaces; whoever kills a megaflow or removes a port withdraws the keys.
//! A megaflow's `offloaded` map, under its mutex, is the one record of its keys: a key is
//! installed only while the megaflow is alive, checked under that mutex, and killing it
//! withdraws them all under the same mutex, so no key outlives its megaflow.

use std::sync::atomic::Ordering;

use flowtable::pipeline::DpAction;

use crate::cache::{Decision, Megaflow};
use crate::clock::now_ms;
use crate::drops::LocalDrops;
use crate::port::afxdp::xdp::offload::{self as kernel, XdpKey, XdpValue};
use crate::shared::{lock, PortCounters, PortEntry, PortMap, Shared};

/// One installed key: where its frames come from and go, and the kernel's counts already
/// credited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Offloaded {
    pub in_port: u32,
    /// `None`: a drop.
    pub out_port: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
}

/// What the program does for an offloadable decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub out_port: Option<u32>,
    pub out_ifindex: u32,
    pub max_len: u32,
    /// The megaflow looks at the TCP flags: TCP frames stay with the PMD thread.
    pub tcp_flags: bool,
}

/// Whether (and how) the PMD thread may offload `decision` of megaflow `flow` for frames
/// arriving on `entry`.
pub(crate) fn target(
    entry: &PortEntry,
    ports: &PortMap,
    decision: &Decision,
    flow: &Megaflow,
) -> Option<Target> {
    let src = entry.xdp?;
    src.offload_id?;
    let tcp_flags = flow.mask.0.tcp_flags != 0;
    if decision.drop.is_some() {
        return Some(Target {
            out_port: None,
            out_ifindex: 0,
            max_len: u32::MAX,
            tcp_flags,
        });
    }
    let [DpAction::Output(out)] = decision.actions.as_slice() else {
        return None;
    };
    if *out == entry.ofport {
        return None;
    }
    let dst_entry = ports.get(*out)?;
    let dst = dst_entry.xdp?;
    if dst.netns != src.netns || !takes_redirects(dst_entry) {
        return None;
    }
    Some(Target {
        out_port: Some(*out),
        out_ifindex: dst.ifindex,
        max_len: dst.max_len,
        tcp_flags,
    })
}

/// How often a PMD thread asks the kernel again whether an output interface that did not take
/// redirected frames takes them now.
const RECHECK_MS: u64 = 20;

/// Whether `e`'s interface takes redirected frames: the last answer, asked again (at most every
/// [`RECHECK_MS`] per port) while it is no, so that a peer that starts taking them (an XDP
/// program attached, GRO turned on) is used within milliseconds, not at the revalidator's next
/// pass. (The other way, the revalidator withdraws the keys.)
fn takes_redirects(e: &PortEntry) -> bool {
    if e.xdp_tx_ok.load(Ordering::Relaxed) {
        return true;
    }
    let Some(x) = e.xdp else {
        return false;
    };
    let now = now_ms();
    if now.saturating_sub(e.xdp_tx_checked.load(Ordering::Relaxed)) < RECHECK_MS {
        return false;
    }
    e.xdp_tx_checked.store(now, Ordering::Relaxed);
    let ok = kernel::xdp_features(x.ifindex).is_ok_and(|f| f & kernel::XDP_ACT_NDO_XMIT != 0);
    if ok {
        e.xdp_tx_ok.store(true, Ordering::Relaxed);
    }
    ok
}

/// Installs `key` for megaflow `flow` (decision of table `version`) arriving on port
/// `in_port`, unless the megaflow died; an existing entry keeps its counts.
pub(crate) fn install(
    shared: &Shared,
    flow: &Megaflow,
    key: &XdpKey,
    target: Target,
    version: u64,
    in_port: u32,
) {
    let Some(slot) = &shared.offload else {
        return;
    };
    let maps = slot.maps();
    let mut keys = lock(&flow.offloaded);
    if flow.is_dead() {
        return;
    }
    let mut value = XdpValue {
        slot: slot.index(),
        out_ifindex: target.out_ifindex,
        version,
        max_len: target.max_len,
        ..XdpValue::default()
    };
    let existing = maps.get(key).ok().flatten();
    if let Some(old) = existing {
        let same = XdpValue {
            packets: 0,
            bytes: 0,
            ..old
        } == value;
        if same {
            keys.entry(*key).or_insert(Offloaded {
                in_port,
                out_port: target.out_port,
                packets: old.packets,
                bytes: old.bytes,
            });
            return;
        }
        value.packets = old.packets;
        value.bytes = old.bytes;
    }
    // A key another live megaflow installed is taken over (possible only while two megaflows
    // of one port overlap, as after a revalidation left a stale one in a PMD thread's cache
    // for a moment); that one's record may then credit some of this one's frames.
    if let Err(e) = maps.insert(key, &value) {
        shared.offload_failures.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(error = %e, "installing an XDP offload key failed");
        return;
    }
    shared.offload_used.store(true, Ordering::Release);
    let prior = keys.insert(
        *key,
        Offloaded {
            in_port,
            out_port: target.out_port,
            packets: value.packets,
            bytes: value.bytes,
        },
    );
    drop(keys);
    if prior.is_none() {
        shared.offload_keys.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads the kernel's counts of `flow`'s keys and credits what is new: the megaflow, its
/// rules, the ports, and the drop counters for a drop. With `withdraw`, also removes the keys
/// (the megaflow was killed, or `only_port` went away); `only_port` limits both to the keys
/// that come in on or go out of that port.
pub(crate) fn sync(shared: &Shared, flow: &Megaflow, withdraw: bool, only_port: Option<u32>) {
    let Some(slot) = &shared.offload else {
        return;
    };
    let maps = slot.maps();
    let mut keys = lock(&flow.offloaded);
    if keys.is_empty() {
        return;
    }
    let decision = flow.decision.load();
    let ports = shared.ports.load();
    let now = now_ms();
    let mut drops = LocalDrops::default();
    let (mut total_p, mut total_b) = (0u64, 0u64);
    keys.retain(|key, rec| {
        let involved = only_port.is_none_or(|p| rec.in_port == p || rec.out_port == Some(p));
        if !involved {
            return true;
        }
        let current = maps.get(key).ok().flatten();
        if let Some(v) = current {
            let (dp, db) = (
                v.packets.saturating_sub(rec.packets),
                v.bytes.saturating_sub(rec.bytes),
            );
            rec.packets = v.packets;
            rec.bytes = v.bytes;
            if dp > 0 {
                total_p += dp;
                total_b += db;
                if let Some(e) = ports.get(rec.in_port) {
                    PortCounters::add(&e.stats.rx_packets, dp);
                    PortCounters::add(&e.stats.rx_bytes, db);
                }
                match rec.out_port {
                    Some(out) => {
                        if let Some(e) = ports.get(out) {
                            PortCounters::add(&e.stats.tx_packets, dp);
                            PortCounters::add(&e.stats.tx_bytes, db);
                        }
                    }
                    None => {
                        if let Some(reason) = decision.drop {
                            drops.add(reason, dp);
                        }
                        if let Some(e) = ports.get(rec.in_port) {
                            PortCounters::add(&e.stats.rx_dropped, dp);
                        }
                    }
                }
            }
        }
        if withdraw || current.is_none() {
            if current.is_some() {
                let _ = maps.remove(key);
            }
            if !flow.is_dead() {
                shared.offload_epoch.fetch_add(1, Ordering::Relaxed);
            }
            shared.offload_keys.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    });
    drop(keys);
    if total_p > 0 {
        flow.hit_offloaded(total_p, total_b, now);
        decision.credit_rules(total_p, total_b, now);
    }
    shared.drops.absorb(&mut drops);
}

/// Withdraws the keys of every megaflow that come in on or go out of port `ofport`.
pub(crate) fn withdraw_port(shared: &Shared, ofport: u32) {
    for f in shared.all_megaflows() {
        sync(shared, &f, true, Some(ofport));
    }
}

/// Asks the kernel again whether each afxdp port's interface takes redirected frames; the keys
/// that send to one that stopped are withdrawn (their frames go back to the PMD thread).
pub(crate) fn check_targets(shared: &Shared) {
    if shared.offload.is_none() {
        return;
    }
    let ports = shared.ports.load_full();
    for e in ports.by_ofport.values() {
        let Some(x) = e.xdp else {
            continue;
        };
        let ok = kernel::xdp_features(x.ifindex).is_ok_and(|f| f & kernel::XDP_ACT_NDO_XMIT != 0);
        let was = e.xdp_tx_ok.swap(ok, Ordering::Relaxed);
        if was && !ok {
            tracing::info!(port = %e.name, "no longer takes redirected frames: offload to it withdrawn");
            withdraw_port_out(shared, e.ofport);
        }
    }
}

/// Withdraws the keys that send to port `ofport` (those that come in on it stay).
fn withdraw_port_out(shared: &Shared, ofport: u32) {
    for f in shared.all_megaflows() {
        let sends = lock(&f.offloaded)
            .values()
            .any(|r| r.out_port == Some(ofport));
        if sends {
            // Coarse but rare: the flow's keys for this port, in either direction.
            sync(shared, &f, true, Some(ofport));
        }
    }
}

/// Makes table `version` the one the programs may act on, and waits until no program run
/// still acts on an older one.
pub(crate) fn set_version(shared: &Shared, version: u64) {
    let Some(slot) = &shared.offload else {
        return;
    };
    if let Err(e) = slot.set_version(version) {
        tracing::warn!(error = %e, "updating the XDP offload version failed");
    }
    if shared.offload_used.load(Ordering::Acquire) {
        if let Err(e) = kernel::synchronize() {
            tracing::warn!(error = %e, "membarrier failed; sleeping instead");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
