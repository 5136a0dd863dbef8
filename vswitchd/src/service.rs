//! The gRPC services of `vswitch.v1`, on top of [`Switch`].
//!
//! [`Api`] implements every service; [`Api::router`] adds them, with server reflection (v1 and
//! v1alpha) and the standard health service, to a tonic server. Errors map to status codes as
//! the `.proto` documents: [`SwitchError`] variant by variant (see [`status`]).

use std::sync::Arc;

use datapath::clock::now_ms;
use datapath::Datapath;
use flowtable::action::OfPort;
use flowtable::pipeline::{self, DpActions, TraceEvent};
use flowtable::syntax::actions::format_actions_for;
use flowtable::syntax::flow::FlowCommand;
use flowtable::syntax::matches::{format_match, parse_match, parse_packet_spec};
use flowtable::Match;
use prost::Message as _;
use proto::v1;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::Bytes;
use tonic::{Code, Request, Response, Status};

use crate::convert;
use crate::persist::Change;
use crate::switch::{port_info, ChangeSummary, Switch, SwitchError};

/// Flows per message of a flow dump.
const DUMP_BATCH: usize = 1000;

/// Changes the log filter at run time; returns the previous filter.
pub trait LogControl: Send + Sync + 'static {
    /// Installs `filter` (`RUST_LOG` syntax); returns the filter it replaced, or why `filter`
    /// is invalid.
    fn set_filter(&self, filter: &str) -> Result<String, String>;
}

/// The implementation of every `vswitch.v1` service.
#[derive(Clone)]
pub struct Api {
    switch: Arc<Switch>,
    log: Option<Arc<dyn LogControl>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("switch", &self.switch)
            .finish_non_exhaustive()
    }
}

/// The gRPC status for a refused request.
pub fn status(e: SwitchError) -> Status {
    let code = |e: &SwitchError| match e {
        SwitchError::Invalid(_) => Code::InvalidArgument,
        SwitchError::NotFound(_) => Code::NotFound,
        SwitchError::Exists(_) => Code::AlreadyExists,
        SwitchError::Unavailable(_) => Code::FailedPrecondition,
        SwitchError::Internal(_) => Code::Internal,
        SwitchError::Bundle { .. } => Code::InvalidArgument,
    };
    match &e {
        SwitchError::Bundle { index, error } => {
            let details = v1::BundleError {
                index: u32::try_from(*index).unwrap_or(u32::MAX),
                reason: error.to_string(),
            };
            Status::with_details(
                code(error),
                e.to_string(),
                Bytes::from(details.encode_to_vec()),
            )
        }
        _ => Status::new(code(&e), e.to_string()),
    }
}

fn invalid(reason: impl Into<String>) -> Status {
    Status::invalid_argument(reason)
}

fn result(s: ChangeSummary) -> v1::FlowModResult {
    v1::FlowModResult {
        added: s.added,
        modified: s.modified,
        removed: s.removed,
    }
}

fn command_of(c: i32) -> Result<FlowCommand, String> {
    match v1::FlowCommand::try_from(c) {
        Ok(v1::FlowCommand::Add) => Ok(FlowCommand::Add),
        Ok(v1::FlowCommand::Modify) => Ok(FlowCommand::Modify),
        Ok(v1::FlowCommand::Delete) => Ok(FlowCommand::Delete),
        Ok(v1::FlowCommand::Unspecified) | Err(_) => {
            Err("the flow mod's command is missing: expected add, modify or delete".to_string())
        }
    }
}

/// The text of a flow given as text.
fn spec_text(spec: Option<&v1::FlowSpec>) -> Option<String> {
    match spec.and_then(|s| s.spec.as_ref()) {
        Some(v1::flow_spec::Spec::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

impl Api {
    /// The services of `switch`; `log` serves Admin.SetLogLevel (without it the call fails
    /// with FAILED_PRECONDITION).
    pub fn new(switch: Arc<Switch>, log: Option<Arc<dyn LogControl>>) -> Api {
        Api { switch, log }
    }

    /// The switch served.
    pub fn switch(&self) -> &Arc<Switch> {
        &self.switch
    }

    /// Every service, reflection (v1 and v1alpha) and health, as one router.
    pub async fn routes(&self) -> Result<tonic::service::Routes, SwitchError> {
        let reflection = |e: tonic_reflection::server::Error| {
            SwitchError::Internal(format!("reflection descriptor: {e}"))
        };
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(reflection)?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(reflection)?;
        let (health, health_service) = tonic_health::server::health_reporter();
        for name in proto::SERVICE_NAMES {
            health
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        }
        health
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        use v1::*;
        let mut routes = tonic::service::RoutesBuilder::default();
        routes
            .add_service(bridges_server::BridgesServer::new(self.clone()))
            .add_service(ports_server::PortsServer::new(self.clone()))
            .add_service(
                flows_server::FlowsServer::new(self.clone()).max_decoding_message_size(usize::MAX),
            )
            .add_service(
                bundles_server::BundlesServer::new(self.clone())
                    .max_decoding_message_size(usize::MAX),
            )
            .add_service(tables_server::TablesServer::new(self.clone()))
            .add_service(trace_server::TraceServer::new(self.clone()))
            .add_service(megaflows_server::MegaflowsServer::new(self.clone()))
            .add_service(drops_server::DropsServer::new(self.clone()))
            .add_service(conntrack_server::ConntrackServer::new(self.clone()))
            .add_service(watch_server::WatchServer::new(self.clone()))
            .add_service(admin_server::AdminServer::new(self.clone()))
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(health_service);
        Ok(routes.routes())
    }

    async fn flow_change(
        &self,
        bridge: &str,
        spec: Option<&v1::FlowSpec>,
        command: FlowCommand,
        strict: bool,
    ) -> Result<Response<v1::FlowModResult>, Status> {
        let fm = match spec {
            Some(spec) => convert::flow_mod(spec, command).map_err(invalid)?,
            None if command == FlowCommand::Delete => convert::delete_all(),
            None => return Err(invalid("the flow is missing")),
        };
        self.switch.bridge(bridge).map_err(status)?;
        let summary = self
            .switch
            .apply(
                bridge,
                vec![Change {
                    flow_mod: fm,
                    strict,
                    text: spec_text(spec),
                }],
            )
            .await
            .map_err(status)?;
        Ok(Response::new(result(summary)))
    }
}

#[tonic::async_trait]
impl v1::bridges_server::Bridges for Api {
    async fn add(
        &self,
        request: Request<v1::AddBridgeRequest>,
    ) -> Result<Response<v1::AddBridgeResponse>, Status> {
        let name = request.into_inner().name;
        self.switch.add_bridge(&name).await.map_err(status)?;
        Ok(Response::new(v1::AddBridgeResponse {}))
    }

    async fn delete(
        &self,
        request: Request<v1::DeleteBridgeRequest>,
    ) -> Result<Response<v1::DeleteBridgeResponse>, Status> {
        let name = request.into_inner().name;
        self.switch.delete_bridge(&name).await.map_err(status)?;
        Ok(Response::new(v1::DeleteBridgeResponse {}))
    }

    async fn list(
        &self,
        _request: Request<v1::ListBridgesRequest>,
    ) -> Result<Response<v1::ListBridgesResponse>, Status> {
        let bridges = self
            .switch
            .bridges()
            .iter()
            .map(|b| v1::BridgeInfo {
                name: b.name().to_string(),
                ports: b.ports().iter().map(port_info).collect(),
                flow_count: b.tables().len() as u64,
                datapath_error: b.datapath_error().unwrap_or_default().to_string(),
            })
            .collect();
        Ok(Response::new(v1::ListBridgesResponse { bridges }))
    }
}

#[tonic::async_trait]
impl v1::ports_server::Ports for Api {
    async fn add(
        &self,
        request: Request<v1::AddPortRequest>,
    ) -> Result<Response<v1::AddPortResponse>, Status> {
        let r = request.into_inner();
        let (ofport, error) = self
            .switch
            .add_port(
                &r.bridge,
                &r.name,
                &r.r#type,
                r.options.into_iter().collect(),
                r.ofport,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(v1::AddPortResponse {
            ofport,
            error: error.unwrap_or_default(),
        }))
    }

    async fn delete(
        &self,
        request: Request<v1::DeletePortRequest>,
    ) -> Result<Response<v1::DeletePortResponse>, Status> {
        let r = request.into_inner();
        self.switch
            .delete_port(&r.bridge, &r.name)
            .await
            .map_err(status)?;
        Ok(Response::new(v1::DeletePortResponse {}))
    }

    async fn list(
        &self,
        request: Request<v1::ListPortsRequest>,
    ) -> Result<Response<v1::ListPortsResponse>, Status> {
        let br = self
            .switch
            .bridge(&request.into_inner().bridge)
            .map_err(status)?;
        Ok(Response::new(v1::ListPortsResponse {
            ports: br.ports().iter().map(port_info).collect(),
        }))
    }

    async fn stats(
        &self,
        request: Request<v1::PortStatsRequest>,
    ) -> Result<Response<v1::PortStatsResponse>, Status> {
        let r = request.into_inner();
        let br = self.switch.bridge(&r.bridge).map_err(status)?;
        let ports = br.ports();
        if !r.port.is_empty() && !ports.iter().any(|p| p.config.name == r.port) {
            return Err(status(SwitchError::NotFound(format!(
                "no port \"{}\" on bridge \"{}\"",
                r.port, r.bridge
            ))));
        }
        let dp_stats = br.with_datapath(|dp| dp.port_stats()).unwrap_or_default();
        let stats = ports
            .iter()
            .filter(|p| r.port.is_empty() || p.config.name == r.port)
            .map(|p| {
                let s = dp_stats
                    .iter()
                    .find(|s| s.ofport == p.config.ofport && p.error.is_none())
                    .cloned()
                    .unwrap_or_default();
                v1::PortStats {
                    name: p.config.name.clone(),
                    ofport: p.config.ofport,
                    rx_packets: s.rx_packets,
                    rx_bytes: s.rx_bytes,
                    tx_packets: s.tx_packets,
                    tx_bytes: s.tx_bytes,
                    rx_dropped: s.rx_dropped,
                    tx_dropped: s.tx_dropped,
                    rx_errors: s.rx_errors,
                    tx_errors: s.tx_errors,
                }
            })
            .collect();
        Ok(Response::new(v1::PortStatsResponse { ports: stats }))
    }
}

#[tonic::async_trait]
impl v1::flows_server::Flows for Api {
    async fn add(
        &self,
        request: Request<v1::AddFlowRequest>,
    ) -> Result<Response<v1::FlowModResult>, Status> {
        let r = request.into_inner();
        self.flow_change(&r.bridge, r.flow.as_ref(), FlowCommand::Add, false)
            .await
    }

    async fn modify(
        &self,
        request: Request<v1::ModifyFlowsRequest>,
    ) -> Result<Response<v1::FlowModResult>, Status> {
        let r = request.into_inner();
        self.flow_change(&r.bridge, r.flow.as_ref(), FlowCommand::Modify, r.strict)
            .await
    }

    async fn delete(
        &self,
        request: Request<v1::DeleteFlowsRequest>,
    ) -> Result<Response<v1::FlowModResult>, Status> {
        let r = request.into_inner();
        self.flow_change(&r.bridge, r.flow.as_ref(), FlowCommand::Delete, r.strict)
            .await
    }

    type DumpStream = tokio_stream::Iter<std::vec::IntoIter<Result<v1::DumpFlowsResponse, Status>>>;

    async fn dump(
        &self,
        request: Request<v1::DumpFlowsRequest>,
    ) -> Result<Response<Self::DumpStream>, Status> {
        let r = request.into_inner();
        let br = self.switch.bridge(&r.bridge).map_err(status)?;
        let table = r
            .table
            .map(convert::table_of)
            .transpose()
            .map_err(invalid)?;
        let filter = if r.r#match.is_empty() {
            Match::any()
        } else {
            parse_match(&r.r#match, 0, r.r#match.len()).map_err(|e| invalid(e.to_string()))?
        };
        let out_port = r
            .out_port
            .as_ref()
            .map(|p| {
                convert::action_of(&v1::Action {
                    action: Some(v1::action::Action::Output(v1::OutputAction {
                        port: Some(p.clone()),
                    })),
                })
            })
            .transpose()
            .map_err(invalid)?
            .and_then(|a| match a {
                flowtable::action::Action::Output(p) => Some(p),
                _ => None,
            });
        let tables = br.tables();
        let batches = tokio::task::spawn_blocking(move || {
            let br = br;
            // What the ports' XDP programs forwarded counts too.
            br.with_datapath(Datapath::sync_offloaded);
            let now = now_ms();
            let mut rules: Vec<_> = tables
                .rules()
                .filter(|rule| table.is_none_or(|t| t == 255 || rule.table == t))
                .filter(|rule| (rule.cookie ^ r.cookie) & r.cookie_mask == 0)
                .filter(|rule| filter.covers(&rule.match_))
                .filter(|rule| out_port.is_none_or(|p: OfPort| rule.outputs_to(p)))
                .collect();
            rules.sort_by(|a, b| a.table.cmp(&b.table).then(b.priority.cmp(&a.priority)));
            let texts = br.rule_texts(&rules);
            let pairs: Vec<_> = rules.iter().zip(&texts).collect();
            let mut entries = convert::parallel_map(&pairs, |(rule, text)| {
                convert::flow_entry_with(rule, now, text)
            })
            .into_iter();
            let mut batches = Vec::with_capacity(rules.len().div_ceil(DUMP_BATCH));
            loop {
                let flows: Vec<_> = entries.by_ref().take(DUMP_BATCH).collect();
                if flows.is_empty() {
                    break;
                }
                batches.push(Ok(v1::DumpFlowsResponse { flows }));
            }
            batches
        })
        .await
        .map_err(|e| Status::internal(format!("dump failed: {e}")))?;
        Ok(Response::new(tokio_stream::iter(batches)))
    }
}

#[tonic::async_trait]
impl v1::bundles_server::Bundles for Api {
    async fn commit(
        &self,
        request: Request<v1::BundleRequest>,
    ) -> Result<Response<v1::FlowModResult>, Status> {
        let r = request.into_inner();
        self.switch.bridge(&r.bridge).map_err(status)?;
        // The text's flows are parsed from ranges of one shared string: no string per flow
        // until a flow is parsed (on a worker thread) and kept for the journal.
        let text: Arc<str> = Arc::from(r.add_flows_text);
        let lines: Vec<_> = flowtable::syntax::flow_lines(&text)
            .map(|f| f.flow)
            .collect();
        let n = r.mods.len() + lines.len();
        let items: Vec<BundleItem> = r
            .mods
            .into_iter()
            .map(BundleItem::Mod)
            .chain(
                lines
                    .into_iter()
                    .map(|range| BundleItem::Line(text.clone(), range)),
            )
            .collect();
        let summary = self
            .switch
            .apply_parsed(&r.bridge, items, |item| {
                let m = match item {
                    BundleItem::Mod(m) => m,
                    BundleItem::Line(text, range) => {
                        let line = text.get(range).unwrap_or_default();
                        return Ok(Change {
                            flow_mod: convert::parse_flow_text(line, FlowCommand::Add)?,
                            strict: false,
                            text: Some(line.to_string()),
                        });
                    }
                };
                let command = command_of(m.command)?;
                let (flow_mod, text) = match m.flow {
                    Some(v1::FlowSpec {
                        spec: Some(v1::flow_spec::Spec::Text(text)),
                    }) => (convert::parse_flow_text(&text, command)?, Some(text)),
                    Some(spec) => (convert::flow_mod(&spec, command)?, None),
                    None if command == FlowCommand::Delete => (convert::delete_all(), None),
                    None => return Err("the flow is missing".to_string()),
                };
                Ok(Change {
                    flow_mod,
                    strict: m.strict,
                    text,
                })
            })
            .await
            .map_err(|e| match e {
                // A one-item bundle fails like a bundle too.
                SwitchError::Bundle { .. } => status(e),
                e if n == 1 => status(SwitchError::Bundle {
                    index: 0,
                    error: Box::new(e),
                }),
                e => status(e),
            })?;
        Ok(Response::new(result(summary)))
    }
}

/// One flow mod of a bundle: a message, or a line of the bundle's text (a range of it).
enum BundleItem {
    Mod(v1::FlowMod),
    Line(Arc<str>, std::ops::Range<usize>),
}

#[tonic::async_trait]
impl v1::tables_server::Tables for Api {
    async fn stats(
        &self,
        request: Request<v1::TableStatsRequest>,
    ) -> Result<Response<v1::TableStatsResponse>, Status> {
        let r = request.into_inner();
        let tables = self.switch.bridge(&r.bridge).map_err(status)?.tables();
        let stats = tables
            .iter()
            .filter(|(_, t)| r.all || !t.is_empty())
            .map(|(id, t)| v1::TableStats {
                table: u32::from(id),
                active_count: t.len() as u64,
                packet_count: t.rules().map(|rule| rule.stats.packets()).sum(),
                byte_count: t.rules().map(|rule| rule.stats.bytes()).sum(),
            })
            .collect();
        Ok(Response::new(v1::TableStatsResponse { tables: stats }))
    }
}

fn trace_steps(events: &[TraceEvent]) -> Vec<v1::TraceStep> {
    use v1::trace_step::Kind;
    let depth = |d: &usize| u32::try_from(*d).unwrap_or(u32::MAX);
    events
        .iter()
        .map(|e| match e {
            TraceEvent::Table {
                depth: d,
                table,
                rule,
            } => v1::TraceStep {
                kind: Kind::Table.into(),
                depth: depth(d),
                table: u32::from(*table),
                rule: rule
                    .as_ref()
                    .map(|r| convert::rule_text(r))
                    .unwrap_or_default(),
                hit: rule.is_some(),
                text: String::new(),
            },
            TraceEvent::Action {
                depth: d,
                action,
                rule,
            } => v1::TraceStep {
                kind: Kind::Action.into(),
                depth: depth(d),
                table: rule.as_ref().map_or(0, |r| u32::from(r.table)),
                rule: String::new(),
                hit: false,
                text: format_actions_for(
                    std::slice::from_ref(action),
                    &rule.as_ref().map_or(Match::any(), |r| r.match_),
                ),
            },
            TraceEvent::Note { depth: d, text } => v1::TraceStep {
                kind: Kind::Note.into(),
                depth: depth(d),
                table: 0,
                rule: String::new(),
                hit: false,
                text: text.clone(),
            },
        })
        .collect()
}

#[tonic::async_trait]
impl v1::trace_server::Trace for Api {
    async fn trace(
        &self,
        request: Request<v1::TraceRequest>,
    ) -> Result<Response<v1::TraceResponse>, Status> {
        let r = request.into_inner();
        let br = self.switch.bridge(&r.bridge).map_err(status)?;
        let key = match &r.input {
            Some(v1::trace_request::Input::Flow(text)) => {
                parse_packet_spec(text).map_err(|e| invalid(e.to_string()))?
            }
            Some(v1::trace_request::Input::Packet(p)) => {
                flowtable::extract::extract(&p.frame, p.in_port)
                    .map_err(|e| invalid(format!("cannot parse the packet: {e}")))?
            }
            None => return Err(invalid("give a flow or a packet to trace")),
        };
        let tables = br.tables();
        let trace = pipeline::trace(&tables, br.recirc(), &key);
        let t = &trace.translation;
        Ok(Response::new(v1::TraceResponse {
            text: trace.render(br.name()),
            steps: trace_steps(&trace.events),
            flow: format_match(&Match::new(key, flowtable::FlowMask::exact())),
            megaflow: convert::masked_key_text(&key, &t.mask),
            datapath_actions: DpActions(&t.actions).to_string(),
            drop_reason: t.drop.map(|d| d.name().to_string()).unwrap_or_default(),
        }))
    }
}

#[tonic::async_trait]
impl v1::megaflows_server::Megaflows for Api {
    async fn dump(
        &self,
        request: Request<v1::DumpMegaflowsRequest>,
    ) -> Result<Response<v1::DumpMegaflowsResponse>, Status> {
        let bridges = self
            .switch
            .select(&request.into_inner().bridge)
            .map_err(status)?;
        let now = now_ms();
        let mut megaflows = Vec::new();
        for br in bridges {
            for m in br.with_datapath(|dp| dp.megaflows()).unwrap_or_default() {
                megaflows.push(v1::MegaflowEntry {
                    bridge: br.name().to_string(),
                    r#match: convert::masked_key_text(&m.key, &m.mask),
                    actions: DpActions(&m.actions).to_string(),
                    packets: m.packets,
                    bytes: m.bytes,
                    used_ms: if m.used_ms == 0 {
                        0
                    } else {
                        now.saturating_sub(m.used_ms)
                    },
                    line: m.dpctl_line_at(now),
                    offloaded_packets: m.offloaded_packets,
                    offloaded_keys: u64::try_from(m.offloaded_keys).unwrap_or(u64::MAX),
                });
            }
        }
        Ok(Response::new(v1::DumpMegaflowsResponse { megaflows }))
    }

    async fn flush(
        &self,
        request: Request<v1::FlushMegaflowsRequest>,
    ) -> Result<Response<v1::FlushMegaflowsResponse>, Status> {
        for br in self
            .switch
            .select(&request.into_inner().bridge)
            .map_err(status)?
        {
            br.with_datapath(|dp| dp.flush_megaflows());
        }
        Ok(Response::new(v1::FlushMegaflowsResponse {}))
    }
}

#[tonic::async_trait]
impl v1::drops_server::Drops for Api {
    async fn get(
        &self,
        request: Request<v1::GetDropsRequest>,
    ) -> Result<Response<v1::GetDropsResponse>, Status> {
        let bridges = self
            .switch
            .select(&request.into_inner().bridge)
            .map_err(status)?;
        let drops = bridges
            .iter()
            .flat_map(|br| {
                br.with_datapath(|dp| dp.drops())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(reason, count)| v1::DropCounter {
                        bridge: br.name().to_string(),
                        reason: reason.to_string(),
                        count,
                    })
            })
            .collect();
        Ok(Response::new(v1::GetDropsResponse { drops }))
    }
}

/// The answer of the conntrack services until conntrack exists.
fn no_conntrack() -> Status {
    status(SwitchError::Unavailable(
        "conntrack is not implemented yet".to_string(),
    ))
}

#[tonic::async_trait]
impl v1::conntrack_server::Conntrack for Api {
    async fn dump(
        &self,
        request: Request<v1::DumpConntrackRequest>,
    ) -> Result<Response<v1::DumpConntrackResponse>, Status> {
        self.switch
            .select(&request.into_inner().bridge)
            .map_err(status)?;
        Err(no_conntrack())
    }

    async fn flush(
        &self,
        request: Request<v1::FlushConntrackRequest>,
    ) -> Result<Response<v1::FlushConntrackResponse>, Status> {
        self.switch
            .select(&request.into_inner().bridge)
            .map_err(status)?;
        Err(no_conntrack())
    }
}

fn wanted(r: &v1::WatchRequest, e: &v1::Event) -> bool {
    if !r.bridge.is_empty() && r.bridge != e.bridge {
        return false;
    }
    let all = !(r.packet_in || r.flow_removed || r.port_status);
    match &e.event {
        Some(v1::event::Event::PacketIn(_)) => all || r.packet_in,
        Some(v1::event::Event::FlowRemoved(_)) => all || r.flow_removed,
        Some(v1::event::Event::PortStatus(_)) => all || r.port_status,
        None => false,
    }
}

#[tonic::async_trait]
impl v1::watch_server::Watch for Api {
    type WatchStream = ReceiverStream<Result<v1::Event, Status>>;

    async fn watch(
        &self,
        request: Request<v1::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let r = request.into_inner();
        self.switch.select(&r.bridge).map_err(status)?;
        let mut events = self.switch.subscribe();
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            let mut lost = 0u64;
            loop {
                let event = tokio::select! {
                    // The client went away.
                    () = tx.closed() => return,
                    e = events.recv() => e,
                };
                match event {
                    Ok(mut e) if wanted(&r, &e) => {
                        e.lost = std::mem::take(&mut lost);
                        if tx.send(Ok(e)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => lost += n,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[tonic::async_trait]
impl v1::admin_server::Admin for Api {
    async fn set_log_level(
        &self,
        request: Request<v1::SetLogLevelRequest>,
    ) -> Result<Response<v1::SetLogLevelResponse>, Status> {
        let filter = request.into_inner().filter;
        let log = self.log.as_ref().ok_or_else(|| {
            status(SwitchError::Unavailable(
                "this server's log level cannot be changed".to_string(),
            ))
        })?;
        let previous = log.set_filter(&filter).map_err(invalid)?;
        tracing::info!(filter, previous, "log filter changed");
        Ok(Response::new(v1::SetLogLevelResponse { previous }))
    }
}
