//! vswitchd: bridges, ports and flows behind the `vswitch.v1` gRPC API.

pub mod convert;
pub mod persist;
pub mod server;
pub mod service;
pub mod switch;
