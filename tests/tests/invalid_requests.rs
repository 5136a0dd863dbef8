//! Invalid requests, through the gRPC API and through `ofctl`: each is refused with the right
//! status code and a reason, and changes nothing (the flows, bridges and ports are the same
//! before and after).

use proto::v1;
use proto::v1::bridges_client::BridgesClient;
use proto::v1::bundles_client::BundlesClient;
use proto::v1::flows_client::FlowsClient;
use proto::v1::ports_client::PortsClient;
use tests::Daemon;
use tonic::transport::Channel;
use tonic::Code;

fn text(flow: &str) -> Option<v1::FlowSpec> {
    Some(v1::FlowSpec {
        spec: Some(v1::flow_spec::Spec::Text(flow.to_string())),
    })
}

fn add_req(bridge: &str, flow: &str) -> v1::AddFlowRequest {
    v1::AddFlowRequest {
        bridge: bridge.to_string(),
        flow: text(flow),
    }
}

/// Everything a refused request must leave alone.
fn state(d: &Daemon) -> (String, String) {
    (
        d.ofctl_ok(&["show", "--format", "json"]),
        d.ofctl_ok(&["dump-flows", "--no-stats", "br0"]),
    )
}

fn setup() -> Daemon {
    let d = Daemon::start();
    d.ofctl_ok(&["add-br", "br0"]);
    d.ofctl_ok(&["add-port", "br0", "p1", "type=mem"]);
    d.ofctl_ok(&["add-flow", "br0", "priority=10,ip,actions=output:1"]);
    d.ofctl_ok(&["add-flow", "br0", "table=1,priority=5,tcp,actions=drop"]);
    d
}

/// Asserts that `result` is an error with `code` and a reason containing `needle`.
fn refused<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, needle: &str) {
    match result {
        Ok(v) => panic!("accepted, expected {code:?} ({needle}): {v:?}"),
        Err(s) => {
            assert_eq!(s.code(), code, "{s:?}");
            assert!(
                s.message().contains(needle),
                "{needle:?} not in {:?}",
                s.message()
            );
        }
    }
}

async fn clients(
    d: &Daemon,
) -> (
    FlowsClient<Channel>,
    BridgesClient<Channel>,
    PortsClient<Channel>,
) {
    let ch = d.channel().await;
    (
        FlowsClient::new(ch.clone()),
        BridgesClient::new(ch.clone()),
        PortsClient::new(ch),
    )
}

#[tokio::test]
async fn grpc_flow_errors_have_the_right_code_and_change_nothing() {
    let d = setup();
    let before = state(&d);
    let (mut flows, _, _) = clients(&d).await;

    // Bad syntax: the reason keeps the column.
    refused(
        flows
            .add(add_req("br0", "ip,nw_dst=10.0.0.1/33,actions=drop"))
            .await,
        Code::InvalidArgument,
        "column 11: expected an IPv4 address or prefix",
    );
    // A missing prerequisite: tp_dst without a transport protocol.
    refused(
        flows
            .add(add_req("br0", "priority=3,tp_dst=80,actions=drop"))
            .await,
        Code::InvalidArgument,
        "tp_dst",
    );
    // Unknown bridge.
    refused(
        flows.add(add_req("nosuchbr", "actions=drop")).await,
        Code::NotFound,
        "nosuchbr",
    );
    // check_overlap against the existing priority-10 ip flow.
    refused(
        flows
            .add(add_req("br0", "priority=10,check_overlap,tcp,actions=drop"))
            .await,
        Code::AlreadyExists,
        "overlaps",
    );
    // Table out of range: as text (not a table number) and as a structured flow.
    refused(
        flows.add(add_req("br0", "table=256,actions=drop")).await,
        Code::InvalidArgument,
        "256",
    );
    let structured = v1::AddFlowRequest {
        bridge: "br0".into(),
        flow: Some(v1::FlowSpec {
            spec: Some(v1::flow_spec::Spec::Flow(v1::Flow {
                table: Some(300),
                ..Default::default()
            })),
        }),
    };
    refused(flows.add(structured).await, Code::InvalidArgument, "300");
    // Modify and delete with bad syntax, and on an unknown bridge.
    refused(
        flows
            .modify(v1::ModifyFlowsRequest {
                bridge: "br0".into(),
                flow: text("ip,nw_dst=1.2.3,actions=drop"),
                strict: false,
            })
            .await,
        Code::InvalidArgument,
        "column",
    );
    refused(
        flows
            .delete(v1::DeleteFlowsRequest {
                bridge: "nosuchbr".into(),
                flow: None,
                strict: false,
            })
            .await,
        Code::NotFound,
        "nosuchbr",
    );

    assert_eq!(state(&d), before, "a refused request changed something");
}

#[tokio::test]
async fn grpc_bridge_and_port_errors_have_the_right_code_and_change_nothing() {
    let d = setup();
    let before = state(&d);
    let (_, mut bridges, mut ports) = clients(&d).await;

    refused(
        bridges
            .add(v1::AddBridgeRequest { name: "br0".into() })
            .await,
        Code::AlreadyExists,
        "br0",
    );
    refused(
        bridges
            .delete(v1::DeleteBridgeRequest {
                name: "nosuchbr".into(),
            })
            .await,
        Code::NotFound,
        "nosuchbr",
    );
    let port = |name: &str, kind: &str, ofport: Option<u32>| v1::AddPortRequest {
        bridge: "br0".into(),
        name: name.into(),
        r#type: kind.into(),
        options: Default::default(),
        ofport,
    };
    refused(
        ports.add(port("p1", "mem", None)).await,
        Code::AlreadyExists,
        "p1",
    );
    refused(
        ports.add(port("p9", "mem", Some(1))).await,
        Code::AlreadyExists,
        "1",
    );
    refused(
        ports.add(port("p9", "bogus", None)).await,
        Code::InvalidArgument,
        "bogus",
    );
    refused(
        ports
            .add(v1::AddPortRequest {
                bridge: "nosuchbr".into(),
                ..port("p9", "mem", None)
            })
            .await,
        Code::NotFound,
        "nosuchbr",
    );
    refused(
        ports
            .delete(v1::DeletePortRequest {
                bridge: "br0".into(),
                name: "nosuchport".into(),
            })
            .await,
        Code::NotFound,
        "nosuchport",
    );

    assert_eq!(state(&d), before, "a refused request changed something");
}

#[tokio::test]
async fn a_bundle_with_one_bad_flow_among_1000_changes_nothing() {
    let d = setup();
    let before = state(&d);
    let ch = d.channel().await;
    let mut bundles = BundlesClient::new(ch);

    // 1000 good flows, and number 617 overlaps number 3 (same priority, check_overlap).
    let lines: Vec<String> = tests::many_flows(1000)
        .lines()
        .map(str::to_string)
        .collect();
    let mut mods: Vec<v1::FlowMod> = lines
        .iter()
        .map(|l| v1::FlowMod {
            command: v1::FlowCommand::Add.into(),
            strict: false,
            flow: text(l),
        })
        .collect();
    if let Some(m) = mods.get_mut(617) {
        m.flow = text("priority=103,check_overlap,ip,actions=drop");
    }
    let result = bundles
        .commit(v1::BundleRequest {
            add_flows_text: String::new(),
            bridge: "br0".into(),
            mods: mods.clone(),
        })
        .await;
    let status = result
        .err()
        .unwrap_or_else(|| panic!("the bundle was accepted"));
    // The same code as the single flow-mod would get (an overlap is ALREADY_EXISTS).
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(
        status.message().starts_with("flow mod 617: "),
        "{}",
        status.message()
    );
    let detail = <v1::BundleError as prost::Message>::decode(status.details())
        .unwrap_or_else(|e| panic!("BundleError details: {e}"));
    assert_eq!(detail.index, 617);
    assert!(detail.reason.contains("overlaps"), "{}", detail.reason);
    assert_eq!(state(&d), before, "a refused bundle changed something");

    // A syntax error at the last flow: same.
    if let Some(m) = mods.get_mut(617) {
        m.flow = text(lines.get(617).map_or("", String::as_str));
    }
    if let Some(m) = mods.last_mut() {
        m.flow = text("ip,nw_dst=10.0.0.300,actions=drop");
    }
    let status = bundles
        .commit(v1::BundleRequest {
            add_flows_text: String::new(),
            bridge: "br0".into(),
            mods: mods.clone(),
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("the bundle was accepted"));
    assert!(
        status.message().starts_with("flow mod 999: column 11: "),
        "{}",
        status.message()
    );
    assert_eq!(state(&d), before, "a refused bundle changed something");

    // Fixed, the same bundle goes in whole.
    if let Some(m) = mods.last_mut() {
        m.flow = text(lines.last().map_or("", String::as_str));
    }
    let done = bundles
        .commit(v1::BundleRequest {
            add_flows_text: String::new(),
            bridge: "br0".into(),
            mods,
        })
        .await
        .unwrap_or_else(|e| panic!("bundle refused: {e:?}"))
        .into_inner();
    assert_eq!(done.added, 1000);
    assert_eq!(d.ofctl_ok(&["dump-flows", "br0"]).lines().count(), 1002);
}

#[test]
fn ofctl_errors_are_one_line_with_the_reason_and_change_nothing() {
    let d = setup();
    let before = state(&d);

    let e = d.ofctl_err(&["add-flow", "br0", "ip,nw_dst=10.0.0.1/33,actions=drop"]);
    assert_eq!(
        e,
        "ofctl: column 11: expected an IPv4 address or prefix, found \"10.0.0.1/33\""
    );
    let e = d.ofctl_err(&["add-flow", "nosuchbr", "actions=drop"]);
    assert!(e.contains("nosuchbr"), "{e}");
    let e = d.ofctl_err(&[
        "add-flow",
        "br0",
        "priority=10,check_overlap,tcp,actions=drop",
    ]);
    assert!(e.contains("overlaps"), "{e}");
    let e = d.ofctl_err(&["del-port", "br0", "nosuchport"]);
    assert!(e.contains("nosuchport"), "{e}");
    let e = d.ofctl_err(&["add-br", "br0"]);
    assert!(e.contains("br0"), "{e}");
    let e = d.ofctl_err(&["add-port", "br0", "p5", "type=mem", "ofport=notanumber"]);
    assert_eq!(e, "ofctl: ofport=notanumber: expected a port number");

    // A file with one bad line among 1000: the error names the line and the column.
    let mut flows = tests::many_flows(1000);
    flows = flows.replacen("nw_dst=10.0.1.244,", "nw_dst=10.0.1.999,", 1);
    let file = d.dir().join("bad.txt");
    std::fs::write(&file, format!("# 1000 flows, one bad\n\n{flows}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let e = d.ofctl_err(&["add-flows", "br0", &file.to_string_lossy()]);
    // 10.0.1.244 is flow 500 (0-based), on line 3 + 500.
    assert_eq!(
        e,
        "ofctl: line 503, column 24: expected an IPv4 address or prefix, found \"10.0.1.999\""
    );

    // No daemon: one line, naming the socket.
    let out = std::process::Command::new(&tests::binaries().ofctl)
        .args(["--socket", "/nonexistent/vswitchd.sock", "show"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.starts_with("ofctl: cannot connect to /nonexistent/vswitchd.sock")
            && stderr.lines().count() == 1,
        "{stderr}"
    );

    assert_eq!(state(&d), before, "a refused command changed something");
}
