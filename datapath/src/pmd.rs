//! PMD (poll mode driver) threads: receive, look up, upcall, execute, transmit.
//!
//! # Loop
//!
//! Each iteration publishes "busy", takes the current table snapshot and port map, then for
//! each port assigned to the thread receives a batch of up to `batch` packets and processes it:
//!
//! 1. extract each packet's key (a frame shorter than an Ethernet header is a `parse_error`);
//! 2. look it up in the exact-match cache, then in the megaflow cache (a megaflow hit may be
//!    inserted into the exact-match cache); a hit whose decision is from an older table
//!    version is re-translated on the spot (`revalidate`);
//! 3. upcall the misses (rate-limited per input port);
//! 4. execute each packet's actions; outputs are buffered per port.
//!
//! The distinct megaflows a batch hits form a small per-batch table: each is version-checked,
//! reference-counted and credited once per batch rather than once per packet.
//!
//! At the end of the iteration the output buffers are sent (one `send` per port), counters are
//! published and "busy" is cleared.
//!
//! # Idling
//!
//! While packets flow the thread busy-polls. After an idle spell without a packet it blocks in
//! `poll(2)` on its ports' file descriptors and its wake-up eventfd, for at most
//! [`IDLE_SLEEP`] (or [`NO_FD_SLEEP`] if a port has no descriptor and must be polled), so an
//! idle switch costs close to no CPU. The spell is the configured `idle_spin` (default
//! [`IDLE_SPIN`], long enough to span the gaps between the bursts of traffic at a good part of
//! the thread's capacity, which a shorter spin slept through and lost frames in). While the
//! thread is loaded (at least 1000 packets in the last 10 ms) the spell is at least
//! [`LOADED_SPIN`] (2 ms), so that a short gap in heavy traffic does not put it to sleep: on a
//! virtual machine the wake-up of a halted CPU can take milliseconds, and the ring overflows
//! meanwhile.
//!
//! With a `nap` configured, a thread under light load (an iteration that received less than
//! half a batch, or nothing during the idle spell) sleeps that long between polls instead of
//! spinning: the ring fills a little meanwhile, so the thread spends a fraction of a core and
//! sends larger batches, at the cost of up to a nap (plus the timer's wake-up) of latency.
//!
//! With `pmd_sleep` off the thread never sleeps, as Open vSwitch's PMD threads by default (that
//! did not forward more under overload and cost more CPU per packet; docs/DATAPATH.md has both
//! measurements).
//!
//! # Thread safety
//!
//! The caches, rate limiters and output buffers belong to the thread. Shared state is reached
//! through `Shared`: the snapshot and port map are `ArcSwap`s loaded once per iteration,
//! counters are atomics, ports are behind per-port mutexes (held only for one `recv` or `send`).

use std::collections::HashMap;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowtable::extract::extract_into;
use flowtable::table::FlowRule;
use flowtable::wire::Layer;
use flowtable::FlowKey;

use crate::cache::emc::Emc;
use crate::cache::megaflow::MegaflowCache;
use crate::cache::{Decision, Megaflow};
use crate::clock::now_ms;
use crate::drops::{Drop, LocalDrops};
use crate::exec::{execute, Env};
use crate::offload::{Pending, Target};
use crate::packet::Packet;
use crate::port::afxdp::xdp::offload::{self as xdp_offload, XdpKey};
use crate::stats::PacketIn;
use crate::upcall::{fresh_decision, upcall, upcall_burst, TokenBucket};
use crate::{lock, PortCounters, PortEntry, PortMap, Shared, Snapshot, BUSY_LOADING};

/// Default idle time after which the thread sleeps in `poll(2)`.
pub const IDLE_SPIN: Duration = Duration::from_micros(200);
/// The idle time before sleeping while the thread is loaded (see [`LOADED_PACKETS`]): a gap in
/// heavy traffic (a sender descheduled for a moment) is not worth the wake-up that follows a
/// sleep, which on a virtual machine whose idle CPU halts can take milliseconds, during which
/// the receive ring overflows.
pub const LOADED_SPIN: Duration = Duration::from_millis(2);
/// Window over which the thread's load is measured.
const LOAD_WINDOW: Duration = Duration::from_millis(10);
/// Packets received in a [`LOAD_WINDOW`] from which the thread counts as loaded (100k packets
/// a second).
const LOADED_PACKETS: u64 = 1000;
/// Empty iterations between two readings of the clock while spinning idle.
const IDLE_CLOCK_EVERY: u32 = 16;
/// Longest sleep in `poll(2)`.
pub const IDLE_SLEEP: Duration = Duration::from_millis(100);
/// Sleep between polls when a port has no file descriptor.
pub const NO_FD_SLEEP: Duration = Duration::from_millis(1);
/// Shortest time between two sweeps of dead megaflows out of a PMD thread's cache.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// Local cache counters, published once per iteration.
#[derive(Debug, Default)]
struct Counters {
    emc_hits: u64,
    megaflow_hits: u64,
    misses: u64,
    upcalls: u64,
    upcalls_shed: u64,
}

/// The lookup result of one packet of a batch.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// Dropped before lookup (already counted).
    Dropped,
    /// Not found yet.
    Miss,
    /// Execute the decision of this entry of the batch's flow table.
    Go(usize),
}

/// A decision used by packets of the current batch: each distinct megaflow hit by a batch is
/// version-checked, reference-counted and credited once per batch, not once per packet.
#[derive(Debug)]
struct BatchFlow {
    decision: Arc<Decision>,
    flow: Option<Arc<Megaflow>>,
    packets: u64,
    bytes: u64,
}

/// Index of `flow`'s entry in the flow table of batch number `batch`, adding it (after the
/// version check) if it is new; `None` when the megaflow's new translation no longer covers it.
fn batch_index(
    flows: &mut Vec<BatchFlow>,
    batch: u64,
    shared: &Shared,
    snap: &Snapshot,
    flow: &Arc<Megaflow>,
) -> Option<usize> {
    // The megaflow remembers its index in this batch (one lookup, however many flows the
    // batch holds); the index is checked, so a stale one could only cost a second entry.
    if let Some(i) = flow.batch_slot(batch) {
        if flows
            .get(i)
            .and_then(|b| b.flow.as_ref())
            .is_some_and(|f| Arc::ptr_eq(f, flow))
        {
            return Some(i);
        }
    }
    let decision = fresh_decision(shared, snap, flow)?;
    flows.push(BatchFlow {
        decision,
        flow: Some(flow.clone()),
        packets: 0,
        bytes: 0,
    });
    flow.set_batch_slot(batch, flows.len() - 1);
    Some(flows.len() - 1)
}

/// A PMD thread's own state.
pub(crate) struct Pmd {
    id: usize,
    shared: Arc<Shared>,
    emc: Emc,
    cache: MegaflowCache,
    buckets: HashMap<u32, TokenBucket>,
    drops: LocalDrops,
    counters: Counters,
    /// Output buffers: (ofport, packets), sent at the end of the iteration.
    tx: Vec<(u32, Vec<Packet>)>,
    pkts: Vec<Packet>,
    keys: Vec<FlowKey>,
    verdicts: Vec<Verdict>,
    /// The EMC hash of each key of the batch (0 when the EMC is not used).
    hashes: Vec<u64>,
    flows: Vec<BatchFlow>,
    /// Lengths of the packets being sent (kept for its allocation).
    tx_lens: Vec<usize>,
    last_sweep: Instant,
    /// Number of the batch being processed (from 1), for [`Megaflow::batch_slot`].
    batch: u64,
    /// Per flow of the batch, whether its decision can be offloaded (computed on first use).
    targets: Vec<Option<Option<Target>>>,
    /// The XDP keys this thread installed, with the megaflow, version and withdrawal epoch
    /// (`Shared::offload_epoch`) they were installed in: a frame of an installed key that still
    /// reaches the thread (queued before the key took effect) does not install it again.
    installed: HashMap<XdpKey, (u64, u64, u64)>,
    /// The keys of the batch to install (kept for its allocation).
    pending: Vec<Pending>,
}

/// Keys remembered in [`Pmd::installed`] at most (forgotten all at once beyond).
const INSTALLED_MAX: usize = 2 * xdp_offload::MAX_ENTRIES as usize;

/// Runs PMD thread `id` until the datapath stops.
pub(crate) fn run(shared: Arc<Shared>, id: usize, cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        pin(cpu);
    }
    // Marks the thread gone however it ends (a panic included), so that `set_tables` and
    // `remove_port` never wait for it.
    struct Exit(Arc<Shared>, usize);
    impl std::ops::Drop for Exit {
        fn drop(&mut self) {
            if let Some(p) = self.0.pmds.get(self.1) {
                p.busy.store(0, Ordering::SeqCst);
                p.alive.store(false, Ordering::Release);
            }
        }
    }
    let _exit = Exit(shared.clone(), id);
    Pmd::new(shared, id).run();
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        tracing::warn!(cpu, "cannot pin PMD thread: CPU number out of range");
        return;
    }
    // SAFETY: `cpu` is within the set's size (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: passes a valid cpu_set_t of the size given; 0 means the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        tracing::warn!(cpu, error = %std::io::Error::last_os_error(), "cannot pin PMD thread");
    }
}

impl Pmd {
    /// The state of PMD context `id`.
    pub(crate) fn new(shared: Arc<Shared>, id: usize) -> Pmd {
        let batch = shared.cfg.batch;
        Pmd {
            id,
            emc: Emc::new(shared.cfg.emc_entries),
            cache: MegaflowCache::new(),
            buckets: HashMap::new(),
            drops: LocalDrops::default(),
            counters: Counters::default(),
            tx: Vec::new(),
            pkts: Vec::with_capacity(batch),
            keys: Vec::with_capacity(batch),
            verdicts: Vec::with_capacity(batch),
            hashes: Vec::with_capacity(batch),
            flows: Vec::with_capacity(batch),
            tx_lens: Vec::with_capacity(batch),
            last_sweep: Instant::now(),
            batch: 0,
            targets: Vec::with_capacity(batch),
            installed: HashMap::new(),
            pending: Vec::new(),
            shared,
        }
    }

    fn run(&mut self) {
        let cfg = &self.shared.cfg;
        let (sleeps, spin) = (cfg.pmd_sleep, cfg.idle_spin);
        let nap = if sleeps { cfg.nap } else { Duration::ZERO };
        let light = (cfg.batch / 2).max(1);
        if !nap.is_zero() {
            // Naps are short: ask for timers to fire on time (the default slack is 50 µs).
            // SAFETY: PR_SET_TIMERSLACK takes a value argument only.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong) };
        }
        // Consecutive iterations that received nothing. The idle spell is timed from the
        // IDLE_CLOCK_EVERY-th of them and the clock read once per IDLE_CLOCK_EVERY empty
        // iterations, so an iteration that finds a packet, or a short gap between batches,
        // never reads it (when napping, an empty iteration costs a nap: every one reads it).
        let clock_every = if nap.is_zero() { IDLE_CLOCK_EVERY } else { 1 };
        let loaded_spin = spin.max(LOADED_SPIN);
        let mut empty = 0u32;
        let mut idle_since = Instant::now();
        let mut load = Load::new(idle_since);
        while !self.shared.stopping() {
            let got = self.iteration();
            if got > 0 {
                empty = 0;
                if sleeps {
                    load.count(got);
                }
                if !nap.is_zero() && got < light {
                    std::thread::sleep(nap);
                }
                continue;
            }
            if !sleeps {
                continue;
            }
            empty = empty.saturating_add(1);
            if empty == clock_every {
                idle_since = Instant::now();
            } else if empty.is_multiple_of(clock_every) {
                let now = Instant::now();
                let limit = if load.loaded(now) { loaded_spin } else { spin };
                if now.duration_since(idle_since) >= limit {
                    self.sleep();
                    empty = 0;
                    continue;
                }
            }
            if !nap.is_zero() {
                std::thread::sleep(nap);
            }
        }
    }

    /// One pass over the thread's ports; returns the packets received.
    pub(crate) fn iteration(&mut self) -> usize {
        let shared = self.shared.clone();
        let Some(me) = shared.pmds.get(self.id) else {
            return 0;
        };
        me.busy.store(BUSY_LOADING, Ordering::SeqCst);
        // Pairs with the fence in `set_tables`.
        fence(Ordering::SeqCst);
        // Guards, not `load_full`: no reference count is touched on the shared `Arc`s.
        let snap = shared.snapshot.load();
        me.busy.store(snap.version, Ordering::SeqCst);
        // Sweeping walks the whole cache: at most every SWEEP_INTERVAL, however many
        // megaflows die meanwhile (dead ones are skipped by lookups until then).
        if me.sweep.load(Ordering::Acquire) && self.last_sweep.elapsed() >= SWEEP_INTERVAL {
            me.sweep.store(false, Ordering::Release);
            self.cache.sweep();
            self.last_sweep = Instant::now();
        }
        let ports = shared.ports.load();
        let mut got = 0;
        let id = self.id;
        for entry in ports.by_ofport.values().filter(|e| e.pmd == id) {
            got += self.poll_port(entry, &ports, &snap);
        }
        self.flush_tx(&ports);
        self.publish(me);
        drop(ports);
        drop(snap);
        me.busy.store(0, Ordering::SeqCst);
        me.iterations.fetch_add(1, Ordering::AcqRel);
        got
    }

    /// Receives one batch from `entry` and processes it.
    fn poll_port(&mut self, entry: &Arc<PortEntry>, ports: &PortMap, snap: &Snapshot) -> usize {
        self.pkts.clear();
        let res = lock(&entry.port).recv(&mut self.pkts, self.shared.cfg.batch);
        let n = match res {
            Ok(n) => n,
            Err(e) => {
                PortCounters::add(&entry.stats.rx_errors, 1);
                tracing::debug!(port = %entry.name, error = %e, "receive failed");
                0
            }
        };
        if self.pkts.is_empty() {
            return n;
        }
        let bytes: usize = self.pkts.iter().map(Packet::len).sum();
        PortCounters::add(&entry.stats.rx_packets, self.pkts.len() as u64);
        PortCounters::add(&entry.stats.rx_bytes, bytes as u64);
        self.process(entry, ports, snap);
        n
    }

    /// Extract, look up, upcall, execute: the batch in `self.pkts` from port `entry`.
    fn process(&mut self, entry: &Arc<PortEntry>, ports: &PortMap, snap: &Snapshot) {
        let shared = self.shared.clone();
        // Taken out of `self` for the batch (and put back to keep their allocations).
        let mut pkts = std::mem::take(&mut self.pkts);
        let mut keys = std::mem::take(&mut self.keys);
        let mut verdicts = std::mem::take(&mut self.verdicts);
        let mut flows = std::mem::take(&mut self.flows);
        keys.clear();
        verdicts.clear();
        flows.clear();
        self.batch += 1;
        let mut rx_dropped = 0u64;
        // 1-2: keys (extracted in place, into keys zeroed by `resize` after the `clear` above:
        // a key is 256 bytes) and cache lookups.
        // The whole batch is extracted and hashed before any lookup, the EMC slots of each key
        // prefetched on the way, so the lookups do not wait for memory one after another.
        // The EMC is consulted only when a megaflow lookup may visit more than one subtable:
        // with one, that lookup is a single hash probe too, in a table of one entry per
        // megaflow instead of one per flow, and the EMC would only add its footprint (10k flows
        // through one megaflow: 5% more forwarded without it; docs/DATAPATH.md, "EMC").
        let emc = self.emc.enabled() && self.cache.subtables() > 1;
        keys.resize(pkts.len(), FlowKey::zero());
        let mut hashes = std::mem::take(&mut self.hashes);
        hashes.clear();
        for (p, key) in pkts.iter().zip(keys.iter_mut()) {
            key.in_port = entry.ofport;
            let ok = match extract_into(p.data(), key) {
                Ok(()) => true,
                // Past the Ethernet header a partial key is what Open vSwitch forwards on.
                Err(e) => e.layer() != Layer::Ethernet,
            };
            let mut hash = 0;
            if !ok {
                self.drops.add(Drop::ParseError, 1);
                rx_dropped += 1;
                verdicts.push(Verdict::Dropped);
            } else {
                if emc {
                    hash = Emc::hash(key);
                    self.emc.prefetch(hash);
                }
                verdicts.push(Verdict::Miss);
            }
            hashes.push(hash);
        }
        for ((verdict, key), hash) in verdicts.iter_mut().zip(keys.iter()).zip(hashes.iter()) {
            if matches!(verdict, Verdict::Miss) {
                *verdict = self.lookup(&shared, snap, key, emc.then_some(*hash), &mut flows);
            }
        }
        // 3: upcalls for the misses.
        // The clock is read only if a miss needs a token.
        let mut now = None;
        for ((verdict, key), hash) in verdicts.iter_mut().zip(keys.iter()).zip(hashes.iter()) {
            if !matches!(verdict, Verdict::Miss) {
                continue;
            }
            // An earlier miss of this batch may have installed the megaflow.
            if let Some(flow) = self.cache.lookup(key) {
                if let Some(i) = batch_index(&mut flows, self.batch, &shared, snap, flow) {
                    *verdict = Verdict::Go(i);
                    continue;
                }
            }
            let rate = shared.cfg.upcall_rate_per_port;
            let bucket = self
                .buckets
                .entry(entry.ofport)
                .or_insert_with(|| TokenBucket::new(rate, upcall_burst(rate, shared.cfg.batch)));
            if !bucket.take(*now.get_or_insert_with(Instant::now)) {
                self.counters.upcalls_shed += 1;
                self.drops.add(Drop::UpcallShed, 1);
                rx_dropped += 1;
                *verdict = Verdict::Dropped;
                continue;
            }
            self.counters.upcalls += 1;
            let (decision, flow) = upcall(&shared, snap, &mut self.cache, key);
            if let Some(f) = flow.as_ref().filter(|_| emc) {
                self.emc.maybe_insert(key, *hash, f);
            }
            flows.push(BatchFlow {
                decision,
                flow,
                packets: 0,
                bytes: 0,
            });
            *verdict = Verdict::Go(flows.len() - 1);
        }
        // 4: credit each flow of the batch once, then execute.
        for (verdict, pkt) in verdicts.iter().zip(pkts.iter()) {
            if let Verdict::Go(i) = verdict {
                if let Some(bf) = flows.get_mut(*i) {
                    bf.packets += 1;
                    bf.bytes += pkt.len() as u64;
                }
            }
        }
        let now_ms = now_ms();
        let mut rules = RuleCredits::default();
        for bf in &flows {
            if let Some(f) = &bf.flow {
                f.hit(bf.packets, bf.bytes, now_ms);
            }
            for r in &bf.decision.rules {
                rules.add(r, bf.packets, bf.bytes, now_ms);
            }
        }
        rules.flush(now_ms);
        if let Some(x) = entry.xdp.filter(|_| shared.offload.is_some()) {
            if let Some(id) = x.offload_id {
                self.offload(
                    &shared,
                    entry,
                    ports,
                    (id, x.queue),
                    &pkts,
                    &verdicts,
                    &flows,
                );
            }
        }
        let mut env = PmdEnv {
            pmd: self,
            shared: &shared,
            ports,
            snap,
            rx_dropped: 0,
        };
        // Each key becomes its packet's metadata (the keys are not used after this loop).
        for ((pkt, verdict), meta) in pkts.drain(..).zip(verdicts.iter()).zip(keys.iter_mut()) {
            let Verdict::Go(i) = *verdict else {
                continue;
            };
            let Some(d) = flows.get(i).map(|bf| &bf.decision) else {
                continue;
            };
            if let Some(reason) = d.drop {
                env.drop(reason);
                continue;
            }
            execute(&mut env, pkt, meta, &d.actions, 0);
        }
        rx_dropped += env.rx_dropped;
        PortCounters::add(&entry.stats.rx_dropped, rx_dropped);
        verdicts.clear();
        flows.clear();
        self.pkts = pkts;
        self.keys = keys;
        self.hashes = hashes;
        self.verdicts = verdicts;
        self.flows = flows;
    }

    /// Installs the XDP offload keys of the batch's frames whose decision the port's program
    /// can carry out (`hook`: the port's offload id and queue); see [`crate::offload`].
    #[allow(clippy::too_many_arguments)]
    fn offload(
        &mut self,
        shared: &Shared,
        entry: &PortEntry,
        ports: &PortMap,
        hook: (u32, u32),
        pkts: &[Packet],
        verdicts: &[Verdict],
        flows: &[BatchFlow],
    ) {
        self.targets.clear();
        self.targets.resize(flows.len(), None);
        for (pkt, verdict) in pkts.iter().zip(verdicts) {
            let Verdict::Go(i) = *verdict else {
                continue;
            };
            let Some(bf) = flows.get(i) else {
                continue;
            };
            let Some(flow) = &bf.flow else {
                continue;
            };
            let Some(slot) = self.targets.get_mut(i) else {
                continue;
            };
            let target = *slot
                .get_or_insert_with(|| crate::offload::target(entry, ports, &bf.decision, flow));
            let Some(target) = target else {
                continue;
            };
            let Some(key) = xdp_offload::key_of(pkt.data(), hook.0, hook.1) else {
                continue;
            };
            if !xdp_offload::flags_allow(key[28], target.tcp_flags) {
                continue;
            }
            let stamp = (
                flow.id,
                bf.decision.version,
                shared
                    .offload_epoch
                    .load(std::sync::atomic::Ordering::Relaxed),
            );
            if self.installed.get(&key) == Some(&stamp) {
                continue;
            }
            self.pending.push(Pending {
                flow: flow.clone(),
                key,
                target,
                decision: bf.decision.clone(),
            });
            if self.installed.len() >= INSTALLED_MAX {
                self.installed.clear();
            }
            self.installed.insert(key, stamp);
        }
        crate::offload::install_all(shared, &self.pending, entry.ofport);
        self.pending.clear();
    }

    /// Looks `key` up in the caches (`hash`: its EMC hash, `None` to leave the EMC out); a
    /// stale hit is re-translated.
    #[inline]
    fn lookup(
        &mut self,
        shared: &Shared,
        snap: &Snapshot,
        key: &FlowKey,
        hash: Option<u64>,
        flows: &mut Vec<BatchFlow>,
    ) -> Verdict {
        if let Some(flow) = hash.and_then(|h| self.emc.lookup(key, h)) {
            if let Some(i) = batch_index(flows, self.batch, shared, snap, flow) {
                self.counters.emc_hits += 1;
                return Verdict::Go(i);
            }
        } else if let Some(flow) = self.cache.lookup(key) {
            if let Some(i) = batch_index(flows, self.batch, shared, snap, flow) {
                self.counters.megaflow_hits += 1;
                if let Some(h) = hash {
                    let flow = flow.clone();
                    self.emc.maybe_insert(key, h, &flow);
                }
                return Verdict::Go(i);
            }
        }
        self.counters.misses += 1;
        Verdict::Miss
    }

    /// Sends the buffered outputs.
    fn flush_tx(&mut self, ports: &PortMap) {
        for (ofport, pkts) in &mut self.tx {
            if pkts.is_empty() {
                continue;
            }
            let Some(entry) = ports.get(*ofport) else {
                self.drops.add(Drop::PortDown, pkts.len() as u64);
                pkts.clear();
                continue;
            };
            let total = pkts.len();
            let lens = &mut self.tx_lens;
            lens.clear();
            lens.extend(pkts.iter().map(Packet::len));
            let res = lock(&entry.port).send(pkts);
            pkts.clear();
            let st = &entry.stats;
            match res {
                Ok(sent) => {
                    let sent = sent.min(total);
                    let bytes: usize = lens.iter().take(sent).sum();
                    PortCounters::add(&st.tx_packets, sent as u64);
                    PortCounters::add(&st.tx_bytes, bytes as u64);
                    let lost = (total - sent) as u64;
                    self.drops.add(Drop::TxRingFull, lost);
                    PortCounters::add(&st.tx_dropped, lost);
                }
                Err(e) => {
                    tracing::debug!(port = %entry.name, error = %e, "send failed");
                    PortCounters::add(&st.tx_errors, 1);
                    self.drops.add(Drop::TxError, total as u64);
                    PortCounters::add(&st.tx_dropped, total as u64);
                }
            }
        }
    }

    /// Publishes counters.
    fn publish(&mut self, me: &crate::PmdShared) {
        self.shared.drops.absorb(&mut self.drops);
        let c = std::mem::take(&mut self.counters);
        PortCounters::add(&me.emc_hits, c.emc_hits);
        PortCounters::add(&me.megaflow_hits, c.megaflow_hits);
        PortCounters::add(&me.misses, c.misses);
        PortCounters::add(&me.upcalls, c.upcalls);
        PortCounters::add(&me.upcalls_shed, c.upcalls_shed);
    }

    /// Blocks in `poll(2)` until a port is readable, a wake-up, or a timeout.
    fn sleep(&mut self) {
        let Some(me) = self.shared.pmds.get(self.id) else {
            return;
        };
        let ports = self.shared.ports.load_full();
        let mut fds = Vec::new();
        let mut all_fds = true;
        for e in ports.by_ofport.values().filter(|e| e.pmd == self.id) {
            match e.poll_fd {
                Some(fd) => fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                }),
                None => all_fds = false,
            }
        }
        drop(ports);
        if let Some(w) = &me.wake {
            use std::os::fd::AsRawFd;
            fds.push(libc::pollfd {
                fd: w.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let timeout = if all_fds { IDLE_SLEEP } else { NO_FD_SLEEP };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // A port removed meanwhile closes its descriptor only after this thread finishes an
        // iteration (see `remove_port`), so every descriptor here stays open during the poll.
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
        let _ = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        me.clear_wake();
    }
}

/// The packets a thread received in the current and the last complete [`LOAD_WINDOW`].
#[derive(Debug)]
struct Load {
    window_start: Instant,
    current: u64,
    last: u64,
    /// Batches counted since the clock was last read.
    unclocked: u32,
}

impl Load {
    fn new(now: Instant) -> Load {
        Load {
            window_start: now,
            current: 0,
            last: 0,
            unclocked: 0,
        }
    }

    /// Counts `n` received packets. The clock is read once every [`IDLE_CLOCK_EVERY`] batches
    /// to close the window, so under load a window lasts a little longer than `LOAD_WINDOW`.
    fn count(&mut self, n: usize) {
        self.current = self.current.saturating_add(n as u64);
        self.unclocked += 1;
        if self.unclocked >= IDLE_CLOCK_EVERY {
            self.unclocked = 0;
            self.roll(Instant::now());
        }
    }

    /// Closes the current window if it is over.
    fn roll(&mut self, now: Instant) {
        let age = now.duration_since(self.window_start);
        if age >= LOAD_WINDOW {
            // A window closed long after its end says nothing about the recent past.
            self.last = if age < 2 * LOAD_WINDOW {
                self.current
            } else {
                0
            };
            self.current = 0;
            self.window_start = now;
        }
    }

    /// Whether the thread received at least [`LOADED_PACKETS`] in the last complete window, or
    /// in the current one so far.
    fn loaded(&mut self, now: Instant) -> bool {
        self.roll(now);
        self.last.max(self.current) >= LOADED_PACKETS
    }
}

/// Credits a run of `n` packets and `b` bytes of one decision.
fn credit(d: &Decision, flow: Option<&Megaflow>, n: u64, b: u64, now: u64) {
    if let Some(f) = flow {
        f.hit(n, b, now);
    }
    d.credit_rules(n, b, now);
}

/// The rule credits of one batch, summed per rule: the megaflows of a batch often end in the
/// same rules (every flow through an ACL's final `output`, say), and a rule's counters are
/// shared by all PMD threads, so each credit is a locked read-modify-write.
#[derive(Default)]
struct RuleCredits<'a> {
    /// (rule, packets, bytes); a batch whose flows credit more distinct rules credits the
    /// rest directly.
    pending: [Option<(&'a FlowRule, u64, u64)>; 8],
}

impl<'a> RuleCredits<'a> {
    fn add(&mut self, rule: &'a FlowRule, n: u64, b: u64, now: u64) {
        for slot in &mut self.pending {
            match slot {
                Some((r, pn, pb)) if std::ptr::eq(*r, rule) => {
                    *pn += n;
                    *pb += b;
                    return;
                }
                Some(_) => {}
                None => {
                    *slot = Some((rule, n, b));
                    return;
                }
            }
        }
        rule.stats.credit(n, b, now);
    }

    fn flush(self, now: u64) {
        for (r, n, b) in self.pending.into_iter().flatten() {
            r.stats.credit(n, b, now);
        }
    }
}

/// The execution environment of a PMD thread.
struct PmdEnv<'a> {
    pmd: &'a mut Pmd,
    shared: &'a Shared,
    ports: &'a PortMap,
    snap: &'a Snapshot,
    rx_dropped: u64,
}

impl Env for PmdEnv<'_> {
    fn output(&mut self, port: u32, pkt: Packet) {
        let Some(entry) = self.ports.get(port) else {
            self.pmd.drops.add(Drop::PortDown, 1);
            return;
        };
        // A frame no longer than MTU + Ethernet header fits whatever its tags; only longer ones
        // need their L3 length.
        if pkt.len() > entry.mtu.saturating_add(14)
            && crate::setfield::l3_len(pkt.data()) > entry.mtu
        {
            self.pmd.drops.add(Drop::MtuExceeded, 1);
            PortCounters::add(&entry.stats.tx_dropped, 1);
            return;
        }
        match self.pmd.tx.iter_mut().find(|(p, _)| *p == port) {
            Some((_, q)) => q.push(pkt),
            None => self.pmd.tx.push((port, vec![pkt])),
        }
    }

    fn flood_ports(&self, in_port: u32, out: &mut Vec<u32>) {
        out.extend(self.ports.by_ofport.keys().filter(|p| **p != in_port));
    }

    fn controller(&mut self, pi: PacketIn) {
        if let Err(reason) = self.shared.packet_in(pi) {
            self.pmd.drops.add(reason, 1);
        }
    }

    fn recirc(&mut self, pkt: Packet, key: FlowKey, depth: usize) {
        let hit = self.pmd.cache.lookup(&key).cloned();
        let fresh =
            hit.and_then(|f| fresh_decision(self.shared, self.snap, &f).map(|d| (d, Some(f))));
        let (d, flow) = match fresh {
            Some(found) => {
                self.pmd.counters.megaflow_hits += 1;
                found
            }
            None => {
                // Recirculations are not rate-limited: the packet was admitted on its first pass.
                self.pmd.counters.misses += 1;
                self.pmd.counters.upcalls += 1;
                upcall(self.shared, self.snap, &mut self.pmd.cache, &key)
            }
        };
        credit(&d, flow.as_deref(), 1, pkt.len() as u64, now_ms());
        if let Some(reason) = d.drop {
            self.drop(reason);
            return;
        }
        let mut meta = key;
        execute(self, pkt, &mut meta, &d.actions, depth);
    }

    fn drop(&mut self, reason: Drop) {
        self.pmd.drops.add(reason, 1);
        if !reason.is_tx() {
            self.rx_dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_is_the_last_complete_window_or_the_current_one() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut load = Load::new(t0);
        load.current = LOADED_PACKETS - 1;
        assert!(!load.loaded(t0 + ms(1)));
        load.current = LOADED_PACKETS;
        assert!(load.loaded(t0 + ms(2)), "the current window counts");
        // The window closes: its count becomes the last window's.
        assert!(load.loaded(t0 + ms(11)));
        assert_eq!((load.last, load.current), (LOADED_PACKETS, 0));
        // A window without packets: no longer loaded.
        assert!(!load.loaded(t0 + ms(22)));
        // A window closed long after its end says nothing about the present.
        load.current = 50 * LOADED_PACKETS;
        assert!(!load.loaded(t0 + ms(60)));
    }
}
