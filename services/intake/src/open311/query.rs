//! The pure parts of reading a request: the format suffix, the date range and paging of
//! `GET requests`, and its filters.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};

use super::{errors::Open311Error, status::Open311Status};

/// The longest date range `GET requests` takes, as GeoReport v2 has it.
pub const MAX_RANGE_DAYS: i64 = 90;
/// Requests per page when `page_size` is not given.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The largest `page_size`.
pub const MAX_PAGE_SIZE: i64 = 200;
/// The deepest `page`.
pub const MAX_PAGE: i64 = 1000;
/// The most tracking numbers in one `service_request_id`.
pub const MAX_IDS: usize = 100;

/// The answer's format, from the path's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`
    Json,
    /// `.xml`
    Xml,
}

/// Splits a path segment like `requests.json` or `01.02.003.xml` into its name and format;
/// `None` without a `.json` or `.xml` suffix.
pub fn split_format(segment: &str) -> Option<(&str, Format)> {
    let (name, ext) = segment.rsplit_once('.')?;
    let format = match ext {
        "json" => Format::Json,
        "xml" => Format::Xml,
        _ => return None,
    };
    (!name.is_empty()).then_some((name, format))
}

/// The format a failed request is answered in: its suffix's, JSON when it has none.
pub fn format_of_path(path: &str) -> Format {
    path.rsplit('/').next().and_then(split_format).map_or(Format::Json, |(_, f)| f)
}

/// A date-time as GeoReport v2 writes them (W3C, e.g. `2026-11-22T08:00:00+08:00`), or a bare
/// date (`2026-11-22`: midnight at `offset`, the platform's time zone).
pub fn parse_datetime(text: &str, offset: FixedOffset) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.to_utc());
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    day.and_hms_opt(0, 0, 0)?.and_local_timezone(offset).single().map(|at| at.to_utc())
}

/// The received-time range `[from, to)` of a listing: both given, at most 90 days apart; one
/// given, 90 days from or up to it; neither, the 90 days up to `now`.
pub fn date_range(
    start: Option<&str>,
    end: Option<&str>,
    now: DateTime<Utc>,
    offset: FixedOffset,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Open311Error> {
    let mut problems = Vec::new();
    let mut parse = |field: &str, text: Option<&str>| {
        let text = text.map(str::trim).filter(|t| !t.is_empty())?;
        let at = parse_datetime(text, offset);
        if at.is_none() {
            problems.push((field.to_string(), "must be an ISO 8601 date-time like 2026-11-22T08:00:00+08:00".into()));
        }
        at
    };
    let (start, end) = (parse("start_date", start), parse("end_date", end));
    if !problems.is_empty() {
        return Err(Open311Error::BadRequest(problems));
    }
    let span = Duration::days(MAX_RANGE_DAYS);
    let (from, to) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + span),
        (None, Some(e)) => (e - span, e),
        (None, None) => (now - span, now),
    };
    if from > to {
        return Err(Open311Error::bad("end_date", "must not be before start_date"));
    }
    if to - from > span {
        return Err(Open311Error::bad("end_date", format!("the range may span at most {MAX_RANGE_DAYS} days")));
    }
    Ok((from, to))
}

/// A positive whole number of at most `max`, or `default` when absent.
fn bounded(field: &str, text: Option<&str>, default: i64, max: i64) -> Result<i64, (String, String)> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(default),
        Some(t) => match t.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err((field.to_string(), format!("must be a whole number from 1 to {max}"))),
        },
    }
}

/// `page` (from 1) and `page_size` as `(limit, offset)`.
pub fn paging(page: Option<&str>, page_size: Option<&str>) -> Result<(i64, i64), Open311Error> {
    let page = bounded("page", page, 1, MAX_PAGE);
    let size = bounded("page_size", page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    match (page, size) {
        (Ok(page), Ok(size)) => Ok((size, (page - 1) * size)),
        (page, size) => Err(Open311Error::BadRequest(page.err().into_iter().chain(size.err()).collect())),
    }
}

/// The values of a comma-separated parameter, trimmed, without empty ones.
pub fn comma_list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// The states of a `status` filter (`open`, `closed` or both); empty means both.
pub fn statuses(text: Option<&str>) -> Result<Vec<Open311Status>, Open311Error> {
    comma_list(text)
        .iter()
        .map(|s| {
            Open311Status::parse(s).ok_or_else(|| Open311Error::bad("status", "must be open, closed or open,closed"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn cst() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn fields(e: Open311Error) -> Vec<String> {
        match e {
            Open311Error::BadRequest(p) => p.into_iter().map(|(f, _)| f).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_format_is_the_suffix() {
        assert_eq!(split_format("services.json"), Some(("services", Format::Json)));
        assert_eq!(split_format("01.02.003.xml"), Some(("01.02.003", Format::Xml)));
        assert_eq!(split_format("411602-20261122-000001.json"), Some(("411602-20261122-000001", Format::Json)));
        assert_eq!(split_format("services"), None);
        assert_eq!(split_format("services.html"), None);
        assert_eq!(split_format(".json"), None);
        assert_eq!(format_of_path("/open311/v2/requests/x.xml"), Format::Xml);
        assert_eq!(format_of_path("/open311/v2/nothing"), Format::Json);
    }

    #[test]
    fn dates_are_w3c_or_bare_days_in_the_platform_zone() {
        assert_eq!(parse_datetime("2026-11-22T08:00:00+08:00", cst()), Some(at("2026-11-22T00:00:00Z")));
        assert_eq!(parse_datetime("2026-11-22T00:00:00Z", cst()), Some(at("2026-11-22T00:00:00Z")));
        assert_eq!(parse_datetime("2026-11-22", cst()), Some(at("2026-11-21T16:00:00Z")));
        assert_eq!(parse_datetime("22/11/2026", cst()), None);
    }

    #[test]
    fn the_range_is_at_most_ninety_days() {
        let now = at("2026-11-22T00:00:00Z");
        let days = |n| Duration::days(n);
        assert_eq!(date_range(None, None, now, cst()).unwrap(), (now - days(90), now));
        let start = "2026-10-01T00:00:00Z";
        assert_eq!(date_range(Some(start), None, now, cst()).unwrap(), (at(start), at(start) + days(90)));
        assert_eq!(date_range(None, Some(start), now, cst()).unwrap(), (at(start) - days(90), at(start)));
        let (from, to) = date_range(Some("2026-08-24"), Some("2026-11-22"), now, cst()).unwrap();
        assert_eq!(to - from, days(90));
        assert_eq!(fields(date_range(Some("2026-08-23"), Some("2026-11-22"), now, cst()).unwrap_err()), ["end_date"]);
        assert_eq!(fields(date_range(Some("2026-11-22"), Some("2026-11-21"), now, cst()).unwrap_err()), ["end_date"]);
        assert_eq!(
            fields(date_range(Some("yesterday"), Some("soon"), now, cst()).unwrap_err()),
            ["start_date", "end_date"]
        );
        assert!(date_range(Some(" "), None, now, cst()).is_ok(), "an empty parameter is absent");
    }

    #[test]
    fn paging_is_bounded() {
        assert_eq!(paging(None, None).unwrap(), (DEFAULT_PAGE_SIZE, 0));
        assert_eq!(paging(Some("3"), Some("20")).unwrap(), (20, 40));
        assert_eq!(paging(Some("1"), Some("200")).unwrap(), (200, 0));
        assert_eq!(fields(paging(Some("0"), Some("201")).unwrap_err()), ["page", "page_size"]);
        assert_eq!(fields(paging(Some("x"), None).unwrap_err()), ["page"]);
        assert_eq!(fields(paging(Some("1001"), None).unwrap_err()), ["page"]);
    }

    #[test]
    fn filters_split_on_commas() {
        assert_eq!(comma_list(Some(" a, ,b ")), vec!["a", "b"]);
        assert!(comma_list(None).is_empty());
        assert_eq!(statuses(Some("open,closed")).unwrap(), vec![Open311Status::Open, Open311Status::Closed]);
        assert!(statuses(None).unwrap().is_empty());
        assert_eq!(fields(statuses(Some("pending")).unwrap_err()), ["status"]);
    }
}
