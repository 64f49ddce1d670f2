//! Field checks shared by the handlers; each records a violation under the field's proto path.

use chrono::{DateTime, Utc};
use civicgrid_kit::{
    grpc::{REQUEST_ID_RULE, Violations, is_request_id},
    region::{self, Level},
    time::from_proto,
};
use civicgrid_proto::v1::{GeoPoint, TimeRange};

/// The rule of an id chosen by the caller.
pub const ID_RULE: &str = "must be 1 to 64 characters of A-Z a-z 0-9 _ . -";

/// True for a caller-chosen id.
pub fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// `request_id`.
pub fn request_id(v: &mut Violations, id: &str) {
    v.check(is_request_id(id), "request_id", REQUEST_ID_RULE);
}

/// A caller-chosen id.
pub fn id(v: &mut Violations, field: &str, id: &str) {
    v.check(is_id(id), field, ID_RULE);
}

/// A name of `min` to `max` characters (not only spaces).
pub fn text(v: &mut Violations, field: &str, s: &str, min: usize, max: usize) {
    let n = s.chars().count();
    if n < min || n > max || (min > 0 && s.trim().is_empty()) {
        v.add(field, format!("must be {min} to {max} characters"));
    }
}

/// A region code of one of `levels`; `required` or empty.
pub fn region_code(v: &mut Violations, field: &str, code: &str, levels: &[Level], required: bool) {
    if code.is_empty() {
        if required {
            v.add(field, "is required");
        }
        return;
    }
    match region::level(code) {
        Ok(l) if levels.contains(&l) => {}
        Ok(_) => v.add(field, format!("must be a region code of level {levels:?}")),
        Err(e) => v.add(field, e.to_string()),
    }
}

/// An optional region filter: any level.
pub fn region_filter(v: &mut Violations, field: &str, code: &str) {
    region_code(v, field, code, &[Level::City, Level::County, Level::Township, Level::Village], false);
}

/// A required point.
pub fn geo_point(v: &mut Violations, field: &str, p: Option<&GeoPoint>) {
    match p {
        None => v.add(field, "is required"),
        Some(p) => {
            let ok = p.latitude.is_finite()
                && p.longitude.is_finite()
                && p.latitude.abs() <= 90.0
                && p.longitude.abs() <= 180.0
                && !(p.latitude == 0.0 && p.longitude == 0.0);
            v.check(ok, field, "must be a WGS-84 position (|latitude| ≤ 90, |longitude| ≤ 180, not 0,0)");
        }
    }
}

/// A required timestamp.
pub fn instant(v: &mut Violations, field: &str, t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    match t.map(from_proto) {
        Some(Some(t)) => Some(t),
        Some(None) => {
            v.add(field, "is not a valid timestamp");
            None
        }
        None => {
            v.add(field, "is required");
            None
        }
    }
}

/// A time range with both ends, `from` before `to`, at most `max_days` long.
pub fn period(
    v: &mut Violations,
    field: &str,
    p: Option<&TimeRange>,
    max_days: i64,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let Some(p) = p else {
        v.add(field, "is required");
        return None;
    };
    let from = instant(v, &format!("{field}.from"), p.from.as_ref());
    let to = instant(v, &format!("{field}.to"), p.to.as_ref());
    let (from, to) = (from?, to?);
    if to <= from {
        v.add(format!("{field}.to"), "must be after from");
        return None;
    }
    if to - from > chrono::Duration::days(max_days) {
        v.add(field, format!("must span at most {max_days} days"));
        return None;
    }
    Some((from, to))
}

/// An optional time range (either end may be open).
pub fn open_period(
    v: &mut Violations,
    field: &str,
    p: Option<&TimeRange>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let Some(p) = p else { return (None, None) };
    let mut end = |name: &str, t: Option<&prost_types::Timestamp>| match t.map(from_proto) {
        Some(Some(t)) => Some(t),
        Some(None) => {
            v.add(format!("{field}.{name}"), "is not a valid timestamp");
            None
        }
        None => None,
    };
    (end("from", p.from.as_ref()), end("to", p.to.as_ref()))
}

/// A UUID field.
pub fn uuid(v: &mut Violations, field: &str, s: &str) -> Option<uuid::Uuid> {
    let id = uuid::Uuid::parse_str(s).ok();
    v.check(id.is_some(), field, "must be a UUID");
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_texts() {
        assert!(is_id("team-1.a_b"));
        assert!(!is_id(""));
        assert!(!is_id("a b"));
        let mut v = Violations::new();
        text(&mut v, "name", "  ", 1, 80);
        text(&mut v, "ok", "川汇区", 1, 80);
        region_code(&mut v, "region_code", "411600", &[Level::County], true);
        assert_eq!(
            civicgrid_kit::grpc::field_violations(&v.into_result().unwrap_err())
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>(),
            vec!["name", "region_code"]
        );
    }
}
