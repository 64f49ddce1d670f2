//! Compiles the contracts with protox (pure Rust, no system `protoc`) and embeds the descriptor
//! set for gRPC server reflection.
use std::{env, path::PathBuf};

const PROTOS: &[&str] = &[
    "civicgrid/v1/common.proto",
    "civicgrid/v1/intake.proto",
    "civicgrid/v1/task_events.proto",
    "civicgrid/v1/dispatch.proto",
    "civicgrid/v1/notify.proto",
    "civicgrid/v1/mediation.proto",
    "civicgrid/v1/patrol.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let fds = protox::compile(PROTOS, ["."])?;
    std::fs::write(out_dir.join("civicgrid_descriptor.bin"), prost::Message::encode_to_vec(&fds))?;
    // google.rpc.BadRequest: descriptors only (tonic-types has the Rust types), for reflection.
    let rpc = protox::compile(["google/rpc/error_details.proto"], ["."])?;
    std::fs::write(out_dir.join("google_rpc_descriptor.bin"), prost::Message::encode_to_vec(&rpc))?;
    println!("cargo:rerun-if-changed=google");
    // Every message knows its full name (`prost::Name`): the bus contracts derive `ce-type`
    // from it, and the checked codec finds a request's descriptor by it.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .codec_path("crate::codec::Codec")
        .compile_fds_with_config(fds, config)?;
    println!("cargo:rerun-if-changed=civicgrid");
    Ok(())
}
