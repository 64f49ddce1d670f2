//! The statements of a batch that are the batch's own: 1 (idempotency look-up under the
//! duplicate locks), 3 (merge counts and tracking numbers) and 4 (every row). Statement 2 is the
//! duplicate search (`store::duplicates`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use civicgrid_kit::bus::{self, outbox::OutboxRow};
use civicgrid_proto::v1::{RegionPath, SubmitEventResponse};
use prost::Message;
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use super::Submission;
use crate::{
    SERVICE,
    domain::{
        batch::{self, Entry},
        dedupe,
    },
    store::{StoreError, events::EventRow, reporters::Prepared},
};

/// Statement 1: which keys were answered before (1-based positions in `$1`/`$2`) and their stored
/// answers, while the duplicate locks are taken in the order of their ids. It also makes the
/// statements after it be planned anew at every execution (`force_custom_plan`), with the table
/// sizes of the moment; statement 3 may give statement 4 back the connection's default.
///
/// Why not PostgreSQL's default, which after five executions may settle on one generic plan per
/// connection and keep it until the table's statistics change: a generic plan made while the
/// tables of a new database were still nearly empty, where every index costs the same, was kept
/// while they grew. Measured in fresh clusters: in some runs statement 2 searched by the wrong
/// index (from 2,800 to 8,600 buffers a batch within 30 s), in others statement 3 scanned all of
/// `events`, and accepted/s fell from 4,000 to under 1,500 until autovacuum analysed the tables a
/// minute or more later.
///
/// Each key is looked up on its own (a lateral `LIMIT 1`) for the same reason: this statement
/// itself runs under the default, and a plain join was planned as a hash join over a scan of
/// `submissions`.
const LOCK_AND_LOOK: &str = "\
SELECT a.positions, a.responses, pg_advisory_xact_lock(l.h)::text, \
       set_config('plan_cache_mode', 'force_custom_plan', true) \
FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($3::text[]) AS k ORDER BY h) AS l \
CROSS JOIN (SELECT array_agg(k.i::int4 ORDER BY k.i) AS positions, array_agg(found.response ORDER BY k.i) AS responses \
            FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k (caller, request_id, i) \
            CROSS JOIN LATERAL (SELECT s.response FROM submissions s \
                                WHERE s.caller = k.caller AND s.request_id = k.request_id LIMIT 1) AS found) AS a";

/// Statement 1 for the batch's `leaders`, which takes their duplicate locks: the answers stored
/// before, by submission, and which submissions have one.
pub(super) async fn lock_and_look(
    tx: &mut PgConnection,
    entries: &[Entry<'_>],
    leaders: &[usize],
) -> Result<(Vec<Option<SubmitEventResponse>>, Vec<bool>), StoreError> {
    let keys: Vec<String> =
        leaders.iter().map(|&i| dedupe::lock_key(entries[i].item_code, entries[i].county)).collect();
    type Looked = (Option<Vec<i32>>, Option<Vec<Option<Vec<u8>>>>, String, String);
    let looked: Vec<Looked> = sqlx::query_as(LOCK_AND_LOOK)
        .bind(leaders.iter().map(|&i| entries[i].caller).collect::<Vec<_>>())
        .bind(leaders.iter().map(|&i| entries[i].request_id).collect::<Vec<_>>())
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await?;
    // The answers of this batch, by submission: stored ones now, fresh ones as written.
    let mut answers: Vec<Option<SubmitEventResponse>> = vec![None; entries.len()];
    let mut answered = vec![false; entries.len()];
    if let Some((Some(positions), Some(responses), _, _)) = looked.into_iter().next() {
        for (position, response) in positions.into_iter().zip(responses) {
            let Some(&i) = usize::try_from(position - 1).ok().and_then(|p| leaders.get(p)) else { continue };
            let bytes = response.ok_or_else(|| StoreError::Corrupt("a stored answer is empty".into()))?;
            answers[i] =
                Some(SubmitEventResponse::decode(bytes.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string()))?);
            answered[i] = true;
        }
    }
    Ok((answers, answered))
}

/// Statement 3: count the merges into stored events (what each looks like afterwards comes
/// back), and draw one tracking number per new event from its county's sequence, in order.
/// `e.id = ANY($1)` gives the plan an index condition on the events' key.
/// One extra row, always one, sets `plan_cache_mode` for statement 4, which is planned after this
/// one has run: `$4`, or when it is `NULL` the connection's default, its `RESET` value
/// (`plans::WritePlans`).
const MERGE_AND_NUMBER: &str = "\
WITH merged AS (UPDATE events e SET report_count = e.report_count + d.k, version = e.version + d.k \
    FROM unnest($1::uuid[], $2::int4[]) AS d (id, k) WHERE e.id = ANY($1::uuid[]) AND e.id = d.id \
    RETURNING e.id, e.tracking_number, e.report_count, e.version, e.city, e.county, e.township, e.village) \
SELECT id, tracking_number, report_count, version, city, county, township, village, \
       NULL::text AS sequence, NULL::int8 AS number, NULL::text AS plan_cache_mode FROM merged \
UNION ALL \
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, s.name, nextval(s.name::regclass), NULL \
FROM unnest($3::text[]) WITH ORDINALITY AS s (name, n) \
UNION ALL \
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
       set_config('plan_cache_mode', $4, true)";

/// A stored event as statement 3 left it, and how many of the batch's reports merged into it.
pub(super) struct StoredTarget {
    pub(super) tracking_number: String,
    pub(super) region: RegionPath,
    pub(super) steps: std::vec::IntoIter<(i32, i64)>,
}

/// Statement 3: the stored events merged into, as they are afterwards, with the count and
/// version each merge gives them; and one tracking number per entry of `needs`, increasing
/// along it per sequence. Statement 4 is then planned under `write_plan_cache_mode` (`None`: the
/// connection's default).
pub(super) async fn merge_and_number(
    tx: &mut PgConnection,
    merge_ids: &[Uuid],
    merge_counts: &HashMap<Uuid, usize>,
    needs: &[&str],
    write_plan_cache_mode: Option<&str>,
) -> Result<(HashMap<Uuid, StoredTarget>, Vec<i64>), StoreError> {
    type Row = (
        Option<Uuid>,
        Option<String>,
        Option<i32>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
    );
    let ks: Vec<i32> = merge_ids.iter().map(|id| merge_counts.get(id).copied().unwrap_or(0) as i32).collect();
    let rows: Vec<Row> = sqlx::query_as(MERGE_AND_NUMBER)
        .bind(merge_ids)
        .bind(&ks)
        .bind(needs)
        .bind(write_plan_cache_mode)
        .fetch_all(&mut *tx)
        .await?;
    let mut targets = HashMap::new();
    let mut drawn: HashMap<String, Vec<i64>> = HashMap::new();
    for row in rows {
        match row {
            (
                Some(id),
                Some(tracking_number),
                Some(count),
                Some(version),
                Some(city),
                Some(county),
                Some(township),
                Some(village),
                _,
                _,
                _,
            ) => {
                let merges = merge_counts.get(&id).copied().unwrap_or(0);
                let steps = batch::merge_steps(count, version, merges).into_iter();
                targets.insert(
                    id,
                    StoredTarget { tracking_number, region: RegionPath { city, county, township, village }, steps },
                );
            }
            (_, _, _, _, _, _, _, _, Some(sequence), Some(number), _) => {
                drawn.entry(sequence).or_default().push(number)
            }
            (_, _, _, _, _, _, _, _, _, _, Some(_plan_cache_mode)) => {}
            _ => return Err(StoreError::Corrupt("unexpected row from merge/number statement".into())),
        }
    }
    if targets.len() != merge_ids.len() {
        return Err(StoreError::Corrupt("an event merged into has vanished".into()));
    }
    let numbers = batch::assign_numbers(needs, &drawn)
        .ok_or_else(|| StoreError::Corrupt("a tracking sequence gave too few numbers".into()))?;
    Ok((targets, numbers))
}

/// Statement 4: every row of the batch. The foreign keys of `reports` are checked at the end
/// of the statement, when the sibling inserts are there. An answer that cannot be inserted
/// means a concurrent twin committed first (the caller compares the count).
const WRITE: &str = "\
WITH reporter AS (INSERT INTO reporters (id, account_id, name_sealed, phone_sealed, phone_masked) \
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[], $5::text[])), \
event AS (INSERT INTO events (id, tracking_number, source, item_code, city, county, township, village, grid_code, \
    lat, lng, address, description, evidence_urls, occurred_at, reported_at, status, version, report_count) \
    SELECT id, tn, src, item, city, county, township, village, grid, lat, lng, address, description, \
           ARRAY(SELECT jsonb_array_elements_text(evidence)), occurred, reported, 1, version, count \
    FROM unnest($6::uuid[], $7::text[], $8::int2[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], \
                $14::text[], $15::float8[], $16::float8[], $17::text[], $18::text[], $19::jsonb[], \
                $20::timestamptz[], $21::timestamptz[], $22::int8[], $23::int4[]) \
         AS e (id, tn, src, item, city, county, township, village, grid, lat, lng, address, description, evidence, \
               occurred, reported, version, count)), \
report AS (INSERT INTO reports (id, event_id, source, reporter_id, description, evidence_urls, lat, lng, reported_at) \
    SELECT id, event_id, src, reporter_id, description, ARRAY(SELECT jsonb_array_elements_text(evidence)), lat, lng, at \
    FROM unnest($24::uuid[], $25::uuid[], $26::int2[], $27::uuid[], $28::text[], $29::jsonb[], $30::float8[], \
                $31::float8[], $32::timestamptz[]) \
         AS r (id, event_id, src, reporter_id, description, evidence, lat, lng, at)), \
message AS (INSERT INTO outbox (id, subject, headers, payload) \
    SELECT * FROM unnest($33::uuid[], $34::text[], $35::jsonb[], $36::bytea[])) \
INSERT INTO submissions (caller, request_id, response) \
SELECT * FROM unnest($37::text[], $38::text[], $39::bytea[]) ON CONFLICT DO NOTHING RETURNING 1";

/// The rows of statement 4, one vector per column.
#[derive(Default)]
pub(super) struct Rows {
    reporter_id: Vec<Uuid>,
    reporter_account: Vec<String>,
    reporter_name: Vec<Option<Vec<u8>>>,
    reporter_phone: Vec<Option<Vec<u8>>>,
    reporter_masked: Vec<String>,
    pub(super) event: Vec<EventRow>,
    pub(super) event_count: Vec<i32>,
    report_id: Vec<Uuid>,
    report_event: Vec<Uuid>,
    report_source: Vec<i16>,
    report_reporter: Vec<Uuid>,
    report_description: Vec<String>,
    report_evidence: Vec<Json<Vec<String>>>,
    report_lat: Vec<Option<f64>>,
    report_lng: Vec<Option<f64>>,
    report_at: Vec<DateTime<Utc>>,
    message: Vec<OutboxRow>,
    pub(super) caller: Vec<String>,
    request_id: Vec<String>,
    response: Vec<Vec<u8>>,
}

impl Rows {
    /// The reporter and report rows of one submission.
    pub(super) fn add_report(&mut self, s: &Submission, p: &Prepared, event_id: Uuid) {
        let r = &s.report;
        self.reporter_id.push(p.reporter_id);
        self.reporter_account.push(r.reporter_account.clone());
        self.reporter_name.push(p.name_sealed.clone());
        self.reporter_phone.push(p.phone_sealed.clone());
        self.reporter_masked.push(p.masked.clone());
        self.report_id.push(p.report_id);
        self.report_event.push(event_id);
        self.report_source.push(r.source as i16);
        self.report_reporter.push(p.reporter_id);
        self.report_description.push(r.description.clone());
        self.report_evidence.push(Json(r.evidence_urls.clone()));
        self.report_lat.push(r.point.map(|p| p.0));
        self.report_lng.push(r.point.map(|p| p.1));
        self.report_at.push(s.now);
    }

    /// The outbox row (with the caller's trace context) and the stored answer of one submission.
    pub(super) fn add_answer(&mut self, s: &Submission, envelope: &bus::Envelope, response: &SubmitEventResponse) {
        let message = s.span.in_scope(|| OutboxRow::new(SERVICE, envelope, s.now));
        self.message.push(message);
        self.caller.push(s.caller.subject.clone());
        self.request_id.push(s.report.request_id.clone());
        self.response.push(response.encode_to_vec());
    }
}

/// Statement 4; returns how many answers were inserted.
pub(super) async fn write_rows(tx: &mut PgConnection, rows: &Rows) -> Result<usize, StoreError> {
    let e = &rows.event;
    let col = |f: fn(&EventRow) -> String| e.iter().map(f).collect::<Vec<String>>();
    let inserted = sqlx::query(WRITE)
        .bind(&rows.reporter_id)
        .bind(&rows.reporter_account)
        .bind(&rows.reporter_name)
        .bind(&rows.reporter_phone)
        .bind(&rows.reporter_masked)
        .bind(e.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(col(|r| r.tracking_number.clone()))
        .bind(e.iter().map(|r| r.source).collect::<Vec<_>>())
        .bind(col(|r| r.item_code.clone()))
        .bind(col(|r| r.city.clone()))
        .bind(col(|r| r.county.clone()))
        .bind(col(|r| r.township.clone()))
        .bind(col(|r| r.village.clone()))
        .bind(e.iter().map(|r| r.grid_code.clone()).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.lat).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.lng).collect::<Vec<_>>())
        .bind(col(|r| r.address.clone()))
        .bind(col(|r| r.description.clone()))
        .bind(e.iter().map(|r| Json(r.evidence_urls.clone())).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.reported_at).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.version).collect::<Vec<_>>())
        .bind(&rows.event_count)
        .bind(&rows.report_id)
        .bind(&rows.report_event)
        .bind(&rows.report_source)
        .bind(&rows.report_reporter)
        .bind(&rows.report_description)
        .bind(&rows.report_evidence)
        .bind(&rows.report_lat)
        .bind(&rows.report_lng)
        .bind(&rows.report_at)
        .bind(rows.message.iter().map(|m| m.id).collect::<Vec<_>>())
        .bind(rows.message.iter().map(|m| m.subject.clone()).collect::<Vec<_>>())
        .bind(rows.message.iter().map(|m| m.headers.clone()).collect::<Vec<_>>())
        .bind(rows.message.iter().map(|m| m.payload.clone()).collect::<Vec<_>>())
        .bind(&rows.caller)
        .bind(&rows.request_id)
        .bind(&rows.response)
        .fetch_all(&mut *tx)
        .await?;
    Ok(inserted.len())
}
