//! The gRPC codec of every civicgrid service: prost, plus a check of what clients send.
//!
//! A request whose bytes are not a valid message, or one with a string field holding invalid
//! UTF-8 or a NUL character (which PostgreSQL cannot store in `text`), is answered
//! `INVALID_ARGUMENT` with a `google.rpc.BadRequest` naming the field (`location.address`,
//! `evidence_urls[1]`), never `INTERNAL`. The check walks the wire format against the message's
//! descriptor only when it must: when prost refuses the bytes, or when they hold a zero byte.

use std::{marker::PhantomData, sync::OnceLock};

use bytes::Buf;
use prost::{Message, Name};
use prost_reflect::{DescriptorPool, Kind, MessageDescriptor};
use tonic::{
    Code, Status,
    codec::{BufferSettings, DecodeBuf},
};
use tonic_prost::ProstEncoder;
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// `tonic_prost::ProstCodec` with requests checked (see the module documentation).
#[derive(Debug, Clone)]
pub struct Codec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Codec(PhantomData)
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Name + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = Decoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        Decoder(PhantomData)
    }
}

/// The checking decoder of [`Codec`].
#[derive(Debug, Clone)]
pub struct Decoder<U>(PhantomData<U>);

impl<U: Message + Name + Default> tonic::codec::Decoder for Decoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        decode_checked(buf.copy_to_bytes(buf.remaining())).map(Some)
    }
}

/// Decodes a `U` from `bytes`, refusing (`INVALID_ARGUMENT`) what is not a valid message or
/// holds a string with invalid UTF-8 or a NUL character.
pub fn decode_checked<U: Message + Name + Default>(bytes: bytes::Bytes) -> Result<U, Status> {
    match U::decode(bytes.clone()) {
        Ok(message) if !bytes.contains(&0) => Ok(message),
        Ok(message) => match check(&U::full_name(), &bytes) {
            Some((field, problem)) => Err(bad_field(&field, problem)),
            None => Ok(message),
        },
        Err(e) => Err(match check(&U::full_name(), &bytes) {
            Some((field, problem)) => bad_field(&field, problem),
            None => Status::invalid_argument(format!("the request is not a valid {}: {e}", U::full_name())),
        }),
    }
}

fn bad_field(field: &str, problem: &str) -> Status {
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {field}: {problem}"),
        ErrorDetails::with_bad_request(vec![FieldViolation::new(field, problem)]),
    )
}

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET).unwrap_or_else(|_| DescriptorPool::new()))
}

/// The first string field of message `full_name` in `bytes` that holds invalid UTF-8 or a NUL
/// character, with the problem; `None` when every string is clean (or the message is unknown,
/// or the bytes are too broken to walk: the caller then reports the decode error).
pub fn check(full_name: &str, bytes: &[u8]) -> Option<(String, &'static str)> {
    let descriptor = pool().get_message_by_name(full_name)?;
    let mut found = None;
    let _ = walk(&descriptor, bytes, "", &mut found);
    found
}

/// The wire format is malformed (the caller reports prost's own error).
struct Malformed;

fn varint(buf: &mut &[u8]) -> Result<u64, Malformed> {
    prost::encoding::decode_varint(buf).map_err(|_| Malformed)
}

fn walk(
    descriptor: &MessageDescriptor,
    mut buf: &[u8],
    prefix: &str,
    found: &mut Option<(String, &'static str)>,
) -> Result<(), Malformed> {
    let mut seen: Vec<(u32, usize)> = Vec::new();
    while !buf.is_empty() && found.is_none() {
        let key = varint(&mut buf)?;
        let (tag, wire_type) = ((key >> 3) as u32, key & 7);
        match wire_type {
            0 => {
                varint(&mut buf)?;
            }
            1 | 5 => {
                let n = if wire_type == 1 { 8 } else { 4 };
                if buf.len() < n {
                    return Err(Malformed);
                }
                buf = &buf[n..];
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|_| Malformed)?;
                if buf.len() < len {
                    return Err(Malformed);
                }
                let (data, rest) = buf.split_at(len);
                buf = rest;
                let Some(field) = descriptor.get_field(tag) else { continue };
                let mut name =
                    if prefix.is_empty() { field.name().to_string() } else { format!("{prefix}.{}", field.name()) };
                if field.is_list() {
                    let index = match seen.iter_mut().find(|(t, _)| *t == tag) {
                        Some((_, n)) => {
                            *n += 1;
                            *n - 1
                        }
                        None => {
                            seen.push((tag, 1));
                            0
                        }
                    };
                    name = format!("{name}[{index}]");
                }
                match field.kind() {
                    Kind::String => match std::str::from_utf8(data) {
                        Err(_) => *found = Some((name, "must be valid UTF-8")),
                        Ok(s) if s.contains('\0') => *found = Some((name, "must not contain a NUL character")),
                        Ok(_) => {}
                    },
                    Kind::Message(inner) => walk(&inner, data, &name, found)?,
                    _ => {}
                }
            }
            _ => return Err(Malformed),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{GeoPoint, ListEventsRequest, Location, SubmitEventRequest};

    fn decode<U: Message + Name + Default>(bytes: Vec<u8>) -> Result<U, Status> {
        decode_checked(bytes.into())
    }

    #[test]
    fn a_nul_in_a_nested_or_repeated_string_names_the_field() {
        let ok = SubmitEventRequest {
            request_id: "req-00001".into(),
            location: Some(Location {
                point: Some(GeoPoint { latitude: 33.0, longitude: 114.0 }),
                address: "七一路".into(),
                ..Default::default()
            }),
            evidence_urls: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        assert!(decode::<SubmitEventRequest>(ok.encode_to_vec()).is_ok());

        let mut bad = ok.clone();
        if let Some(l) = bad.location.as_mut() {
            l.address = "x\0y".into();
        }
        let status = decode::<SubmitEventRequest>(bad.encode_to_vec()).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields: Vec<String> = status
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default();
        assert_eq!(fields, vec!["location.address"]);

        let mut bad = ok;
        bad.evidence_urls[1] = "\u{0}".into();
        let status = decode::<SubmitEventRequest>(bad.encode_to_vec()).unwrap_err();
        assert!(status.message().contains("evidence_urls[1]"), "{}", status.message());
    }

    #[test]
    fn invalid_utf8_and_garbage_are_invalid_argument() {
        // Field 3 (item_code) of ListEventsRequest as a string with a lone continuation byte.
        let descriptor = pool().get_message_by_name(&ListEventsRequest::full_name()).expect("descriptor");
        let tag = descriptor.get_field_by_name("item_code").expect("item_code").number();
        let mut bytes = Vec::new();
        prost::encoding::encode_varint(u64::from(tag << 3 | 2), &mut bytes);
        bytes.extend_from_slice(&[2, 0xff, 0xfe]);
        let status = decode::<ListEventsRequest>(bytes).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("item_code"), "{}", status.message());

        let status = decode::<ListEventsRequest>(vec![0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
}
