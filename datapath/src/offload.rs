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
use std::sync::Arc;

use flowtable::pipeline::DpAction;

use crate::cache::{Decision, Megaflow};
use crate::clock::now_ms;
use crate::drops::LocalDrops;
use crate::port::afxdp::xdp::offload::{self as kernel, XdpKey, XdpValue};
use crate::shared::{lock, PortCounters, PortEntry, PortMap, Shared};

/// One installed key: where its frames come from and go, the decision it carries out, and the
/// kernel's counts already credited.
#[derive(Clone, Debug)]
pub(crate) struct Offloaded {
    pub in_port: u32,
    /// `None`: a drop.
    pub out_port: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
    pub decision: Arc<Decision>,
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
    let ok = kernel::takes_redirects(x.ifindex, x.netns);
    if ok {
        e.xdp_tx_ok.store(true, Ordering::Relaxed);
    }
    ok
}

/// The tag of `flow` in the entries it installs (`XdpValue::owner`): the low half of its id
/// (ids are sequential; two live megaflows 2^32 apart do not happen).
fn owner_of(flow: &Megaflow) -> u32 {
    (flow.id & 0xffff_ffff) as u32
}

/// Credits what the kernel counted for `rec` since it last looked (`v`: the entry now) to the
/// ports, the drop counters (a drop) and the rules of the decision the entry carried out;
/// returns the frames and bytes, for the megaflow.
fn credit(
    rec: &mut Offloaded,
    v: &XdpValue,
    ports: &PortMap,
    drops: &mut LocalDrops,
    now: u64,
) -> (u64, u64) {
    let (dp, db) = (
        v.packets.saturating_sub(rec.packets),
        v.bytes.saturating_sub(rec.bytes),
    );
    rec.packets = v.packets;
    rec.bytes = v.bytes;
    if dp == 0 {
        return (0, 0);
    }
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
            if let Some(reason) = rec.decision.drop {
                drops.add(reason, dp);
            }
            if let Some(e) = ports.get(rec.in_port) {
                PortCounters::add(&e.stats.rx_dropped, dp);
            }
        }
    }
    rec.decision.credit_rules(dp, db, now);
    (dp, db)
}

/// A key a PMD thread wants installed: for frames of megaflow `flow` (arriving on the batch's
/// port), to carry out `decision` as `target` says.
pub(crate) struct Pending {
    pub flow: Arc<Megaflow>,
    pub key: XdpKey,
    pub target: Target,
    pub decision: Arc<Decision>,
}

/// Installs the keys of a batch (frames that arrived on port `in_port`) in one system call,
/// skipping those of megaflows that died. A key that replaces one of its megaflow's own (a
/// decision of an older table version) first has what the kernel counted since the last sync
/// credited, to the decision that handled those frames; the counts go on from there. A
/// megaflow killed while its keys were being installed has them withdrawn again at once
/// (until then they carry out a decision that is still the tables' own, or one of an older
/// version, which the program ignores).
pub(crate) fn install_all(shared: &Shared, items: &[Pending], in_port: u32) {
    let Some(slot) = &shared.offload else {
        return;
    };
    if items.is_empty() {
        return;
    }
    let maps = slot.maps();
    let ports = shared.ports.load();
    let now = now_ms();
    let mut drops = LocalDrops::default();
    let (mut keys, mut values, mut which) = (Vec::new(), Vec::new(), Vec::new());
    for (i, it) in items.iter().enumerate() {
        let mut recs = lock(&it.flow.offloaded);
        if it.flow.is_dead() {
            continue;
        }
        let owner = owner_of(&it.flow);
        let mut value = XdpValue {
            slot: slot.index(),
            out_ifindex: it.target.out_ifindex,
            version: it.decision.version,
            max_len: it.target.max_len,
            owner,
            ..XdpValue::default()
        };
        if let Some(rec) = recs.get_mut(&it.key) {
            if let Some(old) = maps
                .get(&it.key)
                .ok()
                .flatten()
                .filter(|v| v.owner == owner)
            {
                let (p, b) = credit(rec, &old, &ports, &mut drops, now);
                if p > 0 {
                    it.flow.hit_offloaded(p, b, now);
                }
                value.packets = old.packets;
                value.bytes = old.bytes;
                if old == value {
                    continue;
                }
            }
        }
        // (An entry of another megaflow is taken over: possible only while two megaflows of
        // one port overlap. That one's record lets go of it at its next sync, which sees
        // another owner; what it had not read yet is not credited.)
        keys.push(it.key);
        values.push(value);
        which.push(i);
    }
    // Before any entry can forward: a table swap from now on waits for the programs.
    shared.offload_used.store(true, Ordering::Release);
    let done = maps.insert_all(&keys, &values).unwrap_or_else(|e| {
        tracing::debug!(error = %e, "installing XDP offload keys failed");
        0
    });
    let failed = keys.len() - done.min(keys.len());
    if failed > 0 {
        shared
            .offload_failures
            .fetch_add(u64::try_from(failed).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
    for ((key, value), &i) in keys.iter().zip(&values).zip(&which).take(done) {
        let Some(it) = items.get(i) else {
            continue;
        };
        let mut recs = lock(&it.flow.offloaded);
        if it.flow.is_dead() {
            let _ = maps.remove(key);
            continue;
        }
        let rec = Offloaded {
            in_port,
            out_port: it.target.out_port,
            packets: value.packets,
            bytes: value.bytes,
            decision: it.decision.clone(),
        };
        if recs.insert(*key, rec).is_none() {
            shared.offload_keys.fetch_add(1, Ordering::Relaxed);
        }
    }
    shared.drops.absorb(&mut drops);
}

/// Reads the kernel's counts of `flow`'s keys and credits what is new: the megaflow, the rules
/// of the decision each key carried out, the ports, and the drop counters for a drop. With
/// `withdraw`, also removes the keys (the megaflow was killed, or `only_port` went away);
/// `only_port` limits both to the keys that come in on or go out of that port. A key whose
/// entry is gone, or was taken over by another megaflow, is let go of.
pub(crate) fn sync(shared: &Shared, flow: &Megaflow, withdraw: bool, only_port: Option<u32>) {
    let Some(slot) = &shared.offload else {
        return;
    };
    let maps = slot.maps();
    let mut keys = lock(&flow.offloaded);
    if keys.is_empty() {
        return;
    }
    let owner = owner_of(flow);
    let ports = shared.ports.load();
    let now = now_ms();
    let mut drops = LocalDrops::default();
    let (mut total_p, mut total_b) = (0u64, 0u64);
    keys.retain(|key, rec| {
        let involved = only_port.is_none_or(|p| rec.in_port == p || rec.out_port == Some(p));
        if !involved {
            return true;
        }
        let mine = maps.get(key).ok().flatten().filter(|v| v.owner == owner);
        if let Some(v) = mine {
            let (p, b) = credit(rec, &v, &ports, &mut drops, now);
            total_p += p;
            total_b += b;
        }
        if withdraw || mine.is_none() {
            if mine.is_some() {
                let _ = maps.remove(key);
            }
            if !flow.is_dead() {
                // A live megaflow's key went: its PMD thread must install it again.
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
        let ok = kernel::takes_redirects(x.ifindex, x.netns);
        let was = e.xdp_tx_ok.swap(ok, Ordering::Relaxed);
        if was && !ok {
            tracing::info!(port = %e.name, "no longer takes redirected frames: offload to it withdrawn");
            // Coarse but rare: its keys in both directions (the PMD threads reinstall those
            // that come in on it).
            withdraw_port(shared, e.ofport);
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
