//! The steps of one submission written on its own ([`Store::submit`]; also what a batch falls back
//! to): the idempotency look-up under the duplicate lock, the duplicate search, then a report
//! merged into an open event or a new event — each with its fact and stored answer.

use chrono::{DateTime, Utc};
use civicgrid_kit::{auth::Principal, bus};
use civicgrid_proto::v1::SubmitEventResponse;
use prost::Message;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::{
    Store, StoreError, answers,
    events::{self, EventRow},
    facts::{merged_event, reported_event},
    reporters::{Prepared, insert_reporter},
    sequences,
};
use crate::{
    SERVICE,
    domain::{dedupe, tracking, validate::NewReport},
};

impl Store {
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
        .bind(dedupe::lock_key(&report.item_code, &report.region.county))
        .fetch_one(&mut *tx)
        .await?;
        if answered {
            tx.rollback().await?;
            return self.previous_answer("submissions", &caller.subject, &report.request_id).await;
        }
        let search = self.search(&mut tx, report, now, &sequence).await?;
        let prepared = self.prepare(report, now);

        let (recorded, response) = match search.duplicate {
            Some(event_id) => merge_into(&mut tx, event_id, report, caller, now, prepared).await?,
            None => {
                let seq = match search.next_number {
                    Some(seq) => seq,
                    // Candidates nearby, none close enough: number it now.
                    None => sequences::next_number(&mut tx, &sequence).await?,
                };
                let tracking_number = tracking::format(&report.region.county, &day, seq);
                open_event(&mut tx, tracking_number, report, caller, now, prepared).await?
            }
        };
        self.finish(tx, recorded, &caller.subject, &report.request_id, response).await
    }

    /// Commits a submission whose answer insert affected `recorded` rows; none means a
    /// concurrent twin with the same request id committed first: roll back, answer as it did.
    async fn finish(
        &self,
        tx: Transaction<'_, Postgres>,
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
        // Committed, not answered: the client retries, and must get this answer again.
        civicgrid_kit::faults::point("intake", "submit.after_commit");
        self.signal.wake();
        Ok(response)
    }
}

/// Writes `report` as an additional report of open event `event_id`, with its `event-merged`
/// fact and its answer; returns the answer and how many answer rows were inserted.
async fn merge_into(
    tx: &mut PgConnection,
    event_id: Uuid,
    report: &NewReport,
    caller: &Principal,
    now: DateTime<Utc>,
    prepared: Prepared,
) -> Result<(u64, SubmitEventResponse), StoreError> {
    insert_reporter(tx, &prepared, &report.reporter_account).await?;
    let into = events::count_report(tx, event_id).await?;
    events::insert_report(tx, prepared.report_id, event_id, report, prepared.reporter_id, now).await?;
    let (envelope, response) = merged_event(prepared.report, caller, into);
    bus::enqueue(tx, SERVICE, &envelope, now).await?;
    let recorded = answers::record_submission(tx, &caller.subject, &report.request_id, &response).await?;
    Ok((recorded, response))
}

/// Writes `report` as a new event numbered `tracking_number`, with its `event-reported` fact
/// and its answer; returns the answer and how many answer rows were inserted.
async fn open_event(
    tx: &mut PgConnection,
    tracking_number: String,
    report: &NewReport,
    caller: &Principal,
    now: DateTime<Utc>,
    prepared: Prepared,
) -> Result<(u64, SubmitEventResponse), StoreError> {
    let Prepared { reporter_id, report_id, masked, name_sealed, phone_sealed, report: first_report } = prepared;
    let row = EventRow::reported(report, tracking_number, now);
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
    Ok((recorded, response))
}
