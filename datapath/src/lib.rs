//! The fast path: ports, PMD threads, exact-match and megaflow caches, upcalls, revalidation and
//! action execution.
//!
//! See `docs/DATAPATH.md` for the design. One [`Datapath`] forwards for one bridge.

pub mod cache;
pub mod clock;
pub mod dpctl;
pub mod drops;
pub mod exec;
mod offload;
pub mod packet;
mod pmd;
pub mod port;
pub mod reference;
pub mod revalidate;
pub mod setfield;
mod shared;
mod stats;
pub mod upcall;

use std::collections::HashMap;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use flowtable::pipeline::RecircIds;
use flowtable::table::Tables;

use drops::{DropCounters, LocalDrops};
use port::afxdp::xdp::umem::UmemGroup;
use upcall::TokenBucket;

pub(crate) use shared::{
    lock, PmdShared, PortCounters, PortEntry, PortMap, Shared, Snapshot, BUSY_LOADING,
};
pub use shared::{CONTROLLER_RATE, PACKET_IN_QUEUE};

pub use packet::Packet;
pub use port::afxdp::xdp::umem::UmemStats;
pub use port::{Port, PortError, PortKind};
pub use revalidate::PassStats;
pub use stats::{CacheStats, MegaflowInfo, PacketIn, PortStats};

/// Configuration of a datapath.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatapathConfig {
    /// Number of PMD threads. 0 starts no thread at all (no PMD thread, no revalidator): the
    /// caller drives packet processing with [`Datapath::run_once`] and revalidation with
    /// [`Datapath::revalidate_now`] (benchmarks, deterministic simulation).
    pub pmd_threads: usize,
    /// CPUs to pin PMD threads to, in order (empty: no pinning).
    pub cpus: Vec<usize>,
    /// Most packets received from a port at once.
    pub batch: usize,
    /// Entries of each PMD thread's exact-match cache (0 disables it).
    pub emc_entries: usize,
    /// Most megaflows installed at once.
    pub megaflow_limit: usize,
    /// Megaflows unused for this long are evicted.
    pub megaflow_idle_ms: u64,
    /// Upcalls per second allowed per input port (0: unlimited).
    pub upcall_rate_per_port: u32,
    /// Whether an idle PMD thread sleeps in `poll(2)` (else it busy-polls all the time).
    pub pmd_sleep: bool,
    /// How long a PMD thread polls without receiving anything before it sleeps.
    pub idle_spin: Duration,
    /// Under light load (an iteration that received less than half a batch), how long a PMD
    /// thread pauses before polling again instead of spinning (zero: never). Needs
    /// `pmd_sleep`.
    pub nap: Duration,
}

impl Default for DatapathConfig {
    fn default() -> DatapathConfig {
        DatapathConfig {
            pmd_threads: 1,
            cpus: Vec::new(),
            batch: 64,
            emc_entries: 8192,
            megaflow_limit: 200_000,
            megaflow_idle_ms: 10_000,
            upcall_rate_per_port: 20_000,
            pmd_sleep: true,
            idle_spin: pmd::IDLE_SPIN,
            nap: Duration::ZERO,
        }
    }
}

/// Why a datapath operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    /// The configuration is unusable.
    #[error("bridge {bridge}: bad datapath configuration: {why}")]
    Config {
        /// The bridge.
        bridge: String,
        /// What is wrong.
        why: String,
    },
    /// A PMD thread could not be started.
    #[error("bridge {bridge}: cannot start PMD thread: {source}")]
    Thread {
        /// The bridge.
        bridge: String,
        /// The system error.
        source: std::io::Error,
    },
    /// The OpenFlow port number is already in use.
    #[error("bridge {bridge}: port {ofport} already exists")]
    PortExists {
        /// The bridge.
        bridge: String,
        /// The port number.
        ofport: u32,
    },
    /// No port has that OpenFlow port number.
    #[error("bridge {bridge}: no port {ofport}")]
    NoSuchPort {
        /// The bridge.
        bridge: String,
        /// The port number.
        ofport: u32,
    },
}

/// The datapath of one bridge.
///
/// Threads: `pmd_threads` PMD threads receive, look up, upcall and execute; one revalidator
/// thread re-translates megaflows after table swaps and evicts idle ones. The methods here are
/// called by vswitchd from any thread.
pub struct Datapath {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    packet_ins: Mutex<Option<mpsc::Receiver<PacketIn>>>,
    /// The PMD context of manual mode (`pmd_threads == 0`).
    manual: Option<Mutex<pmd::Pmd>>,
}

impl std::fmt::Debug for Datapath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datapath")
            .field("bridge", &self.shared.bridge)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for dyn Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.kind().name())
    }
}

impl Datapath {
    /// Starts the datapath of `bridge`: its PMD threads and revalidator.
    pub fn start(
        bridge: &str,
        cfg: DatapathConfig,
        tables: Arc<Tables>,
        recirc: Arc<RecircIds>,
    ) -> Result<Datapath, DatapathError> {
        let bad = |why: &str| DatapathError::Config {
            bridge: bridge.to_string(),
            why: why.to_string(),
        };
        if cfg.pmd_threads > 64 {
            return Err(bad("pmd_threads must be 0..=64"));
        }
        if cfg.batch == 0 || cfg.batch > 1024 {
            return Err(bad("batch must be 1..=1024"));
        }
        let (tx, rx) = mpsc::sync_channel(PACKET_IN_QUEUE);
        let shared = Arc::new(Shared {
            bridge: bridge.to_string(),
            snapshot: ArcSwap::from_pointee(Snapshot { tables, version: 1 }),
            recirc,
            ports: ArcSwap::from_pointee(PortMap::default()),
            port_lock: Mutex::new(()),
            drops: DropCounters::default(),
            // Manual mode has one PMD context, driven by `run_once`.
            pmds: (0..cfg.pmd_threads.max(1))
                .map(|_| PmdShared::new())
                .collect(),
            umems: (0..cfg.pmd_threads.max(1)).map(UmemGroup::new).collect(),
            registry: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            revalidations: AtomicU64::new(0),
            megaflow_limit_hits: AtomicU64::new(0),
            packet_in_tx: tx,
            controller_bucket: Mutex::new(TokenBucket::new(CONTROLLER_RATE, CONTROLLER_RATE)),
            stop: AtomicBool::new(false),
            reval_requested: Mutex::new(false),
            reval_cv: Condvar::new(),
            offload: port::afxdp::xdp::offload::maps().and_then(|m| m.take_slot()),
            offload_used: AtomicBool::new(false),
            offload_keys: AtomicU64::new(0),
            offload_epoch: AtomicU64::new(0),
            offload_failures: AtomicU64::new(0),
            cfg,
        });
        offload::set_version(&shared, 1);
        let manual = (shared.cfg.pmd_threads == 0).then(|| {
            // No thread waits on a manual context: `quiesce` and `set_tables` skip it.
            if let Some(p) = shared.pmds.first() {
                p.alive.store(false, Ordering::Release);
            }
            Mutex::new(pmd::Pmd::new(shared.clone(), 0))
        });
        let dp = Datapath {
            shared: shared.clone(),
            threads: Mutex::new(Vec::new()),
            packet_ins: Mutex::new(Some(rx)),
            manual,
        };
        let spawn_err = |source| DatapathError::Thread {
            bridge: bridge.to_string(),
            source,
        };
        for id in 0..shared.cfg.pmd_threads {
            let s = shared.clone();
            let cpu = (!s.cfg.cpus.is_empty())
                .then(|| s.cfg.cpus.get(id % s.cfg.cpus.len()).copied())
                .flatten();
            let h = std::thread::Builder::new()
                .name(format!("pmd{id}-{bridge}"))
                .spawn(move || pmd::run(s, id, cpu))
                .map_err(spawn_err)?;
            lock(&dp.threads).push(h);
        }
        if dp.manual.is_none() {
            let s = shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("revalidator-{bridge}"))
                .spawn(move || revalidate::run(s))
                .map_err(spawn_err)?;
            lock(&dp.threads).push(h);
        }
        Ok(dp)
    }

    /// A handle that opens ports for this datapath: an afxdp port is opened for the PMD thread
    /// with the fewest ports and shares that thread's UMEM, so that forwarding between the
    /// ports of one thread copies no bytes (docs/DATAPATH-PORTS.md). Give the port to
    /// [`Datapath::add_port`], which puts it on that thread.
    pub fn port_opener(&self) -> PortOpener {
        PortOpener {
            shared: self.shared.clone(),
        }
    }

    /// The UMEMs shared by the afxdp ports of each PMD thread, with their frame accounting
    /// and their counts of packets sent by address and by copy.
    pub fn umem_stats(&self) -> Vec<UmemStats> {
        self.shared
            .umems
            .iter()
            .flat_map(UmemGroup::stats)
            .collect()
    }

    /// Adds a port under OpenFlow port number `ofport`; a PMD thread starts receiving from it.
    pub fn add_port(&self, ofport: u32, port: Box<dyn Port>) -> Result<(), DatapathError> {
        let s = &self.shared;
        let _g = lock(&s.port_lock);
        let old = s.ports.load_full();
        if old.by_ofport.contains_key(&ofport) {
            return Err(DatapathError::PortExists {
                bridge: s.bridge.clone(),
                ofport,
            });
        }
        // The PMD thread the port was opened for (its UMEM's), else the one with the fewest
        // ports.
        let pmd = port
            .pmd()
            .filter(|p| *p < s.pmds.len())
            .unwrap_or_else(|| s.least_loaded_pmd());
        let xdp = port.xdp();
        let xdp_tx_ok =
            xdp.is_some_and(|x| port::afxdp::xdp::offload::takes_redirects(x.ifindex, x.netns));
        let entry = Arc::new(PortEntry {
            ofport,
            name: port.name().to_string(),
            mtu: port.mtu(),
            pmd,
            poll_fd: port.poll_fd(),
            port: Mutex::new(port),
            stats: PortCounters::default(),
            xdp,
            xdp_tx_ok: AtomicBool::new(xdp_tx_ok),
            xdp_tx_checked: AtomicU64::new(0),
        });
        tracing::info!(bridge = %s.bridge, ofport, port = %entry.name, pmd, "port added");
        let mut map = PortMap {
            by_ofport: old.by_ofport.clone(),
        };
        map.by_ofport.insert(ofport, entry);
        s.ports.store(Arc::new(map));
        if let Some(p) = s.pmds.get(pmd) {
            p.wake();
        }
        Ok(())
    }

    /// Removes a port. When this returns, no PMD thread uses it and it is released (unless a
    /// concurrent `port_stats` still holds it for a moment).
    pub fn remove_port(&self, ofport: u32) -> Result<(), DatapathError> {
        let s = &self.shared;
        let _g = lock(&s.port_lock);
        let old = s.ports.load_full();
        let mut map = PortMap {
            by_ofport: old.by_ofport.clone(),
        };
        drop(old);
        let Some(entry) = map.by_ofport.remove(&ofport) else {
            return Err(DatapathError::NoSuchPort {
                bridge: s.bridge.clone(),
                ofport,
            });
        };
        s.ports.store(Arc::new(map));
        s.quiesce_ports();
        self.quiesce_manual();
        // No key may send to (or wait for frames from) an interface that is no longer ours.
        offload::withdraw_port(s, ofport);
        // The port's own drop totals go into the datapath's counters, which only ever grow.
        let mut gone = LocalDrops::default();
        for (reason, n) in lock(&entry.port).port_drops() {
            gone.add(reason, n);
        }
        s.drops.absorb(&mut gone);
        tracing::info!(bridge = %s.bridge, ofport, port = %entry.name, "port removed");
        drop(entry);
        Ok(())
    }

    /// Swaps the table version. When it returns, no packet is forwarded by a megaflow made from
    /// an older version; revalidation of the cached megaflows continues in the background.
    pub fn set_tables(&self, tables: Arc<Tables>) {
        let s = &self.shared;
        let version = {
            let _g = lock(&s.port_lock);
            let version = s.snapshot.load().version + 1;
            s.snapshot.store(Arc::new(Snapshot { tables, version }));
            version
        };
        // The XDP programs stop using older decisions before the PMD threads are waited for
        // (a key a PMD thread installs meanwhile carries its batch's version).
        offload::set_version(s, version);
        // Pairs with the fence in the PMD loop between publishing `busy` and loading the
        // snapshot: either the PMD thread sees the new snapshot, or we see it busy.
        fence(Ordering::SeqCst);
        for p in &s.pmds {
            loop {
                let b = p.busy.load(Ordering::SeqCst);
                if b == 0 || (b != BUSY_LOADING && b >= version) || !p.alive.load(Ordering::Acquire)
                {
                    break;
                }
                std::hint::spin_loop();
                std::thread::yield_now();
            }
        }
        self.quiesce_manual();
        s.request_revalidation();
    }

    /// In manual mode, waits for a `run_once` in progress in another thread to finish.
    fn quiesce_manual(&self) {
        if let Some(m) = &self.manual {
            drop(lock(m));
        }
    }

    /// In manual mode (`pmd_threads == 0`), runs one PMD iteration over every port in the
    /// calling thread and returns the packets received; with PMD threads, does nothing and
    /// returns 0.
    pub fn run_once(&self) -> usize {
        match &self.manual {
            Some(m) => lock(m).iteration(),
            None => 0,
        }
    }

    /// Waits until every PMD thread has finished an iteration that began before the call, so
    /// that packets it had received are executed, sent and counted (used by tests and the
    /// simulator to reach a quiet point).
    pub fn quiesce(&self) {
        self.shared.quiesce_ports();
        self.quiesce_manual();
    }

    /// The current table version (1 at start, +1 per [`Datapath::set_tables`]).
    pub fn tables_version(&self) -> u64 {
        self.shared.snapshot.load().version
    }

    /// Counters of every port.
    pub fn port_stats(&self) -> Vec<PortStats> {
        self.sync_offloaded();
        let map = self.shared.ports.load_full();
        map.by_ofport
            .values()
            .map(|e| {
                let c = &e.stats;
                let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
                let below: u64 = lock(&e.port).port_drops().iter().map(|(_, n)| n).sum();
                PortStats {
                    ofport: e.ofport,
                    name: e.name.clone(),
                    rx_packets: r(&c.rx_packets),
                    rx_bytes: r(&c.rx_bytes),
                    tx_packets: r(&c.tx_packets),
                    tx_bytes: r(&c.tx_bytes),
                    rx_dropped: r(&c.rx_dropped).saturating_add(below),
                    tx_dropped: r(&c.tx_dropped),
                    rx_errors: r(&c.rx_errors),
                    tx_errors: r(&c.tx_errors),
                }
            })
            .collect()
    }

    /// Ports with their kind's description, e.g. `(1, "p1", "mem, ring 4096")`.
    pub fn port_descriptions(&self) -> Vec<(u32, String, String)> {
        let map = self.shared.ports.load_full();
        map.by_ofport
            .values()
            .map(|e| (e.ofport, e.name.clone(), lock(&e.port).describe()))
            .collect()
    }

    /// The installed megaflows, in installation order.
    pub fn megaflows(&self) -> Vec<MegaflowInfo> {
        self.sync_offloaded();
        let mut flows = self.shared.all_megaflows();
        flows.sort_by_key(|f| f.id);
        flows
            .iter()
            .map(|f| MegaflowInfo {
                key: f.key,
                mask: f.mask,
                actions: f.decision.load().actions.clone(),
                packets: f.packets(),
                bytes: f.bytes(),
                used_ms: f.used(),
                offloaded_packets: f.packets_offloaded(),
                offloaded_keys: lock(&f.offloaded).len(),
            })
            .collect()
    }

    /// Brings the counts of the ports' XDP programs (XDP flow offload) into the megaflows,
    /// rules, ports and drop counters now, instead of at the revalidator's next pass (the
    /// dumps call it first).
    pub fn sync_offloaded(&self) {
        if self.shared.offload_keys.load(Ordering::Relaxed) == 0 {
            return;
        }
        for f in self.shared.all_megaflows() {
            offload::sync(&self.shared, &f, false, None);
        }
    }

    /// Removes every megaflow (the next packet of each flow upcalls).
    pub fn flush_megaflows(&self) {
        for f in self.shared.all_megaflows() {
            self.shared.kill(&f);
        }
        self.shared.request_sweep();
    }

    /// Runs a revalidation pass now, in the calling thread (the background revalidator does
    /// the same after every `set_tables`).
    pub fn revalidate_now(&self) -> PassStats {
        revalidate::pass(&self.shared)
    }

    /// Every named drop reason with its count, zero ones included: the PMD threads' counts
    /// plus the drops the ports counted below the datapath ([`Port::port_drops`]).
    pub fn drops(&self) -> Vec<(&'static str, u64)> {
        self.sync_offloaded();
        let mut below = LocalDrops::default();
        for e in self.shared.ports.load_full().by_ofport.values() {
            for (reason, n) in lock(&e.port).port_drops() {
                below.add(reason, n);
            }
        }
        self.shared.drops.snapshot_with(&below)
    }

    /// Cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        let s = &self.shared;
        let mut st = CacheStats {
            megaflows: u64::try_from(lock(&s.registry).len()).unwrap_or(u64::MAX),
            revalidations: s.revalidations.load(Ordering::Relaxed),
            megaflow_limit_hits: s.megaflow_limit_hits.load(Ordering::Relaxed),
            offload_keys: s.offload_keys.load(Ordering::Relaxed),
            offload_failures: s.offload_failures.load(Ordering::Relaxed),
            ..CacheStats::default()
        };
        for p in &s.pmds {
            let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
            st.emc_hits += r(&p.emc_hits);
            st.megaflow_hits += r(&p.megaflow_hits);
            st.misses += r(&p.misses);
            st.upcalls += r(&p.upcalls);
            st.upcalls_shed += r(&p.upcalls_shed);
        }
        st
    }

    /// The packet-in stream. The first call takes it; later calls get a receiver whose sender
    /// is gone (it yields nothing).
    pub fn packet_ins(&self) -> mpsc::Receiver<PacketIn> {
        lock(&self.packet_ins)
            .take()
            .unwrap_or_else(|| mpsc::sync_channel(0).1)
    }

    /// Stops the PMD threads and the revalidator and releases the ports.
    pub fn shutdown(self) {
        self.stop_threads();
    }

    fn stop_threads(&self) {
        let s = &self.shared;
        s.stop.store(true, Ordering::Release);
        for p in &s.pmds {
            p.wake();
        }
        s.request_revalidation();
        for h in lock(&self.threads).drain(..) {
            if h.join().is_err() {
                tracing::error!(bridge = %s.bridge, "a datapath thread panicked");
            }
        }
        // The XDP programs go with the ports; their keys go first, so that none forwards
        // while the ports close.
        for f in s.all_megaflows() {
            s.kill(&f);
        }
        let _g = lock(&s.port_lock);
        s.ports.store(Arc::new(PortMap::default()));
        lock(&s.registry).clear();
    }
}

/// Opens ports for a datapath (see [`Datapath::port_opener`]). Cheap to clone; usable from any
/// thread, e.g. one allowed to block while an interface is set up.
#[derive(Clone)]
pub struct PortOpener {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PortOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortOpener")
            .field("bridge", &self.shared.bridge)
            .finish()
    }
}

impl PortOpener {
    /// Opens a port of `kind` on `iface` with `options`, as [`port::open`] does, except that
    /// an afxdp port shares the UMEM of the PMD thread that will receive from it.
    pub fn open(
        &self,
        kind: PortKind,
        iface: &str,
        options: &std::collections::BTreeMap<String, String>,
    ) -> Result<Box<dyn Port>, PortError> {
        let group = self.shared.umems.get(self.shared.least_loaded_pmd());
        match (kind, group) {
            (PortKind::Afxdp, Some(group)) => port::afxdp::open_in(iface, options, group),
            _ => port::open(kind, iface, options),
        }
    }
}

/// `Datapath` is shared between vswitchd's threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Datapath>();
};

impl Drop for Datapath {
    fn drop(&mut self) {
        self.stop_threads();
    }
}
