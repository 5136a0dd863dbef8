//! The `vswitch.v1` gRPC API of vswitchd.
//!
//! The `.proto` files live in `proto/proto/vswitch/v1/`; `build.rs` compiles them with `protox`
//! (no system `protoc`) and generates the prost messages and the tonic clients and servers.
//!
//! * [`v1`]: the messages, `*_client` and `*_server` modules of every service
//!   (`bridges_client::BridgesClient`, `flows_server::FlowsServer`, ...).
//! * [`FILE_DESCRIPTOR_SET`]: the encoded descriptor set (with imports and comments) for gRPC
//!   server reflection, so `grpcurl` can list and call everything.

/// The generated code of package `vswitch.v1`.
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]
pub mod v1 {
    tonic::include_proto!("vswitch.v1");
}

/// The encoded `google.protobuf.FileDescriptorSet` of the API, for
/// `tonic_reflection::server::Builder::register_encoded_file_descriptor_set`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/vswitch_descriptor.bin"));

/// The fully qualified names of the services, for the health service and documentation.
pub const SERVICE_NAMES: [&str; 11] = [
    "vswitch.v1.Bridges",
    "vswitch.v1.Ports",
    "vswitch.v1.Flows",
    "vswitch.v1.Bundles",
    "vswitch.v1.Tables",
    "vswitch.v1.Trace",
    "vswitch.v1.Megaflows",
    "vswitch.v1.Drops",
    "vswitch.v1.Conntrack",
    "vswitch.v1.Watch",
    "vswitch.v1.Admin",
];

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn descriptor_set_has_every_service_and_its_comments() {
        let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
            .unwrap_or_else(|e| panic!("descriptor set does not decode: {e}"));
        let mut names: Vec<String> = fds
            .file
            .iter()
            .filter(|f| f.package() == "vswitch.v1")
            .flat_map(|f| f.service.iter().map(|s| format!("vswitch.v1.{}", s.name())))
            .collect();
        names.sort();
        let mut expected: Vec<String> = SERVICE_NAMES.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(names, expected);
        assert!(
            fds.file.iter().all(|f| f.source_code_info.is_some()),
            "comments are kept for reflection clients"
        );
    }

    #[test]
    fn messages_round_trip() {
        let fm = v1::FlowMod {
            command: v1::FlowCommand::Add.into(),
            strict: false,
            flow: Some(v1::FlowSpec {
                spec: Some(v1::flow_spec::Spec::Text(
                    "priority=10,ip,actions=output:2".into(),
                )),
            }),
        };
        let back = v1::FlowMod::decode(fm.encode_to_vec().as_slice())
            .unwrap_or_else(|e| panic!("decode: {e}"));
        assert_eq!(back, fm);
    }
}
