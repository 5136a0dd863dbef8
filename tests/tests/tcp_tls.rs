//! `ofctl --server https://... --tls-ca --tls-cert --tls-key` against the daemon's TCP listener
//! that requires client certificates: with the certificate it works; without one, or without
//! trusting the server's CA, it fails with one line.
//!
//! Certificates are made with `openssl` (Debian package openssl); without it the test prints
//! why and passes, unless `CI=true`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tests::Daemon;

/// Makes `ca.pem`, `server.pem`/`server.key` (for 127.0.0.1) and `client.pem`/`client.key` in
/// `dir`.
fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("openssl: {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(key);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=e2e-ca",
    ]);
    run(&ca);
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    write(
        "server.ext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    write("client.ext", "extendedKeyUsage=clientAuth\n");
    for who in ["server", "client"] {
        let (k, csr, pem, ext, subj) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.pem"),
            format!("{who}.ext"),
            format!("/CN={who}"),
        );
        let mut req = vec!["req"];
        req.extend(key);
        req.extend(["-keyout", &k, "-out", &csr, "-subj", &subj]);
        run(&req);
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "1",
            "-extfile",
            &ext,
        ]);
    }
}

#[test]
fn ofctl_over_tls_with_a_client_certificate() {
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "openssl is needed"
        );
        eprintln!("skipped: openssl not found");
        return;
    }
    let port = tests::free_tcp_port();
    let d = Daemon::start_with(|dir| {
        make_certs(dir);
        let config = dir.join("vswitchd.toml");
        let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
        std::fs::write(
            &config,
            format!(
                "[tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n",
                p("server.pem"),
                p("server.key"),
                p("ca.pem")
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        vec![
            "--config".into(),
            config.to_string_lossy().into_owned(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ]
    });
    d.ofctl_ok(&["add-br", "br0"]);
    let url = format!("https://127.0.0.1:{port}");
    let file = |name: &str| d.dir().join(name).to_string_lossy().into_owned();
    let (ca, cert, key) = (file("ca.pem"), file("client.pem"), file("client.key"));
    let tcp = |args: &[&str]| {
        Command::new(&tests::binaries().ofctl)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };

    let good = [
        "--server",
        &url,
        "--tls-ca",
        &ca,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "show",
    ];
    // The TCP listener may come up just after the socket: retry briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let out = tcp(&good);
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
        // No client certificate.
        vec!["--server", &url, "--tls-ca", &ca, "show"],
        // The server's CA not trusted.
        vec![
            "--server",
            &url,
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "show",
        ],
        // Plain HTTP/2 to a TLS listener.
        vec!["--server", &format!("http://127.0.0.1:{port}"), "show"],
    ] {
        let out = tcp(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was served");
        assert!(
            stderr.starts_with("ofctl: ") && stderr.lines().count() == 1,
            "{args:?}: {stderr}"
        );
    }
    // A key without its certificate is a usage error.
    let out = tcp(&["--server", &url, "--tls-key", &key, "show"]);
    assert!(!out.status.success());
}
