//! Creating the tasks of newly reported events, inside intake's consumer transaction.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::EventReported;
use sqlx::PgConnection;
use uuid::Uuid;

use super::system_actor;
use crate::{
    planning::plan_tasks,
    store::{Store, StoreError, Writes, tasks},
};

impl Store {
    /// Creates the tasks of newly reported events, inside the consumer's transaction: each is
    /// routed to the lead department (and assisting ones) when a rule matches, else it gets one
    /// task waiting for triage (see [`plan_tasks`]). Events that already have tasks (or came
    /// earlier in `events`) are skipped. The rows go to `w`; returns how many events got tasks.
    /// Each event comes with the span of the message that brought it: its tasks' facts are
    /// made in it, so they carry that message's trace even when a batch writes many events.
    pub async fn create_for_events(
        &self,
        tx: &mut PgConnection,
        w: &mut Writes,
        events: &[(EventReported, tracing::Span)],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        let mut parsed = Vec::with_capacity(events.len());
        for (reported, span) in events {
            let Some(event) = &reported.event else {
                return Err(StoreError::Corrupt("EventReported without event".into()));
            };
            let event_id =
                Uuid::parse_str(&event.id).map_err(|_| StoreError::Corrupt(format!("event id `{}`", event.id)))?;
            parsed.push((event_id, reported, event, span));
        }
        let ids: Vec<Uuid> = parsed.iter().map(|p| p.0).collect();
        let existing = tasks::events_with_tasks(tx, &ids).await?;
        let refdata = self.refdata();
        let actor = system_actor();
        let mut seen = HashSet::with_capacity(parsed.len());
        let mut created = 0;
        for (event_id, reported, event, span) in parsed {
            if existing.contains(&event_id) || !seen.insert(event_id) {
                continue;
            }
            span.in_scope(|| {
                for task in plan_tasks(&refdata, event_id, reported, event, now, self.grace) {
                    w.record(&task.row, task.fact, &task.recorded, &actor, "", now);
                    w.publish(&refdata, &task.row, task.fact, &actor, "", now);
                    w.add_task(task.row);
                }
            });
            created += 1;
        }
        Ok(created)
    }
}
