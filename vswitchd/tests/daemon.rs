//! The daemon around the services: configuration, the socket, metrics and the run/shutdown
//! sequence.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::oneshot;
use vswitchd::server::{self, ConfigFile, DaemonConfig};

#[test]
fn config_file_defaults_overrides_and_unknown_keys() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let defaults =
        DaemonConfig::from_file(&ConfigFile::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(defaults.socket.to_str(), Some(server::DEFAULT_SOCKET));
    assert_eq!(
        defaults
            .switch
            .state_dir
            .as_deref()
            .and_then(|p| p.to_str()),
        Some(server::DEFAULT_STATE_DIR)
    );
    assert!(defaults.listen.is_none() && defaults.metrics.is_none() && defaults.token.is_none());

    std::fs::write(dir.path().join("token"), "t0ken\n").unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("vswitchd.toml");
    std::fs::write(
        &path,
        format!(
            "socket = \"/tmp/x.sock\"\nlisten = \"127.0.0.1:6653\"\n[auth]\ntoken_file = \"{}\"\n[datapath]\npmd_threads = 2\n",
            dir.path().join("token").display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let file = ConfigFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let cfg = DaemonConfig::from_file(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.token.as_deref(), Some("t0ken"));
    assert_eq!(cfg.switch.datapath.pmd_threads, 2);
    assert_eq!(cfg.listen.map(|a| a.port()), Some(6653));

    std::fs::write(&path, "sockett = \"/tmp/x.sock\"\n").unwrap_or_else(|e| panic!("{e}"));
    let err = ConfigFile::load(&path)
        .map(|_| String::new())
        .unwrap_or_else(|e| e.to_string());
    assert!(err.contains("sockett"), "{err}");
}

#[tokio::test]
async fn unix_socket_is_private_and_not_stolen() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("sub").join("vswitchd.sock");
    let listener = server::bind_unix(&path)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mode = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second daemon must not take the socket of a running one.
    assert!(server::bind_unix(&path).await.is_err());
    // A stale socket file (its daemon is gone) is replaced.
    drop(listener);
    server::bind_unix(&path)
        .await
        .unwrap_or_else(|e| panic!("stale socket not replaced: {e}"));
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut out))
        .await
        .unwrap_or_else(|_| panic!("no answer"))
        .unwrap_or_else(|e| panic!("{e}"));
    out
}

#[tokio::test]
async fn run_serves_metrics_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let socket = dir.path().join("vswitchd.sock");
    // Find a free port for the metrics endpoint.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let metrics = probe.local_addr().unwrap_or_else(|e| panic!("{e}"));
    drop(probe);
    let mut cfg = DaemonConfig::from_file(&ConfigFile::default()).unwrap_or_else(|e| panic!("{e}"));
    cfg.socket = socket.clone();
    cfg.metrics = Some(metrics);
    cfg.switch.state_dir = Some(dir.path().join("state"));
    let (stop, stopped) = oneshot::channel::<()>();
    let daemon = tokio::spawn(server::run(cfg, None, async {
        let _ = stopped.await;
    }));
    let mut answer = String::new();
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(metrics).await.is_ok() {
            answer = http_get(metrics, "/metrics").await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(
        answer.contains("# TYPE vswitch_bridges gauge\nvswitch_bridges 0\n"),
        "{answer}"
    );
    assert!(http_get(metrics, "/other")
        .await
        .starts_with("HTTP/1.1 404"));
    assert!(socket.exists());
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .unwrap_or_else(|_| panic!("shutdown hangs"))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("daemon failed: {e}"));
    assert!(!socket.exists(), "the socket is removed at shutdown");
}

#[tokio::test]
async fn run_refuses_an_unauthenticated_tcp_listener() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = DaemonConfig::from_file(&ConfigFile::default()).unwrap_or_else(|e| panic!("{e}"));
    cfg.socket = dir.path().join("vswitchd.sock");
    cfg.switch.state_dir = Some(dir.path().join("state"));
    cfg.listen = Some("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")));
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        server::run(cfg, None, std::future::pending()),
    )
    .await
    .unwrap_or_else(|_| panic!("the daemon did not refuse"));
    let err = result
        .map(|_| String::new())
        .unwrap_or_else(|e| e.to_string());
    assert!(err.contains("client authentication"), "{err}");
}
