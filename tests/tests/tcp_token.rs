//! `ofctl --server URL --token T` against the daemon's TCP listener with bearer-token
//! authentication: the right token works, a missing or wrong one is refused with one line.

use std::time::{Duration, Instant};

use tests::Daemon;

#[test]
fn ofctl_over_tcp_needs_the_token() {
    let port = tests::free_tcp_port();
    let d = Daemon::start_with(|dir| {
        let config = dir.join("vswitchd.toml");
        std::fs::write(&config, "[auth]\ntoken = \"s3cret-token\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        vec![
            "--config".into(),
            config.to_string_lossy().into_owned(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ]
    });
    d.ofctl_ok(&["add-br", "br0"]);
    let url = format!("http://127.0.0.1:{port}");
    let tcp = |args: &[&str]| {
        std::process::Command::new(&tests::binaries().ofctl)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };

    // The TCP listener may come up just after the socket: retry briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let out = tcp(&["--server", &url, "--token", "s3cret-token", "show"]);
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "br0: 0 ports, 0 flows\n"
    );

    for args in [
        vec!["--server", &url, "show"],
        vec!["--server", &url, "--token", "wrong", "show"],
    ] {
        let out = tcp(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was served");
        assert!(stderr.starts_with("ofctl: "), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.to_lowercase().contains("token"), "{stderr}");
    }
    // Nothing was added by the refused calls, and the token client can change things.
    let out = tcp(&[
        "--server",
        &url,
        "--token",
        "s3cret-token",
        "add-flow",
        "br0",
        "actions=drop",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        d.ofctl_ok(&["dump-flows", "--no-stats", "br0"]),
        " actions=drop\n"
    );
}
