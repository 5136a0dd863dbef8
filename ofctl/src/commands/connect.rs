//! The connection to vswitchd: a Unix socket (the default, `--socket PATH`) or a TCP server
//! (`--server URL`) with TLS and/or a bearer token, and one constructor per gRPC client.
//!
//! Every client gets the same channel and the same [`Auth`] interceptor, and no limit on message
//! size: a bundle of 100 000 flows is one request of several megabytes.

use std::path::PathBuf;

use hyper_util::rt::TokioIo;
use proto::v1;
use tokio::net::UnixStream;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Status};

use super::CmdError;

/// The default Unix socket of vswitchd.
pub const DEFAULT_SOCKET: &str = "/run/vswitch/vswitchd.sock";

/// Where and how to reach vswitchd (the global options of the command line).
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// The Unix socket (used when `server` is `None`).
    pub socket: Option<PathBuf>,
    /// `http://HOST:PORT` or `https://HOST:PORT`.
    pub server: Option<String>,
    /// Bearer token sent in `authorization` on every call.
    pub token: Option<String>,
    /// PEM file of the CA that signed the server's certificate.
    pub tls_ca: Option<PathBuf>,
    /// PEM file of the client certificate.
    pub tls_cert: Option<PathBuf>,
    /// PEM file of the client key.
    pub tls_key: Option<PathBuf>,
}

/// Adds `authorization: Bearer TOKEN` to every request when a token is configured.
#[derive(Clone, Debug, Default)]
pub struct Auth(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Auth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// The channel every gRPC client of this invocation uses.
pub type Svc = InterceptedService<Channel, Auth>;

/// An open connection to vswitchd.
#[derive(Clone, Debug)]
pub struct Conn {
    channel: Channel,
    auth: Auth,
}

fn read_pem(path: &PathBuf) -> Result<Vec<u8>, CmdError> {
    std::fs::read(path).map_err(|e| CmdError::new(format!("{}: {e}", path.display())))
}

impl Conn {
    /// Connects to `target`.
    pub async fn open(target: &Target) -> Result<Conn, CmdError> {
        let auth = match &target.token {
            Some(t) => {
                Auth(Some(format!("Bearer {t}").parse().map_err(|_| {
                    CmdError::new("the token must be printable ASCII")
                })?))
            }
            None => Auth(None),
        };
        let channel = match &target.server {
            Some(url) => Self::tcp(url, target).await?,
            None => {
                let path = target
                    .socket
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
                Self::unix(path).await?
            }
        };
        Ok(Conn { channel, auth })
    }

    async fn unix(path: PathBuf) -> Result<Channel, CmdError> {
        let shown = path.display().to_string();
        // The URI is required by the API but unused: the connector always dials the socket.
        let endpoint = Endpoint::from_static("http://localhost");
        endpoint
            .connect_with_connector(tower::service_fn(move |_| {
                let path = path.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
            }))
            .await
            .map_err(|e| CmdError::new(format!("cannot connect to {shown}: {}", source_text(&e))))
    }

    async fn tcp(url: &str, target: &Target) -> Result<Channel, CmdError> {
        let mut endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| CmdError::new(format!("--server {url}: {e}")))?;
        let wants_tls =
            url.starts_with("https://") || target.tls_ca.is_some() || target.tls_cert.is_some();
        if wants_tls {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = &target.tls_ca {
                tls = tls.ca_certificate(Certificate::from_pem(read_pem(ca)?));
            }
            match (&target.tls_cert, &target.tls_key) {
                (Some(cert), Some(key)) => {
                    tls = tls.identity(Identity::from_pem(read_pem(cert)?, read_pem(key)?));
                }
                (None, None) => {}
                _ => return Err(CmdError::new("--tls-cert and --tls-key go together")),
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| CmdError::new(format!("TLS configuration: {}", source_text(&e))))?;
        }
        endpoint
            .connect()
            .await
            .map_err(|e| CmdError::new(format!("cannot connect to {url}: {}", source_text(&e))))
    }

    fn svc(&self) -> Svc {
        InterceptedService::new(self.channel.clone(), self.auth.clone())
    }
}

/// An error with its chain of causes on one line ("transport error: No such file or directory").
pub fn source_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}

macro_rules! clients {
    ($($(#[$doc:meta])* $fn:ident => $client:ty;)*) => {
        impl Conn {
            $(
                $(#[$doc])*
                pub fn $fn(&self) -> $client {
                    <$client>::new(self.svc())
                        .max_decoding_message_size(usize::MAX)
                        .max_encoding_message_size(usize::MAX)
                }
            )*
        }
    };
}

clients! {
    /// The `Bridges` service.
    bridges => v1::bridges_client::BridgesClient<Svc>;
    /// The `Ports` service.
    ports => v1::ports_client::PortsClient<Svc>;
    /// The `Flows` service.
    flows => v1::flows_client::FlowsClient<Svc>;
    /// The `Bundles` service.
    bundles => v1::bundles_client::BundlesClient<Svc>;
    /// The `Tables` service.
    tables => v1::tables_client::TablesClient<Svc>;
    /// The `Trace` service.
    trace => v1::trace_client::TraceClient<Svc>;
    /// The `Megaflows` service.
    megaflows => v1::megaflows_client::MegaflowsClient<Svc>;
    /// The `Drops` service.
    drops => v1::drops_client::DropsClient<Svc>;
    /// The `Conntrack` service.
    conntrack => v1::conntrack_client::ConntrackClient<Svc>;
    /// The `Watch` service.
    watch => v1::watch_client::WatchClient<Svc>;
}
