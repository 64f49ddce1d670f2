//! gRPC calls with raw bytes, to send what no generated client would: bytes that are not a
//! valid message, or strings a well-behaved client never writes.

use bytes::{Buf, BufMut, Bytes};
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};

/// A codec that passes bytes through.
#[derive(Debug, Clone, Default)]
pub struct BytesCodec;

/// Its encoder and decoder.
#[derive(Debug, Clone, Default)]
pub struct BytesCoder;

impl Encoder for BytesCoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for BytesCoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesCoder;
    type Decoder = BytesCoder;
    fn encoder(&mut self) -> BytesCoder {
        BytesCoder
    }
    fn decoder(&mut self) -> BytesCoder {
        BytesCoder
    }
}

/// Calls unary method `path` (`/package.Service/Method`) on `channel` with `body` as the
/// request's bytes and `token` as bearer token (none when empty).
pub async fn unary(channel: Channel, path: &str, body: Vec<u8>, token: &str) -> Result<Bytes, Status> {
    let (mut grpc, request, path) = prepare(channel, path, body, token).await?;
    grpc.unary(request, path, BytesCodec).await.map(|r| r.into_inner())
}

/// Calls server-streaming method `path` as [`unary`] does and returns its first message (`None`
/// when the stream ends without one), or the status it ends with.
pub async fn first_streamed(channel: Channel, path: &str, body: Vec<u8>, token: &str) -> Result<Option<Bytes>, Status> {
    let (mut grpc, request, path) = prepare(channel, path, body, token).await?;
    let mut stream = grpc.server_streaming(request, path, BytesCodec).await?.into_inner();
    stream.message().await
}

async fn prepare(
    channel: Channel,
    path: &str,
    body: Vec<u8>,
    token: &str,
) -> Result<(tonic::client::Grpc<Channel>, tonic::Request<Bytes>, http::uri::PathAndQuery), Status> {
    let path = http::uri::PathAndQuery::try_from(path).map_err(|e| Status::invalid_argument(format!("path: {e}")))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(Bytes::from(body));
    if !token.is_empty() {
        let value = format!("Bearer {token}").parse().map_err(|_| Status::invalid_argument("bad token"))?;
        request.metadata_mut().insert("authorization", value);
    }
    Ok((grpc, request, path))
}
