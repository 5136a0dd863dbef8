//! End-to-end tests through the real binaries, and the benchmark harness.
//!
//! The suites live under `tests/tests/`. This library holds what they share:
//!
//! * [`binaries`] builds `vswitchd` and `ofctl` (a no-op when they are up to date) in the
//!   target directory of the running test, once per test process, and returns their paths;
//! * [`Daemon`] runs a real `vswitchd` on a temporary Unix socket and state directory, and can
//!   stop it (SIGTERM), kill it (SIGKILL) and start it again on the same state;
//! * [`Daemon::ofctl`] runs the real `ofctl` against it, and [`Daemon::channel`] opens a gRPC
//!   channel for the generated `proto` clients.
//!
//! Every daemon has its own directory, so tests run in parallel; the daemon is killed when the
//! [`Daemon`] is dropped, even when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint};

/// Paths of the binaries under test.
#[derive(Debug)]
pub struct Binaries {
    /// The daemon.
    pub vswitchd: PathBuf,
    /// The CLI.
    pub ofctl: PathBuf,
}

/// Builds `vswitchd` and `ofctl` with the profile and target directory of this test binary
/// (once per process) and returns their paths. Panics with cargo's output if the build fails,
/// since no test of this crate can run without them.
pub fn binaries() -> &'static Binaries {
    static BINS: OnceLock<Binaries> = OnceLock::new();
    BINS.get_or_init(|| {
        // The test runs as TARGET/PROFILE/deps/NAME-HASH.
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .unwrap_or_else(|| panic!("unexpected test binary path {}", exe.display()))
            .to_path_buf();
        let target_dir = profile_dir
            .parent()
            .unwrap_or_else(|| panic!("unexpected test binary path {}", exe.display()));
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(&workspace)
            .args(["build", "--quiet", "-p", "vswitchd", "-p", "ofctl"])
            .env("CARGO_TARGET_DIR", target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
        assert!(
            out.status.success(),
            "cargo build -p vswitchd -p ofctl failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Binaries {
            vswitchd: profile_dir.join("vswitchd"),
            ofctl: profile_dir.join("ofctl"),
        }
    })
}

/// A running (or stopped) `vswitchd` with its own socket and state directory.
#[derive(Debug)]
pub struct Daemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
    extra_args: Vec<String>,
}

/// How long a daemon may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl Daemon {
    /// Starts a daemon in a fresh temporary directory, with in-memory ports allowed (so tests
    /// need neither root nor network interfaces).
    pub fn start() -> Daemon {
        Daemon::start_with(|_| Vec::new())
    }

    /// Starts a daemon like [`Daemon::start`], with the extra command-line arguments that
    /// `args` returns given the daemon's directory (e.g. to write a `--config` file there).
    pub fn start_with(args: impl FnOnce(&Path) -> Vec<String>) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("vswitch-e2e-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let extra_args = args(dir.path());
        let mut d = Daemon {
            dir,
            child: None,
            extra_args,
        };
        d.spawn();
        d
    }

    /// The daemon's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("vswitchd.sock")
    }

    /// The daemon's state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("vswitchd.log")
    }

    /// The daemon's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.socket());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap_or_else(|e| panic!("log file: {e}"));
        let child = Command::new(&binaries().vswitchd)
            .arg("--socket")
            .arg(self.socket())
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--allow-mem-ports")
            .args(&self.extra_args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binaries().vswitchd.display()));
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits until the socket accepts connections.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if std::os::unix::net::UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("vswitchd exited ({status}) at start:\n{}", self.log());
                }
            }
            assert!(
                Instant::now() < deadline,
                "vswitchd did not open its socket in {START_TIMEOUT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the daemon with SIGTERM and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: kill(2) with a process id we own; no memory is involved.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!("vswitchd did not exit after SIGTERM:\n{}", self.log());
                    }
                }
            }
        }
    }

    /// Kills the daemon with SIGKILL (no chance to save anything) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the daemon again on the same socket and state directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts the daemon after [`Daemon::stop`] or [`Daemon::kill9`].
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the daemon is still running");
        self.spawn();
    }

    /// Runs the real `ofctl` with `args` against this daemon, with `stdin` as standard input.
    pub fn ofctl_with_input(&self, args: &[&str], stdin: Option<&Path>) -> Output {
        let mut cmd = Command::new(&binaries().ofctl);
        cmd.arg("--socket").arg(self.socket()).args(args);
        match stdin {
            Some(p) => {
                let f = std::fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                cmd.stdin(f);
            }
            None => {
                cmd.stdin(Stdio::null());
            }
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binaries().ofctl.display()))
    }

    /// Runs `ofctl ARGS` against this daemon.
    pub fn ofctl(&self, args: &[&str]) -> Output {
        self.ofctl_with_input(args, None)
    }

    /// Runs `ofctl ARGS`, asserts that it succeeded, and returns its standard output.
    pub fn ofctl_ok(&self, args: &[&str]) -> String {
        let out = self.ofctl(args);
        assert!(
            out.status.success(),
            "ofctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `ofctl ARGS`, asserts that it failed with one line on standard error and nothing on
    /// standard output, and returns that line.
    pub fn ofctl_err(&self, args: &[&str]) -> String {
        let out = self.ofctl(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "ofctl {args:?} succeeded");
        assert_eq!(stderr.lines().count(), 1, "ofctl {args:?}: {stderr}");
        assert!(stderr.starts_with("ofctl: "), "{stderr}");
        assert!(out.stdout.is_empty(), "ofctl {args:?} printed on stdout");
        stderr.trim_end().to_string()
    }

    /// A gRPC channel to this daemon, over its Unix socket.
    pub async fn channel(&self) -> Channel {
        let path = self.socket();
        Endpoint::from_static("http://localhost")
            .connect_with_connector(tower::service_fn(move |_| {
                let path = path.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
            }))
            .await
            .unwrap_or_else(|e| panic!("cannot connect to vswitchd: {e}"))
    }

    /// The directory holding this daemon's files (for test inputs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A TCP port that was free a moment ago (bound to port 0, then released).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free TCP port: {e}"))
}

/// `n` distinct valid flows, one a line: a /32 destination per flow spread over table 0, each
/// with its own priority band, so no two overlap and every one survives a round trip.
pub fn many_flows(n: u32) -> String {
    let mut text = String::with_capacity(usize::try_from(n).unwrap_or(0) * 64);
    for i in 0..n {
        let [_, b, c, d] = i.to_be_bytes();
        text.push_str(&format!(
            "priority={},ip,nw_dst=10.{b}.{c}.{d},actions=output:{}\n",
            100 + (i % 1000),
            1 + (i % 2)
        ));
    }
    text
}

/// The `vsbench` traffic generator and sink (benchmark harness).
pub mod bench;
