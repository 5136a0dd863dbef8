//! The daemon around the switch: configuration, the Unix socket and the authenticated TCP
//! listener, the flow expiry timer, the Prometheus endpoint and the shutdown sequence.
//!
//! # Listeners
//!
//! * The Unix socket (default `/run/vswitch/vswitchd.sock`) is created with mode 0600: whoever
//!   can open it is trusted, as with Open vSwitch's management sockets.
//! * `--listen ADDR` adds a TCP listener that never serves an unauthenticated client: it needs
//!   TLS with client certificates (`[tls]` with `client_ca`), or a bearer token (`[auth]`), or
//!   both. With a token, every request must carry `authorization: Bearer TOKEN`; a request
//!   without it is refused with UNAUTHENTICATED. Starting with `--listen` and neither is an
//!   error.
//!
//! # Shutdown
//!
//! The future passed to [`run`] ends the daemon (the binary passes SIGTERM/SIGINT): listeners
//! stop accepting and finish their requests, the expiry timer stops, then every datapath is
//! shut down (PMD threads joined, ports released, XDP programs detached) and the socket file is
//! removed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datapath::DatapathConfig;
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::service::{Api, LogControl};
use crate::switch::{Switch, SwitchOptions};

/// Default path of the Unix socket.
pub const DEFAULT_SOCKET: &str = "/run/vswitch/vswitchd.sock";

/// Default state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/vswitch";

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DaemonError(pub String);

fn err(context: &str) -> impl FnOnce(&dyn std::fmt::Display) -> DaemonError + '_ {
    move |e| DaemonError(format!("{context}: {e}"))
}

/// TLS settings of the TCP listener.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the server.
    pub cert: PathBuf,
    /// PEM private key of the server.
    pub key: PathBuf,
    /// PEM certificates of the CAs whose client certificates are accepted; without it clients
    /// are not authenticated by TLS (then a token is required).
    pub client_ca: Option<PathBuf>,
}

/// Bearer-token authentication of the TCP listener.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The token.
    pub token: Option<String>,
    /// A file holding the token (trailing white space ignored).
    pub token_file: Option<PathBuf>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("AuthConfig")
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("token_file", &self.token_file)
            .finish()
    }
}

/// Datapath tuning, all optional (see [`DatapathConfig`] for the defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatapathSection {
    /// PMD threads per bridge.
    pub pmd_threads: Option<usize>,
    /// CPUs to pin PMD threads to.
    pub cpus: Option<Vec<usize>>,
    /// Receive batch size.
    pub batch: Option<usize>,
    /// Exact-match cache entries per PMD thread.
    pub emc_entries: Option<usize>,
    /// Most megaflows.
    pub megaflow_limit: Option<usize>,
    /// Idle time after which a megaflow is evicted.
    pub megaflow_idle_ms: Option<u64>,
    /// Upcalls per second per port.
    pub upcall_rate_per_port: Option<u32>,
    /// Whether idle PMD threads sleep (`false`: they busy-poll all the time).
    pub pmd_sleep: Option<bool>,
    /// Microseconds a PMD thread polls without receiving before it sleeps.
    pub idle_spin_us: Option<u64>,
    /// Microseconds a lightly loaded PMD thread pauses between polls (0: it spins).
    pub nap_us: Option<u64>,
}

impl DatapathSection {
    /// The datapath configuration: these settings over the defaults.
    pub fn to_config(&self) -> DatapathConfig {
        let d = DatapathConfig::default();
        DatapathConfig {
            pmd_threads: self.pmd_threads.unwrap_or(d.pmd_threads),
            cpus: self.cpus.clone().unwrap_or(d.cpus),
            batch: self.batch.unwrap_or(d.batch),
            emc_entries: self.emc_entries.unwrap_or(d.emc_entries),
            megaflow_limit: self.megaflow_limit.unwrap_or(d.megaflow_limit),
            megaflow_idle_ms: self.megaflow_idle_ms.unwrap_or(d.megaflow_idle_ms),
            upcall_rate_per_port: self.upcall_rate_per_port.unwrap_or(d.upcall_rate_per_port),
            pmd_sleep: self.pmd_sleep.unwrap_or(d.pmd_sleep),
            idle_spin: self
                .idle_spin_us
                .map_or(d.idle_spin, std::time::Duration::from_micros),
            nap: self.nap_us.map_or(d.nap, std::time::Duration::from_micros),
        }
    }
}

/// The configuration file (TOML). Every key is optional; command-line options win.
///
/// ```toml
/// socket = "/run/vswitch/vswitchd.sock"
/// state_dir = "/var/lib/vswitch"
/// listen = "0.0.0.0:6653"
/// metrics = "127.0.0.1:9108"
/// log = "info"
///
/// [tls]
/// cert = "/etc/vswitch/server.pem"
/// key = "/etc/vswitch/server.key"
/// client_ca = "/etc/vswitch/ca.pem"
///
/// [auth]
/// token_file = "/etc/vswitch/token"
///
/// [datapath]
/// pmd_threads = 2
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Unix socket path.
    pub socket: Option<PathBuf>,
    /// State directory.
    pub state_dir: Option<PathBuf>,
    /// TCP listener address.
    pub listen: Option<SocketAddr>,
    /// Prometheus endpoint address.
    pub metrics: Option<SocketAddr>,
    /// Log filter (`RUST_LOG` syntax) when `RUST_LOG` is not set.
    pub log: Option<String>,
    /// Accept in-memory ports (`type=mem`), for tests.
    #[serde(default)]
    pub allow_mem_ports: bool,
    /// TLS of the TCP listener.
    pub tls: Option<TlsConfig>,
    /// Bearer token of the TCP listener.
    pub auth: Option<AuthConfig>,
    /// Datapath tuning.
    #[serde(default)]
    pub datapath: DatapathSection,
}

impl ConfigFile {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<ConfigFile, DaemonError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| err(&path.display().to_string())(&e))?;
        toml::from_str(&text).map_err(|e| err(&path.display().to_string())(&e))
    }
}

/// Everything the daemon needs to run.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// Unix socket path.
    pub socket: PathBuf,
    /// TCP listener, if any.
    pub listen: Option<SocketAddr>,
    /// Prometheus endpoint, if any.
    pub metrics: Option<SocketAddr>,
    /// TLS of the TCP listener.
    pub tls: Option<TlsConfig>,
    /// Bearer token of the TCP listener.
    pub token: Option<String>,
    /// The switch's options (state directory, datapath, mem ports).
    pub switch: SwitchOptions,
}

impl DaemonConfig {
    /// The daemon configuration from a file's settings; `None`s take the defaults.
    pub fn from_file(file: &ConfigFile) -> Result<DaemonConfig, DaemonError> {
        let token = match &file.auth {
            Some(AuthConfig { token: Some(t), .. }) => Some(t.clone()),
            Some(AuthConfig {
                token_file: Some(path),
                ..
            }) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| err(&path.display().to_string())(&e))?
                    .trim_end()
                    .to_string(),
            ),
            _ => None,
        };
        if token.as_deref() == Some("") {
            return Err(DaemonError("the bearer token is empty".to_string()));
        }
        Ok(DaemonConfig {
            socket: file
                .socket
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)),
            listen: file.listen,
            metrics: file.metrics,
            tls: file.tls.clone(),
            token,
            switch: SwitchOptions {
                allow_mem_ports: file.allow_mem_ports,
                datapath: file.datapath.to_config(),
                state_dir: Some(
                    file.state_dir
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
                ),
            },
        })
    }
}

/// Compares without leaking through timing how much of the token matched.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Binds the Unix socket with mode 0600, replacing a stale socket file but refusing to take
/// over one a running daemon still answers on.
pub async fn bind_unix(path: &Path) -> Result<UnixListener, DaemonError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(&dir.display().to_string())(&e))?;
    }
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(DaemonError(format!(
                "{}: another vswitchd is listening there",
                path.display()
            )));
        }
        std::fs::remove_file(path).map_err(|e| err(&path.display().to_string())(&e))?;
    }
    // Create the socket with no permission for others from the start, then set exactly 0600.
    // SAFETY: umask only changes this process's file creation mask; it cannot fail.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    let listener = bound.map_err(|e| err(&path.display().to_string())(&e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| err(&path.display().to_string())(&e))?;
    Ok(listener)
}

/// HTTP/2 flow-control window of the Unix socket, for streams and for the connection. The
/// protocol's default (64 KiB) makes a client wait for a window update every 64 KiB, which for
/// a 6 MB bundle of 100 000 flows is a hundred round trips between the processes; local peers
/// can be trusted with a larger window.
const LOCAL_WINDOW: u32 = 8 << 20;

/// Largest HTTP/2 frame the Unix socket accepts: 1 MiB rather than 16 KiB, so a large request
/// arrives in a few frames (fewer wake-ups and copies on both sides).
const LOCAL_FRAME: u32 = 1 << 20;

/// Serves `api` on the Unix listener until `shutdown` resolves.
pub async fn serve_unix(
    api: &Api,
    listener: UnixListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DaemonError> {
    let routes = api.routes().await.map_err(|e| DaemonError(e.to_string()))?;
    Server::builder()
        .initial_stream_window_size(LOCAL_WINDOW)
        .initial_connection_window_size(LOCAL_WINDOW)
        .max_frame_size(Some(LOCAL_FRAME))
        .add_routes(routes)
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await
        .map_err(|e| err("unix socket")(&e))
}

fn read_pem(path: &Path) -> Result<Vec<u8>, DaemonError> {
    std::fs::read(path).map_err(|e| err(&path.display().to_string())(&e))
}

/// Serves `api` on a TCP listener, authenticated by TLS client certificates and/or a bearer
/// token, until `shutdown` resolves. Refuses to start with neither.
pub async fn serve_tcp(
    api: &Api,
    listener: TcpListener,
    tls: Option<&TlsConfig>,
    token: Option<String>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DaemonError> {
    let client_certs = tls.is_some_and(|t| t.client_ca.is_some());
    if !client_certs && token.is_none() {
        return Err(DaemonError(
            "--listen needs client authentication: a [tls] section with client_ca, or an [auth] token"
                .to_string(),
        ));
    }
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        let identity = Identity::from_pem(read_pem(&tls.cert)?, read_pem(&tls.key)?);
        let mut config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &tls.client_ca {
            config = config.client_ca_root(Certificate::from_pem(read_pem(ca)?));
        }
        builder = builder.tls_config(config).map_err(|e| err("TLS")(&e))?;
    }
    let expected = token.map(|t| format!("Bearer {t}"));
    let check = move |request: tonic::Request<()>| -> Result<tonic::Request<()>, tonic::Status> {
        let Some(expected) = &expected else {
            return Ok(request);
        };
        let given = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if same_token(given, expected.as_bytes()) {
            Ok(request)
        } else {
            Err(tonic::Status::unauthenticated(
                "a valid \"authorization: Bearer TOKEN\" header is required",
            ))
        }
    };
    let routes = api.routes().await.map_err(|e| DaemonError(e.to_string()))?;
    builder
        .layer(tonic::service::InterceptorLayer::new(check))
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
        .map_err(|e| err("TCP listener")(&e))
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition of the switch's counters.
pub fn render_metrics(switch: &Switch) -> String {
    // name -> (type, help, lines)
    let mut families: BTreeMap<&str, (&str, &str, Vec<String>)> = BTreeMap::new();
    let mut add = |name: &'static str,
                   kind: &'static str,
                   help: &'static str,
                   labels: &[(&str, &str)],
                   value: u64| {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
            .collect();
        let line = if labels.is_empty() {
            format!("{name} {value}")
        } else {
            format!("{name}{{{}}} {value}", labels.join(","))
        };
        families
            .entry(name)
            .or_insert((kind, help, Vec::new()))
            .2
            .push(line);
    };
    let bridges = switch.bridges();
    add(
        "vswitch_bridges",
        "gauge",
        "Bridges configured.",
        &[],
        bridges.len() as u64,
    );
    for br in &bridges {
        let b = br.name();
        let tables = br.tables();
        add(
            "vswitch_flows",
            "gauge",
            "Flows in all tables of the bridge.",
            &[("bridge", b)],
            tables.len() as u64,
        );
        for (id, t) in tables.iter().filter(|(_, t)| !t.is_empty()) {
            let id = id.to_string();
            add(
                "vswitch_table_rules",
                "gauge",
                "Flows in one table.",
                &[("bridge", b), ("table", &id)],
                t.len() as u64,
            );
        }
        let ports = br.ports();
        let stats = br.with_datapath(|dp| dp.port_stats()).unwrap_or_default();
        for p in &ports {
            let name = p.config.name.as_str();
            let l = [("bridge", b), ("port", name)];
            add(
                "vswitch_port_up",
                "gauge",
                "1 when the port's interface is attached to the datapath.",
                &l,
                u64::from(p.error.is_none()),
            );
            let Some(s) = stats
                .iter()
                .find(|s| s.ofport == p.config.ofport && p.error.is_none())
            else {
                continue;
            };
            add(
                "vswitch_port_rx_packets_total",
                "counter",
                "Packets received.",
                &l,
                s.rx_packets,
            );
            add(
                "vswitch_port_rx_bytes_total",
                "counter",
                "Bytes received.",
                &l,
                s.rx_bytes,
            );
            add(
                "vswitch_port_tx_packets_total",
                "counter",
                "Packets sent.",
                &l,
                s.tx_packets,
            );
            add(
                "vswitch_port_tx_bytes_total",
                "counter",
                "Bytes sent.",
                &l,
                s.tx_bytes,
            );
            add(
                "vswitch_port_rx_dropped_total",
                "counter",
                "Received packets dropped.",
                &l,
                s.rx_dropped,
            );
            add(
                "vswitch_port_tx_dropped_total",
                "counter",
                "Packets not taken for transmission.",
                &l,
                s.tx_dropped,
            );
            add(
                "vswitch_port_rx_errors_total",
                "counter",
                "Receive errors.",
                &l,
                s.rx_errors,
            );
            add(
                "vswitch_port_tx_errors_total",
                "counter",
                "Transmit errors.",
                &l,
                s.tx_errors,
            );
        }
        if let Some(c) = br.with_datapath(|dp| dp.cache_stats()) {
            let l = [("bridge", b)];
            add(
                "vswitch_cache_hits_total",
                "counter",
                "Packets that hit a cache.",
                &[("bridge", b), ("cache", "emc")],
                c.emc_hits,
            );
            add(
                "vswitch_cache_hits_total",
                "counter",
                "Packets that hit a cache.",
                &[("bridge", b), ("cache", "megaflow")],
                c.megaflow_hits,
            );
            add(
                "vswitch_cache_misses_total",
                "counter",
                "Packets that missed every cache.",
                &l,
                c.misses,
            );
            add(
                "vswitch_upcalls_total",
                "counter",
                "Misses translated by the slow path.",
                &l,
                c.upcalls,
            );
            add(
                "vswitch_upcalls_shed_total",
                "counter",
                "Misses dropped by the upcall rate limit.",
                &l,
                c.upcalls_shed,
            );
            add(
                "vswitch_megaflows",
                "gauge",
                "Megaflows installed.",
                &l,
                c.megaflows,
            );
            add(
                "vswitch_revalidations_total",
                "counter",
                "Megaflows revalidated after a table change.",
                &l,
                c.revalidations,
            );
            add(
                "vswitch_megaflow_limit_hits_total",
                "counter",
                "Translations not cached because the megaflow cache was full.",
                &l,
                c.megaflow_limit_hits,
            );
            add(
                "vswitch_xdp_offload_keys",
                "gauge",
                "Exact keys installed for the ports' XDP programs (XDP flow offload).",
                &l,
                c.offload_keys,
            );
            add(
                "vswitch_xdp_offload_failures_total",
                "counter",
                "XDP offload keys the kernel refused (its map full).",
                &l,
                c.offload_failures,
            );
        }
        for (reason, count) in br.with_datapath(|dp| dp.drops()).unwrap_or_default() {
            add(
                "vswitch_drops_total",
                "counter",
                "Packets dropped, by reason.",
                &[("bridge", b), ("reason", reason)],
                count,
            );
        }
    }
    let mut out = String::new();
    for (name, (kind, help, lines)) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// Serves the Prometheus text on `GET /metrics` (any other path: 404) until `shutdown`.
///
/// A minimal HTTP/1.1 responder: one request per connection, headers read up to 8 KiB within
/// 5 seconds, the connection closed after the answer.
pub async fn serve_metrics(
    switch: Arc<Switch>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            a = listener.accept() => a,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let switch = switch.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
                    let n = stream.read(&mut chunk).await?;
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                }
                Ok::<_, std::io::Error>(())
            })
            .await;
            if !matches!(read, Ok(Ok(()))) {
                return;
            }
            let head = String::from_utf8_lossy(&buf);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = if head.starts_with("GET ") && (path == "/metrics" || path == "/")
            {
                ("200 OK", render_metrics(&switch))
            } else {
                ("404 Not Found", "not found; try /metrics\n".to_string())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Removes expired flows every second until `shutdown`.
pub async fn run_expiry(switch: Arc<Switch>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => switch.expire().await,
        }
    }
}

/// Runs the daemon until `shutdown` resolves, then shuts everything down cleanly.
pub async fn run(
    cfg: DaemonConfig,
    log: Option<Arc<dyn LogControl>>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DaemonError> {
    let switch = Arc::new(Switch::new(cfg.switch.clone()).map_err(|e| DaemonError(e.to_string()))?);
    switch
        .restore()
        .await
        .map_err(|e| err("restoring the saved state")(&e))?;
    let api = Api::new(switch.clone(), log);

    let unix = bind_unix(&cfg.socket).await?;
    let tcp = match cfg.listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|e| err(&format!("--listen {addr}"))(&e))?,
        ),
        None => None,
    };
    let metrics = match cfg.metrics {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|e| err(&format!("--metrics {addr}"))(&e))?,
        ),
        None => None,
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    {
        let api = api.clone();
        let rx = stop_rx.clone();
        tasks.spawn(async move { serve_unix(&api, unix, stopped(rx)).await });
    }
    if let Some(tcp) = tcp {
        let api = api.clone();
        let rx = stop_rx.clone();
        let (tls, token) = (cfg.tls.clone(), cfg.token.clone());
        tasks.spawn(async move { serve_tcp(&api, tcp, tls.as_ref(), token, stopped(rx)).await });
    }
    if let Some(metrics) = metrics {
        let (switch, rx) = (switch.clone(), stop_rx.clone());
        tasks.spawn(async move {
            serve_metrics(switch, metrics, rx).await;
            Ok(())
        });
    }
    {
        let (switch, rx) = (switch.clone(), stop_rx.clone());
        tasks.spawn(async move {
            run_expiry(switch, rx).await;
            Ok(())
        });
    }
    tracing::info!(socket = %cfg.socket.display(), listen = ?cfg.listen, metrics = ?cfg.metrics, "vswitchd ready");

    // Run until asked to stop, or until a listener fails.
    let mut failure = None;
    tokio::select! {
        () = shutdown => tracing::info!("shutting down"),
        Some(done) = tasks.join_next() => {
            failure = Some(match done {
                Ok(Ok(())) => DaemonError("a listener stopped unexpectedly".to_string()),
                Ok(Err(e)) => e,
                Err(e) => DaemonError(format!("a task failed: {e}")),
            });
        }
    }
    let _ = stop_tx.send(true);
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "while stopping");
        }
    }
    switch.shutdown().await;
    if let Err(e) = std::fs::remove_file(&cfg.socket) {
        tracing::warn!(socket = %cfg.socket.display(), error = %e, "cannot remove the socket");
    }
    tracing::info!("stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
