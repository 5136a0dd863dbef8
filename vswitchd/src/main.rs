//! `vswitchd`: the switch daemon. Parses the command line and the configuration file, sets up
//! logging, and runs [`vswitchd::server::run`] until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use clap::Parser;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{reload, EnvFilter, Registry};
use vswitchd::server::{self, ConfigFile, DaemonConfig};
use vswitchd::service::LogControl;

/// The switch daemon: bridges, ports and flows behind the vswitch.v1 gRPC API.
#[derive(Debug, Parser)]
#[command(name = "vswitchd", version)]
struct Args {
    /// Configuration file (TOML); every setting is optional.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Unix socket to serve the API on (mode 0600) [default: /run/vswitch/vswitchd.sock].
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Where bridges, ports and flows are saved [default: /var/lib/vswitch].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Also serve the API over TCP, with TLS client certificates or a bearer token from the
    /// configuration file.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Serve Prometheus metrics over HTTP at ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Accept in-memory ports (type=mem), for tests.
    #[arg(long, hide = true)]
    allow_mem_ports: bool,
}

/// The log filter behind a `tracing_subscriber` reload handle.
struct ReloadableFilter {
    handle: reload::Handle<EnvFilter, Registry>,
    current: Mutex<String>,
}

impl LogControl for ReloadableFilter {
    fn set_filter(&self, filter: &str) -> Result<String, String> {
        let new = EnvFilter::try_new(filter).map_err(|e| format!("invalid log filter: {e}"))?;
        self.handle
            .reload(new)
            .map_err(|e| format!("cannot change the log filter: {e}"))?;
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        Ok(std::mem::replace(&mut *current, filter.to_string()))
    }
}

fn init_logging(default: Option<&str>) -> anyhow::Result<Arc<ReloadableFilter>> {
    let text = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| default.map(str::to_string))
        .unwrap_or_else(|| "info".to_string());
    let filter = EnvFilter::try_new(&text).with_context(|| format!("log filter {text:?}"))?;
    let (layer, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(layer)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .try_init()
        .context("setting up logging")?;
    Ok(Arc::new(ReloadableFilter {
        handle,
        current: Mutex::new(text),
    }))
}

async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    // Command-line options win over the file.
    file.socket = args.socket.or(file.socket);
    file.state_dir = args.state_dir.or(file.state_dir);
    file.listen = args.listen.or(file.listen);
    file.metrics = args.metrics.or(file.metrics);
    file.allow_mem_ports |= args.allow_mem_ports;
    let log = init_logging(file.log.as_deref())?;
    let cfg = DaemonConfig::from_file(&file)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vswitchd")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(server::run(cfg, Some(log), terminated()))?;
    Ok(())
}
