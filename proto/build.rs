//! Compiles `proto/vswitch/v1/*.proto` with `protox` (a pure-Rust protobuf compiler, so no
//! system `protoc` is needed), generates the prost messages and tonic clients and servers, and
//! writes the encoded descriptor set for gRPC server reflection.

use std::path::PathBuf;

use prost::Message as _;

const PROTOS: [&str; 2] = ["vswitch/v1/common.proto", "vswitch/v1/vswitch.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=proto");

    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTOS)?;
    let fds = compiler.file_descriptor_set();

    std::fs::write(out_dir.join("vswitch_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
