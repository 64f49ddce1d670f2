//! Group commit: many submissions in one transaction, one multi-row statement per table.
//!
//! The cost of a submission on two shared cores was its round trips and PostgreSQL's per-statement
//! and per-commit work, not the rows themselves (docs/performance.md). A batch pays for BEGIN,
//! four statements and COMMIT once, whatever its size:
//!
//! 1. the idempotency look-up of every key and the duplicate locks of every (item, county),
//!    taken in one order (sorted lock ids), so two batches cannot deadlock on them;
//! 2. the duplicate search of every report (a statement after the locks, so that it sees what
//!    the previous holder committed);
//! 3. the additional reports counted into stored events (their new counts and versions come
//!    back) and the tracking numbers drawn for new events;
//! 4. reporters, events, reports, outbox rows and answers, written together.
//!
//! What each submission becomes is decided in between by `domain::batch::plan`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use civicgrid_kit::{
    auth::Principal,
    bus::{self, outbox::OutboxRow},
};
use civicgrid_proto::v1::{RegionPath, SubmitEventResponse};
use prost::Message;
use sqlx::types::Json;
use tracing::Instrument;
use uuid::Uuid;

use super::{EventRow, MergedInto, Prepared, Store, StoreError, dedupe_lock_key, merged_event, reported_event};
use crate::{
    SERVICE,
    domain::{
        batch::{self, Decision, Entry, Target},
        dedupe::{self, Candidate},
        tracking,
        validate::NewReport,
    },
};

/// One validated submission waiting to be written.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The validated report.
    pub report: NewReport,
    /// Who sent it.
    pub caller: Principal,
    /// When it was received.
    pub now: DateTime<Utc>,
    /// The caller's span: its trace context goes onto the bus with the submission's message.
    pub span: tracing::Span,
}

/// Statement 1: which keys were answered before (1-based positions in `$1`/`$2`) and their stored
/// answers, while the duplicate locks are taken in the order of their ids. It also makes statements 2–4 be planned
/// anew at every execution (`force_custom_plan`), with the table sizes of the moment.
///
/// Why not PostgreSQL's default, which after five executions may settle on one generic plan per
/// connection and keep it: a generic plan made while the tables of a new database were still
/// nearly empty, where every index costs the same, was kept while they grew. Measured in fresh
/// clusters: in some runs statement 2 searched by the wrong index (from 2,800 to 8,600 buffers a
/// batch within 30 s), in others statement 3 scanned all of `events`, and accepted/s fell from
/// 4,000 to under 1,500 until autovacuum analysed the tables a minute or more later. Planning
/// each time costs about 1.4 ms of PostgreSQL CPU per batch (about 0.1 ms per submission).
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

/// Statement 2: the open events each report may duplicate, newest first; the same searches as
/// [`Store::search`], one lateral index scan per report.
const SEARCH: &str = "\
SELECT q.i, e.id, e.lat, e.lng, e.grid_code \
FROM unnest($1::int4[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], \
            $8::timestamptz[]) AS q (i, item, county, lat0, lat1, lng0, lng1, since) \
CROSS JOIN LATERAL (SELECT id, lat, lng, grid_code FROM events WHERE item_code = q.item AND county = q.county \
    AND status <> 6 AND lat BETWEEN q.lat0 AND q.lat1 AND lng BETWEEN q.lng0 AND q.lng1 AND reported_at >= q.since \
    ORDER BY reported_at DESC LIMIT 50) AS e \
UNION ALL \
SELECT q.i, e.id, e.lat, e.lng, e.grid_code \
FROM unnest($9::int4[], $10::text[], $11::text[], $12::text[], $13::timestamptz[]) AS q (i, item, grid, county, since) \
CROSS JOIN LATERAL (SELECT id, lat, lng, grid_code FROM events WHERE item_code = q.item AND grid_code = q.grid \
    AND county = q.county AND status <> 6 AND reported_at >= q.since ORDER BY reported_at DESC LIMIT 50) AS e";

/// Statement 3: count the merges into stored events (what each looks like afterwards comes
/// back), and draw one tracking number per new event from its county's sequence, in order.
/// `e.id = ANY($1)` gives the plan an index condition on the events' key.
const MERGE_AND_NUMBER: &str = "\
WITH merged AS (UPDATE events e SET report_count = e.report_count + d.k, version = e.version + d.k \
    FROM unnest($1::uuid[], $2::int4[]) AS d (id, k) WHERE e.id = ANY($1::uuid[]) AND e.id = d.id \
    RETURNING e.id, e.tracking_number, e.report_count, e.version, e.city, e.county, e.township, e.village) \
SELECT id, tracking_number, report_count, version, city, county, township, village, \
       NULL::text AS sequence, NULL::int8 AS number FROM merged \
UNION ALL \
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, s.name, nextval(s.name::regclass) \
FROM unnest($3::text[]) WITH ORDINALITY AS s (name, n)";

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
struct Rows {
    reporter_id: Vec<Uuid>,
    reporter_account: Vec<String>,
    reporter_name: Vec<Option<Vec<u8>>>,
    reporter_phone: Vec<Option<Vec<u8>>>,
    reporter_masked: Vec<String>,
    event: Vec<EventRow>,
    event_count: Vec<i32>,
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
    caller: Vec<String>,
    request_id: Vec<String>,
    response: Vec<Vec<u8>>,
}

impl Rows {
    /// The reporter and report rows of one submission.
    fn add_report(&mut self, s: &Submission, p: &Prepared, event_id: Uuid) {
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
    fn add_answer(&mut self, s: &Submission, envelope: &bus::Envelope, response: &SubmitEventResponse) {
        let message = s.span.in_scope(|| OutboxRow::new(SERVICE, envelope, s.now));
        self.message.push(message);
        self.caller.push(s.caller.subject.clone());
        self.request_id.push(s.report.request_id.clone());
        self.response.push(response.encode_to_vec());
    }
}

/// A stored event as statement 3 left it, and how many of the batch's reports merged into it.
struct StoredTarget {
    tracking_number: String,
    region: RegionPath,
    steps: std::vec::IntoIter<(i32, i64)>,
}

/// Why a batch was not written as a whole (its submissions are then written one by one).
#[derive(Debug, thiserror::Error)]
enum BatchError {
    /// A submission with the same `(caller, request_id)` was committed by another transaction
    /// after the batch looked.
    #[error("a concurrent submission with the same request id committed first")]
    Raced,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        BatchError::Store(e.into())
    }
}

impl Store {
    /// Records a batch of submissions in one transaction and answers each, in order, as
    /// [`Store::submit`] would have one after another: a repeated `(caller, request_id)`, also
    /// within the batch, gets the first answer; a report of something already open, also opened
    /// earlier in the batch, is merged into it; tracking numbers increase along the batch.
    /// If the batch cannot be written, every submission is retried on its own, so one that
    /// fails cannot fail the others.
    pub async fn submit_batch(&self, batch: &[Submission]) -> Vec<Result<SubmitEventResponse, StoreError>> {
        if batch.len() > 1 {
            match self.write_batch(batch).await {
                Ok(answers) => return answers,
                Err(e) => tracing::warn!(error = %e, size = batch.len(), "batch not written; submitting one by one"),
            }
        }
        let mut answers = Vec::with_capacity(batch.len());
        for s in batch {
            answers.push(self.submit(&s.report, &s.caller, s.now).instrument(s.span.clone()).await);
        }
        answers
    }

    async fn write_batch(
        &self,
        batch: &[Submission],
    ) -> Result<Vec<Result<SubmitEventResponse, StoreError>>, BatchError> {
        let mut days = Vec::with_capacity(batch.len());
        let mut sequences = Vec::with_capacity(batch.len());
        for s in batch {
            let day = tracking::day_of(s.now, self.offset);
            let sequence = tracking::sequence_name(&s.report.region.county, &day)
                .ok_or_else(|| StoreError::Corrupt("county code is not digits".into()))?;
            days.push(day);
            sequences.push(sequence);
        }
        for name in sequences.iter().collect::<HashSet<_>>() {
            self.ensure_sequence(name).await?;
        }
        let entries: Vec<Entry<'_>> = batch
            .iter()
            .map(|s| Entry {
                caller: &s.caller.subject,
                request_id: &s.report.request_id,
                item_code: &s.report.item_code,
                county: &s.report.region.county,
                point: s.report.point,
                grid_code: s.report.grid_code.as_deref(),
            })
            .collect();
        let leaders: Vec<usize> =
            batch::leaders(&entries).iter().enumerate().filter(|(_, copy)| copy.is_none()).map(|(i, _)| i).collect();

        let mut tx = self.pool.begin().await?;
        let keys: Vec<String> = leaders.iter().map(|&i| dedupe_lock_key(&batch[i].report)).collect();
        type Looked = (Option<Vec<i32>>, Option<Vec<Option<Vec<u8>>>>, String, String);
        let looked: Vec<Looked> = sqlx::query_as(LOCK_AND_LOOK)
            .bind(leaders.iter().map(|&i| entries[i].caller).collect::<Vec<_>>())
            .bind(leaders.iter().map(|&i| entries[i].request_id).collect::<Vec<_>>())
            .bind(&keys)
            .fetch_all(&mut *tx)
            .await?;
        // The answers of this batch, by submission: stored ones now, fresh ones as written.
        let mut answers: Vec<Option<SubmitEventResponse>> = vec![None; batch.len()];
        let mut answered = vec![false; batch.len()];
        if let Some((Some(positions), Some(responses), _, _)) = looked.into_iter().next() {
            for (position, response) in positions.into_iter().zip(responses) {
                let Some(&i) = usize::try_from(position - 1).ok().and_then(|p| leaders.get(p)) else { continue };
                let bytes = response.ok_or_else(|| StoreError::Corrupt("a stored answer is empty".into()))?;
                answers[i] = Some(
                    SubmitEventResponse::decode(bytes.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                );
                answered[i] = true;
            }
        }

        let stored = self.search_batch(&mut tx, batch, &leaders, &answered).await?;
        let decisions = batch::plan(&entries, &answered, &stored, self.radius_m);

        // Merges into stored events, counted per event in order of first appearance.
        let mut merge_ids: Vec<Uuid> = Vec::new();
        let mut merge_counts: HashMap<Uuid, usize> = HashMap::new();
        let mut batch_merges: HashMap<usize, usize> = HashMap::new();
        let mut needs: Vec<&str> = Vec::new();
        for (i, d) in decisions.iter().enumerate() {
            match d {
                Decision::Merge(Target::Stored(id)) => {
                    let n = merge_counts.entry(*id).or_insert(0);
                    if *n == 0 {
                        merge_ids.push(*id);
                    }
                    *n += 1;
                }
                Decision::Merge(Target::Batch(j)) => *batch_merges.entry(*j).or_insert(0) += 1,
                Decision::New => needs.push(&sequences[i]),
                Decision::Answered | Decision::SameAs(_) => {}
            }
        }
        if merge_ids.is_empty() && needs.is_empty() {
            // Only retries: nothing to write.
            tx.rollback().await?;
            return Ok(answers_of(&decisions, answers));
        }
        let (mut targets, numbers) = self.merge_and_number(&mut tx, &merge_ids, &merge_counts, &needs).await?;

        let mut rows = Rows::default();
        // The id, tracking number and region of each event opened by this batch, by submission.
        let mut opened: HashMap<usize, (Uuid, String, RegionPath)> = HashMap::new();
        // Merges into those events so far, by submission.
        let mut merged_so_far: HashMap<usize, usize> = HashMap::new();
        let mut numbers = numbers.into_iter();
        for (i, (s, d)) in batch.iter().zip(&decisions).enumerate() {
            if matches!(d, Decision::Answered | Decision::SameAs(_)) {
                continue;
            }
            let prepared = self.prepare(&s.report, s.now);
            let (envelope, response) = match d {
                Decision::Answered | Decision::SameAs(_) => continue,
                Decision::New => {
                    let number =
                        numbers.next().ok_or_else(|| StoreError::Corrupt("too few tracking numbers".into()))?;
                    let row = EventRow::reported(
                        &s.report,
                        tracking::format(&s.report.region.county, &days[i], number),
                        s.now,
                    );
                    let merges = batch_merges.get(&i).copied().unwrap_or(0);
                    rows.add_report(s, &prepared, row.id);
                    opened.insert(i, (row.id, row.tracking_number.clone(), row.region()));
                    let answer = reported_event(&row, prepared.report, &s.caller);
                    // The stored row already counts the batch's later merges into it.
                    rows.event_count.push(1 + merges as i32);
                    rows.event.push(EventRow { version: 1 + merges as i64, ..row });
                    answer
                }
                Decision::Merge(target) => {
                    let into = match target {
                        Target::Stored(id) => {
                            let t = targets
                                .get_mut(id)
                                .ok_or_else(|| StoreError::Corrupt(format!("event {id} vanished")))?;
                            let (report_count, version) =
                                t.steps.next().ok_or_else(|| StoreError::Corrupt("too few merge steps".into()))?;
                            MergedInto {
                                event_id: *id,
                                tracking_number: t.tracking_number.clone(),
                                report_count,
                                version,
                                region: t.region.clone(),
                            }
                        }
                        Target::Batch(j) => {
                            let (event_id, tracking_number, region) = opened
                                .get(j)
                                .cloned()
                                .ok_or_else(|| StoreError::Corrupt("merge before its event".into()))?;
                            let n = merged_so_far.entry(*j).or_insert(0);
                            *n += 1;
                            MergedInto {
                                event_id,
                                tracking_number,
                                report_count: 1 + *n as i32,
                                version: 1 + *n as i64,
                                region,
                            }
                        }
                    };
                    rows.add_report(s, &prepared, into.event_id);
                    merged_event(prepared.report, &s.caller, into)
                }
            };
            rows.add_answer(s, &envelope, &response);
            answers[i] = Some(response);
        }

        let written = self.write_rows(&mut tx, &rows).await?;
        if written != rows.caller.len() {
            tx.rollback().await?;
            return Err(BatchError::Raced);
        }
        tx.commit().await?;
        self.signal.wake();
        Ok(answers_of(&decisions, answers))
    }

    /// Statement 2 for the batch's leaders that were not answered before: their candidates,
    /// by submission.
    async fn search_batch(
        &self,
        tx: &mut sqlx::PgConnection,
        batch: &[Submission],
        leaders: &[usize],
        answered: &[bool],
    ) -> Result<Vec<Vec<Candidate<Uuid>>>, StoreError> {
        let mut near = SearchNear::default();
        let mut in_grid = SearchInGrid::default();
        for &i in leaders.iter().filter(|&&i| !answered[i]) {
            let r = &batch[i].report;
            let since = batch[i].now - self.window;
            match (r.point, &r.grid_code) {
                (Some(point), _) => {
                    let (lat0, lat1, lng0, lng1) = dedupe::bounding_box(point, self.radius_m);
                    near.i.push(i as i32);
                    near.item.push(r.item_code.clone());
                    near.county.push(r.region.county.clone());
                    near.lat0.push(lat0);
                    near.lat1.push(lat1);
                    near.lng0.push(lng0);
                    near.lng1.push(lng1);
                    near.since.push(since);
                }
                (None, Some(grid)) => {
                    in_grid.i.push(i as i32);
                    in_grid.item.push(r.item_code.clone());
                    in_grid.grid.push(grid.clone());
                    in_grid.county.push(r.region.county.clone());
                    in_grid.since.push(since);
                }
                // Only a region: nothing to compare with.
                (None, None) => {}
            }
        }
        let mut stored: Vec<Vec<Candidate<Uuid>>> = vec![Vec::new(); batch.len()];
        if near.i.is_empty() && in_grid.i.is_empty() {
            return Ok(stored);
        }
        type Row = (i32, Uuid, Option<f64>, Option<f64>, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(SEARCH)
            .bind(&near.i)
            .bind(&near.item)
            .bind(&near.county)
            .bind(&near.lat0)
            .bind(&near.lat1)
            .bind(&near.lng0)
            .bind(&near.lng1)
            .bind(&near.since)
            .bind(&in_grid.i)
            .bind(&in_grid.item)
            .bind(&in_grid.grid)
            .bind(&in_grid.county)
            .bind(&in_grid.since)
            .fetch_all(&mut *tx)
            .await?;
        for (i, id, lat, lng, grid_code) in rows {
            if let Some(list) = usize::try_from(i).ok().and_then(|i| stored.get_mut(i)) {
                list.push(Candidate { id, point: lat.zip(lng), grid_code });
            }
        }
        Ok(stored)
    }

    /// Statement 3: the stored events merged into, as they are afterwards, with the count and
    /// version each merge gives them; and one tracking number per entry of `needs`, increasing
    /// along it per sequence.
    async fn merge_and_number(
        &self,
        tx: &mut sqlx::PgConnection,
        merge_ids: &[Uuid],
        merge_counts: &HashMap<Uuid, usize>,
        needs: &[&str],
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
        );
        let ks: Vec<i32> = merge_ids.iter().map(|id| merge_counts.get(id).copied().unwrap_or(0) as i32).collect();
        let rows: Vec<Row> =
            sqlx::query_as(MERGE_AND_NUMBER).bind(merge_ids).bind(&ks).bind(needs).fetch_all(&mut *tx).await?;
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
                ) => {
                    let merges = merge_counts.get(&id).copied().unwrap_or(0);
                    let steps = batch::merge_steps(count, version, merges).into_iter();
                    targets.insert(
                        id,
                        StoredTarget { tracking_number, region: RegionPath { city, county, township, village }, steps },
                    );
                }
                (_, _, _, _, _, _, _, _, Some(sequence), Some(number)) => {
                    drawn.entry(sequence).or_default().push(number)
                }
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

    /// Statement 4; returns how many answers were inserted.
    async fn write_rows(&self, tx: &mut sqlx::PgConnection, rows: &Rows) -> Result<usize, StoreError> {
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
}

/// The answer of every submission: its own (stored before, or written by the batch), or for a
/// later copy of a key in the batch its first copy's.
fn answers_of(
    decisions: &[Decision<Uuid>],
    answers: Vec<Option<SubmitEventResponse>>,
) -> Vec<Result<SubmitEventResponse, StoreError>> {
    (0..decisions.len())
        .map(|i| {
            let leader = match decisions[i] {
                Decision::SameAs(j) => j,
                _ => i,
            };
            answers
                .get(leader)
                .cloned()
                .flatten()
                .ok_or_else(|| StoreError::Corrupt("a submission of the batch has no answer".into()))
        })
        .collect()
}

/// Statement 2's parameters for reports with coordinates.
#[derive(Default)]
struct SearchNear {
    i: Vec<i32>,
    item: Vec<String>,
    county: Vec<String>,
    lat0: Vec<f64>,
    lat1: Vec<f64>,
    lng0: Vec<f64>,
    lng1: Vec<f64>,
    since: Vec<DateTime<Utc>>,
}

/// Statement 2's parameters for reports with only a grid code.
#[derive(Default)]
struct SearchInGrid {
    i: Vec<i32>,
    item: Vec<String>,
    grid: Vec<String>,
    county: Vec<String>,
    since: Vec<DateTime<Utc>>,
}
