//! A rating of an event's outcome (回访, [`Store::apply_rating`]): recorded on its lead tasks;
//! a dissatisfied one sends the case back for rework.

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::{self as pb, Role};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ActError, system_actor};
use crate::{
    domain::{
        kpi::{self, RecordedFact},
        lifecycle::{self, Action, ActorView, TaskState},
    },
    store::{Store, Writes, tasks},
};

impl Store {
    /// Records a rating of an event's outcome on its lead tasks; a dissatisfied one reopens
    /// closed (or resolved/verified) lead tasks for rework. Inside the consumer's transaction:
    /// the task rows, facts and messages are written before it returns, the change-feed rows
    /// stay in `w`.
    pub async fn apply_rating(
        &self,
        tx: &mut PgConnection,
        w: &mut Writes,
        rated: &pb::EventRated,
        now: DateTime<Utc>,
    ) -> Result<usize, ActError> {
        let Ok(event_id) = Uuid::parse_str(&rated.event_id) else { return Ok(0) };
        let rows = tasks::lock_leads_of_event(tx, event_id).await?;
        let rating = match pb::Rating::try_from(rated.rating) {
            Ok(pb::Rating::Satisfied) => kpi::Rating::Satisfied,
            Ok(pb::Rating::BasicallySatisfied) => kpi::Rating::BasicallySatisfied,
            Ok(pb::Rating::Dissatisfied) => kpi::Rating::Dissatisfied,
            _ => return Err(ActError::Invalid { field: "rating", problem: "unknown rating".into() }),
        };
        let actor = rated.actor.clone().unwrap_or_else(system_actor);
        let n = rows.len();
        for mut row in rows {
            w.record(&row, "task-rated", &[RecordedFact::Rated { rating }], &actor, &rated.comment, now);
            if rating != kpi::Rating::Dissatisfied {
                continue;
            }
            let Some(view) = row.view() else { continue };
            let reason = format!("dissatisfied rating: {}", rated.comment);
            // Rated before closing: the fix was not accepted, so it goes back like a failed
            // verification; rated after closing: the case is reopened.
            let action = match view.state {
                TaskState::Closed | TaskState::Verified => Action::Reopen { reason },
                TaskState::Resolved => Action::RejectVerification { reason },
                _ => continue,
            };
            let system = ActorView { role: Role::Admin, department_id: String::new(), region_scope: String::new() };
            let decision = lifecycle::decide(&view, &action, &system)?;
            self.apply(tx, w, &mut row, &decision, &action, &system_actor(), now).await?;
        }
        w.write_rows(tx).await?;
        Ok(n)
    }
}
