//! vswitchd: bridges, ports and flows behind the `vswitch.v1` gRPC API.
//!
//! A library with a thin `main`, so tests (and the simulator) run whole switches in-process.
//!
//! * [`switch`]: the state and every change to it: bridges, ports (opened through
//!   `datapath::port::open`), flow tables as `ArcSwap<Tables>` snapshots swapped per change or
//!   bundle, expiry, restore. Errors are [`switch::SwitchError`], one variant per status code.
//! * [`persist`]: the state directory: `bridges.toml`, flow snapshots and the flow journal,
//!   written atomically and durably.
//! * [`convert`]: `vswitch.v1` messages to and from flowtable types (typed matches and
//!   actions, flow text), and the cache of formatted rules.
//! * [`service`]: the gRPC services, reflection and health on top of [`switch::Switch`].
//! * [`server`]: the daemon: configuration file, Unix socket (0600), authenticated TCP
//!   listener (mTLS or bearer token), Prometheus endpoint, expiry timer, shutdown.

pub mod convert;
pub mod persist;
pub mod server;
pub mod service;
pub mod switch;
