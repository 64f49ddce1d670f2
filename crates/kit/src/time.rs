//! Conversions between `chrono` instants and protobuf timestamps.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

/// A protobuf timestamp for `at`.
pub fn to_proto(at: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: at.timestamp(), nanos: at.timestamp_subsec_nanos() as i32 }
}

/// The instant of a protobuf timestamp, or `None` when it is out of range.
pub fn from_proto(ts: &Timestamp) -> Option<DateTime<Utc>> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return None;
    }
    DateTime::from_timestamp(ts.seconds, ts.nanos as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_nanos() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T08:00:00.123456Z").unwrap().to_utc();
        assert_eq!(from_proto(&to_proto(at)), Some(at));
        assert_eq!(from_proto(&Timestamp { seconds: 0, nanos: -1 }), None);
    }
}
