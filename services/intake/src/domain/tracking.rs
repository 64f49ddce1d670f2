//! Public tracking numbers: `<county code>-<yyyymmdd>-<6-digit seq>`.

use chrono::{DateTime, FixedOffset, Utc};

/// The local day (in the platform's time zone) of `at`, as `yyyymmdd`.
pub fn day_of(at: DateTime<Utc>, offset: FixedOffset) -> String {
    at.with_timezone(&offset).format("%Y%m%d").to_string()
}

/// The tracking number for the `seq`-th event of `county` on `day`.
pub fn format(county: &str, day: &str, seq: i64) -> String {
    format!("{county}-{day}-{seq:06}")
}

/// True for a string shaped like a tracking number.
pub fn is_tracking_number(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 6
        && parts[1].len() == 8
        && parts[2].len() >= 6
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// The name of the PostgreSQL sequence that numbers `county`'s events on `day`. Both parts
/// are digits only (validated), so the name is safe to splice into DDL.
pub fn sequence_name(county: &str, day: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(county) && digits(day)).then(|| format!("tracking_{county}_{day}"))
}

/// The name of the sequence to drop when `name` (a sequence found in the schema) numbers a day
/// before `keep_from` (yyyymmdd); rebuilt from digits only, so it is safe to splice into DDL.
pub fn expired_sequence(name: &str, keep_from: &str) -> Option<String> {
    let (county, day) = name.strip_prefix("tracking_")?.split_once('_')?;
    // Days compare as strings (yyyymmdd).
    if day < keep_from { sequence_name(county, day) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_day_and_format() {
        let offset = FixedOffset::east_opt(8 * 3600).unwrap();
        // 17:00 UTC is already the next day in Beijing.
        let at = DateTime::parse_from_rfc3339("2026-11-21T17:00:00Z").unwrap().to_utc();
        assert_eq!(day_of(at, offset), "20261122");
        let n = format("411602", "20261122", 123);
        assert_eq!(n, "411602-20261122-000123");
        assert!(is_tracking_number(&n));
        assert!(!is_tracking_number("411602-2026112-000123"));
        assert!(!is_tracking_number("abc"));
    }

    #[test]
    fn sequence_names_are_digits_only() {
        assert_eq!(sequence_name("411602", "20261122").as_deref(), Some("tracking_411602_20261122"));
        assert_eq!(sequence_name("41'; drop", "20261122"), None);
    }

    #[test]
    fn sequences_of_days_before_are_expired() {
        assert_eq!(
            expired_sequence("tracking_411602_20261120", "20261121").as_deref(),
            Some("tracking_411602_20261120")
        );
        assert_eq!(expired_sequence("tracking_411602_20261121", "20261121"), None);
        assert_eq!(expired_sequence("tracking_411602_20261122", "20261121"), None);
        // Not a tracking sequence, or not digits: left alone.
        assert_eq!(expired_sequence("outbox_seq", "20261121"), None);
        assert_eq!(expired_sequence("tracking_411602", "20261121"), None);
        assert_eq!(expired_sequence("tracking_41x602_20261120", "20261121"), None);
    }
}
