//! The console's read model: what the bus said, kept in memory and queried by region.
//!
//! Every service publishes each change as a fact (docs/events.md); the console follows the
//! streams from their first message (see [`crate::follow`]) and folds the facts into
//! [`State`]: one row per dispatch task (its last known status, colour, department and place),
//! the recent facts of every service for the live feed, and each tracking number's steps for
//! the timeline. Folding is pure — [`State::apply`] takes a decoded [`Fact`] — so the counting
//! rules are unit-tested without NATS. Queries ([`views`]) aggregate on the server by region
//! level; the browser only ever gets one level's figures.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::{
    EventRated, EventReported, MediationCaseEvent, PatrolEvent, RegionPath, TaskEvent, TaskStatus, WarningColour,
};
use serde::Serialize;

pub mod views;

/// How many recent facts the live feed keeps for a page that connects.
pub const RECENT: usize = 300;
/// How many steps one tracking number's timeline keeps (the newest win).
const STEPS_PER_NUMBER: usize = 200;

/// A decoded fact of one of the services.
#[derive(Debug, Clone)]
pub enum Fact {
    /// intake's `event-reported`.
    Reported(EventReported),
    /// intake's `event-rated`.
    Rated(EventRated),
    /// One of dispatch's task facts.
    Task(TaskEvent),
    /// One of mediation's case facts.
    Case(MediationCaseEvent),
    /// One of patrol's facts.
    Patrol(PatrolEvent),
}

/// The last known state of one dispatch task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    /// Task id.
    pub id: String,
    /// The intake event behind it.
    pub event_id: String,
    /// The event's tracking number.
    pub tracking_number: String,
    /// Catalog item.
    pub item_code: String,
    /// The department it is assigned to; empty in triage.
    pub department_id: String,
    /// City, county, township and village codes (blank where unknown).
    pub region: [String; 4],
    /// The grid, when known.
    pub grid_code: String,
    /// Status name, e.g. `TASK_STATUS_ASSIGNED`.
    pub status: &'static str,
    /// Warning colour name, e.g. `WARNING_COLOUR_RED`.
    pub colour: &'static str,
    /// Escalated (督办) and not yet cleared.
    pub escalated: bool,
    /// Times sent back for rework.
    pub rework_count: u32,
    /// When the first fact about it happened.
    pub created_at: DateTime<Utc>,
    /// When the last fact about it happened.
    pub updated_at: DateTime<Utc>,
    /// When it was closed, while closed.
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    version: i64,
    #[serde(skip)]
    status_value: TaskStatus,
    #[serde(skip)]
    colour_value: WarningColour,
}

impl TaskRow {
    /// Still to be worked (neither closed nor verified).
    pub fn is_open(&self) -> bool {
        !matches!(self.status_value, TaskStatus::Closed | TaskStatus::Verified)
    }

    /// Waiting in the triage queue.
    pub fn in_triage(&self) -> bool {
        self.status_value == TaskStatus::AwaitingTriage
    }

    /// Past its deadline (orange or red) and open.
    pub fn is_overdue(&self) -> bool {
        self.is_open() && matches!(self.colour_value, WarningColour::Orange | WarningColour::Red)
    }

    /// The colour as a number for comparisons (0 none … 4 red).
    pub fn colour_rank(&self) -> i32 {
        if self.is_open() { self.colour_value as i32 } else { 0 }
    }

    /// Whether the task lies in `code` (a region of any level, or a grid).
    pub fn within(&self, code: &str) -> bool {
        code.is_empty() || self.grid_code == code || self.region.iter().any(|r| r == code)
    }
}

/// One line of the live feed.
#[derive(Debug, Clone, Serialize)]
pub struct FeedItem {
    /// Position in the console's feed, rising.
    pub seq: u64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The publishing service.
    pub service: &'static str,
    /// The fact name, e.g. `task-escalated`.
    pub fact: String,
    /// The tracking number involved, if any.
    pub tracking_number: String,
    /// Region codes, the city first (blank where unknown).
    pub region: [String; 4],
    /// A short detail: an item code, a department, a team, a checkpoint …
    pub detail: String,
    /// A warning colour name, for task facts.
    pub colour: &'static str,
}

impl FeedItem {
    /// Whether the item lies in `scope` (a region code; empty is everywhere).
    pub fn within(&self, scope: &str) -> bool {
        scope.is_empty() || self.region.iter().any(|r| r == scope)
    }
}

/// One step of a tracking number's history.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The service that recorded it.
    pub service: &'static str,
    /// The fact name.
    pub fact: String,
    /// Who or what: a department, a mediator, a team, a rating …
    pub detail: String,
}

/// Everything the console knows.
#[derive(Debug, Default)]
pub struct State {
    /// Tasks by id.
    pub tasks: HashMap<String, TaskRow>,
    /// The newest facts, oldest first.
    pub recent: VecDeque<FeedItem>,
    /// Steps by tracking number, oldest first.
    pub steps: HashMap<String, Vec<Step>>,
    /// Departments seen on tasks, with the county they serve.
    pub departments: BTreeMap<String, String>,
    seq: u64,
}

fn path_of(r: Option<&RegionPath>) -> [String; 4] {
    r.map(|r| [r.city.clone(), r.county.clone(), r.township.clone(), r.village.clone()]).unwrap_or_default()
}

fn time_of(t: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.clamp(0, 999_999_999) as u32)).unwrap_or_default()
}

impl State {
    /// Folds one fact in and returns the feed line it makes.
    pub fn apply(&mut self, fact: Fact) -> FeedItem {
        self.seq += 1;
        let item = match fact {
            Fact::Reported(r) => {
                let e = r.event.unwrap_or_default();
                let loc = e.location.unwrap_or_default();
                let at = time_of(e.reported_at.as_ref());
                self.step(&e.tracking_number, at, "intake", "event-reported", &e.item_code);
                FeedItem {
                    seq: self.seq,
                    at,
                    service: "intake",
                    fact: "event-reported".into(),
                    tracking_number: e.tracking_number,
                    region: path_of(loc.region.as_ref()),
                    detail: e.item_code,
                    colour: "",
                }
            }
            Fact::Rated(r) => {
                let at = time_of(r.rated_at.as_ref());
                let rating = r.rating().as_str_name().trim_start_matches("RATING_").to_string();
                self.step(&r.tracking_number, at, "intake", "event-rated", &rating);
                FeedItem {
                    seq: self.seq,
                    at,
                    service: "intake",
                    fact: "event-rated".into(),
                    tracking_number: r.tracking_number,
                    region: path_of(r.region.as_ref()),
                    detail: rating,
                    colour: "",
                }
            }
            Fact::Task(t) => self.apply_task(t),
            Fact::Case(c) => {
                let at = time_of(c.occurred_at.as_ref());
                let detail = if c.mediator_id.is_empty() { c.organisation_id.clone() } else { c.mediator_id.clone() };
                self.step(&c.tracking_number, at, "mediation", &c.fact, &detail);
                FeedItem {
                    seq: self.seq,
                    at,
                    service: "mediation",
                    region: path_of(c.region.as_ref()),
                    fact: c.fact,
                    tracking_number: c.tracking_number,
                    detail: format!("{} {detail}", c.case_number).trim().to_string(),
                    colour: "",
                }
            }
            Fact::Patrol(p) => {
                let at = time_of(p.occurred_at.as_ref());
                self.step(&p.tracking_number, at, "patrol", &p.fact, &p.team_name);
                let detail = [p.team_name.as_str(), p.member_name.as_str(), p.checkpoint_name.as_str()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" · ");
                FeedItem {
                    seq: self.seq,
                    at,
                    service: "patrol",
                    region: path_of(p.region.as_ref()),
                    fact: p.fact,
                    tracking_number: p.tracking_number,
                    detail,
                    colour: "",
                }
            }
        };
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(item.clone());
        item
    }

    fn apply_task(&mut self, t: TaskEvent) -> FeedItem {
        let at = time_of(t.occurred_at.as_ref());
        let region = path_of(t.region.as_ref());
        let detail = if t.department_id.is_empty() { t.item_code.clone() } else { t.department_id.clone() };
        self.step(&t.tracking_number, at, "dispatch", &t.fact, &detail);
        if !t.department_id.is_empty() {
            self.departments.entry(t.department_id.clone()).or_insert_with(|| region[1].clone());
        }
        let colour = t.colour();
        let row = self.tasks.entry(t.task_id.clone()).or_insert_with(|| TaskRow {
            id: t.task_id.clone(),
            event_id: t.event_id.clone(),
            tracking_number: t.tracking_number.clone(),
            item_code: t.item_code.clone(),
            department_id: String::new(),
            region: region.clone(),
            grid_code: t.grid_code.clone(),
            status: TaskStatus::Unspecified.as_str_name(),
            colour: WarningColour::Unspecified.as_str_name(),
            escalated: false,
            rework_count: 0,
            created_at: at,
            updated_at: at,
            closed_at: None,
            version: i64::MIN,
            status_value: TaskStatus::Unspecified,
            colour_value: WarningColour::Unspecified,
        });
        // Facts of one task arrive in order on its stream; the version guards a replay that
        // overlaps what was already folded in.
        if t.version > row.version {
            row.version = t.version;
            row.status_value = t.status();
            row.status = row.status_value.as_str_name();
            row.colour_value = colour;
            row.colour = colour.as_str_name();
            row.escalated = t.escalated;
            row.rework_count = t.rework_count;
            row.department_id = t.department_id.clone();
            row.updated_at = at;
            if !t.grid_code.is_empty() {
                row.grid_code = t.grid_code.clone();
            }
            row.closed_at = (row.status_value == TaskStatus::Closed).then_some(at);
        }
        FeedItem {
            seq: self.seq,
            at,
            service: "dispatch",
            fact: t.fact,
            tracking_number: t.tracking_number,
            region,
            detail,
            colour: colour.as_str_name(),
        }
    }

    /// Forgets what no view needs any more: tasks neither open nor changed since `before`, and
    /// the steps of tracking numbers with no open task and nothing since `before`. Without it
    /// a console running for months would hold every task the city ever had.
    pub fn prune(&mut self, before: DateTime<Utc>) -> usize {
        let was = self.tasks.len();
        self.tasks.retain(|_, t| t.is_open() || t.updated_at >= before);
        let open: std::collections::HashSet<&str> =
            self.tasks.values().filter(|t| t.is_open()).map(|t| t.tracking_number.as_str()).collect();
        self.steps
            .retain(|number, steps| open.contains(number.as_str()) || steps.last().is_some_and(|s| s.at >= before));
        was - self.tasks.len()
    }

    fn step(&mut self, number: &str, at: DateTime<Utc>, service: &'static str, fact: &str, detail: &str) {
        if number.is_empty() {
            return;
        }
        let steps = self.steps.entry(number.to_string()).or_default();
        if steps.len() == STEPS_PER_NUMBER {
            steps.remove(0);
        }
        steps.push(Step { at, service, fact: fact.to_string(), detail: detail.to_string() });
    }
}

#[cfg(test)]
mod tests;
