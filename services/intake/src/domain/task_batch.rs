//! A batch of dispatch's task facts applied at once: what applying them one by one, in order,
//! would write, computed from the events' state before the batch. The consumer then writes it
//! with one statement per table instead of six round trips per fact.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::{EventStatus, TaskStatus};
use uuid::Uuid;

use super::status;

/// An event's state when the batch starts: its public status and the last applied version and
/// lead flag of each of its tasks.
#[derive(Debug, Clone)]
pub struct EventState {
    /// The public status.
    pub status: EventStatus,
    /// By task id: (last applied version, whether it is the lead).
    pub tasks: HashMap<String, (i64, bool)>,
}

/// One task fact of the batch, decoded.
#[derive(Debug, Clone)]
pub struct TaskFact {
    /// The event it is about.
    pub event_id: Uuid,
    /// The task.
    pub task_id: String,
    /// The task's version after the fact.
    pub version: i64,
    /// The task's status after the fact.
    pub status: TaskStatus,
    /// Whether the task is the event's lead task.
    pub lead: bool,
    /// The task's department.
    pub department_id: String,
    /// The fact's name (`task-assigned` …).
    pub fact: String,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// A task's row as it stands after the batch (`event_tasks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// The event.
    pub event_id: Uuid,
    /// The task.
    pub task_id: String,
    /// Its last applied version.
    pub version: i64,
    /// Its status.
    pub status: TaskStatus,
    /// Whether it is the lead.
    pub lead: bool,
    /// Its department.
    pub department_id: String,
}

/// An event whose public status the batch changed: its final status, how many changes (each
/// bumps `events.version`) and how many of them started an outcome round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventChange {
    /// The event.
    pub event_id: Uuid,
    /// Its status after the batch.
    pub status: EventStatus,
    /// Changes of its status in the batch.
    pub changes: i64,
    /// Outcome rounds started in the batch.
    pub new_rounds: i32,
}

/// A `status_history` row, in the order the changes happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The event.
    pub event_id: Uuid,
    /// Its new status.
    pub status: EventStatus,
    /// The fact that moved it.
    pub fact: String,
    /// The task whose fact it was.
    pub task_id: String,
    /// That task's department.
    pub department_id: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// What the batch writes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Task rows to upsert, one per (event, task), in first-seen order.
    pub tasks: Vec<TaskRow>,
    /// Events whose status changed, in first-changed order.
    pub events: Vec<EventChange>,
    /// History rows in order.
    pub history: Vec<HistoryRow>,
    /// Facts older than their task's last applied version (ignored).
    pub stale: usize,
}

/// Applies `facts` in order to `states` (every fact's event must be in it) as
/// [`crate::store::apply_task_event`] would one by one, and returns what to write.
pub fn plan(mut states: HashMap<Uuid, EventState>, facts: &[TaskFact]) -> Plan {
    let mut plan = Plan::default();
    let mut task_index: HashMap<(Uuid, String), usize> = HashMap::new();
    let mut event_index: HashMap<Uuid, usize> = HashMap::new();
    for f in facts {
        let Some(state) = states.get_mut(&f.event_id) else { continue };
        let last = state.tasks.get(&f.task_id).map(|(v, _)| *v);
        if !status::is_newer(f.version, last) {
            plan.stale += 1;
            continue;
        }
        state.tasks.insert(f.task_id.clone(), (f.version, f.lead));
        let row = TaskRow {
            event_id: f.event_id,
            task_id: f.task_id.clone(),
            version: f.version,
            status: f.status,
            lead: f.lead,
            department_id: f.department_id.clone(),
        };
        match task_index.get(&(f.event_id, f.task_id.clone())) {
            Some(&i) => plan.tasks[i] = row,
            None => {
                task_index.insert((f.event_id, f.task_id.clone()), plan.tasks.len());
                plan.tasks.push(row);
            }
        }
        let other_lead = state.tasks.iter().any(|(t, (_, lead))| *lead && *t != f.task_id);
        let Some(change) = status::change(state.status, f.status, f.lead, other_lead) else { continue };
        state.status = change.to;
        let i = *event_index.entry(f.event_id).or_insert_with(|| {
            plan.events.push(EventChange { event_id: f.event_id, status: change.to, changes: 0, new_rounds: 0 });
            plan.events.len() - 1
        });
        let e = &mut plan.events[i];
        e.status = change.to;
        e.changes += 1;
        e.new_rounds += i32::from(change.new_round);
        plan.history.push(HistoryRow {
            event_id: f.event_id,
            status: change.to,
            fact: f.fact.clone(),
            task_id: f.task_id.clone(),
            department_id: f.department_id.clone(),
            at: f.at,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(event: Uuid, task: &str, version: i64, status: TaskStatus, lead: bool) -> TaskFact {
        TaskFact {
            event_id: event,
            task_id: task.into(),
            version,
            status,
            lead,
            department_id: format!("dept-{task}"),
            fact: format!("fact-{version}"),
            at: DateTime::from_timestamp(1_700_000_000 + version, 0).unwrap_or_default(),
        }
    }

    fn fresh(status: EventStatus) -> EventState {
        EventState { status, tasks: HashMap::new() }
    }

    #[test]
    fn a_task_moving_twice_in_one_batch_changes_the_event_twice_and_keeps_its_last_row() {
        let e = Uuid::now_v7();
        let plan = plan(
            HashMap::from([(e, fresh(EventStatus::Triage))]),
            &[fact(e, "t1", 1, TaskStatus::Assigned, true), fact(e, "t1", 2, TaskStatus::Resolved, true)],
        );
        assert_eq!(plan.tasks.len(), 1);
        assert_eq!((plan.tasks[0].version, plan.tasks[0].status), (2, TaskStatus::Resolved));
        assert_eq!(
            plan.events,
            [EventChange { event_id: e, status: EventStatus::Resolved, changes: 2, new_rounds: 1 }]
        );
        assert_eq!(
            plan.history.iter().map(|h| (h.status, h.fact.as_str())).collect::<Vec<_>>(),
            [(EventStatus::Dispatched, "fact-1"), (EventStatus::Resolved, "fact-2")]
        );
    }

    #[test]
    fn an_older_fact_after_a_newer_one_is_stale_in_the_batch_as_against_the_table() {
        let e = Uuid::now_v7();
        let mut state = fresh(EventStatus::Dispatched);
        state.tasks.insert("t1".into(), (5, true));
        let plan = plan(
            HashMap::from([(e, state)]),
            &[
                fact(e, "t1", 4, TaskStatus::Resolved, true),
                fact(e, "t1", 6, TaskStatus::InProgress, true),
                fact(e, "t1", 6, TaskStatus::Closed, true),
            ],
        );
        assert_eq!(plan.stale, 2);
        assert_eq!(plan.history.len(), 1);
        assert_eq!(plan.events[0].status, EventStatus::InProgress);
    }

    #[test]
    fn a_helper_task_does_not_move_an_event_whose_lead_is_known() {
        let (e, other) = (Uuid::now_v7(), Uuid::now_v7());
        let plan = plan(
            HashMap::from([(e, fresh(EventStatus::Triage)), (other, fresh(EventStatus::Triage))]),
            &[
                fact(e, "lead", 1, TaskStatus::Assigned, true),
                fact(e, "helper", 1, TaskStatus::Resolved, false),
                fact(other, "solo", 1, TaskStatus::Assigned, false),
            ],
        );
        assert_eq!(plan.tasks.len(), 3);
        assert_eq!(
            plan.events.iter().map(|c| (c.event_id, c.status)).collect::<Vec<_>>(),
            [(e, EventStatus::Dispatched), (other, EventStatus::Dispatched)]
        );
        assert_eq!(plan.history.len(), 2);
    }

    #[test]
    fn a_fact_that_leaves_the_status_as_it_is_writes_the_task_only() {
        let e = Uuid::now_v7();
        let plan =
            plan(HashMap::from([(e, fresh(EventStatus::Dispatched))]), &[fact(e, "t1", 1, TaskStatus::Assigned, true)]);
        assert_eq!(plan.tasks.len(), 1);
        assert!(plan.events.is_empty() && plan.history.is_empty());
    }
}
