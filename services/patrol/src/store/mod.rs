//! patrol's storage: all of its SQL, one module per table:
//!
//! - [`teams`], [`places`], [`routes`]: the definitions, kept as their protobuf message;
//! - [`shifts`]: shifts with their plan (the route they walk) and progress;
//! - [`positions`]: accepted fixes, written a batch at a time;
//! - [`check_ins`], [`findings`]: what members did on a shift;
//! - [`presence_days`]: the days whose presence was published.
//!
//! Idempotent calls keep their answers in `requests` through `civicgrid_kit::requests`.

pub mod check_ins;
pub mod findings;
pub mod places;
pub mod positions;
pub mod presence_days;
pub mod routes;
pub mod shifts;
pub mod teams;

use civicgrid_kit::grpc::paging::PageKey;
pub use civicgrid_kit::storage::StoreError;

/// A listing's position by text id (teams, places, routes are listed by id).
#[derive(Debug, Clone, PartialEq)]
pub struct TextKey(pub String);

impl PageKey for TextKey {
    const KIND: u8 = b't';
    fn to_bytes(&self) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        String::from_utf8(bytes.to_vec()).ok().map(TextKey)
    }
}

/// The `LIKE` prefix of the region codes inside region `scope` (any level; empty: all). A
/// city's counties share its first four digits.
pub fn region_prefix(scope: &str) -> String {
    match civicgrid_kit::region::level(scope) {
        Ok(civicgrid_kit::region::Level::City) => format!("{}%", &scope[..4]),
        _ => format!("{scope}%"),
    }
}

/// Decodes a stored protobuf body.
pub(crate) fn decode<M: prost::Message + Default>(body: &[u8]) -> Result<M, StoreError> {
    M::decode(body).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A listing's position among shifts: the start and id of the last one shown.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftKey(pub chrono::DateTime<chrono::Utc>, pub uuid::Uuid);

impl PageKey for ShiftKey {
    const KIND: u8 = b'h';
    fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.0.timestamp_micros().to_be_bytes().to_vec();
        b.extend_from_slice(self.1.as_bytes());
        b
    }
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (micros, id) = bytes.split_at_checked(8)?;
        let at = chrono::DateTime::from_timestamp_micros(i64::from_be_bytes(micros.try_into().ok()?))?;
        Some(ShiftKey(at, uuid::Uuid::from_slice(id).ok()?))
    }
}

#[cfg(test)]
mod tests {
    use civicgrid_kit::grpc::paging::{decode_token, encode_token};

    use super::*;

    #[test]
    fn listing_keys_round_trip_and_refuse_each_other() {
        let at = chrono::DateTime::from_timestamp_micros(1_763_251_200_123_456).unwrap();
        let key = ShiftKey(at, uuid::Uuid::now_v7());
        assert_eq!(decode_token::<ShiftKey>(&encode_token(&key)), Some(key));
        let text = TextKey("team-1".into());
        assert_eq!(decode_token::<TextKey>(&encode_token(&text)), Some(text.clone()));
        assert_eq!(decode_token::<ShiftKey>(&encode_token(&text)), None);
        assert_eq!(region_prefix("411600"), "4116%");
        assert_eq!(region_prefix("411602001"), "411602001%");
        assert_eq!(region_prefix(""), "%");
    }
}
