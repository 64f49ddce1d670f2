//! Events and their reports: the event row and its proto form, the reads of the gRPC API
//! (`get_event`, `list_events`, look-ups by tracking number), and the writes of a report merged
//! into a stored event. A new event is inserted with its siblings in one statement (`submit`,
//! `batch/`).

use chrono::{DateTime, Utc};
use civicgrid_kit::time::to_proto;
use civicgrid_proto::v1::{Event, EventReport, EventStatus, EventStatusChange, GeoPoint, Location, RegionPath};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::{Store, StoreError};
use crate::domain::validate::NewReport;

/// Filters of a listing; `None` means no filter.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// City code (6 digits ending 00).
    pub city: Option<String>,
    /// County code.
    pub county: Option<String>,
    /// Township code.
    pub township: Option<String>,
    /// Village code.
    pub village: Option<String>,
    /// Grid code: only events located in this grid.
    pub grid_code: Option<String>,
    /// Only events with a task of this department (a department's listing).
    pub department_id: Option<String>,
    /// Public status.
    pub status: Option<i16>,
    /// Source of the first report.
    pub source: Option<i16>,
    /// Catalog item.
    pub item_code: Option<String>,
    /// Reported at or after.
    pub from: Option<DateTime<Utc>>,
    /// Reported before.
    pub to: Option<DateTime<Utc>>,
    /// Only events with ids below this one (the page token).
    pub before_id: Option<Uuid>,
    /// Only events of one of these catalog items (Open311's `service_code` list).
    pub item_codes: Option<Vec<String>>,
    /// Only events in one of these public statuses (Open311's `open` or `closed`).
    pub statuses: Option<Vec<i16>>,
    /// Only the events with these tracking numbers (Open311's `service_request_id` list).
    pub tracking_numbers: Option<Vec<String>>,
    /// No events of these categories (an item code's first group): Open311's private ones.
    pub hidden_categories: Option<Vec<String>>,
    /// Events to skip before the first one returned (Open311's `page`; gRPC pages by id).
    pub offset: i64,
}

#[derive(Clone, FromRow)]
pub(super) struct EventRow {
    pub(super) id: Uuid,
    pub(super) tracking_number: String,
    pub(super) source: i16,
    pub(super) item_code: String,
    pub(super) city: String,
    pub(super) county: String,
    pub(super) township: String,
    pub(super) village: String,
    pub(super) grid_code: Option<String>,
    pub(super) lat: Option<f64>,
    pub(super) lng: Option<f64>,
    pub(super) address: String,
    pub(super) description: String,
    pub(super) evidence_urls: Vec<String>,
    pub(super) occurred_at: DateTime<Utc>,
    pub(super) reported_at: DateTime<Utc>,
    pub(super) status: i16,
    pub(super) version: i64,
}

/// The event a report was merged into, as it is after the merge.
pub(super) struct MergedInto {
    pub(super) event_id: Uuid,
    pub(super) tracking_number: String,
    pub(super) report_count: i32,
    pub(super) version: i64,
    pub(super) region: RegionPath,
}

const EVENT_COLUMNS: &str = "id, tracking_number, source, item_code, city, county, township, village, grid_code, lat, lng, \
     address, description, evidence_urls, occurred_at, reported_at, status, version";

impl EventRow {
    pub(super) fn region(&self) -> RegionPath {
        RegionPath {
            city: self.city.clone(),
            county: self.county.clone(),
            township: self.township.clone(),
            village: self.village.clone(),
        }
    }

    pub(super) fn into_event(self, reports: Vec<EventReport>, history: Vec<EventStatusChange>) -> Event {
        let region = self.region();
        Event {
            id: self.id.to_string(),
            tracking_number: self.tracking_number,
            source: self.source as i32,
            item_code: self.item_code,
            location: Some(Location {
                point: self.lat.zip(self.lng).map(|(latitude, longitude)| GeoPoint { latitude, longitude }),
                grid_code: self.grid_code.unwrap_or_default(),
                region_code: region_code(&region),
                address: self.address,
                region: Some(region),
            }),
            description: self.description,
            evidence_urls: self.evidence_urls,
            occurred_at: Some(to_proto(self.occurred_at)),
            reported_at: Some(to_proto(self.reported_at)),
            status: self.status as i32,
            reports,
            history,
            version: self.version,
        }
    }

    /// The row of a new event (status REPORTED, version 1) opened by `report` at `now`.
    pub(super) fn reported(report: &NewReport, tracking_number: String, now: DateTime<Utc>) -> Self {
        EventRow {
            id: Uuid::now_v7(),
            tracking_number,
            source: report.source as i16,
            item_code: report.item_code.clone(),
            city: report.region.city.clone(),
            county: report.region.county.clone(),
            township: report.region.township.clone(),
            village: report.region.village.clone(),
            grid_code: report.grid_code.clone(),
            lat: report.point.map(|p| p.0),
            lng: report.point.map(|p| p.1),
            address: report.address.clone(),
            description: report.description.clone(),
            evidence_urls: report.evidence_urls.clone(),
            occurred_at: report.occurred_at,
            reported_at: now,
            status: EventStatus::Reported as i16,
            version: 1,
        }
    }
}

/// The most precise code of a region path.
fn region_code(p: &RegionPath) -> String {
    [&p.village, &p.township, &p.county].into_iter().find(|c| !c.is_empty()).cloned().unwrap_or_default()
}

#[derive(FromRow)]
struct ReportRow {
    id: Uuid,
    source: i16,
    reporter_id: Uuid,
    phone_masked: String,
    description: String,
    evidence_urls: Vec<String>,
    reported_at: DateTime<Utc>,
}

impl From<ReportRow> for EventReport {
    fn from(r: ReportRow) -> Self {
        EventReport {
            report_id: r.id.to_string(),
            source: r.source as i32,
            reporter_id: r.reporter_id.to_string(),
            masked_phone: r.phone_masked,
            description: r.description,
            evidence_urls: r.evidence_urls,
            reported_at: Some(to_proto(r.reported_at)),
        }
    }
}

#[derive(FromRow)]
struct HistoryRow {
    status: i16,
    fact: String,
    task_id: String,
    department_id: String,
    at: DateTime<Utc>,
}

impl Store {
    /// One event with its reports and status history.
    pub async fn get_event(&self, id: Uuid) -> Result<Option<Event>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
        let Some(row) =
            sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?
        else {
            return Ok(None);
        };
        let reports: Vec<ReportRow> = sqlx::query_as(
            "SELECT r.id, r.source, r.reporter_id, p.phone_masked, r.description, r.evidence_urls, r.reported_at \
             FROM reports r JOIN reporters p ON p.id = r.reporter_id WHERE r.event_id = $1 ORDER BY r.reported_at, r.id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let history: Vec<HistoryRow> = sqlx::query_as(
            "SELECT status, fact, task_id, department_id, at FROM status_history WHERE event_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let history = history
            .into_iter()
            .map(|h| EventStatusChange {
                status: h.status as i32,
                fact: h.fact,
                task_id: h.task_id,
                department_id: h.department_id,
                at: Some(to_proto(h.at)),
            })
            .collect();
        Ok(Some(row.into_event(reports.into_iter().map(Into::into).collect(), history)))
    }

    /// The id of the event with a tracking number.
    pub async fn event_id_by_tracking_number(&self, tracking_number: &str) -> Result<Option<Uuid>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM events WHERE tracking_number = $1")
            .bind(tracking_number)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The id of the event with a tracking number whose reporters include one whose phone ends
    /// in `phone_last4`: the proof a citizen gives besides the number. One statement, so a
    /// missing number and a wrong proof cost the same and answer the same (`None`).
    pub async fn event_id_for_reporter(
        &self,
        tracking_number: &str,
        phone_last4: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT e.id FROM events e WHERE e.tracking_number = $1 AND EXISTS \
               (SELECT 1 FROM reports r JOIN reporters p ON p.id = r.reporter_id \
                WHERE r.event_id = e.id AND p.phone_masked <> '' AND right(p.phone_masked, 4) = $2)",
        )
        .bind(tracking_number)
        .bind(phone_last4)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether department `department_id` has (or had, until reassigned) a task on the event.
    pub async fn has_department_task(&self, event_id: Uuid, department_id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM event_tasks WHERE event_id = $1 AND department_id = $2)")
            .bind(event_id)
            .bind(department_id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Up to `limit` events matching `filter`, newest first (without reports and history).
    pub async fn list_events(&self, filter: &ListFilter, limit: i64) -> Result<Vec<Event>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE \
               ($1::text IS NULL OR city = $1) AND ($2::text IS NULL OR county = $2) \
               AND ($3::text IS NULL OR township = $3) AND ($4::text IS NULL OR village = $4) \
               AND ($5::int2 IS NULL OR status = $5) AND ($6::int2 IS NULL OR source = $6) \
               AND ($7::text IS NULL OR item_code = $7) \
               AND ($8::timestamptz IS NULL OR reported_at >= $8) AND ($9::timestamptz IS NULL OR reported_at < $9) \
               AND ($10::uuid IS NULL OR id < $10) \
               AND ($12::text[] IS NULL OR item_code = ANY($12)) AND ($13::int2[] IS NULL OR status = ANY($13)) \
               AND ($14::text[] IS NULL OR tracking_number = ANY($14)) \
               AND ($15::text[] IS NULL OR split_part(item_code, '.', 1) <> ALL($15)) \
               AND ($17::text IS NULL OR grid_code = $17) \
               AND ($18::text IS NULL OR EXISTS \
                    (SELECT 1 FROM event_tasks t WHERE t.event_id = events.id AND t.department_id = $18)) \
             ORDER BY id DESC LIMIT $11 OFFSET $16"
        );
        let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&filter.city)
            .bind(&filter.county)
            .bind(&filter.township)
            .bind(&filter.village)
            .bind(filter.status)
            .bind(filter.source)
            .bind(&filter.item_code)
            .bind(filter.from)
            .bind(filter.to)
            .bind(filter.before_id)
            .bind(limit)
            .bind(&filter.item_codes)
            .bind(&filter.statuses)
            .bind(&filter.tracking_numbers)
            .bind(&filter.hidden_categories)
            .bind(filter.offset.max(0))
            .bind(&filter.grid_code)
            .bind(&filter.department_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.into_event(vec![], vec![])).collect())
    }
}

/// Counts one more report into stored event `event_id` (a new version) and returns the event
/// as it is afterwards.
pub(super) async fn count_report(tx: &mut PgConnection, event_id: Uuid) -> Result<MergedInto, StoreError> {
    let (tracking_number, report_count, version, city, county, township, village): (
        String,
        i32,
        i64,
        String,
        String,
        String,
        String,
    ) = sqlx::query_as(
        "UPDATE events SET report_count = report_count + 1, version = version + 1 WHERE id = $1 \
         RETURNING tracking_number, report_count, version, city, county, township, village",
    )
    .bind(event_id)
    .fetch_one(&mut *tx)
    .await?;
    let region = RegionPath { city, county, township, village };
    Ok(MergedInto { event_id, tracking_number, report_count, version, region })
}

/// Inserts report `id` of `report` by `reporter_id` into event `event_id`.
pub(super) async fn insert_report(
    tx: &mut PgConnection,
    id: Uuid,
    event_id: Uuid,
    report: &NewReport,
    reporter_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO reports (id, event_id, source, reporter_id, description, evidence_urls, lat, lng, reported_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(event_id)
    .bind(report.source as i16)
    .bind(reporter_id)
    .bind(&report.description)
    .bind(&report.evidence_urls)
    .bind(report.point.map(|p| p.0))
    .bind(report.point.map(|p| p.1))
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}
