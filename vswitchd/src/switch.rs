//! The switch: bridges, their ports and their flow tables, and every change to them.
//!
//! # Tables and versions
//!
//! Each bridge holds its flow tables as an immutable [`Tables`] snapshot in an [`ArcSwap`].
//! Readers (dumps, traces, the datapath) load the current snapshot without locking. A change
//! clones the snapshot (cheap: one `Arc` per table, and a table is copied only when it is
//! changed), applies its flow mods to the clone, saves the clone to the state directory, then
//! stores it and hands it to the datapath. A bundle is one such change, so it is atomic for
//! packets as well as for readers; a failing flow mod drops the clone and nothing changed.
//!
//! # Locks
//!
//! * `Switch::config` (async mutex) serializes bridge and port changes, so `bridges.toml` is
//!   written in the order the changes happened. Held across the port open and the file write.
//! * `Bridge::flows` (async mutex) serializes flow changes of one bridge (including expiry), so
//!   no change is lost between a clone and its swap. Held across the file write.
//! * `Switch::bridges`, `Bridge::ports` and `Bridge::datapath` are std locks held only for short
//!   sections that never await; lock order: `config` → `flows` → `bridges` → `ports` →
//!   `datapath`.
//!
//! A refused request changes nothing: every check is made before anything is modified, and a
//! failed save rolls the in-memory change back (or is never swapped in).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use datapath::clock::now_ms;
use datapath::{Datapath, DatapathConfig, PortError, PortKind};
use flowtable::pipeline::RecircIds;
use flowtable::table::{FlowModError, Removed, RemovedReason, Tables};
use proto::v1;
use tokio::sync::broadcast;

use crate::convert::{self, RuleText, TextCache};
use crate::persist::{BridgeConfig, Change, FlowLog, PortConfig, SavedBridges, Store};

/// Longest bridge or port name (Linux interface names have 15 bytes).
pub const MAX_NAME_LEN: usize = 15;

/// Highest OpenFlow port number of a port (`OFPP_MAX`).
pub const MAX_OFPORT: u32 = 0xff00;

/// Events buffered for each Watch client before the slowest loses some.
const EVENT_BUFFER: usize = 4096;

/// Why a request was refused; each kind maps to one gRPC status code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    /// The request is invalid as written (`INVALID_ARGUMENT`).
    #[error("{0}")]
    Invalid(String),
    /// A named bridge or port does not exist (`NOT_FOUND`).
    #[error("{0}")]
    NotFound(String),
    /// A bridge, port, port number or overlapping flow already exists (`ALREADY_EXISTS`).
    #[error("{0}")]
    Exists(String),
    /// The feature is not available (`FAILED_PRECONDITION`).
    #[error("{0}")]
    Unavailable(String),
    /// The switch could not carry out a valid request, e.g. the state could not be saved
    /// (`INTERNAL`).
    #[error("{0}")]
    Internal(String),
    /// Flow mod `index` of a bundle failed with `error`; nothing was changed.
    #[error("flow mod {index}: {error}")]
    Bundle {
        /// 0-based index in the bundle.
        index: usize,
        /// Why it failed (never itself a `Bundle`).
        error: Box<SwitchError>,
    },
}

impl From<FlowModError> for SwitchError {
    fn from(e: FlowModError) -> SwitchError {
        match e {
            FlowModError::Overlap { .. } => SwitchError::Exists(e.to_string()),
            FlowModError::BadTable(_) | FlowModError::BadActions(_) => {
                SwitchError::Invalid(e.to_string())
            }
        }
    }
}

/// How the switch is set up.
#[derive(Clone, Debug, Default)]
pub struct SwitchOptions {
    /// Accept ports of type `mem` (in-memory ports, for tests).
    pub allow_mem_ports: bool,
    /// Configuration of each bridge's datapath.
    pub datapath: DatapathConfig,
    /// Where bridges, ports and flows are saved; `None` keeps nothing.
    pub state_dir: Option<PathBuf>,
}

/// What a flow change did, summed over its flow mods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeSummary {
    /// Rules added.
    pub added: u64,
    /// Rules modified.
    pub modified: u64,
    /// Rules removed.
    pub removed: u64,
}

/// One port of a bridge: its configuration and, when it could not be opened, why.
#[derive(Clone, Debug)]
pub struct PortState {
    /// The configuration.
    pub config: PortConfig,
    /// Why the interface is not attached to the datapath; `None` when it is.
    pub error: Option<String>,
    /// The datapath's description, MAC and MTU of an attached port.
    pub description: String,
    /// MAC address, when known.
    pub mac: Option<[u8; 6]>,
    /// MTU, 0 when unknown.
    pub mtu: usize,
}

/// One bridge.
pub struct Bridge {
    name: String,
    tables: ArcSwap<Tables>,
    recirc: Arc<RecircIds>,
    datapath: Mutex<Option<Datapath>>,
    datapath_error: Option<String>,
    ports: Mutex<Vec<PortState>>,
    flows: tokio::sync::Mutex<()>,
    texts: Mutex<TextCache>,
    log: Mutex<Option<FlowLog>>,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("name", &self.name)
            .field("flows", &self.tables.load().len())
            .field("datapath_error", &self.datapath_error)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data (every section is a
    // single insert/remove/read), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Bridge {
    /// The bridge's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current table snapshot.
    pub fn tables(&self) -> Arc<Tables> {
        self.tables.load_full()
    }

    /// The recirculation IDs shared with the datapath (for traces).
    pub fn recirc(&self) -> &Arc<RecircIds> {
        &self.recirc
    }

    /// Why the datapath could not start, if it could not.
    pub fn datapath_error(&self) -> Option<&str> {
        self.datapath_error.as_deref()
    }

    /// Calls `f` with the datapath, if it runs.
    pub fn with_datapath<R>(&self, f: impl FnOnce(&Datapath) -> R) -> Option<R> {
        lock(&self.datapath).as_ref().map(f)
    }

    /// The ports, in the order they were added.
    pub fn ports(&self) -> Vec<PortState> {
        lock(&self.ports).clone()
    }

    /// The formatted match and actions of `rules`, from the cache the state directory's saves
    /// fill (formatting and caching the ones it lacks).
    pub fn rule_texts(&self, rules: &[&Arc<flowtable::table::FlowRule>]) -> Vec<Arc<RuleText>> {
        let mut cache = lock(&self.texts);
        cache.fill(rules);
        rules.iter().map(|r| cache.text(r)).collect()
    }

    fn config(&self) -> BridgeConfig {
        BridgeConfig {
            name: self.name.clone(),
            ports: lock(&self.ports).iter().map(|p| p.config.clone()).collect(),
        }
    }

    /// Installs `tables` as the current version, in the datapath too.
    fn install(&self, tables: Arc<Tables>) {
        self.tables.store(tables.clone());
        self.with_datapath(|dp| dp.set_tables(tables));
    }
}

/// The switch: every bridge, the state directory and the event stream.
pub struct Switch {
    bridges: RwLock<BTreeMap<String, Arc<Bridge>>>,
    config: tokio::sync::Mutex<()>,
    store: Option<Store>,
    events: broadcast::Sender<v1::Event>,
    opts: SwitchOptions,
}

impl fmt::Debug for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Switch")
            .field("bridges", &self.bridge_names())
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn check_name(what: &str, name: &str) -> Result<(), SwitchError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(SwitchError::Invalid(format!(
            "invalid {what} name \"{name}\": expected 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Milliseconds since the Unix epoch, for event timestamps.
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, SwitchError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SwitchError::Internal(format!("worker task failed: {e}")))
}

/// The port information the API reports.
pub fn port_info(p: &PortState) -> v1::PortInfo {
    v1::PortInfo {
        name: p.config.name.clone(),
        ofport: p.config.ofport,
        r#type: p.config.kind.clone(),
        options: p.config.options.clone().into_iter().collect(),
        up: p.error.is_none(),
        error: p.error.clone().unwrap_or_default(),
        description: p.description.clone(),
        mac: p.mac.map(|m| m.to_vec()).unwrap_or_default(),
        mtu: u32::try_from(p.mtu).unwrap_or(u32::MAX),
    }
}

impl Switch {
    /// A switch with no bridge. With a state directory, call [`Switch::restore`] next.
    pub fn new(opts: SwitchOptions) -> Result<Switch, SwitchError> {
        let store = opts
            .state_dir
            .as_deref()
            .map(Store::open)
            .transpose()
            .map_err(|e| SwitchError::Internal(e.to_string()))?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Ok(Switch {
            bridges: RwLock::new(BTreeMap::new()),
            config: tokio::sync::Mutex::new(()),
            store,
            events,
            opts,
        })
    }

    /// The options the switch was made with.
    pub fn options(&self) -> &SwitchOptions {
        &self.opts
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<v1::Event> {
        self.events.subscribe()
    }

    fn emit(&self, bridge: &str, event: v1::event::Event) {
        // An error only means nobody is watching.
        let _ = self.events.send(v1::Event {
            bridge: bridge.to_string(),
            time_unix_ms: unix_ms(),
            lost: 0,
            event: Some(event),
        });
    }

    fn emit_port(&self, bridge: &str, change: v1::port_status::Change, port: &PortState) {
        self.emit(
            bridge,
            v1::event::Event::PortStatus(v1::PortStatus {
                change: change.into(),
                port: Some(port_info(port)),
            }),
        );
    }

    fn emit_removed(&self, bridge: &str, removed: &[Removed]) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let now = now_ms();
        for r in removed {
            // Deletes are reported for rules that asked for it (OpenFlow's send_flow_rem);
            // expiries always, since nobody asked for them.
            if r.reason == RemovedReason::Delete && !r.rule.flags.send_flow_rem {
                continue;
            }
            self.emit(
                bridge,
                v1::event::Event::FlowRemoved(v1::FlowRemoved {
                    reason: r.reason.name().to_string(),
                    flow: Some(convert::flow_entry(&r.rule, now)),
                }),
            );
        }
    }

    /// The names of the bridges, sorted.
    pub fn bridge_names(&self) -> Vec<String> {
        self.bridges
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Every bridge, sorted by name.
    pub fn bridges(&self) -> Vec<Arc<Bridge>> {
        self.bridges
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The bridge named `name`.
    pub fn bridge(&self, name: &str) -> Result<Arc<Bridge>, SwitchError> {
        self.bridges
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| SwitchError::NotFound(format!("no bridge named \"{name}\"")))
    }

    /// The bridges `name` selects: that one, or all of them when `name` is empty.
    pub fn select(&self, name: &str) -> Result<Vec<Arc<Bridge>>, SwitchError> {
        if name.is_empty() {
            Ok(self.bridges())
        } else {
            Ok(vec![self.bridge(name)?])
        }
    }

    /// Fails when `br` was deleted (while its caller waited for its flow lock), so that no
    /// change is made, or saved, for a bridge that no longer exists.
    fn check_current(&self, br: &Arc<Bridge>) -> Result<(), SwitchError> {
        match self.bridge(br.name()) {
            Ok(current) if Arc::ptr_eq(&current, br) => Ok(()),
            _ => Err(SwitchError::NotFound(format!(
                "no bridge named \"{}\"",
                br.name()
            ))),
        }
    }

    fn saved(&self) -> SavedBridges {
        SavedBridges {
            bridges: self.bridges().iter().map(|b| b.config()).collect(),
        }
    }

    async fn save_bridges(&self) -> Result<(), SwitchError> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        let saved = self.saved();
        blocking(move || store.save_bridges(&saved))
            .await?
            .map_err(|e| SwitchError::Internal(format!("cannot save the bridges: {e}")))
    }

    /// Starts a bridge whose saved flows (if any) are snapshot `generation`.
    fn start_bridge(&self, name: &str, generation: u64) -> Arc<Bridge> {
        let tables = Arc::new(Tables::new());
        let recirc = Arc::new(RecircIds::new());
        let (datapath, datapath_error) = match Datapath::start(
            name,
            self.opts.datapath.clone(),
            tables.clone(),
            recirc.clone(),
        ) {
            Ok(dp) => (Some(dp), None),
            Err(e) => {
                tracing::error!(bridge = name, error = %e, "datapath did not start");
                (None, Some(e.to_string()))
            }
        };
        if let Some(dp) = &datapath {
            self.forward_packet_ins(name, dp);
        }
        Arc::new(Bridge {
            name: name.to_string(),
            tables: ArcSwap::new(tables),
            recirc,
            datapath: Mutex::new(datapath),
            datapath_error,
            ports: Mutex::new(Vec::new()),
            flows: tokio::sync::Mutex::new(()),
            texts: Mutex::new(TextCache::default()),
            log: Mutex::new(
                self.store
                    .clone()
                    .map(|store| FlowLog::new(store, name, generation)),
            ),
        })
    }

    /// Forwards the datapath's packet-ins to the event stream, from a thread that ends when the
    /// datapath drops its sender (at shutdown).
    fn forward_packet_ins(&self, bridge: &str, dp: &Datapath) {
        let rx = dp.packet_ins();
        let events = self.events.clone();
        let bridge = bridge.to_string();
        let spawned = std::thread::Builder::new()
            .name(format!("packet-in-{bridge}"))
            .spawn(move || {
                while let Ok(p) = rx.recv() {
                    let _ = events.send(v1::Event {
                        bridge: bridge.clone(),
                        time_unix_ms: unix_ms(),
                        lost: 0,
                        event: Some(v1::event::Event::PacketIn(v1::PacketIn {
                            in_port: p.ofport,
                            reason: p.reason.name().to_string(),
                            table: u32::from(p.table),
                            cookie: p.cookie,
                            frame: p.frame,
                        })),
                    });
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the packet-in thread; packet-ins are lost");
        }
    }

    /// Creates a bridge. It is created even when its datapath cannot start
    /// ([`Bridge::datapath_error`] says why).
    pub async fn add_bridge(&self, name: &str) -> Result<(), SwitchError> {
        check_name("bridge", name)?;
        let _config = self.config.lock().await;
        if self.bridge(name).is_ok() {
            return Err(SwitchError::Exists(format!(
                "bridge \"{name}\" already exists"
            )));
        }
        if let Some(store) = self.store.clone() {
            // Flows of an earlier bridge of the same name must not come back at the next start.
            let n = name.to_string();
            blocking(move || store.remove_flows(&n))
                .await?
                .map_err(|e| SwitchError::Internal(e.to_string()))?;
        }
        let bridge = self.start_bridge(name, 0);
        if let Err(e) = Self::start_log(&bridge).await {
            Self::stop_bridge(&bridge).await;
            return Err(e);
        }
        self.bridges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), bridge.clone());
        if let Err(e) = self.save_bridges().await {
            self.bridges
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(name);
            Self::stop_bridge(&bridge).await;
            return Err(e);
        }
        tracing::info!(bridge = name, "bridge added");
        Ok(())
    }

    /// Saves the bridge's current flows as a new snapshot and opens its journal, so that the
    /// changes that follow are appended.
    async fn start_log(bridge: &Arc<Bridge>) -> Result<(), SwitchError> {
        let b = bridge.clone();
        blocking(move || {
            let tables = b.tables();
            match lock(&b.log).as_mut() {
                Some(log) => log
                    .compact(&tables, &mut lock(&b.texts))
                    .map_err(|e| SwitchError::Internal(format!("cannot save the flows: {e}"))),
                None => Ok(()),
            }
        })
        .await?
    }

    async fn stop_bridge(bridge: &Bridge) {
        let dp = lock(&bridge.datapath).take();
        if let Some(dp) = dp {
            // Shutting down joins the PMD threads: not on an async worker.
            let _ = blocking(move || dp.shutdown()).await;
        }
    }

    /// Deletes a bridge with its ports and flows.
    pub async fn delete_bridge(&self, name: &str) -> Result<(), SwitchError> {
        let _config = self.config.lock().await;
        let bridge = self.bridge(name)?;
        let _flows = bridge.flows.lock().await;
        self.bridges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        if let Err(e) = self.save_bridges().await {
            self.bridges
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_string(), bridge.clone());
            return Err(e);
        }
        Self::stop_bridge(&bridge).await;
        if let Some(store) = self.store.clone() {
            let n = name.to_string();
            if let Ok(Err(e)) = blocking(move || store.remove_flows(&n)).await {
                tracing::warn!(bridge = name, error = %e, "cannot remove the saved flows");
            }
        }
        for p in bridge.ports() {
            self.emit_port(name, v1::port_status::Change::Deleted, &p);
        }
        tracing::info!(bridge = name, "bridge deleted");
        Ok(())
    }

    fn parse_kind(&self, kind: &str) -> Result<PortKind, SwitchError> {
        let kind = if kind.is_empty() { "afxdp" } else { kind };
        match PortKind::parse(kind) {
            Some(PortKind::Mem) if !self.opts.allow_mem_ports => Err(SwitchError::Invalid(
                "port type \"mem\" is for tests and is not enabled".to_string(),
            )),
            Some(k) => Ok(k),
            None => Err(SwitchError::Invalid(format!(
                "unknown port type \"{kind}\": expected afxdp, internal, afpacket or vxlan"
            ))),
        }
    }

    /// Opens the port described by `config` and attaches it to `bridge`'s datapath. Bad options
    /// are refused; any other failure is recorded in the returned state.
    async fn open_port(
        bridge: &Bridge,
        kind: PortKind,
        config: PortConfig,
    ) -> Result<PortState, SwitchError> {
        let mut state = PortState {
            config,
            error: None,
            description: String::new(),
            mac: None,
            mtu: 0,
        };
        if let Some(e) = bridge.datapath_error() {
            state.error = Some(format!("the bridge's datapath is not running: {e}"));
            return Ok(state);
        }
        let (name, options) = (state.config.name.clone(), state.config.options.clone());
        // Through the datapath's opener: an afxdp port then shares its PMD thread's UMEM.
        let opener = bridge.with_datapath(Datapath::port_opener);
        let opened = blocking(move || match opener {
            Some(o) => o.open(kind, &name, &options),
            None => datapath::port::open(kind, &name, &options),
        })
        .await?;
        match opened {
            Ok(port) => {
                state.description = port.describe();
                state.mac = port.mac();
                state.mtu = port.mtu();
                let ofport = state.config.ofport;
                match bridge.with_datapath(|dp| dp.add_port(ofport, port)) {
                    Some(Ok(())) => {}
                    Some(Err(e)) => state.error = Some(e.to_string()),
                    None => state.error = Some("the bridge's datapath is stopped".to_string()),
                }
            }
            Err(e @ PortError::BadOption { .. }) => {
                return Err(SwitchError::Invalid(e.to_string()))
            }
            Err(e) => state.error = Some(e.to_string()),
        }
        if let Some(e) = &state.error {
            tracing::warn!(
                bridge = bridge.name(),
                port = state.config.name,
                error = e,
                "port is down"
            );
        }
        Ok(state)
    }

    /// Adds a port; returns its OpenFlow port number and, when the interface could not be
    /// opened, why (the port is kept, as Open vSwitch does, and retried at the next start).
    pub async fn add_port(
        &self,
        bridge: &str,
        name: &str,
        kind: &str,
        options: BTreeMap<String, String>,
        ofport: Option<u32>,
    ) -> Result<(u32, Option<String>), SwitchError> {
        let _config = self.config.lock().await;
        let br = self.bridge(bridge)?;
        check_name("port", name)?;
        let port_kind = self.parse_kind(kind)?;
        for b in self.bridges() {
            if b.ports().iter().any(|p| p.config.name == name) {
                return Err(SwitchError::Exists(format!(
                    "port \"{name}\" already exists on bridge \"{}\"",
                    b.name()
                )));
            }
        }
        let used: Vec<u32> = br.ports().iter().map(|p| p.config.ofport).collect();
        let ofport = match ofport {
            Some(n) if n == 0 || n > MAX_OFPORT => {
                return Err(SwitchError::Invalid(format!(
                    "ofport {n} is out of range (1 to {MAX_OFPORT})"
                )))
            }
            Some(n) if used.contains(&n) => {
                return Err(SwitchError::Exists(format!(
                    "ofport {n} is already used on bridge \"{bridge}\""
                )))
            }
            Some(n) => n,
            None => match used.iter().max() {
                Some(&m) if m < MAX_OFPORT => m + 1,
                Some(_) => (1..=MAX_OFPORT)
                    .find(|n| !used.contains(n))
                    .ok_or_else(|| SwitchError::Invalid("no free port number".to_string()))?,
                None => 1,
            },
        };
        let config = PortConfig {
            name: name.to_string(),
            kind: port_kind.name().to_string(),
            ofport,
            options,
        };
        let state = Self::open_port(&br, port_kind, config).await?;
        let error = state.error.clone();
        lock(&br.ports).push(state.clone());
        if let Err(e) = self.save_bridges().await {
            lock(&br.ports).retain(|p| p.config.name != name);
            if error.is_none() {
                br.with_datapath(|dp| dp.remove_port(ofport));
            }
            return Err(e);
        }
        self.emit_port(bridge, v1::port_status::Change::Added, &state);
        tracing::info!(bridge, port = name, ofport, "port added");
        Ok((ofport, error))
    }

    /// Deletes a port, releasing its interface.
    pub async fn delete_port(&self, bridge: &str, name: &str) -> Result<(), SwitchError> {
        let _config = self.config.lock().await;
        let br = self.bridge(bridge)?;
        let state = br
            .ports()
            .into_iter()
            .find(|p| p.config.name == name)
            .ok_or_else(|| {
                SwitchError::NotFound(format!("no port \"{name}\" on bridge \"{bridge}\""))
            })?;
        lock(&br.ports).retain(|p| p.config.name != name);
        if let Err(e) = self.save_bridges().await {
            lock(&br.ports).push(state);
            return Err(e);
        }
        if state.error.is_none() {
            let ofport = state.config.ofport;
            if let Some(Err(e)) = br.with_datapath(|dp| dp.remove_port(ofport)) {
                tracing::warn!(bridge, port = name, error = %e, "datapath did not release the port");
            }
        }
        self.emit_port(bridge, v1::port_status::Change::Deleted, &state);
        tracing::info!(bridge, port = name, "port deleted");
        Ok(())
    }

    /// Applies `mods` (each with its strict flag) to `bridge` as one change: all or none.
    ///
    /// With more than one flow mod, an error is a [`SwitchError::Bundle`] naming the first one
    /// that failed.
    pub async fn apply(
        &self,
        bridge: &str,
        mods: Vec<Change>,
    ) -> Result<ChangeSummary, SwitchError> {
        self.apply_parsed(bridge, mods, Ok).await
    }

    /// [`Self::apply`] of `items`, each turned into a [`Change`] by `parse` or refused with a
    /// reason, which fails the bundle as an invalid flow mod at its index (even alone).
    ///
    /// Items are parsed on worker threads while the ones before them are applied, and each
    /// parsed flow mod is dropped once applied, so a bundle of 100 000 flows never holds all
    /// its flow mods parsed at once. The first item that fails, in bundle order, fails the
    /// bundle.
    pub async fn apply_parsed<I: Send + 'static>(
        &self,
        bridge: &str,
        items: Vec<I>,
        parse: impl Fn(I) -> Result<Change, String> + Send + Sync + 'static,
    ) -> Result<ChangeSummary, SwitchError> {
        let br = self.bridge(bridge)?;
        let single = items.len() == 1;
        let _flows = br.flows.lock().await;
        self.check_current(&br)?;
        let b = br.clone();
        let (summary, removed) = blocking(move || -> Result<_, SwitchError> {
            let started = std::time::Instant::now();
            let mut tables = Tables::clone(&b.tables.load());
            let now = now_ms();
            let mut summary = ChangeSummary::default();
            let mut removed = Vec::new();
            // The journal lines of the flow mods applied so far, written once all succeeded.
            let mut journal = String::new();
            let mut n_mods = 0;
            let mut failure = None;
            convert::pipeline(items, parse, |parsed| {
                let index = n_mods;
                let error = match parsed {
                    Err(reason) => SwitchError::Invalid(reason),
                    Ok(change) => match tables.apply(&change.flow_mod, change.strict, now) {
                        Ok(outcome) => {
                            summary.added += outcome.added as u64;
                            summary.modified += outcome.modified as u64;
                            summary.removed += outcome.removed.len() as u64;
                            removed.extend(outcome.removed);
                            change.journal_line(&mut journal);
                            n_mods += 1;
                            return ControlFlow::Continue(());
                        }
                        Err(e) if single => {
                            failure = Some(SwitchError::from(e));
                            return ControlFlow::Break(());
                        }
                        Err(e) => SwitchError::from(e),
                    },
                };
                failure = Some(SwitchError::Bundle {
                    index,
                    error: Box::new(error),
                });
                ControlFlow::Break(())
            });
            if let Some(e) = failure {
                return Err(e);
            }
            if summary == ChangeSummary::default() {
                return Ok((summary, removed));
            }
            let applied = started.elapsed();
            if let Some(log) = lock(&b.log).as_mut() {
                log.record_lines(n_mods, journal, &tables, &mut lock(&b.texts))
                    .map_err(|e| {
                        SwitchError::Internal(format!(
                            "cannot save the flows, nothing changed: {e}"
                        ))
                    })?;
            }
            let saved = started.elapsed();
            b.install(Arc::new(tables));
            tracing::debug!(
                bridge = b.name,
                flow_mods = n_mods,
                apply_ms = u64::try_from(applied.as_millis()).unwrap_or(u64::MAX),
                save_ms = u64::try_from((saved - applied).as_millis()).unwrap_or(u64::MAX),
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "tables changed"
            );
            Ok((summary, removed))
        })
        .await??;
        self.emit_removed(bridge, &removed);
        Ok(summary)
    }

    /// Removes the flows of every bridge whose idle or hard timeout has passed, emitting
    /// flow-removed events.
    pub async fn expire(&self) {
        for br in self.bridges() {
            let now = now_ms();
            if br.tables.load().expired(now).is_empty() {
                continue;
            }
            let _flows = br.flows.lock().await;
            if self.check_current(&br).is_err() {
                continue;
            }
            let b = br.clone();
            let result = blocking(move || -> Result<Vec<Removed>, SwitchError> {
                let mut tables = Tables::clone(&b.tables.load());
                let expired = tables.expired(now);
                let removed: Vec<Removed> = expired
                    .into_iter()
                    .filter(|r| tables.remove_rule(&r.rule))
                    .collect();
                if removed.is_empty() {
                    return Ok(removed);
                }
                let tables = Arc::new(tables);
                // Expired flows leave even if the file cannot be written: a stale file only
                // brings them back until they expire again.
                b.install(tables.clone());
                if let Some(log) = lock(&b.log).as_mut() {
                    let deletes: Vec<Change> = removed
                        .iter()
                        .map(|r| Change::new(convert::delete_exactly(&r.rule), true))
                        .collect();
                    log.record(&deletes, &tables, &mut lock(&b.texts))
                        .map_err(|e| SwitchError::Internal(e.to_string()))?;
                }
                Ok(removed)
            })
            .await;
            match result {
                Ok(Ok(removed)) => {
                    tracing::debug!(bridge = br.name(), count = removed.len(), "flows expired");
                    self.emit_removed(br.name(), &removed);
                }
                Ok(Err(e)) | Err(e) => {
                    tracing::error!(bridge = br.name(), error = %e, "expiring flows")
                }
            }
        }
    }

    /// Restores the saved bridges, ports and flows. Ports that cannot be opened and flow lines
    /// that no longer parse are reported and skipped.
    pub async fn restore(&self) -> Result<(), SwitchError> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        let saved = store
            .load_bridges()
            .map_err(|e| SwitchError::Internal(e.to_string()))?;
        let _config = self.config.lock().await;
        for cfg in saved.bridges {
            if check_name("bridge", &cfg.name).is_err() || self.bridge(&cfg.name).is_ok() {
                tracing::error!(
                    bridge = cfg.name,
                    "skipping an invalid or repeated saved bridge"
                );
                continue;
            }
            let st = store.clone();
            let name = cfg.name.clone();
            let (tables, generation) = blocking(move || -> Result<_, SwitchError> {
                let saved = st
                    .load_flows(&name)
                    .map_err(|e| SwitchError::Internal(e.to_string()))?;
                let tables = saved.replay(now_ms(), |line, error| {
                    tracing::error!(bridge = name, line, error, "skipping a saved flow change");
                });
                Ok((tables, saved.generation))
            })
            .await??;
            let count = tables.len();
            let br = self.start_bridge(&cfg.name, generation);
            br.install(Arc::new(tables));
            if let Err(e) = Self::start_log(&br).await {
                // The next change tries again.
                tracing::error!(bridge = cfg.name, error = %e, "cannot save the restored flows");
            }
            self.bridges
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(cfg.name.clone(), br.clone());
            for port in cfg.ports {
                let state = match self.parse_kind(&port.kind) {
                    Ok(kind) => Self::open_port(&br, kind, port.clone()).await,
                    Err(e) => Err(e),
                };
                let state = state.unwrap_or_else(|e| PortState {
                    config: port,
                    error: Some(e.to_string()),
                    description: String::new(),
                    mac: None,
                    mtu: 0,
                });
                lock(&br.ports).push(state);
            }
            tracing::info!(bridge = cfg.name, flows = count, "bridge restored");
        }
        Ok(())
    }

    /// Stops every datapath, releasing the ports (XDP programs are detached by the ports).
    pub async fn shutdown(&self) {
        let bridges: Vec<Arc<Bridge>> =
            std::mem::take(&mut *self.bridges.write().unwrap_or_else(|e| e.into_inner()))
                .into_values()
                .collect();
        for br in bridges {
            Self::stop_bridge(&br).await;
            tracing::info!(bridge = br.name(), "datapath stopped");
        }
    }
}
