//! The service layer end to end: an in-process tonic server on a temporary Unix socket, driven
//! by the generated clients, with in-memory ports.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use prost::Message as _;
use proto::v1;
use proto::v1::bridges_client::BridgesClient;
use proto::v1::bundles_client::BundlesClient;
use proto::v1::flows_client::FlowsClient;
use proto::v1::ports_client::PortsClient;
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::Code;
use vswitchd::server;
use vswitchd::service::{Api, LogControl};
use vswitchd::switch::{Switch, SwitchOptions};

/// A running in-process server.
struct Harness {
    _dir: tempfile::TempDir,
    state: PathBuf,
    socket: PathBuf,
    switch: Arc<Switch>,
    channel: Channel,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

struct FakeLog(Mutex<String>);

impl LogControl for FakeLog {
    fn set_filter(&self, filter: &str) -> Result<String, String> {
        if filter.contains(' ') {
            return Err(format!("invalid log filter {filter:?}"));
        }
        let mut cur = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(std::mem::replace(&mut *cur, filter.to_string()))
    }
}

async fn connect(socket: &Path) -> Channel {
    let socket = socket.to_path_buf();
    Endpoint::try_from("http://[::]:50051")
        .unwrap_or_else(|e| panic!("endpoint: {e}"))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let state = dir.path().join("state");
        Harness::start_in(dir, state).await
    }

    async fn start_in(dir: tempfile::TempDir, state: PathBuf) -> Harness {
        let socket = dir.path().join("vswitchd.sock");
        let switch = Arc::new(
            Switch::new(SwitchOptions {
                allow_mem_ports: true,
                state_dir: Some(state.clone()),
                ..SwitchOptions::default()
            })
            .unwrap_or_else(|e| panic!("switch: {e}")),
        );
        switch
            .restore()
            .await
            .unwrap_or_else(|e| panic!("restore: {e}"));
        let api = Api::new(
            switch.clone(),
            Some(Arc::new(FakeLog(Mutex::new("info".into())))),
        );
        let listener = server::bind_unix(&socket)
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = server::serve_unix(&api, listener, shutdown).await {
                panic!("server: {e}");
            }
        });
        let channel = connect(&socket).await;
        Harness {
            _dir: dir,
            state,
            socket,
            switch,
            channel,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and starts a new one on the same state directory.
    async fn restart(mut self) -> Harness {
        self.stop().await;
        let dir = std::mem::replace(
            &mut self._dir,
            tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")),
        );
        let state = self.state.clone();
        let _ = std::fs::remove_file(&self.socket);
        Harness::start_in(dir, state).await
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.switch.shutdown().await;
    }

    fn bridges(&self) -> BridgesClient<Channel> {
        BridgesClient::new(self.channel.clone())
    }
    fn ports(&self) -> PortsClient<Channel> {
        PortsClient::new(self.channel.clone())
    }
    fn flows(&self) -> FlowsClient<Channel> {
        FlowsClient::new(self.channel.clone())
    }
    fn bundles(&self) -> BundlesClient<Channel> {
        BundlesClient::new(self.channel.clone())
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }

    async fn add_bridge(&self, name: &str) {
        self.bridges()
            .add(v1::AddBridgeRequest { name: name.into() })
            .await
            .unwrap_or_else(|e| panic!("add bridge {name}: {e}"));
    }

    async fn add_mem_port(&self, bridge: &str, name: &str, ofport: Option<u32>) -> u32 {
        self.ports()
            .add(v1::AddPortRequest {
                bridge: bridge.into(),
                name: name.into(),
                r#type: "mem".into(),
                options: Default::default(),
                ofport,
            })
            .await
            .unwrap_or_else(|e| panic!("add port {name}: {e}"))
            .into_inner()
            .ofport
    }

    async fn add_flow(&self, bridge: &str, text: &str) -> Result<v1::FlowModResult, tonic::Status> {
        self.flows()
            .add(v1::AddFlowRequest {
                bridge: bridge.into(),
                flow: Some(text_spec(text)),
            })
            .await
            .map(|r| r.into_inner())
    }

    async fn dump(&self, req: v1::DumpFlowsRequest) -> Vec<v1::FlowEntry> {
        let mut stream = self
            .flows()
            .dump(req)
            .await
            .unwrap_or_else(|e| panic!("dump: {e}"))
            .into_inner();
        let mut flows = Vec::new();
        while let Some(batch) = stream
            .message()
            .await
            .unwrap_or_else(|e| panic!("dump stream: {e}"))
        {
            flows.extend(batch.flows);
        }
        flows
    }

    async fn dump_texts(&self, bridge: &str) -> Vec<String> {
        self.dump(v1::DumpFlowsRequest {
            bridge: bridge.into(),
            ..Default::default()
        })
        .await
        .into_iter()
        .map(|f| f.text)
        .collect()
    }
}

fn text_spec(text: &str) -> v1::FlowSpec {
    v1::FlowSpec {
        spec: Some(v1::flow_spec::Spec::Text(text.into())),
    }
}

fn add_mod(text: &str) -> v1::FlowMod {
    v1::FlowMod {
        command: v1::FlowCommand::Add.into(),
        strict: false,
        flow: Some(text_spec(text)),
    }
}

fn code_of<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> (Code, String) {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(s) => (s.code(), s.message().to_string()),
    }
}

#[tokio::test]
async fn bridges_add_list_delete_and_errors() {
    let h = Harness::start().await;
    h.add_bridge("br0").await;
    let (code, msg) = code_of(
        h.bridges()
            .add(v1::AddBridgeRequest { name: "br0".into() })
            .await,
    );
    assert_eq!(code, Code::AlreadyExists, "{msg}");
    let (code, msg) = code_of(
        h.bridges()
            .add(v1::AddBridgeRequest {
                name: "../etc".into(),
            })
            .await,
    );
    assert_eq!(code, Code::InvalidArgument, "{msg}");
    let (code, _) = code_of(
        h.bridges()
            .delete(v1::DeleteBridgeRequest {
                name: "nope".into(),
            })
            .await,
    );
    assert_eq!(code, Code::NotFound);
    h.add_bridge("br1").await;
    let list = h
        .bridges()
        .list(v1::ListBridgesRequest {})
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    let names: Vec<_> = list.bridges.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["br0", "br1"]);
    h.bridges()
        .delete(v1::DeleteBridgeRequest { name: "br0".into() })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.switch.bridge_names(), ["br1"]);
}

#[tokio::test]
async fn ports_are_numbered_in_order_and_checked() {
    let h = Harness::start().await;
    h.add_bridge("br0").await;
    assert_eq!(h.add_mem_port("br0", "p1", None).await, 1);
    assert_eq!(h.add_mem_port("br0", "p2", None).await, 2);
    assert_eq!(h.add_mem_port("br0", "p10", Some(10)).await, 10);
    assert_eq!(h.add_mem_port("br0", "p11", None).await, 11);
    let add = |name: &str, kind: &str, ofport: Option<u32>, bridge: &str| v1::AddPortRequest {
        bridge: bridge.into(),
        name: name.into(),
        r#type: kind.into(),
        options: Default::default(),
        ofport,
    };
    let mut ports = h.ports();
    let (code, msg) = code_of(ports.add(add("p3", "mem", Some(2), "br0")).await);
    assert_eq!(code, Code::AlreadyExists, "{msg}");
    let (code, _) = code_of(ports.add(add("p1", "mem", None, "br0")).await);
    assert_eq!(code, Code::AlreadyExists);
    let (code, msg) = code_of(ports.add(add("p4", "veth", None, "br0")).await);
    assert_eq!(code, Code::InvalidArgument, "{msg}");
    assert!(msg.contains("veth"), "{msg}");
    let (code, _) = code_of(ports.add(add("p5", "mem", None, "nobr")).await);
    assert_eq!(code, Code::NotFound);
    let (code, _) = code_of(ports.add(add("p6", "mem", Some(0xff01), "br0")).await);
    assert_eq!(code, Code::InvalidArgument);
    let mut bad_option = add("p7", "mem", None, "br0");
    bad_option.options.insert("mtu".into(), "1".into());
    let (code, msg) = code_of(ports.add(bad_option).await);
    assert_eq!(code, Code::InvalidArgument, "{msg}");

    // An interface that cannot be opened is kept, with the reason, as Open vSwitch does.
    let reply = ports
        .add(add("nonexistent0", "afxdp", None, "br0"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert_eq!(reply.ofport, 12);
    assert!(!reply.error.is_empty());

    let list = ports
        .list(v1::ListPortsRequest {
            bridge: "br0".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner()
        .ports;
    let summary: Vec<_> = list
        .iter()
        .map(|p| (p.name.as_str(), p.ofport, p.r#type.as_str(), p.up))
        .collect();
    assert_eq!(
        summary,
        [
            ("p1", 1, "mem", true),
            ("p2", 2, "mem", true),
            ("p10", 10, "mem", true),
            ("p11", 11, "mem", true),
            ("nonexistent0", 12, "afxdp", false)
        ]
    );
    let stats = ports
        .stats(v1::PortStatsRequest {
            bridge: "br0".into(),
            port: "p2".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner()
        .ports;
    assert_eq!(stats.len(), 1);
    assert_eq!(stats.first().map(|s| s.ofport), Some(2));
    ports
        .delete(v1::DeletePortRequest {
            bridge: "br0".into(),
            name: "p2".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (code, _) = code_of(
        ports
            .delete(v1::DeletePortRequest {
                bridge: "br0".into(),
                name: "p2".into(),
            })
            .await,
    );
    assert_eq!(code, Code::NotFound);
}

#[tokio::test]
async fn mem_ports_need_the_test_flag() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let switch = Switch::new(SwitchOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    switch
        .add_bridge("br0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = switch
        .add_port("br0", "m0", "mem", Default::default(), None)
        .await;
    assert!(
        matches!(&r, Err(vswitchd::switch::SwitchError::Invalid(m)) if m.contains("mem")),
        "{r:?}"
    );
    drop(dir);
}

#[tokio::test]
async fn flows_add_modify_delete_dump_and_errors() {
    let h = Harness::start().await;
    h.add_bridge("br0").await;
    let r = h
        .add_flow("br0", "priority=10,ip,nw_dst=10.0.0.0/8,actions=output:2")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.added, 1);
    h.add_flow(
        "br0",
        "table=1,priority=5,cookie=0x10,tcp,tp_dst=80,actions=drop",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    h.add_flow("br0", "table=1,priority=6,cookie=0x20,udp,actions=output:1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Syntax errors keep their column.
    let (code, msg) = code_of(
        h.add_flow("br0", "ip,nw_dst=10.0.0.1/33,actions=drop")
            .await,
    );
    assert_eq!(code, Code::InvalidArgument);
    assert!(msg.starts_with("column "), "{msg}");
    // Unknown bridge.
    let (code, _) = code_of(h.add_flow("nobr", "actions=drop").await);
    assert_eq!(code, Code::NotFound);
    // Missing prerequisite.
    let (code, msg) = code_of(h.add_flow("br0", "tp_dst=80,actions=drop").await);
    assert_eq!(code, Code::InvalidArgument, "{msg}");
    // Table out of range.
    let (code, msg) = code_of(h.add_flow("br0", "table=256,actions=drop").await);
    assert_eq!(code, Code::InvalidArgument, "{msg}");
    // check_overlap.
    let (code, msg) = code_of(
        h.add_flow("br0", "priority=10,check_overlap,ip,actions=drop")
            .await,
    );
    assert_eq!(code, Code::AlreadyExists, "{msg}");
    assert_eq!(
        h.dump_texts("br0").await.len(),
        3,
        "refused requests changed nothing"
    );

    // Typed flow with typed match and actions.
    let typed = v1::Flow {
        table: Some(2),
        priority: Some(100),
        r#match: Some(v1::Match {
            spec: Some(v1::r#match::Spec::Fields(v1::MatchFields {
                fields: vec![
                    v1::MatchField {
                        field: "dl_type".into(),
                        value: Some(v1::FieldValue {
                            kind: Some(v1::field_value::Kind::Bytes(vec![0x08, 0x00])),
                        }),
                        mask: None,
                    },
                    v1::MatchField {
                        field: "nw_src".into(),
                        value: Some(v1::FieldValue {
                            kind: Some(v1::field_value::Kind::Text("192.168.0.0/16".into())),
                        }),
                        mask: None,
                    },
                ],
            })),
        }),
        actions: Some(v1::Actions {
            spec: Some(v1::actions::Spec::List(v1::ActionList {
                actions: vec![
                    v1::Action {
                        action: Some(v1::action::Action::DecTtl(v1::DecTtlAction::default())),
                    },
                    v1::Action {
                        action: Some(v1::action::Action::Output(v1::OutputAction {
                            port: Some(v1::PortRef {
                                port: Some(v1::port_ref::Port::Number(3)),
                            }),
                        })),
                    },
                ],
            })),
        }),
        ..Default::default()
    };
    h.flows()
        .add(v1::AddFlowRequest {
            bridge: "br0".into(),
            flow: Some(v1::FlowSpec {
                spec: Some(v1::flow_spec::Spec::Flow(typed)),
            }),
        })
        .await
        .unwrap_or_else(|e| panic!("typed add: {e}"));
    let t2 = h
        .dump(v1::DumpFlowsRequest {
            bridge: "br0".into(),
            table: Some(2),
            ..Default::default()
        })
        .await;
    assert_eq!(t2.len(), 1);
    let entry = t2.first().unwrap_or_else(|| panic!("no flow"));
    assert_eq!(entry.match_text, "ip,nw_src=192.168.0.0/16");
    assert_eq!(entry.actions_text, "dec_ttl,output:3");
    assert_eq!(
        entry.actions.as_ref().map(|a| a.actions.len()),
        Some(2),
        "typed actions are dumped"
    );

    // A typed match without its prerequisite is refused.
    let bad = v1::Flow {
        r#match: Some(v1::Match {
            spec: Some(v1::r#match::Spec::Fields(v1::MatchFields {
                fields: vec![v1::MatchField {
                    field: "tcp_dst".into(),
                    value: Some(v1::FieldValue {
                        kind: Some(v1::field_value::Kind::Text("80".into())),
                    }),
                    mask: None,
                }],
            })),
        }),
        ..Default::default()
    };
    let (code, msg) = code_of(
        h.flows()
            .add(v1::AddFlowRequest {
                bridge: "br0".into(),
                flow: Some(v1::FlowSpec {
                    spec: Some(v1::flow_spec::Spec::Flow(bad)),
                }),
            })
            .await,
    );
    assert_eq!(code, Code::InvalidArgument, "{msg}");

    // Dump filters: cookie/mask and match.
    let by_cookie = h
        .dump(v1::DumpFlowsRequest {
            bridge: "br0".into(),
            cookie: 0x10,
            cookie_mask: u64::MAX,
            ..Default::default()
        })
        .await;
    assert_eq!(by_cookie.len(), 1);
    let by_match = h
        .dump(v1::DumpFlowsRequest {
            bridge: "br0".into(),
            r#match: "udp".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(by_match.len(), 1);

    // Modify strict changes only the exact flow.
    let r = h
        .flows()
        .modify(v1::ModifyFlowsRequest {
            bridge: "br0".into(),
            flow: Some(text_spec("table=1,priority=6,udp,actions=output:4")),
            strict: true,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert_eq!(r.modified, 1);
    // Delete by cookie mask.
    let r = h
        .flows()
        .delete(v1::DeleteFlowsRequest {
            bridge: "br0".into(),
            flow: Some(text_spec("cookie=0x10/0xffffffffffffffff")),
            strict: false,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert_eq!(r.removed, 1);
    let texts = h.dump_texts("br0").await;
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("output:4")), "{texts:?}");
    // Delete everything.
    let r = h
        .flows()
        .delete(v1::DeleteFlowsRequest {
            bridge: "br0".into(),
            flow: None,
            strict: false,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert_eq!(r.removed, 3);
    assert!(h.dump_texts("br0").await.is_empty());
}

#[tokio::test]
async fn a_bundle_with_one_bad_flow_changes_nothing() {
    let h = Harness::start().await;
    h.add_bridge("br0").await;
    h.add_flow("br0", "priority=1,actions=drop")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut mods: Vec<v1::FlowMod> = (0..1000)
        .map(|i| {
            add_mod(&format!(
                "priority=100,ip,nw_dst=10.0.{}.{},actions=output:1",
                i / 256,
                i % 256
            ))
        })
        .collect();
    if let Some(m) = mods.get_mut(617) {
        *m = add_mod("priority=100,ip,nw_dst=10.0.0.300,actions=output:1");
    }
    let status = match h
        .bundles()
        .commit(v1::BundleRequest {
            add_flows_text: String::new(),
            bridge: "br0".into(),
            mods,
        })
        .await
    {
        Ok(r) => panic!("bundle accepted: {r:?}"),
        Err(s) => s,
    };
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("flow mod 617: column "),
        "{}",
        status.message()
    );
    let details =
        v1::BundleError::decode(status.details()).unwrap_or_else(|e| panic!("details: {e}"));
    assert_eq!(details.index, 617);
    assert!(details.reason.starts_with("column "), "{}", details.reason);
    assert_eq!(
        h.dump_texts("br0").await,
        ["table=0,priority=1 actions=drop"]
    );

    // The same in a bundle large enough to be parsed on several threads: the first bad flow
    // mod is named, not the first one a thread found.
    let mut mods: Vec<v1::FlowMod> = (0..10_000)
        .map(|i| {
            add_mod(&format!(
                "priority=100,ip,nw_dst=10.1.{}.{},actions=output:1",
                i / 256,
                i % 256
            ))
        })
        .collect();
    for bad in [7001, 9500] {
        if let Some(m) = mods.get_mut(bad) {
            *m = add_mod("priority=100,ip,nw_dst=10.0.0.300,actions=output:1");
        }
    }
    let status = match h
        .bundles()
        .commit(v1::BundleRequest {
            add_flows_text: String::new(),
            bridge: "br0".into(),
            mods,
        })
        .await
    {
        Ok(r) => panic!("bundle accepted: {r:?}"),
        Err(s) => s,
    };
    assert!(
        status.message().starts_with("flow mod 7001: "),
        "{}",
        status.message()
    );
    assert_eq!(h.dump_texts("br0").await.len(), 1);

    // Flow mods are parsed ahead of the one being applied, but the first failure in bundle
    // order is named: a refused add (here an overlap) before a syntax error further on.
    let mut mods: Vec<v1::FlowMod> = (0..10_000)
        .map(|i| {
            add_mod(&format!(
                "priority=100,ip,nw_dst=10.2.{}.{},actions=output:1",
                i / 256,
                i % 256
            ))
        })
        .collect();
    if let Some(m) = mods.get_mut(3000) {
        *m = add_mod("priority=1,check_overlap,tcp,actions=drop");
    }
    if let Some(m) = mods.get_mut(9000) {
        *m = add_mod("priority=100,ip,nw_dst=10.0.0.300,actions=output:1");
    }
    let status = match h
        .bundles()
        .commit(v1::BundleRequest {
            add_flows_text: String::new(),
            bridge: "br0".into(),
            mods,
        })
        .await
    {
        Ok(r) => panic!("bundle accepted: {r:?}"),
        Err(s) => s,
    };
    assert!(
        status.message().starts_with("flow mod 3000: flow overlaps"),
        "{}",
        status.message()
    );
    assert_eq!(h.dump_texts("br0").await.len(), 1);

    // A table error in a bundle is reported with its index too.
    let status = match h
        .bundles()
        .commit(v1::BundleRequest {
            add_flows_text: String::new(),
            bridge: "br0".into(),
            mods: vec![
                add_mod("priority=5,actions=drop"),
                add_mod("table=256,actions=drop"),
            ],
        })
        .await
    {
        Ok(r) => panic!("bundle accepted: {r:?}"),
        Err(s) => s,
    };
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("flow mod 1: "),
        "{}",
        status.message()
    );
    assert_eq!(h.dump_texts("br0").await.len(), 1);

    // A good bundle mixing commands applies in order.
    let r = h
        .bundles()
        .commit(v1::BundleRequest {
            add_flows_text: String::new(),
            bridge: "br0".into(),
            mods: vec![
                add_mod("priority=5,ip,actions=output:1"),
                v1::FlowMod {
                    command: v1::FlowCommand::Delete.into(),
                    strict: true,
                    flow: Some(text_spec("priority=1")),
                },
            ],
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert_eq!((r.added, r.removed), (1, 1));
    assert_eq!(
        h.dump_texts("br0").await,
        ["table=0,priority=5,ip actions=output:1"]
    );
}

#[tokio::test]
async fn a_bundle_text_of_flows_follows_the_mods() {
    let h = Harness::start().await;
    h.add_bridge("br0").await;
    let commit = |mods: Vec<v1::FlowMod>, text: &str| {
        let request = v1::BundleRequest {
            bridge: "br0".into(),
            mods,
            add_flows_text: text.to_string(),
        };
        let mut client = h.bundles();
        async move { client.commit(request).await }
    };

    // A bad flow in the text is numbered after the mods, counting flow lines only (blank
    // lines and comments are not flow mods), and nothing changes.
    let text = "  priority=7,ip,actions=output:1\n\n# a comment\n\
                priority=8,ip,nw_dst=10.0.0.300,actions=output:1\n";
    let status = match commit(vec![add_mod("priority=6,ip,actions=output:2")], text).await {
        Ok(r) => panic!("bundle accepted: {r:?}"),
        Err(s) => s,
    };
    assert_eq!(status.code(), Code::InvalidArgument);
    let details =
        v1::BundleError::decode(status.details()).unwrap_or_else(|e| panic!("details: {e}"));
    assert_eq!(details.index, 2, "{}", status.message());
    assert!(details.reason.starts_with("column "), "{}", details.reason);
    assert!(h.dump_texts("br0").await.is_empty());

    // Without the bad line, the mods and then the text's flows are applied, as one change.
    let text = "priority=7,ip,actions=output:1\r\n# comment\n   \npriority=8,tcp,actions=drop";
    let r = commit(vec![add_mod("priority=6,ip,actions=output:2")], text)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert_eq!(r.added, 3);
    let mut flows = h.dump_texts("br0").await;
    flows.sort();
    assert_eq!(
        flows,
        [
            "table=0,priority=6,ip actions=output:2",
            "table=0,priority=7,ip actions=output:1",
            "table=0,priority=8,tcp actions=drop",
        ]
    );
}

#[tokio::test]
async fn restart_restores_bridges_ports_and_flows() {
    let h = Harness::start().await;
    h.add_bridge("br0").await;
    h.add_bridge("br1").await;
    h.add_mem_port("br0", "a0", None).await;
    h.add_mem_port("br0", "a1", Some(7)).await;
    h.add_flow(
        "br0",
        "table=3,priority=9,cookie=0x5,idle_timeout=600,in_port=7,actions=output:1",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    h.add_flow("br1", "actions=drop")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Later changes go to the journal, and are replayed in order.
    for i in 0..20 {
        h.add_flow(
            "br0",
            &format!("priority=20,ip,nw_dst=10.1.0.{i},actions=output:2"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
    h.flows()
        .modify(v1::ModifyFlowsRequest {
            bridge: "br0".into(),
            flow: Some(text_spec("ip,nw_dst=10.1.0.0/24,actions=output:1")),
            strict: false,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    h.flows()
        .delete(v1::DeleteFlowsRequest {
            bridge: "br0".into(),
            flow: Some(text_spec("priority=20,ip,nw_dst=10.1.0.7")),
            strict: true,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let before = (h.dump_texts("br0").await, h.dump_texts("br1").await);
    let h = h.restart().await;
    assert_eq!(h.switch.bridge_names(), ["br0", "br1"]);
    let ports: Vec<(String, u32)> = h
        .switch
        .bridge("br0")
        .unwrap_or_else(|e| panic!("{e}"))
        .ports()
        .into_iter()
        .map(|p| (p.config.name, p.config.ofport))
        .collect();
    assert_eq!(ports, [("a0".to_string(), 1), ("a1".to_string(), 7)]);
    let after = (h.dump_texts("br0").await, h.dump_texts("br1").await);
    assert_eq!(before, after);
    assert_eq!(after.0.len(), 20);
    assert!(after
        .0
        .iter()
        .filter(|t| t.contains("nw_dst=10.1.0."))
        .all(|t| t.ends_with("actions=output:1")));
    // The next port number continues after the restored ones.
    assert_eq!(h.add_mem_port("br0", "a2", None).await, 8);
}

#[tokio::test]
async fn timeouts_expire_flows_and_emit_flow_removed() {
    let h = Harness::start().await;
    h.add_bridge("br0").await;
    let mut watch = proto::v1::watch_client::WatchClient::new(h.channel.clone())
        .watch(v1::WatchRequest {
            bridge: "br0".into(),
            flow_removed: true,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    h.add_flow("br0", "priority=3,hard_timeout=1,ip,actions=drop")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    h.add_flow("br0", "priority=4,ip,actions=drop")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    h.switch.expire().await;
    assert_eq!(h.dump_texts("br0").await.len(), 2, "not expired yet");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    h.switch.expire().await;
    assert_eq!(
        h.dump_texts("br0").await,
        ["table=0,priority=4,ip actions=drop"]
    );
    let event = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .unwrap_or_else(|_| panic!("no event"))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("stream ended"));
    match event.event {
        Some(v1::event::Event::FlowRemoved(r)) => {
            assert_eq!(r.reason, "hard");
            assert_eq!(r.flow.map(|f| f.priority), Some(3));
        }
        other => panic!("unexpected event {other:?}"),
    }
}

#[tokio::test]
async fn watch_reports_port_status() {
    let h = Harness::start().await;
    h.add_bridge("br0").await;
    let mut watch = proto::v1::watch_client::WatchClient::new(h.channel.clone())
        .watch(v1::WatchRequest::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    h.add_mem_port("br0", "w0", None).await;
    let event = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .unwrap_or_else(|_| panic!("no event"))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("stream ended"));
    match event.event {
        Some(v1::event::Event::PortStatus(p)) => {
            assert_eq!(p.change, i32::from(v1::port_status::Change::Added));
            assert_eq!(p.port.map(|p| p.name), Some("w0".to_string()));
        }
        other => panic!("unexpected event {other:?}"),
    }
}

#[tokio::test]
async fn trace_tables_conntrack_admin_and_health() {
    let h = Harness::start().await;
    h.add_bridge("br0").await;
    h.add_flow("br0", "priority=10,ip,actions=resubmit(,1)")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    h.add_flow(
        "br0",
        "table=1,priority=10,ip,nw_dst=10.0.0.2,actions=output:2",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let mut trace = proto::v1::trace_client::TraceClient::new(h.channel.clone());
    let t = trace
        .trace(v1::TraceRequest {
            bridge: "br0".into(),
            input: Some(v1::trace_request::Input::Flow(
                "in_port=1,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2".into(),
            )),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert_eq!(t.datapath_actions, "2");
    assert!(t.drop_reason.is_empty());
    assert!(t.text.contains("bridge(\"br0\")"), "{}", t.text);
    let tables: Vec<u32> = t
        .steps
        .iter()
        .filter(|s| s.kind == i32::from(v1::trace_step::Kind::Table))
        .map(|s| s.table)
        .collect();
    assert_eq!(tables, [0, 1]);
    assert!(t.megaflow.contains("nw_dst=10.0.0.2"), "{}", t.megaflow);
    // The same packet as raw bytes: Ethernet, IPv4 10.0.0.1 -> 10.0.0.2 (protocol 253).
    let mut frame = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    frame.extend([
        0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 253, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    let raw = trace
        .trace(v1::TraceRequest {
            bridge: "br0".into(),
            input: Some(v1::trace_request::Input::Packet(v1::RawPacket {
                frame,
                in_port: 1,
            })),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert_eq!(raw.datapath_actions, "2", "{}", raw.text);
    assert!(raw.flow.contains("nw_src=10.0.0.1"), "{}", raw.flow);
    let miss = trace
        .trace(v1::TraceRequest {
            bridge: "br0".into(),
            input: Some(v1::trace_request::Input::Flow("in_port=1,arp".into())),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert_eq!(miss.datapath_actions, "drop");
    assert_eq!(miss.drop_reason, "table_miss");
    let (code, msg) = code_of(
        trace
            .trace(v1::TraceRequest {
                bridge: "br0".into(),
                input: Some(v1::trace_request::Input::Flow(
                    "in_port=1,nw_dst=1.2.3.4.5".into(),
                )),
            })
            .await,
    );
    assert_eq!(code, Code::InvalidArgument, "{msg}");

    let stats = proto::v1::tables_client::TablesClient::new(h.channel.clone())
        .stats(v1::TableStatsRequest {
            bridge: "br0".into(),
            all: false,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner()
        .tables;
    let counts: Vec<(u32, u64)> = stats.iter().map(|t| (t.table, t.active_count)).collect();
    assert_eq!(counts, [(0, 1), (1, 1)]);

    let (code, msg) = code_of(
        proto::v1::conntrack_client::ConntrackClient::new(h.channel.clone())
            .dump(v1::DumpConntrackRequest {
                bridge: "br0".into(),
                zone: None,
            })
            .await,
    );
    assert_eq!(code, Code::FailedPrecondition);
    assert_eq!(msg, "conntrack is not implemented yet");

    let mut admin = proto::v1::admin_client::AdminClient::new(h.channel.clone());
    let prev = admin
        .set_log_level(v1::SetLogLevelRequest {
            filter: "debug".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner()
        .previous;
    assert_eq!(prev, "info");
    let (code, _) = code_of(
        admin
            .set_log_level(v1::SetLogLevelRequest {
                filter: "not a filter".into(),
            })
            .await,
    );
    assert_eq!(code, Code::InvalidArgument);

    let mut health = tonic_health::pb::health_client::HealthClient::new(h.channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "vswitch.v1.Flows".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner()
        .status;
    assert_eq!(
        serving,
        i32::from(tonic_health::pb::health_check_response::ServingStatus::Serving)
    );

    let metrics = server::render_metrics(&h.switch);
    assert!(
        metrics.contains("vswitch_flows{bridge=\"br0\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vswitch_table_rules{bridge=\"br0\",table=\"1\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("conntrack"), "{metrics}");
}

#[tokio::test]
async fn tcp_listener_requires_a_token_or_client_certificates() {
    let h = Harness::start().await;
    h.add_bridge("br0").await;
    let api = Api::new(h.switch.clone(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = server::serve_tcp(&api, listener, None, None, async {}).await;
    assert!(
        refused.is_err(),
        "plain TCP without authentication must not start"
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server::serve_tcp(&api, listener, None, Some("s3cret".into()), async {
            let _ = stopped.await;
        })
        .await
    });
    let channel = Endpoint::try_from(format!("http://{addr}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (code, _) = code_of(
        BridgesClient::new(channel.clone())
            .list(v1::ListBridgesRequest {})
            .await,
    );
    assert_eq!(code, Code::Unauthenticated);
    let mut wrong = tonic::Request::new(v1::ListBridgesRequest {});
    wrong.metadata_mut().insert(
        "authorization",
        "Bearer s3cre7".parse().unwrap_or_else(|e| panic!("{e}")),
    );
    let (code, _) = code_of(BridgesClient::new(channel.clone()).list(wrong).await);
    assert_eq!(code, Code::Unauthenticated);
    let mut right = tonic::Request::new(v1::ListBridgesRequest {});
    right.metadata_mut().insert(
        "authorization",
        "Bearer s3cret".parse().unwrap_or_else(|e| panic!("{e}")),
    );
    let list = BridgesClient::new(channel)
        .list(right)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert_eq!(list.bridges.len(), 1);
    let _ = stop.send(());
    let _ = task.await;
}

/// 100k flows in one bundle through the gRPC API, with persistence. Run with
/// `cargo test -p vswitchd --release --test service -- --ignored --nocapture bundle_100k`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run in release mode"]
async fn bundle_100k() {
    let h = Harness::start().await;
    h.add_bridge("br0").await;
    let mods: Vec<v1::FlowMod> = (0..100_000u32)
        .map(|i| {
            add_mod(&format!(
                "priority={},ip,nw_dst=10.{}.{}.{},actions=output:{}",
                1 + i % 7,
                (i >> 16) & 0xff,
                (i >> 8) & 0xff,
                i & 0xff,
                1 + i % 4
            ))
        })
        .collect();
    let started = Instant::now();
    let r = h
        .bundles()
        .commit(v1::BundleRequest {
            add_flows_text: String::new(),
            bridge: "br0".into(),
            mods,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    let load = started.elapsed();
    assert_eq!(r.added, 100_000);
    let started = Instant::now();
    let n = h.dump_texts("br0").await.len();
    let dump = started.elapsed();
    assert_eq!(n, 100_000);
    let started = Instant::now();
    h.add_flow("br0", "priority=9,arp,actions=drop")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let one = started.elapsed();
    let h = h.restart().await;
    let started = Instant::now();
    assert_eq!(h.dump_texts("br0").await.len(), 100_001);
    eprintln!(
        "100k bundle: load {load:?}, dump {dump:?}, one more add-flow {one:?}, dump after restart {:?}",
        started.elapsed()
    );
}

/// Makes a CA, a server certificate for localhost and a client certificate with `openssl`.
fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("openssl (Debian package openssl) is needed: {e}"));
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
        "/CN=test-ca",
    ]);
    run(&ca);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n")
        .unwrap_or_else(|e| panic!("{e}"));
    for who in ["server", "client"] {
        let (k, csr, pem, ext) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.pem"),
            format!("{who}.ext"),
        );
        let subj = format!("/CN={who}");
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

#[tokio::test]
async fn tcp_listener_with_client_certificates() {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let h = Harness::start().await;
    let certs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    make_certs(certs.path());
    let read = |name: &str| {
        std::fs::read(certs.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let tls = server::TlsConfig {
        cert: certs.path().join("server.pem"),
        key: certs.path().join("server.key"),
        client_ca: Some(certs.path().join("ca.pem")),
    };
    let api = Api::new(h.switch.clone(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server::serve_tcp(&api, listener, Some(&tls), None, async {
            let _ = stopped.await;
        })
        .await
    });
    let endpoint = |identity: Option<Identity>| {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("ca.pem")))
            .domain_name("localhost");
        if let Some(id) = identity {
            tls = tls.identity(id);
        }
        Endpoint::try_from(format!("https://{addr}"))
            .unwrap_or_else(|e| panic!("{e}"))
            .tls_config(tls)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    // Without a client certificate: refused (at the handshake or at the first call).
    let anonymous = match endpoint(None).connect().await {
        Ok(channel) => BridgesClient::new(channel)
            .list(v1::ListBridgesRequest {})
            .await
            .is_ok(),
        Err(_) => false,
    };
    assert!(!anonymous, "a client without certificate was served");
    // Plain text: refused.
    let plain = match Endpoint::try_from(format!("http://{addr}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .connect()
        .await
    {
        Ok(channel) => BridgesClient::new(channel)
            .list(v1::ListBridgesRequest {})
            .await
            .is_ok(),
        Err(_) => false,
    };
    assert!(!plain, "a plain-text client was served");
    let channel = endpoint(Some(Identity::from_pem(
        read("client.pem"),
        read("client.key"),
    )))
    .connect()
    .await
    .unwrap_or_else(|e| panic!("TLS connect: {e}"));
    BridgesClient::new(channel)
        .list(v1::ListBridgesRequest {})
        .await
        .unwrap_or_else(|e| panic!("authenticated call: {e}"));
    let _ = stop.send(());
    let _ = task.await;
}
