//! Group commit: many submissions in one transaction, one multi-row statement per table.
//!
//! The cost of a submission on two shared cores was its round trips and PostgreSQL's per-statement
//! and per-commit work, not the rows themselves (docs/performance.md). A batch pays for BEGIN,
//! four statements and COMMIT once, whatever its size:
//!
//! 1. the idempotency look-up of every key and the duplicate locks of every (item, county),
//!    taken in one order (sorted lock ids), so two batches cannot deadlock on them;
//! 2. the duplicate search of every report (a statement after the locks, so that it sees what
//!    the previous holder committed; in `store::duplicates`);
//! 3. the additional reports counted into stored events (their new counts and versions come
//!    back) and the tracking numbers drawn for new events;
//! 4. reporters, events, reports, outbox rows and answers, written together.
//!
//! What each submission becomes is decided in between by `domain::batch::plan`. This module
//! holds the steps; `statements` holds statements 1, 3 and 4; `plans` decides whether
//! statement 4 keeps its plans.

mod plans;
mod statements;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use civicgrid_kit::auth::Principal;
use civicgrid_proto::v1::{RegionPath, SubmitEventResponse};
use tracing::Instrument;
use uuid::Uuid;

use super::{
    Store, StoreError,
    events::{EventRow, MergedInto},
    facts::{merged_event, reported_event},
};
use crate::domain::{
    batch::{self, Decision, Entry, Target},
    tracking,
    validate::NewReport,
};
pub(super) use plans::WritePlans;
use statements::Rows;

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
        let (mut answers, answered) = statements::lock_and_look(&mut tx, &entries, &leaders).await?;
        let stored = self.search_batch(&mut tx, batch, &leaders, &answered).await?;
        let decisions = batch::plan(&entries, &answered, &stored, self.radius_m);

        let batch::Tally { merge_ids, merge_counts, batch_merges, needs } = batch::tally(&decisions, &sequences);
        if merge_ids.is_empty() && needs.is_empty() {
            // Only retries: nothing to write.
            tx.rollback().await?;
            return Ok(answers_of(&decisions, answers));
        }
        let write_plan_cache_mode = self.write_plans.write_plan_cache_mode(&mut tx).await?;
        let (mut targets, numbers) =
            statements::merge_and_number(&mut tx, &merge_ids, &merge_counts, &needs, write_plan_cache_mode).await?;

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

        let written = statements::write_rows(&mut tx, &rows).await?;
        if written != rows.caller.len() {
            tx.rollback().await?;
            return Err(BatchError::Raced);
        }
        tx.commit().await?;
        // Committed, not answered: the client retries, and must get this answer again.
        civicgrid_kit::faults::point("intake", "submit.after_commit");
        self.signal.wake();
        Ok(answers_of(&decisions, answers))
    }
}

/// The answer of every submission: its own (stored before, or written by the batch), or for a
/// later copy of a key in the batch its first copy's.
fn answers_of(
    decisions: &[Decision<Uuid>],
    answers: Vec<Option<SubmitEventResponse>>,
) -> Vec<Result<SubmitEventResponse, StoreError>> {
    batch::answered_by(decisions)
        .into_iter()
        .map(|leader| {
            answers
                .get(leader)
                .cloned()
                .flatten()
                .ok_or_else(|| StoreError::Corrupt("a submission of the batch has no answer".into()))
        })
        .collect()
}
