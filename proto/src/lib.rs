//! civicgrid's contracts: the `civicgrid.v1` protobuf messages and gRPC services.
//!
//! The `.proto` files under `proto/civicgrid/v1` are the source of truth; this crate compiles
//! them at build time and re-exports the generated types. Every message implements
//! `prost::Name`. Servers and clients use [`codec::Codec`], which refuses a request that is not
//! valid protobuf, holds invalid UTF-8 or a NUL character in any string, with
//! `INVALID_ARGUMENT` naming the field, before a handler sees it.

pub mod codec;

/// Package `civicgrid.v1`: every message, enum, client and server.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("civicgrid.v1");
}

/// The encoded `FileDescriptorSet` of all contracts, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("civicgrid_descriptor");

/// The encoded `FileDescriptorSet` of `google.rpc.BadRequest`, so reflection clients can decode
/// the details of `INVALID_ARGUMENT` answers.
pub const GOOGLE_RPC_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("google_rpc_descriptor");
