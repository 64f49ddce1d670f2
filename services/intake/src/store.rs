//! All of intake's SQL. A submission is written on its own ([`Store::submit`]) or together with
//! others in one transaction ([`Store::submit_batch`], in `store/batch.rs`).

mod batch;

pub use batch::Submission;

use std::{collections::HashSet, sync::Mutex};

use chrono::{DateTime, Duration, FixedOffset, Utc};
use civicgrid_kit::{
    auth::Principal,
    bus::{self, Envelope, OutboxSignal},
    time::to_proto,
};
use civicgrid_proto::v1::{
    Event, EventMerged, EventRated, EventReport, EventReported, EventStatus, EventStatusChange, GeoPoint, Location,
    RateOutcomeResponse, RegionPath, SubmitEventResponse, TaskEvent, TaskStatus,
};
use prost::Message;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    SERVICE,
    domain::{dedupe, mask, rating::NewRating, status, tracking, validate::NewReport},
    pii::PiiCipher,
};
use civicgrid_contracts::intake::{EVENT_MERGED, EVENT_RATED, EVENT_REPORTED};
pub use civicgrid_kit::storage::StoreError;

/// Why an outcome cannot be rated (answered FAILED_PRECONDITION).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRatable {
    /// The event is neither RESOLVED nor CLOSED.
    NotResolved,
    /// The event's current outcome round already has its rating.
    AlreadyRated,
}

/// What [`Store::rate`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum RateAnswer {
    /// Recorded now, or recorded by the first call with this `(caller, request_id)`.
    Rated(RateOutcomeResponse),
    /// Nothing recorded.
    NotRatable(NotRatable),
}

/// What the duplicate search found.
struct Search {
    /// The open event the report duplicates.
    duplicate: Option<Uuid>,
    /// The tracking number taken when there was no candidate at all.
    next_number: Option<i64>,
}

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
}

/// intake's storage, with what a submission needs besides the pool.
pub struct Store {
    pool: PgPool,
    cipher: PiiCipher,
    signal: OutboxSignal,
    offset: FixedOffset,
    radius_m: f64,
    window: Duration,
    /// Tracking sequences known to exist, so each is created once per process.
    sequences: Mutex<HashSet<String>>,
}

#[derive(Clone, FromRow)]
struct EventRow {
    id: Uuid,
    tracking_number: String,
    source: i16,
    item_code: String,
    city: String,
    county: String,
    township: String,
    village: String,
    grid_code: Option<String>,
    lat: Option<f64>,
    lng: Option<f64>,
    address: String,
    description: String,
    evidence_urls: Vec<String>,
    occurred_at: DateTime<Utc>,
    reported_at: DateTime<Utc>,
    status: i16,
    version: i64,
}

const EVENT_COLUMNS: &str = "id, tracking_number, source, item_code, city, county, township, village, grid_code, lat, lng, \
     address, description, evidence_urls, occurred_at, reported_at, status, version";

impl EventRow {
    fn region(&self) -> RegionPath {
        RegionPath {
            city: self.city.clone(),
            county: self.county.clone(),
            township: self.township.clone(),
            village: self.village.clone(),
        }
    }

    fn into_event(self, reports: Vec<EventReport>, history: Vec<EventStatusChange>) -> Event {
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
}

/// The advisory lock that serialises the duplicate search of one catalog item in one county.
fn dedupe_lock_key(report: &NewReport) -> String {
    format!("intake-dedupe:{}:{}", report.item_code, report.region.county)
}

/// The most precise code of a region path.
fn region_code(p: &RegionPath) -> String {
    [&p.village, &p.township, &p.county].into_iter().find(|c| !c.is_empty()).cloned().unwrap_or_default()
}

impl EventRow {
    /// The row of a new event (status REPORTED, version 1) opened by `report` at `now`.
    fn reported(report: &NewReport, tracking_number: String, now: DateTime<Utc>) -> Self {
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

/// What a report needs before it is written: its ids, the reporter's sealed PII and the
/// report as the bus and the answer show it.
struct Prepared {
    reporter_id: Uuid,
    report_id: Uuid,
    masked: String,
    name_sealed: Option<Vec<u8>>,
    phone_sealed: Option<Vec<u8>>,
    report: EventReport,
}

/// The event a report was merged into, as it is after the merge.
struct MergedInto {
    event_id: Uuid,
    tracking_number: String,
    report_count: i32,
    version: i64,
    region: RegionPath,
}

/// The answer to a submission whose `report` went into event `event_id`.
fn answer(event_id: Uuid, tracking_number: &str, merged: bool, report: &EventReport) -> SubmitEventResponse {
    SubmitEventResponse {
        event_id: event_id.to_string(),
        tracking_number: tracking_number.to_string(),
        merged,
        report_id: report.report_id.clone(),
        reporter_id: report.reporter_id.clone(),
    }
}

/// The `event-reported` message and the answer for a new event.
fn reported_event(row: &EventRow, report: EventReport, caller: &Principal) -> (Envelope, SubmitEventResponse) {
    let response = answer(row.id, &row.tracking_number, false, &report);
    let reported =
        EventReported { event: Some(row.clone().into_event(vec![report], vec![])), actor: Some(caller.actor()) };
    let envelope = Envelope::fact(&EVENT_REPORTED, &row.region(), row.id, &reported);
    (envelope, response)
}

/// The `event-merged` message and the answer for a report merged into `into`.
fn merged_event(report: EventReport, caller: &Principal, into: MergedInto) -> (Envelope, SubmitEventResponse) {
    let response = answer(into.event_id, &into.tracking_number, true, &report);
    let merged = EventMerged {
        event_id: into.event_id.to_string(),
        tracking_number: into.tracking_number,
        report: Some(report),
        report_count: into.report_count,
        version: into.version,
        region: Some(into.region.clone()),
        actor: Some(caller.actor()),
    };
    let envelope = Envelope::fact(&EVENT_MERGED, &into.region, into.event_id, &merged);
    (envelope, response)
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
    /// A store over `pool`.
    pub fn new(
        pool: PgPool,
        cipher: PiiCipher,
        signal: OutboxSignal,
        offset: FixedOffset,
        radius_m: f64,
        window: Duration,
    ) -> Self {
        Store { pool, cipher, signal, offset, radius_m, window, sequences: Mutex::new(HashSet::new()) }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// New ids for a report and its reporter, the sealed PII and the masked phone.
    fn prepare(&self, report: &NewReport, now: DateTime<Utc>) -> Prepared {
        let reporter_id = Uuid::now_v7();
        let report_id = Uuid::now_v7();
        let masked = mask::mask_phone(&report.reporter_phone);
        let seal = |s: &str| (!s.is_empty()).then(|| self.cipher.encrypt(reporter_id, s));
        let (name_sealed, phone_sealed) = (seal(&report.reporter_name), seal(&report.reporter_phone));
        let event_report = EventReport {
            report_id: report_id.to_string(),
            source: report.source as i32,
            reporter_id: reporter_id.to_string(),
            masked_phone: masked.clone(),
            description: report.description.clone(),
            evidence_urls: report.evidence_urls.clone(),
            reported_at: Some(to_proto(now)),
        };
        Prepared { reporter_id, report_id, masked, name_sealed, phone_sealed, report: event_report }
    }

    /// Creates the tracking sequence of one county and day unless it is known to exist.
    /// Outside the submission's transaction: DDL there would serialise submissions.
    async fn ensure_sequence(&self, name: &str) -> Result<(), StoreError> {
        if self.sequences.lock().map(|s| s.contains(name)).unwrap_or(false) {
            return Ok(());
        }
        let sql = format!("CREATE SEQUENCE IF NOT EXISTS {name}");
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await {
            // Two first submissions of the day may race; the loser sees a duplicate.
            let code = e.as_database_error().and_then(|d| d.code()).map(|c| c.to_string());
            if !matches!(code.as_deref(), Some("23505") | Some("42P07")) {
                return Err(e.into());
            }
        }
        if let Ok(mut s) = self.sequences.lock() {
            s.insert(name.to_string());
        }
        Ok(())
    }

    /// Records a report: a new event, or an additional report of an open duplicate. Returns
    /// the first answer again for a repeated `(caller, request_id)`.
    pub async fn submit(
        &self,
        report: &NewReport,
        caller: &Principal,
        now: DateTime<Utc>,
    ) -> Result<SubmitEventResponse, StoreError> {
        let day = tracking::day_of(now, self.offset);
        let sequence = tracking::sequence_name(&report.region.county, &day)
            .ok_or_else(|| StoreError::Corrupt("county code is not digits".into()))?;
        self.ensure_sequence(&sequence).await?;

        // Round trips are the cost here (everything shares two cores with PostgreSQL): a new
        // event takes BEGIN, three statements and COMMIT.
        let mut tx = self.pool.begin().await?;
        // Idempotency and the duplicate lock in one statement. Reports of one item in one
        // county are matched one at a time, so two simultaneous reports of the same thing
        // cannot both open an event.
        // The answer is recorded by the last statement (an insert that a concurrent twin
        // makes wait and then find taken); this first look answers most retries early.
        let (answered, _): (bool, String) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM submissions WHERE caller = $1 AND request_id = $2), \
             pg_advisory_xact_lock(hashtextextended($3, 0))::text",
        )
        .bind(&caller.subject)
        .bind(&report.request_id)
        .bind(dedupe_lock_key(report))
        .fetch_one(&mut *tx)
        .await?;
        if answered {
            tx.rollback().await?;
            return self.previous_answer("submissions", &caller.subject, &report.request_id).await;
        }
        let search = self.search(&mut tx, report, now, &sequence).await?;

        let Prepared { reporter_id, report_id, masked, name_sealed, phone_sealed, report: first_report } =
            self.prepare(report, now);

        if let Some(event_id) = search.duplicate {
            sqlx::query(
                "INSERT INTO reporters (id, account_id, name_sealed, phone_sealed, phone_masked) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(reporter_id)
            .bind(&report.reporter_account)
            .bind(&name_sealed)
            .bind(&phone_sealed)
            .bind(&masked)
            .execute(&mut *tx)
            .await?;
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
            self.insert_report(&mut tx, report_id, event_id, report, reporter_id, now).await?;
            let region = RegionPath { city, county, township, village };
            let (envelope, response) = merged_event(
                first_report,
                caller,
                MergedInto { event_id, tracking_number, report_count, version, region },
            );
            bus::enqueue(&mut tx, SERVICE, &envelope, now).await?;
            let recorded = sqlx::query(
                "INSERT INTO submissions (caller, request_id, response) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(&caller.subject)
            .bind(&report.request_id)
            .bind(response.encode_to_vec())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            return self.finish(tx, recorded, &caller.subject, &report.request_id, response).await;
        }

        let seq = match search.next_number {
            Some(seq) => seq,
            // Candidates nearby, none close enough: number it now.
            None => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT nextval('{sequence}')")))
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        let row = EventRow::reported(report, tracking::format(&report.region.county, &day, seq), now);
        let (envelope, response) = reported_event(&row, first_report, caller);
        let message = bus::outbox::OutboxRow::new(SERVICE, &envelope, now);
        // Reporter, event, report, outbox row and the stored answer: one statement. The foreign
        // keys of `reports` are checked at its end, when the sibling inserts are there.
        let recorded = sqlx::query(
            "WITH reporter AS (INSERT INTO reporters (id, account_id, name_sealed, phone_sealed, phone_masked) \
                 VALUES ($1, $2, $3, $4, $5)), \
             event AS (INSERT INTO events (id, tracking_number, source, item_code, city, county, township, village, \
                 grid_code, lat, lng, address, description, evidence_urls, occurred_at, reported_at, status, version) \
                 VALUES ($6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, 1)), \
             report AS (INSERT INTO reports (id, event_id, source, reporter_id, description, evidence_urls, lat, lng, \
                 reported_at) VALUES ($23, $6, $8, $1, $18, $19, $15, $16, $21)), \
             message AS (INSERT INTO outbox (id, subject, headers, payload) VALUES ($24, $25, $26, $27)) \
             INSERT INTO submissions (caller, request_id, response) VALUES ($29, $30, $28) ON CONFLICT DO NOTHING",
        )
        .bind(reporter_id)
        .bind(&report.reporter_account)
        .bind(&name_sealed)
        .bind(&phone_sealed)
        .bind(&masked)
        .bind(row.id)
        .bind(&row.tracking_number)
        .bind(row.source)
        .bind(&row.item_code)
        .bind(&row.city)
        .bind(&row.county)
        .bind(&row.township)
        .bind(&row.village)
        .bind(&row.grid_code)
        .bind(row.lat)
        .bind(row.lng)
        .bind(&row.address)
        .bind(&row.description)
        .bind(&row.evidence_urls)
        .bind(row.occurred_at)
        .bind(row.reported_at)
        .bind(row.status)
        .bind(report_id)
        .bind(message.id)
        .bind(&message.subject)
        .bind(&message.headers)
        .bind(&message.payload)
        .bind(response.encode_to_vec())
        .bind(&caller.subject)
        .bind(&report.request_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.finish(tx, recorded, &caller.subject, &report.request_id, response).await
    }

    /// Commits a submission whose answer insert affected `recorded` rows; none means a
    /// concurrent twin with the same request id committed first: roll back, answer as it did.
    async fn finish(
        &self,
        tx: sqlx::Transaction<'_, sqlx::Postgres>,
        recorded: u64,
        caller: &str,
        request_id: &str,
        response: SubmitEventResponse,
    ) -> Result<SubmitEventResponse, StoreError> {
        if recorded == 0 {
            tx.rollback().await?;
            return self.previous_answer("submissions", caller, request_id).await;
        }
        tx.commit().await?;
        self.signal.wake();
        Ok(response)
    }

    /// The first answer to `(caller, request_id)` kept in `table` (`submissions` or
    /// `rating_requests`, fixed names, never input).
    async fn previous_answer<M: Message + Default>(
        &self,
        table: &'static str,
        caller: &str,
        request_id: &str,
    ) -> Result<M, StoreError> {
        let sql = format!("SELECT response FROM {table} WHERE caller = $1 AND request_id = $2");
        let stored: Option<Option<Vec<u8>>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(caller)
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await?;
        let bytes = stored
            .flatten()
            .ok_or_else(|| StoreError::Corrupt(format!("no stored answer for request {request_id}")))?;
        M::decode(bytes.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// The id and region path of the event with a tracking number.
    pub async fn event_region_by_tracking_number(
        &self,
        tracking_number: &str,
    ) -> Result<Option<(Uuid, RegionPath)>, StoreError> {
        let row: Option<(Uuid, String, String, String, String)> =
            sqlx::query_as("SELECT id, city, county, township, village FROM events WHERE tracking_number = $1")
                .bind(tracking_number)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(id, city, county, township, village)| (id, RegionPath { city, county, township, village })))
    }

    /// Records the reporter's rating of the event's current outcome round (回访): the rating,
    /// the event's new version and its `event-rated` fact, in one transaction. Returns the first
    /// answer again for a repeated `(caller, request_id)`; a refusal stores nothing, so its
    /// request id stays free for a later attempt.
    pub async fn rate(
        &self,
        event_id: Uuid,
        rating: &NewRating,
        caller: &Principal,
        now: DateTime<Utc>,
    ) -> Result<RateAnswer, StoreError> {
        let mut tx = self.pool.begin().await?;
        let fresh =
            sqlx::query("INSERT INTO rating_requests (caller, request_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&caller.subject)
                .bind(&rating.request_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if !fresh {
            tx.rollback().await?;
            return Ok(RateAnswer::Rated(
                self.previous_answer("rating_requests", &caller.subject, &rating.request_id).await?,
            ));
        }

        // The task-status consumer takes the same row lock, so status and round are read as of
        // the last applied task fact and cannot move until this commits.
        let current: Option<(i16, i32)> =
            sqlx::query_as("SELECT status, outcome_round FROM events WHERE id = $1 FOR UPDATE")
                .bind(event_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((current, round)) = current else {
            return Err(StoreError::Corrupt(format!("event {event_id} vanished")));
        };
        let current = EventStatus::try_from(current as i32).unwrap_or(EventStatus::Unspecified);
        if !status::is_outcome(current) {
            tx.rollback().await?;
            return Ok(RateAnswer::NotRatable(NotRatable::NotResolved));
        }

        let rating_id = Uuid::now_v7();
        let inserted = sqlx::query(
            "INSERT INTO ratings (id, event_id, outcome_round, rating, comment, actor_subject, actor_role, rated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT ON CONSTRAINT ratings_one_per_outcome DO NOTHING",
        )
        .bind(rating_id)
        .bind(event_id)
        .bind(round)
        .bind(rating.rating as i16)
        .bind(&rating.comment)
        .bind(&caller.subject)
        .bind(caller.role as i16)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            tx.rollback().await?;
            return Ok(RateAnswer::NotRatable(NotRatable::AlreadyRated));
        }

        let (tracking_number, version, city, county, township, village): (String, i64, String, String, String, String) =
            sqlx::query_as(
                "UPDATE events SET version = version + 1 WHERE id = $1 \
                 RETURNING tracking_number, version, city, county, township, village",
            )
            .bind(event_id)
            .fetch_one(&mut *tx)
            .await?;
        let region = RegionPath { city, county, township, village };
        let rated = EventRated {
            event_id: event_id.to_string(),
            tracking_number,
            rating: rating.rating as i32,
            comment: rating.comment.clone(),
            region: Some(region.clone()),
            version,
            rated_at: Some(to_proto(now)),
            actor: Some(caller.actor()),
            rating_id: rating_id.to_string(),
        };
        let envelope = Envelope::fact(&EVENT_RATED, &region, event_id, &rated);
        bus::enqueue(&mut tx, SERVICE, &envelope, now).await?;

        let response = RateOutcomeResponse { event_id: event_id.to_string(), rating_id: rating_id.to_string() };
        sqlx::query("UPDATE rating_requests SET response = $3 WHERE caller = $1 AND request_id = $2")
            .bind(&caller.subject)
            .bind(&rating.request_id)
            .bind(response.encode_to_vec())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.signal.wake();
        Ok(RateAnswer::Rated(response))
    }

    /// Looks for an open duplicate of `report`; when there is no candidate at all, the same
    /// statement takes the next tracking number (the common case costs one round trip).
    async fn search(
        &self,
        tx: &mut PgConnection,
        report: &NewReport,
        now: DateTime<Utc>,
        sequence: &str,
    ) -> Result<Search, StoreError> {
        // `sequence` is digits and underscores only (tracking::sequence_name).
        let numbered = |candidates: &str| {
            format!(
                "WITH c AS ({candidates}) SELECT id, lat, lng, grid_code, NULL::int8 FROM c \
                 UNION ALL SELECT NULL, NULL, NULL, NULL, nextval('{sequence}') WHERE NOT EXISTS (SELECT 1 FROM c)"
            )
        };
        type Row = (Option<Uuid>, Option<f64>, Option<f64>, Option<String>, Option<i64>);
        let rows: Vec<Row> = match (report.point, &report.grid_code) {
            (Some(point), _) => {
                let (lat0, lat1, lng0, lng1) = dedupe::bounding_box(point, self.radius_m);
                let sql = numbered(
                    "SELECT id, lat, lng, grid_code FROM events WHERE item_code = $1 AND county = $2 AND status <> 6 \
                     AND lat BETWEEN $3 AND $4 AND lng BETWEEN $5 AND $6 AND reported_at >= $7 \
                     ORDER BY reported_at DESC LIMIT 50",
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&report.item_code)
                    .bind(&report.region.county)
                    .bind(lat0)
                    .bind(lat1)
                    .bind(lng0)
                    .bind(lng1)
                    .bind(now - self.window)
                    .fetch_all(&mut *tx)
                    .await?
            }
            (None, Some(grid)) => {
                let sql = numbered(
                    "SELECT id, lat, lng, grid_code FROM events WHERE item_code = $1 AND grid_code = $2 \
                     AND county = $3 AND status <> 6 AND reported_at >= $4 ORDER BY reported_at DESC LIMIT 50",
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&report.item_code)
                    .bind(grid)
                    .bind(&report.region.county)
                    .bind(now - self.window)
                    .fetch_all(&mut *tx)
                    .await?
            }
            // Only a region: nothing to compare with.
            (None, None) => {
                let seq: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT nextval('{sequence}')")))
                    .fetch_one(&mut *tx)
                    .await?;
                return Ok(Search { duplicate: None, next_number: Some(seq) });
            }
        };
        let next_number = rows.iter().find_map(|r| r.4);
        let candidates: Vec<dedupe::Candidate<Uuid>> = rows
            .into_iter()
            .filter_map(|(id, lat, lng, grid_code, _)| {
                Some(dedupe::Candidate { id: id?, point: lat.zip(lng), grid_code })
            })
            .collect();
        let duplicate = dedupe::find_duplicate(&candidates, report.point, report.grid_code.as_deref(), self.radius_m);
        Ok(Search { duplicate, next_number })
    }

    async fn insert_report(
        &self,
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

    /// Forgets idempotency answers (of SubmitEvent and RateOutcome) older than `keep_answers` and drops the tracking sequences
    /// of days before yesterday (local time), so neither grows without bound.
    pub async fn housekeeping(&self, now: DateTime<Utc>, keep_answers: Duration) -> Result<(u64, usize), StoreError> {
        let mut forgotten = 0;
        for sql in
            ["DELETE FROM submissions WHERE created_at < $1", "DELETE FROM rating_requests WHERE created_at < $1"]
        {
            forgotten += sqlx::query(sql).bind(now - keep_answers).execute(&self.pool).await?.rows_affected();
        }
        let yesterday = tracking::day_of(now - Duration::days(1), self.offset);
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'S' AND n.nspname = current_schema() AND c.relname LIKE 'tracking\\_%'",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut dropped = 0;
        for name in names {
            let Some((county, day)) = name.strip_prefix("tracking_").and_then(|r| r.split_once('_')) else { continue };
            // Days compare as strings (yyyymmdd); the name is rebuilt from digits only.
            if day < yesterday.as_str()
                && let Some(safe) = tracking::sequence_name(county, day)
            {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SEQUENCE IF EXISTS {safe}"))).execute(&self.pool).await?;
                dropped += 1;
            }
        }
        Ok((forgotten, dropped))
    }

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
             ORDER BY id DESC LIMIT $11"
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
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.into_event(vec![], vec![])).collect())
    }
}

/// Applies one task fact of dispatch to the event's public status, inside the consumer's
/// transaction. Older facts of a task than the last applied one are ignored.
pub async fn apply_task_event(tx: &mut PgConnection, fact: &TaskEvent) -> Result<TaskApply, sqlx::Error> {
    let Ok(event_id) = Uuid::parse_str(&fact.event_id) else { return Ok(TaskApply::UnknownEvent) };
    let current: Option<i16> = sqlx::query_scalar("SELECT status FROM events WHERE id = $1 FOR UPDATE")
        .bind(event_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(current) = current else { return Ok(TaskApply::UnknownEvent) };
    let last: Option<i64> = sqlx::query_scalar("SELECT version FROM event_tasks WHERE event_id = $1 AND task_id = $2")
        .bind(event_id)
        .bind(&fact.task_id)
        .fetch_optional(&mut *tx)
        .await?;
    if !status::is_newer(fact.version, last) {
        return Ok(TaskApply::Stale);
    }
    let task_status = TaskStatus::try_from(fact.status).unwrap_or(TaskStatus::Unspecified);
    sqlx::query(
        "INSERT INTO event_tasks (event_id, task_id, version, status, lead) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (event_id, task_id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status, lead = EXCLUDED.lead",
    )
    .bind(event_id)
    .bind(&fact.task_id)
    .bind(fact.version)
    .bind(task_status as i16)
    .bind(fact.lead)
    .execute(&mut *tx)
    .await?;
    // The lead task decides the public status; without a known lead task, any task does.
    let other_lead: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM event_tasks WHERE event_id = $1 AND lead AND task_id <> $2)")
            .bind(event_id)
            .bind(&fact.task_id)
            .fetch_one(&mut *tx)
            .await?;
    if !fact.lead && other_lead {
        return Ok(TaskApply::Applied);
    }
    let Some(public) = status::public_status(task_status) else { return Ok(TaskApply::Applied) };
    if public as i16 == current {
        return Ok(TaskApply::Applied);
    }
    let at = fact.occurred_at.as_ref().and_then(civicgrid_kit::time::from_proto).unwrap_or_else(Utc::now);
    // Entering RESOLVED or CLOSED from a state without an outcome starts a new outcome round,
    // which the reporter may rate once (migrations/0003_ratings.sql).
    let from = EventStatus::try_from(current as i32).unwrap_or(EventStatus::Unspecified);
    let new_round = status::starts_outcome_round(from, public);
    sqlx::query(
        "UPDATE events SET status = $2, version = version + 1, outcome_round = outcome_round + $3 WHERE id = $1",
    )
    .bind(event_id)
    .bind(public as i16)
    .bind(i32::from(new_round))
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO status_history (event_id, status, fact, task_id, department_id, at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(event_id)
        .bind(public as i16)
        .bind(&fact.fact)
        .bind(&fact.task_id)
        .bind(&fact.department_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    Ok(TaskApply::Applied)
}

/// What [`apply_task_event`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum TaskApply {
    /// Recorded (the public status may or may not have changed).
    Applied,
    /// Older than what was applied; ignored.
    Stale,
    /// No such event in intake.
    UnknownEvent,
}
