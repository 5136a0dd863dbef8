//! State shared by a datapath's threads: the table snapshot, the port map, the megaflow
//! registry, PMD thread bookkeeping and counters.
//!
//! Lock order: `Shared::port_lock` before `Shared::registry`; the registry is never held while
//! translating. Every other shared structure is an atomic or an `ArcSwap`.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use flowtable::pipeline::RecircIds;
use flowtable::table::Tables;
use flowtable::{FlowKey, FlowMask};

use crate::cache::{Decision, Megaflow};
use crate::drops::{self, DropCounters};
use crate::port::afxdp::xdp::offload::{Slot, XdpPort};
use crate::port::afxdp::xdp::umem::UmemGroup;
use crate::stats::PacketIn;
use crate::upcall::TokenBucket;
use crate::{clock, DatapathConfig, Port};

/// Packet-ins per second sent to vswitchd at most (the rest count as
/// `controller_rate_limited`).
pub const CONTROLLER_RATE: u32 = 1000;

/// Packet-ins queued for vswitchd at most (the rest count as `controller_queue_full`).
pub const PACKET_IN_QUEUE: usize = 1024;

/// Locks a mutex, recovering the data if a thread panicked while holding it: every structure
/// behind these mutexes is valid after any single completed operation.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A version of the flow tables.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub tables: Arc<Tables>,
    /// Starts at 1; each `set_tables` adds 1.
    pub version: u64,
}

/// Counters of one port, updated by any PMD thread.
#[derive(Debug, Default)]
pub(crate) struct PortCounters {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub rx_dropped: AtomicU64,
    pub tx_dropped: AtomicU64,
    pub rx_errors: AtomicU64,
    pub tx_errors: AtomicU64,
}

impl PortCounters {
    #[inline]
    pub fn add(c: &AtomicU64, n: u64) {
        if n != 0 {
            // Relaxed: statistics only.
            c.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// A port in the datapath.
pub(crate) struct PortEntry {
    pub ofport: u32,
    pub name: String,
    pub mtu: usize,
    /// The PMD thread that receives from it.
    pub pmd: usize,
    pub poll_fd: Option<RawFd>,
    /// Locked by the receiving PMD thread for `recv` and by any PMD thread for `send`.
    pub port: Mutex<Box<dyn Port>>,
    pub stats: PortCounters,
    /// The XDP side of an afxdp port (`Port::xdp`).
    pub xdp: Option<XdpPort>,
    /// Whether its interface takes frames redirected by XDP (checked by the revalidator, and
    /// by PMD threads while it is false).
    pub xdp_tx_ok: AtomicBool,
    /// When a PMD thread last asked (`clock::now_ms`).
    pub xdp_tx_checked: AtomicU64,
}

impl std::fmt::Debug for PortEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortEntry")
            .field("ofport", &self.ofport)
            .field("name", &self.name)
            .field("pmd", &self.pmd)
            .finish_non_exhaustive()
    }
}

/// The ports, replaced as a whole when one is added or removed (PMD threads load it once per
/// iteration).
#[derive(Debug, Default)]
pub(crate) struct PortMap {
    pub by_ofport: BTreeMap<u32, Arc<PortEntry>>,
}

impl PortMap {
    #[inline]
    pub fn get(&self, ofport: u32) -> Option<&Arc<PortEntry>> {
        self.by_ofport.get(&ofport)
    }
}

/// What a PMD thread shares with the rest of the datapath.
#[derive(Debug)]
pub(crate) struct PmdShared {
    /// 0 outside a batch, [`BUSY_LOADING`] while taking the snapshot, else the version of the
    /// snapshot the current iteration uses.
    pub busy: AtomicU64,
    /// Completed iterations (the port map of an iteration is released before the increment).
    pub iterations: AtomicU64,
    /// Set when dead megaflows should be swept from the thread's cache.
    pub sweep: AtomicBool,
    /// Written to wake the thread from `poll(2)`.
    pub wake: Option<OwnedFd>,
    pub emc_hits: AtomicU64,
    pub megaflow_hits: AtomicU64,
    pub misses: AtomicU64,
    pub upcalls: AtomicU64,
    pub upcalls_shed: AtomicU64,
    /// Whether the thread is running (cleared when it exits).
    pub alive: AtomicBool,
}

/// `PmdShared::busy` while a PMD thread takes its snapshot.
pub(crate) const BUSY_LOADING: u64 = u64::MAX;

impl PmdShared {
    pub fn new() -> PmdShared {
        // SAFETY: eventfd has no memory-safety preconditions; a negative result is an error.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        let wake = (fd >= 0).then(|| {
            // SAFETY: `fd` was just created and is owned by nothing else.
            unsafe { OwnedFd::from_raw_fd(fd) }
        });
        PmdShared {
            busy: AtomicU64::new(0),
            iterations: AtomicU64::new(0),
            sweep: AtomicBool::new(false),
            wake,
            emc_hits: AtomicU64::new(0),
            megaflow_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            upcalls: AtomicU64::new(0),
            upcalls_shed: AtomicU64::new(0),
            alive: AtomicBool::new(true),
        }
    }

    /// Wakes the thread if it sleeps in `poll(2)`.
    pub fn wake(&self) {
        if let Some(fd) = &self.wake {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a valid u64 to an eventfd.
            let _ = unsafe { libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8) };
        }
    }

    /// Clears a pending wake-up.
    pub fn clear_wake(&self) {
        if let Some(fd) = &self.wake {
            let mut v: u64 = 0;
            // SAFETY: reads 8 bytes into a valid u64 from a nonblocking eventfd.
            let _ = unsafe { libc::read(fd.as_raw_fd(), (&raw mut v).cast(), 8) };
        }
    }
}

/// State shared by the datapath's threads.
///
/// Lock order: `port_lock` before `registry`; `registry` is never held while translating.
pub(crate) struct Shared {
    pub bridge: String,
    pub cfg: DatapathConfig,
    pub snapshot: ArcSwap<Snapshot>,
    pub recirc: Arc<RecircIds>,
    pub ports: ArcSwap<PortMap>,
    /// Serialises port additions and removals.
    pub port_lock: Mutex<()>,
    pub drops: DropCounters,
    pub pmds: Vec<PmdShared>,
    /// The UMEMs of each PMD thread's afxdp ports (index: PMD id).
    pub umems: Vec<UmemGroup>,
    /// Every live megaflow, by id.
    pub registry: Mutex<HashMap<u64, Arc<Megaflow>>>,
    pub next_id: AtomicU64,
    pub revalidations: AtomicU64,
    pub megaflow_limit_hits: AtomicU64,
    pub packet_in_tx: mpsc::SyncSender<PacketIn>,
    pub controller_bucket: Mutex<TokenBucket>,
    pub stop: AtomicBool,
    /// Set (and the condvar notified) to request a revalidation pass.
    pub reval_requested: Mutex<bool>,
    pub reval_cv: Condvar,
    /// The datapath's slot in the XDP offload version map; `None`: no offload.
    pub offload: Option<Slot>,
    /// Set once a key has been installed: table swaps then wait for the programs.
    pub offload_used: AtomicBool,
    /// Keys installed now.
    pub offload_keys: AtomicU64,
    /// Incremented whenever keys of live megaflows are withdrawn (a port went away or stopped
    /// taking redirected frames): PMD threads then install keys they remember installing.
    pub offload_epoch: AtomicU64,
    /// Installations the kernel refused (map full).
    pub offload_failures: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("bridge", &self.bridge)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// The PMD thread receiving from the fewest ports (the first of them on a tie).
    pub fn least_loaded_pmd(&self) -> usize {
        let mut load = vec![0usize; self.pmds.len()];
        for e in self.ports.load().by_ofport.values() {
            if let Some(l) = load.get_mut(e.pmd) {
                *l += 1;
            }
        }
        (0..load.len()).min_by_key(|&i| load[i]).unwrap_or(0)
    }

    /// Registers a new megaflow, unless the limit is reached (then the decision comes back).
    pub fn register(
        &self,
        first_key: FlowKey,
        mask: FlowMask,
        decision: Decision,
    ) -> Result<Arc<Megaflow>, Arc<Decision>> {
        let mut reg = lock(&self.registry);
        if reg.len() >= self.cfg.megaflow_limit {
            drop(reg);
            self.megaflow_limit_hits.fetch_add(1, Ordering::Relaxed);
            return Err(Arc::new(decision));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let flow = Arc::new(Megaflow::new(
            id,
            first_key,
            mask,
            decision,
            clock::now_ms(),
        ));
        reg.insert(id, flow.clone());
        Ok(flow)
    }

    /// Takes a megaflow out of service and out of the registry.
    pub fn kill(&self, flow: &Megaflow) {
        if flow.kill() {
            lock(&self.registry).remove(&flow.id);
            crate::offload::sync(self, flow, true, None);
            self.request_sweep();
        }
    }

    /// Every registered megaflow.
    pub fn all_megaflows(&self) -> Vec<Arc<Megaflow>> {
        lock(&self.registry).values().cloned().collect()
    }

    pub fn count_revalidation(&self) {
        self.revalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// Asks every PMD thread to sweep dead megaflows from its cache.
    pub fn request_sweep(&self) {
        for p in &self.pmds {
            p.sweep.store(true, Ordering::Release);
        }
    }

    /// Sends a packet-in, within the rate limit and the queue's room.
    pub fn packet_in(&self, pi: PacketIn) -> Result<(), drops::Drop> {
        if !lock(&self.controller_bucket).take(Instant::now()) {
            return Err(drops::Drop::ControllerRateLimited);
        }
        self.packet_in_tx
            .try_send(pi)
            .map_err(|_| drops::Drop::ControllerQueueFull)
    }

    /// Requests a revalidation pass.
    pub fn request_revalidation(&self) {
        *lock(&self.reval_requested) = true;
        self.reval_cv.notify_all();
    }

    /// Waits for a revalidation request, shutdown or `timeout`.
    pub fn wait_revalidate(&self, timeout: Duration) {
        let guard = lock(&self.reval_requested);
        let (mut guard, _) = self
            .reval_cv
            .wait_timeout_while(guard, timeout, |req| !*req && !self.stopping())
            .unwrap_or_else(|e| e.into_inner());
        *guard = false;
    }

    /// Waits until every PMD thread has finished an iteration begun before now (its view of
    /// the port map is then current).
    pub fn quiesce_ports(&self) {
        let before: Vec<u64> = self
            .pmds
            .iter()
            .map(|p| p.iterations.load(Ordering::Acquire))
            .collect();
        for (p, b) in self.pmds.iter().zip(before) {
            p.wake();
            while p.alive.load(Ordering::Acquire) && p.iterations.load(Ordering::Acquire) == b {
                p.wake();
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }
}
