//! Validation of a `SubmitEventRequest`: every field, every problem reported at once, each
//! under the field's proto path.

use chrono::{DateTime, Duration, Utc};
use civicgrid_kit::region;
use civicgrid_proto::v1::{EventSource, RegionPath, SubmitEventRequest};

use super::mask::normalize_phone;

/// A report that passed validation, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReport {
    /// The idempotency key.
    pub request_id: String,
    /// Where it came from.
    pub source: EventSource,
    /// Catalog item code.
    pub item_code: String,
    /// The region path derived from the grid or region code.
    pub region: RegionPath,
    /// The grid code, when given.
    pub grid_code: Option<String>,
    /// Coordinates (lat, lng), when given.
    pub point: Option<(f64, f64)>,
    /// Address text.
    pub address: String,
    /// Description.
    pub description: String,
    /// Evidence links.
    pub evidence_urls: Vec<String>,
    /// When it happened (the time of receipt when not given).
    pub occurred_at: DateTime<Utc>,
    /// Reporter's name (may be empty).
    pub reporter_name: String,
    /// Reporter's normalised 11-digit phone (may be empty).
    pub reporter_phone: String,
    /// Reporter's account id in the calling app (may be empty).
    pub reporter_account: String,
}

/// The shared idempotency-key rule (8 to 64 characters of `A-Za-z0-9_.:-`).
pub use civicgrid_kit::grpc::is_request_id;

/// Field path and description of one problem.
pub type Violation = (String, String);

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// PostgreSQL's text cannot hold U+0000: refused here, so it is a bad field, not a failed write.
const NUL: &str = "must not contain NUL characters";

fn is_item_code(code: &str) -> bool {
    let groups: Vec<&str> = code.split('.').collect();
    (2..=4).contains(&groups.len())
        && groups.iter().all(|g| (2..=4).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()))
}

/// Validates `req` received at `now`.
pub fn validate(req: &SubmitEventRequest, now: DateTime<Utc>) -> Result<NewReport, Vec<Violation>> {
    let mut v: Vec<Violation> = Vec::new();
    let mut bad = |field: &str, why: &str| v.push((field.to_string(), why.to_string()));

    if !is_request_id(&req.request_id) {
        bad("request_id", civicgrid_kit::grpc::REQUEST_ID_RULE);
    }
    let source = EventSource::try_from(req.source).unwrap_or(EventSource::Unspecified);
    if source == EventSource::Unspecified {
        bad("source", "must be one of the EventSource values (not UNSPECIFIED)");
    }
    if !is_item_code(&req.item_code) {
        bad("item_code", "must be 2 to 4 dot-separated groups of 2-4 digits, e.g. 01.02.003");
    }

    let mut region = RegionPath::default();
    let mut grid_code = None;
    let mut point = None;
    let mut address = String::new();
    match &req.location {
        None => bad("location", "is required"),
        Some(loc) => {
            if !loc.grid_code.is_empty() {
                match region::path_of_grid(&loc.grid_code) {
                    Ok(p) => {
                        region = p;
                        grid_code = Some(loc.grid_code.clone());
                    }
                    Err(e) => bad("location.grid_code", &e.to_string()),
                }
            } else if !loc.region_code.is_empty() {
                match region::path_of(&loc.region_code) {
                    Ok(p) => region = p,
                    Err(e) => bad("location.region_code", &e.to_string()),
                }
            } else {
                bad("location.grid_code", "a grid code or a region code (location.region_code) is required");
            }
            if let Some(p) = &loc.point {
                let lat_ok = p.latitude.is_finite() && (-90.0..=90.0).contains(&p.latitude);
                let lng_ok = p.longitude.is_finite() && (-180.0..=180.0).contains(&p.longitude);
                if !lat_ok {
                    bad("location.point.latitude", "must be a number from -90 to 90");
                }
                if !lng_ok {
                    bad("location.point.longitude", "must be a number from -180 to 180");
                }
                if lat_ok && lng_ok {
                    if p.latitude == 0.0 && p.longitude == 0.0 {
                        bad("location.point", "0,0 is not a place in the city: omit the point when unknown");
                    } else {
                        point = Some((p.latitude, p.longitude));
                    }
                }
            }
            if chars(&loc.address) > 200 {
                bad("location.address", "must be at most 200 characters");
            } else if loc.address.contains('\0') {
                bad("location.address", NUL);
            }
            address = loc.address.trim().to_string();
        }
    }

    let description = req.description.trim().to_string();
    if !(5..=2000).contains(&chars(&description)) {
        bad("description", "must be 5 to 2000 characters");
    } else if description.contains('\0') {
        bad("description", NUL);
    }
    if req.evidence_urls.len() > 9 {
        bad("evidence_urls", "at most 9 links");
    }
    for (i, url) in req.evidence_urls.iter().enumerate() {
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || chars(url) > 500 || url.contains(|c: char| c.is_whitespace() || c == '\0') {
            bad(&format!("evidence_urls[{i}]"), "must be an http(s) URL of at most 500 characters");
        }
    }

    let mut occurred_at = now;
    if let Some(ts) = &req.occurred_at {
        match civicgrid_kit::time::from_proto(ts) {
            Some(at) if at > now + Duration::minutes(5) => bad("occurred_at", "must not be in the future"),
            Some(at) if at < now - Duration::days(366) => bad("occurred_at", "must be within the last year"),
            Some(at) => occurred_at = at,
            None => bad("occurred_at", "is not a valid timestamp"),
        }
    }

    let reporter = req.reporter.clone().unwrap_or_default();
    if chars(&reporter.name) > 50 {
        bad("reporter.name", "must be at most 50 characters");
    } else if reporter.name.contains('\0') {
        bad("reporter.name", NUL);
    }
    if chars(&reporter.account_id) > 64 {
        bad("reporter.account_id", "must be at most 64 characters");
    } else if reporter.account_id.contains('\0') {
        bad("reporter.account_id", NUL);
    }
    let mut phone = String::new();
    if reporter.phone.trim().is_empty() {
        if matches!(source, EventSource::CitizenApp | EventSource::Hotline12345) {
            bad("reporter.phone", "is required for citizens' apps and the 12345 hotline");
        }
    } else {
        match normalize_phone(&reporter.phone) {
            Some(p) => phone = p,
            None => {
                bad("reporter.phone", "must be an 11-digit mainland mobile number starting with 1, e.g. 13812345678")
            }
        }
    }

    if !v.is_empty() {
        return Err(v);
    }
    Ok(NewReport {
        request_id: req.request_id.clone(),
        source,
        item_code: req.item_code.clone(),
        region,
        grid_code,
        point,
        address,
        description,
        evidence_urls: req.evidence_urls.clone(),
        occurred_at,
        reporter_name: reporter.name.trim().to_string(),
        reporter_phone: phone,
        reporter_account: reporter.account_id.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use civicgrid_proto::v1::{GeoPoint, Location, Reporter};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T08:00:00Z").unwrap().to_utc()
    }

    fn good() -> SubmitEventRequest {
        SubmitEventRequest {
            request_id: "req-0001".into(),
            source: EventSource::CitizenApp as i32,
            item_code: "01.02.003".into(),
            location: Some(Location {
                point: Some(GeoPoint { latitude: 32.98, longitude: 114.02 }),
                grid_code: "411602001001003".into(),
                region_code: String::new(),
                address: "解放路 12 号".into(),
                region: None,
            }),
            description: "井盖缺失，路人易跌落".into(),
            evidence_urls: vec!["https://img.example.org/a.jpg".into()],
            occurred_at: None,
            reporter: Some(Reporter {
                name: "张三".into(), phone: "138 1234 5678".into(), account_id: "acc-1".into()
            }),
        }
    }

    fn fields(r: Result<NewReport, Vec<Violation>>) -> Vec<String> {
        r.err().unwrap_or_default().into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn a_good_request_is_normalised() {
        let r = validate(&good(), now()).unwrap();
        assert_eq!(r.region.village, "411602001001");
        assert_eq!(r.region.city, "411600");
        assert_eq!(r.reporter_phone, "13812345678");
        assert_eq!(r.occurred_at, now());
        assert_eq!(r.point, Some((32.98, 114.02)));
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut req = good();
        req.request_id = "x".into();
        req.source = 0;
        req.item_code = "1.2".into();
        let loc = req.location.as_mut().unwrap();
        loc.grid_code = "4116020010010".into();
        loc.point = Some(GeoPoint { latitude: 91.0, longitude: f64::NAN });
        req.description = "短".into();
        req.evidence_urls = vec!["ftp://x".into()];
        req.occurred_at = Some(civicgrid_kit::time::to_proto(now() + Duration::hours(1)));
        req.reporter.as_mut().unwrap().phone = "12345".into();
        assert_eq!(
            fields(validate(&req, now())),
            vec![
                "request_id",
                "source",
                "item_code",
                "location.grid_code",
                "location.point.latitude",
                "location.point.longitude",
                "description",
                "evidence_urls[0]",
                "occurred_at",
                "reporter.phone",
            ]
        );
    }

    #[test]
    fn location_needs_a_grid_or_region() {
        let mut req = good();
        req.location.as_mut().unwrap().grid_code.clear();
        assert_eq!(fields(validate(&req, now())), vec!["location.grid_code"]);
        req.location.as_mut().unwrap().region_code = "411600".into();
        assert_eq!(fields(validate(&req, now())), vec!["location.region_code"]);
        req.location.as_mut().unwrap().region_code = "411602001".into();
        let r = validate(&req, now()).unwrap();
        assert_eq!(r.region.township, "411602001");
        assert_eq!(r.region.village, "");
        req.location = None;
        assert_eq!(fields(validate(&req, now())), vec!["location"]);
    }

    #[test]
    fn phone_rules_depend_on_source() {
        let mut req = good();
        req.reporter = None;
        assert_eq!(fields(validate(&req, now())), vec!["reporter.phone"]);
        req.source = EventSource::GridWorker as i32;
        assert!(validate(&req, now()).is_ok());
    }

    #[test]
    fn nul_characters_are_refused_by_field() {
        let mut req = good();
        req.location.as_mut().unwrap().address = "解放路 12\0 号".into();
        req.description = "井盖缺失\0，路人易跌落".into();
        req.evidence_urls = vec!["https://img.example.org/a\0.jpg".into()];
        let reporter = req.reporter.as_mut().unwrap();
        reporter.name = "张\0三".into();
        reporter.account_id = "acc\0".into();
        assert_eq!(
            fields(validate(&req, now())),
            vec!["location.address", "description", "evidence_urls[0]", "reporter.name", "reporter.account_id"]
        );
    }

    #[test]
    fn zero_zero_is_refused() {
        let mut req = good();
        req.location.as_mut().unwrap().point = Some(GeoPoint { latitude: 0.0, longitude: 0.0 });
        assert_eq!(fields(validate(&req, now())), vec!["location.point"]);
    }
}
