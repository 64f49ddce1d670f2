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
}
