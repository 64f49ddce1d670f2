//! `POST requests`: the form of a GeoReport v2 request as a `SubmitEventRequest`, checked by
//! intake's own validation (`domain::validate`), every problem named by its Open311 field.
//!
//! | Open311 | civicgrid |
//! | --- | --- |
//! | `service_code` | `item_code`, which must be a service of the catalog |
//! | `lat`, `long` | `location.point` |
//! | `address_string` | `location.address` |
//! | `address_id` | `location.grid_code` (15 digits) or `location.region_code`; without it the setting `intake.open311.default_region` |
//! | `description` | `description` |
//! | `media_url` | `evidence_urls[0]` |
//! | `attribute[occurred_at]` | `occurred_at` |
//! | `first_name`, `last_name` | `reporter.name` (sealed) |
//! | `phone` | `reporter.phone` (sealed, masked on the bus) |
//! | `account_id` | `reporter.account_id` |
//! | `email`, `device_id` | not kept |
//! | the api key's source and a digest of the form | `source`, `request_id` |

use chrono::{DateTime, FixedOffset, Utc};
use civicgrid_kit::region::{self, Level};
use civicgrid_proto::v1::{GeoPoint, Location, Reporter, SubmitEventRequest};

use super::{catalog::ServiceCatalog, errors::Open311Error, keys::ApiKey, query::parse_datetime};
use crate::domain::validate::{self, NewReport};

/// The one attribute a request may carry.
pub const OCCURRED_AT: &str = "occurred_at";

/// What a POST is checked against.
pub struct PostContext<'a> {
    /// The services.
    pub catalog: &'a ServiceCatalog,
    /// The region of a request without `address_id`.
    pub default_region: Option<&'a str>,
    /// The platform's time zone (for a bare date in `attribute[occurred_at]`).
    pub offset: FixedOffset,
    /// The time of receipt.
    pub now: DateTime<Utc>,
}

/// The Open311 field of a field path of `SubmitEventRequest`.
pub fn open311_field(path: &str) -> &str {
    match path {
        "item_code" => "service_code",
        "location" | "location.point" | "location.point.latitude" => "lat",
        "location.point.longitude" => "long",
        "location.grid_code" | "location.region_code" => "address_id",
        "location.address" => "address_string",
        "occurred_at" => "attribute[occurred_at]",
        "reporter.name" => "first_name",
        "reporter.phone" => "phone",
        "reporter.account_id" => "account_id",
        p if p.starts_with("evidence_urls") => "media_url",
        other => other,
    }
}

/// The reporter's name: a family name written in Chinese characters comes first, unspaced
/// (`张` + `三` → `张三`); otherwise `first last`.
pub fn full_name(first: &str, last: &str) -> String {
    let (first, last) = (first.trim(), last.trim());
    let cjk = |s: &str| s.chars().any(|c| ('\u{2E80}'..='\u{9FFF}').contains(&c));
    if cjk(first) || cjk(last) {
        format!("{last}{first}")
    } else {
        [first, last].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ")
    }
}

/// The first value of `name` in `form`.
pub fn field<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The form of a POST from `key` as a validated report, or every problem with it.
pub fn report(form: &[(String, String)], key: &ApiKey, ctx: &PostContext<'_>) -> Result<NewReport, Open311Error> {
    let get = |name: &str| field(form, name).map(str::trim).filter(|v| !v.is_empty());
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut bad = |f: &str, why: &str| problems.push((f.to_string(), why.to_string()));

    let service_code = get("service_code").unwrap_or_default();
    if service_code.is_empty() {
        bad("service_code", "is required");
    } else if ctx.catalog.get(service_code).is_none() {
        bad("service_code", "is not a service of this server; GET services.json lists them");
    }
    let jurisdiction = get("jurisdiction_id");
    if let Some(j) = jurisdiction
        && region::level(j) != Ok(Level::City)
    {
        bad("jurisdiction_id", "must be the city code this server serves, e.g. 411600");
    }

    let mut number = |name: &str| match get(name).map(str::parse::<f64>) {
        None => None,
        Some(Ok(n)) if n.is_finite() => Some(n),
        Some(_) => {
            bad(name, "must be a number (WGS-84 decimal degrees)");
            None
        }
    };
    let (lat, long) = (number("lat"), number("long"));
    let point = match (get("lat"), get("long")) {
        (Some(_), None) => {
            bad("long", "is required with lat");
            None
        }
        (None, Some(_)) => {
            bad("lat", "is required with long");
            None
        }
        _ => lat.zip(long).map(|(latitude, longitude)| GeoPoint { latitude, longitude }),
    };
    let (address, address_id) = (get("address_string"), get("address_id"));
    if get("lat").is_none() && get("long").is_none() && address.is_none() && address_id.is_none() {
        bad("lat", "a location is required: lat and long, address_string or address_id");
    }
    let mut location = Location { point, address: address.unwrap_or_default().to_string(), ..Default::default() };
    match address_id.or(ctx.default_region) {
        Some(id) if id.len() == 15 => location.grid_code = id.to_string(),
        Some(id) => location.region_code = id.to_string(),
        None => bad(
            "address_id",
            "is required here: send the grid code (15 digits) or the county, township or village code of the place",
        ),
    }

    let mut occurred_at = None;
    for (name, value) in form.iter().filter(|(k, _)| k.starts_with("attribute[")) {
        if name != "attribute[occurred_at]" {
            bad(name, "is not an attribute of this service");
        } else if !value.trim().is_empty() {
            match parse_datetime(value.trim(), ctx.offset) {
                Some(at) => occurred_at = Some(civicgrid_kit::time::to_proto(at)),
                None => bad(name, "must be an ISO 8601 date-time like 2026-11-22T07:30:00+08:00"),
            }
        }
    }

    let request = SubmitEventRequest {
        request_id: key.request_id(form),
        source: key.source as i32,
        item_code: service_code.to_string(),
        location: Some(location),
        description: get("description").unwrap_or_default().to_string(),
        evidence_urls: get("media_url").map(|u| vec![u.to_string()]).unwrap_or_default(),
        occurred_at,
        reporter: Some(Reporter {
            name: full_name(get("first_name").unwrap_or_default(), get("last_name").unwrap_or_default()),
            phone: get("phone").unwrap_or_default().to_string(),
            account_id: get("account_id").unwrap_or_default().to_string(),
        }),
    };
    // intake's own rules, named as Open311 names the fields; a field already named keeps
    // its first problem.
    let checked = validate::validate(&request, ctx.now);
    if let Err(violations) = &checked {
        for (path, why) in violations {
            let name = open311_field(path);
            if !problems.iter().any(|(f, _)| f == name) {
                problems.push((name.to_string(), why.clone()));
            }
        }
    }
    match checked {
        Ok(report) if problems.is_empty() => match jurisdiction {
            Some(j) if !region::contains(j, &report.region) => {
                Err(Open311Error::bad("address_id", format!("the place is not in jurisdiction {j}")))
            }
            _ => Ok(report),
        },
        _ => Err(Open311Error::BadRequest(problems)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open311::{catalog::SHIPPED, keys::ApiKeys};
    use civicgrid_proto::v1::EventSource;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T08:00:00Z").unwrap().to_utc()
    }

    fn run(pairs: &[(&str, &str)], default_region: Option<&str>) -> Result<NewReport, Open311Error> {
        let catalog = ServiceCatalog::from_toml(SHIPPED, &[]).unwrap();
        let keys = ApiKeys::parse("app:citizen_app:app-key-0123456789").unwrap();
        let key = keys.find("app-key-0123456789").unwrap();
        let form: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let ctx = PostContext {
            catalog: &catalog,
            default_region,
            offset: FixedOffset::east_opt(8 * 3600).unwrap(),
            now: now(),
        };
        report(&form, key, &ctx)
    }

    fn fields(r: Result<NewReport, Open311Error>) -> Vec<String> {
        match r {
            Err(Open311Error::BadRequest(p)) => p.into_iter().map(|(f, _)| f).collect(),
            other => panic!("{other:?}"),
        }
    }

    const GOOD: &[(&str, &str)] = &[
        ("api_key", "app-key-0123456789"),
        ("service_code", "01.02.003"),
        ("lat", "33.6261"),
        ("long", "114.6421"),
        ("address_id", "411602001001001"),
        ("description", "井盖缺失，夜间行人易跌落"),
        ("media_url", "https://img.example.org/manhole.jpg"),
        ("first_name", "三"),
        ("last_name", "张"),
        ("phone", "138 1234 5678"),
        ("email", "zhang@example.org"),
        ("attribute[occurred_at]", "2026-11-22T07:30:00+08:00"),
    ];

    #[test]
    fn a_good_form_becomes_a_report() {
        let r = run(GOOD, None).unwrap();
        assert_eq!(r.item_code, "01.02.003");
        assert_eq!(r.source, EventSource::CitizenApp);
        assert_eq!(r.grid_code.as_deref(), Some("411602001001001"));
        assert_eq!(r.point, Some((33.6261, 114.6421)));
        assert_eq!(r.reporter_name, "张三");
        assert_eq!(r.reporter_phone, "13812345678");
        assert_eq!(r.evidence_urls, vec!["https://img.example.org/manhole.jpg"]);
        assert_eq!(r.occurred_at, DateTime::parse_from_rfc3339("2026-11-21T23:30:00Z").unwrap().to_utc());
        assert!(r.request_id.starts_with("o311-"));
    }

    #[test]
    fn the_default_region_places_a_request_without_address_id() {
        let form: Vec<(&str, &str)> = GOOD.iter().copied().filter(|(k, _)| *k != "address_id").collect();
        assert_eq!(fields(run(&form, None)), ["address_id"]);
        let r = run(&form, Some("411602001")).unwrap();
        assert_eq!((r.region.township.as_str(), r.grid_code), ("411602001", None));
        let address_only: Vec<(&str, &str)> = form
            .iter()
            .copied()
            .filter(|(k, _)| *k != "lat" && *k != "long")
            .chain([("address_string", "七一路 88 号")])
            .collect();
        let r = run(&address_only, Some("411602")).unwrap();
        assert_eq!((r.point, r.address.as_str()), (None, "七一路 88 号"));
    }

    #[test]
    fn every_problem_is_named_by_its_open311_field() {
        let bad = [
            ("service_code", "99.99.999"),
            ("lat", "91"),
            ("long", "181"),
            ("address_id", "4116"),
            ("description", "短"),
            ("media_url", "ftp://x"),
            ("phone", "12345"),
            ("attribute[colour]", "red"),
            ("jurisdiction_id", "411602"),
        ];
        assert_eq!(
            fields(run(&bad, None)),
            [
                "service_code",
                "jurisdiction_id",
                "attribute[colour]",
                "address_id",
                "lat",
                "long",
                "description",
                "media_url",
                "phone",
            ]
        );
        let mut not_a_number = GOOD.to_vec();
        not_a_number[2] = ("lat", "north");
        assert_eq!(fields(run(&not_a_number, None)), ["lat"]);
        assert_eq!(fields(run(&[("lat", "33.6")], Some("411602"))), ["service_code", "long", "description", "phone"]);
        assert_eq!(fields(run(&[("service_code", "01.02.003")], Some("411602")))[0], "lat");
    }

    #[test]
    fn the_jurisdiction_must_hold_the_place() {
        let mut form = GOOD.to_vec();
        form.push(("jurisdiction_id", "411600"));
        assert!(run(&form, None).is_ok());
        form.pop();
        form.push(("jurisdiction_id", "410100"));
        assert_eq!(fields(run(&form, None)), ["address_id"]);
    }

    #[test]
    fn names_and_fields() {
        assert_eq!(full_name("John", "Smith"), "John Smith");
        assert_eq!(full_name("", "Smith"), "Smith");
        assert_eq!(full_name("三", "张"), "张三");
        assert_eq!(full_name("", ""), "");
        assert_eq!(open311_field("evidence_urls[0]"), "media_url");
        assert_eq!(open311_field("location.point"), "lat");
        assert_eq!(open311_field("reporter.phone"), "phone");
    }
}
