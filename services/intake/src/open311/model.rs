//! What the facade answers, as GeoReport v2 names it, and how an intake event becomes a
//! service request (pure). The same types are written as JSON and, wrapped by `xml`, as XML.
//!
//! Only what is public is ever put here: no reporter's name, phone, account, email or id, not
//! even masked. A request of a private category shows its status and dates only.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use civicgrid_kit::time::from_proto;
use civicgrid_proto::v1::{Event, EventStatus, EventStatusChange};
use serde::Serialize;

use super::{
    catalog::{CatalogService, ServiceCatalog},
    post::OCCURRED_AT,
    status::{LastChange, open311_status, status_notes},
};
use crate::store::LatestChange;

/// One entry of `GET services`.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceInfo {
    /// The catalog item code.
    pub service_code: String,
    /// The item's name.
    pub service_name: String,
    /// What a report of it must show (the item's filing condition, 立案条件).
    pub description: String,
    /// Whether `GET services/{code}` has attributes (always: `occurred_at`).
    pub metadata: bool,
    /// `realtime`: a request gets its `service_request_id` at once.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The subcategory's and category's names.
    pub keywords: String,
    /// The category's name (大类).
    pub group: String,
}

/// A value of a list attribute.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeValue {
    /// The value to send.
    pub key: String,
    /// What to show.
    pub name: String,
}

/// An attribute of a service definition.
#[derive(Debug, Clone, Serialize)]
pub struct Attribute {
    /// Whether the user enters it.
    pub variable: bool,
    /// Its code: sent as `attribute[<code>]`.
    pub code: String,
    /// `string`, `number`, `datetime`, `text`, `singlevaluelist` or `multivaluelist`.
    pub datatype: &'static str,
    /// Whether a request must carry it.
    pub required: bool,
    /// How to write it.
    pub datatype_description: String,
    /// Its place in a form.
    pub order: u32,
    /// What it asks.
    pub description: String,
    /// The choices of a list attribute.
    pub values: Vec<AttributeValue>,
}

/// `GET services/{code}`.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceDefinition {
    /// The service.
    pub service_code: String,
    /// Its attributes.
    pub attributes: Vec<Attribute>,
}

/// One request of `GET requests` and `GET requests/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceRequest {
    /// The tracking number.
    pub service_request_id: String,
    /// `open` or `closed`.
    pub status: &'static str,
    /// civicgrid's state in words.
    pub status_notes: String,
    /// The item's name.
    pub service_name: Option<String>,
    /// The item code.
    pub service_code: String,
    /// The first report's description.
    pub description: Option<String>,
    /// The department last named on the case.
    pub agency_responsible: Option<String>,
    /// Not used.
    pub service_notice: Option<String>,
    /// When the first report was received.
    pub requested_datetime: String,
    /// When the status last changed (the receipt until then).
    pub updated_datetime: String,
    /// Not known to intake (deadlines are dispatch's).
    pub expected_datetime: Option<String>,
    /// The address text.
    pub address: Option<String>,
    /// The grid code, or the most precise region code.
    pub address_id: Option<String>,
    /// Not used.
    pub zipcode: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub long: Option<f64>,
    /// The first report's first photo or video.
    pub media_url: Option<String>,
}

/// The answer to `POST requests`.
#[derive(Debug, Clone, Serialize)]
pub struct PostAnswer {
    /// The tracking number, known at once.
    pub service_request_id: String,
    /// What happened to the report.
    pub service_notice: Option<String>,
    /// Not used (civicgrid keeps no Open311 accounts).
    pub account_id: Option<String>,
    /// The event's id: `GET tokens/{token}` answers its tracking number.
    pub token: String,
}

/// The answer to `GET tokens/{token}`.
#[derive(Debug, Clone, Serialize)]
pub struct TokenAnswer {
    /// The tracking number.
    pub service_request_id: String,
    /// The token asked about.
    pub token: String,
}

/// A time as GeoReport v2 writes it, in the platform's time zone: `2026-11-22T16:00:00+08:00`.
pub fn w3c(at: DateTime<Utc>, offset: FixedOffset) -> String {
    at.with_timezone(&offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The entry of `service` in `GET services`.
pub fn service_info(service: &CatalogService) -> ServiceInfo {
    let keywords = service.subgroup.iter().chain([&service.group]).cloned().collect::<Vec<_>>().join(",");
    ServiceInfo {
        service_code: service.code.clone(),
        service_name: service.name.clone(),
        description: if service.filing.is_empty() { service.name.clone() } else { service.filing.clone() },
        metadata: true,
        kind: "realtime",
        keywords,
        group: service.group.clone(),
    }
}

/// The definition of `service`: its one attribute, when it happened.
pub fn definition(service: &CatalogService) -> ServiceDefinition {
    ServiceDefinition {
        service_code: service.code.clone(),
        attributes: vec![Attribute {
            variable: true,
            code: OCCURRED_AT.to_string(),
            datatype: "datetime",
            required: false,
            datatype_description:
                "ISO 8601, e.g. 2026-11-22T07:30:00+08:00; at most 5 minutes ahead, at most a year ago".to_string(),
            order: 1,
            description: "When it happened (发生时间); the time of the report when not given.".to_string(),
            values: Vec::new(),
        }],
    }
}

/// The latest change in an event's `history` (oldest first), as the listing reads it.
pub fn latest_of(event_id: uuid::Uuid, history: &[EventStatusChange]) -> Option<LatestChange> {
    let last = history.last()?;
    let department = history.iter().rev().find(|h| !h.department_id.is_empty());
    Some(LatestChange {
        event_id,
        fact: last.fact.clone(),
        at: last.at.as_ref().and_then(from_proto)?,
        department_id: department.map(|h| h.department_id.clone()).unwrap_or_default(),
    })
}

/// `event` as a service request, after its latest change `last`; without description, place
/// and media when its category is private.
pub fn service_request(
    event: &Event,
    last: Option<&LatestChange>,
    catalog: &ServiceCatalog,
    offset: FixedOffset,
) -> ServiceRequest {
    let status = EventStatus::try_from(event.status).unwrap_or(EventStatus::Unspecified);
    let department = last.map(|l| l.department_id.as_str()).filter(|d| !d.is_empty());
    let change = LastChange { fact: last.map(|l| l.fact.as_str()), had_department: department.is_some() };
    let requested = event.reported_at.as_ref().and_then(from_proto).unwrap_or_default();
    let location = event.location.clone().unwrap_or_default();
    let private = catalog.is_private(&event.item_code);
    let public = |v: Option<String>| if private { None } else { v.filter(|s| !s.is_empty()) };
    let point = location.point.filter(|_| !private);
    ServiceRequest {
        service_request_id: event.tracking_number.clone(),
        status: open311_status(status).as_str(),
        status_notes: status_notes(status, &change),
        service_name: catalog.get(&event.item_code).map(|s| s.name.clone()),
        service_code: event.item_code.clone(),
        description: public(Some(event.description.clone())),
        agency_responsible: department.map(str::to_string),
        service_notice: None,
        requested_datetime: w3c(requested, offset),
        updated_datetime: w3c(last.map_or(requested, |l| l.at.max(requested)), offset),
        expected_datetime: None,
        address: public(Some(location.address)),
        address_id: public(Some(if location.grid_code.is_empty() { location.region_code } else { location.grid_code })),
        zipcode: None,
        lat: point.as_ref().map(|p| p.latitude),
        long: point.as_ref().map(|p| p.longitude),
        media_url: public(event.evidence_urls.first().cloned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open311::catalog::SHIPPED;
    use civicgrid_kit::time::to_proto;
    use civicgrid_proto::v1::{EventReport, GeoPoint, Location};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn event(item: &str, status: EventStatus) -> Event {
        Event {
            id: uuid::Uuid::nil().to_string(),
            tracking_number: "411602-20261122-000001".into(),
            item_code: item.into(),
            location: Some(Location {
                point: Some(GeoPoint { latitude: 33.6, longitude: 114.6 }),
                grid_code: "411602001001001".into(),
                region_code: "411602001001".into(),
                address: "七一路 88 号".into(),
                region: None,
            }),
            description: "井盖缺失，夜间行人易跌落".into(),
            evidence_urls: vec!["https://img.example.org/a.jpg".into()],
            reported_at: Some(to_proto(at("2026-11-22T00:00:00Z"))),
            status: status as i32,
            reports: vec![EventReport { masked_phone: "138****5678".into(), ..Default::default() }],
            ..Default::default()
        }
    }

    fn offset() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    #[test]
    fn an_event_becomes_a_public_request() {
        let catalog = ServiceCatalog::from_toml(SHIPPED, &["06".to_string()]).unwrap();
        let e = event("01.02.003", EventStatus::Dispatched);
        let r = service_request(&e, None, &catalog, offset());
        assert_eq!(r.status, "open");
        assert_eq!(r.service_name.as_deref(), Some("井盖缺失"));
        assert_eq!(r.requested_datetime, "2026-11-22T08:00:00+08:00");
        assert_eq!(r.updated_datetime, r.requested_datetime);
        assert_eq!(r.address_id.as_deref(), Some("411602001001001"));
        assert_eq!((r.lat, r.long), (Some(33.6), Some(114.6)));
        assert_eq!(r.media_url.as_deref(), Some("https://img.example.org/a.jpg"));
        assert_eq!(r.agency_responsible, None);
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("138") && !json.contains("reporter"), "{json}");

        let closed = event("01.02.003", EventStatus::Closed);
        let last = LatestChange {
            event_id: uuid::Uuid::nil(),
            fact: "task-closed".into(),
            at: at("2026-11-23T00:00:00Z"),
            department_id: "411602001-chengguan".into(),
        };
        let r = service_request(&closed, Some(&last), &catalog, offset());
        assert_eq!((r.status, r.status_notes.as_str()), ("closed", "Verified and closed (已办结)."));
        assert_eq!(r.agency_responsible.as_deref(), Some("411602001-chengguan"));
        assert_eq!(r.updated_datetime, "2026-11-23T08:00:00+08:00");
    }

    #[test]
    fn a_private_category_shows_status_only() {
        let catalog = ServiceCatalog::from_toml(SHIPPED, &["06".to_string()]).unwrap();
        let r = service_request(&event("06.01.001", EventStatus::InProgress), None, &catalog, offset());
        assert_eq!(r.status, "open");
        assert_eq!((r.description, r.address, r.address_id, r.media_url), (None, None, None, None));
        assert_eq!((r.lat, r.long), (None, None));
    }

    #[test]
    fn services_and_the_latest_change() {
        let catalog = ServiceCatalog::from_toml(SHIPPED, &[]).unwrap();
        let manhole = catalog.get("01.02.003").unwrap();
        let info = service_info(manhole);
        assert_eq!((info.keywords.as_str(), info.group.as_str()), ("井盖及管线,市政设施", "市政设施"));
        assert!(info.metadata && info.description.contains("现场照片"));
        assert_eq!(definition(manhole).attributes[0].code, "occurred_at");
        let change = |fact: &str, dept: &str, t: &str| EventStatusChange {
            fact: fact.into(),
            department_id: dept.into(),
            at: Some(to_proto(at(t))),
            ..Default::default()
        };
        let history =
            [change("task-assigned", "d1", "2026-11-22T01:00:00Z"), change("task-closed", "", "2026-11-22T02:00:00Z")];
        let last = latest_of(uuid::Uuid::nil(), &history).unwrap();
        assert_eq!((last.fact.as_str(), last.department_id.as_str()), ("task-closed", "d1"));
        assert_eq!(latest_of(uuid::Uuid::nil(), &[]), None);
    }
}
