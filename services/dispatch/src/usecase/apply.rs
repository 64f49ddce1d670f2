//! Writing a lifecycle decision on a task ([`Store::apply`]): the row's state, department,
//! clocks and counters, the facts assessment folds, the bus event and change-feed row, and an
//! escalation when one is due. Shared by actions and ratings.

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::Actor;
use sqlx::PgConnection;

use super::ActError;
use crate::{
    domain::{
        kpi::RecordedFact,
        lifecycle::{Action, ClockChange, Decision, DepartmentChange, Fact, Stage},
        sla::StageClock,
    },
    store::{Store, Writes, tasks},
    tasks::{TaskRow, resume_to_of},
};

impl Store {
    /// Writes a decision: state, department, clocks, counters (the row, updated now), facts, bus
    /// event and change row (to `w`), and an escalation when one is due.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn apply(
        &self,
        tx: &mut PgConnection,
        w: &mut Writes,
        row: &mut TaskRow,
        decision: &Decision,
        action: &Action,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), ActError> {
        let refdata = self.refdata();
        let cal = &refdata.calendar.calendar;
        let item = refdata.catalog.item(&row.item_code);
        let previous_department = row.department_id.clone();
        row.state = decision.state.as_str().to_string();
        row.resume_to = resume_to_of(decision.state).map(str::to_string);
        match &decision.department {
            DepartmentChange::Keep => {}
            DepartmentChange::Set(d) => row.department_id = Some(d.clone()),
            DepartmentChange::Clear => row.department_id = None,
        }
        let mut recorded = Vec::new();
        for change in &decision.clocks {
            match *change {
                ClockChange::Start(stage) => {
                    // An item missing from a newer catalog keeps running without limits.
                    if let Some(item) = item {
                        *row.clocks.0.slot(stage) = Some(StageClock::new(now, item.limit(stage)));
                    }
                    // A new stage is a new clock: an earlier stage's escalation does not colour it.
                    row.escalated = false;
                }
                ClockChange::Stop(stage) => {
                    if let Some(c) = row.clocks.0.slot(stage).as_mut() {
                        let _ = c.stop(now);
                    }
                }
                ClockChange::Pause(stage) => {
                    if let Some(c) = row.clocks.0.slot(stage).as_mut() {
                        let _ = c.pause(now);
                    }
                }
                ClockChange::Resume(stage) => {
                    if let Some(c) = row.clocks.0.slot(stage).as_mut() {
                        let _ = c.resume(now);
                    }
                }
                ClockChange::Extend(stage, amount) => {
                    if let Some(c) = row.clocks.0.slot(stage).as_mut() {
                        let _ = c.extend(amount);
                    }
                }
            }
        }
        row.rework_count = decision.rework_count as i32;
        row.extension_requested = decision.extension_requested.map(|n| n as i32);
        if let Some(d) = &decision.returned_by {
            row.returned_by.push(d.clone());
        }
        let mut reason = String::new();
        match action {
            Action::Resolve { result, evidence_urls } => {
                row.result = Some(result.clone());
                row.result_evidence_urls = evidence_urls.clone();
            }
            Action::Return { reason: r }
            | Action::Dismiss { reason: r }
            | Action::RefuseExtension { reason: r }
            | Action::Suspend { reason: r }
            | Action::RejectVerification { reason: r }
            | Action::Reopen { reason: r }
            | Action::RequestExtension { reason: r, .. } => reason = r.clone(),
            _ => {}
        }

        let deadline = |row: &TaskRow, stage: Stage| row.clocks.0.get(stage).and_then(|c| c.deadline(cal));
        let by = actor.subject.clone();
        match decision.fact {
            Fact::Assigned => {
                recorded.push(RecordedFact::Assigned {
                    department_id: row.department_id.clone().unwrap_or_default(),
                    sign_due: deadline(row, Stage::SignFor),
                });
            }
            Fact::Signed => {
                recorded.push(RecordedFact::Signed);
                recorded.push(RecordedFact::Due { due_at: deadline(row, Stage::Handle) });
            }
            Fact::Returned => recorded.push(RecordedFact::Returned),
            Fact::Extended | Fact::Resumed => recorded.push(RecordedFact::Due { due_at: deadline(row, Stage::Handle) }),
            Fact::Suspended => recorded.push(RecordedFact::Due { due_at: None }),
            Fact::Resolved => recorded.push(RecordedFact::Resolved),
            Fact::Verified => recorded.push(RecordedFact::Verified { by, due: deadline(row, Stage::Verify) }),
            Fact::Reworked => {
                recorded.push(RecordedFact::VerificationRejected { by, due: deadline(row, Stage::Verify) });
                recorded.push(RecordedFact::Due { due_at: deadline(row, Stage::Handle) });
            }
            Fact::Closed if matches!(action, Action::Dismiss { .. }) => recorded.push(RecordedFact::Dismissed),
            Fact::Closed => recorded.push(RecordedFact::Closed),
            Fact::Reopened => {
                recorded.push(RecordedFact::Reopened);
                if let Some(d) = &row.department_id {
                    recorded.push(RecordedFact::Assigned {
                        department_id: d.clone(),
                        sign_due: deadline(row, Stage::SignFor),
                    });
                }
            }
            Fact::ExtensionRequested | Fact::ExtensionRefused => {}
        }
        self.refresh_warning(row, now);
        row.version += 1;
        row.updated_at = now;
        let fact = decision.fact.as_str();
        w.record(row, fact, &recorded, actor, &reason, now);
        let feed_department = row.department_id.clone().or(previous_department);
        w.publish_for(&refdata, row, fact, actor, &reason, now, feed_department.as_deref());
        self.escalate_if_due(tx, w, row, now).await?;
        tasks::update(tx, row).await?;
        Ok(())
    }
}
