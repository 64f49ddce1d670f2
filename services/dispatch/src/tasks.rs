//! A task as stored, and what is derived from it: its state, its running clock, its colour,
//! the next instant the ticker must look at it, and its protobuf form.

use chrono::{DateTime, Utc};
use civicgrid_kit::time::to_proto;
use civicgrid_proto::v1::{self as pb, RegionPath, WarningColour};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, types::Json};
use uuid::Uuid;

use crate::{
    domain::{
        calendar::{BusinessCalendar, TimeType},
        lifecycle::{Resumable, Stage, TaskState, TaskView},
        sla::StageClock,
        warning::{self, Colour},
    },
    reference::ReferenceData,
};

/// The stage clocks of a task, as recorded facts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Clocks {
    /// 签收.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_for: Option<StageClock>,
    /// 处置.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<StageClock>,
    /// 核查.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<StageClock>,
}

impl Clocks {
    /// The clock of `stage`.
    pub fn get(&self, stage: Stage) -> Option<&StageClock> {
        match stage {
            Stage::SignFor => self.sign_for.as_ref(),
            Stage::Handle => self.handle.as_ref(),
            Stage::Verify => self.verify.as_ref(),
        }
    }

    /// The clock slot of `stage`.
    pub fn slot(&mut self, stage: Stage) -> &mut Option<StageClock> {
        match stage {
            Stage::SignFor => &mut self.sign_for,
            Stage::Handle => &mut self.handle,
            Stage::Verify => &mut self.verify,
        }
    }

    /// The clock that is running (started, not stopped); at most one runs at a time.
    pub fn running(&self) -> Option<(Stage, &StageClock)> {
        [Stage::SignFor, Stage::Handle, Stage::Verify]
            .into_iter()
            .filter_map(|s| self.get(s).map(|c| (s, c)))
            .find(|(_, c)| c.stopped_at().is_none())
    }
}

/// A row of `tasks`.
#[derive(Debug, Clone, FromRow)]
pub struct TaskRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub tracking_number: String,
    pub item_code: String,
    pub city: String,
    pub county: String,
    pub township: String,
    pub village: String,
    pub grid_code: Option<String>,
    pub description: String,
    pub address: String,
    pub department_id: Option<String>,
    pub state: String,
    pub resume_to: Option<String>,
    pub lead: bool,
    pub whistle: String,
    pub center_region: String,
    pub rework_count: i32,
    pub returned_by: Vec<String>,
    pub extension_requested: Option<i32>,
    pub clocks: Json<Clocks>,
    pub colour: i16,
    pub escalated: bool,
    pub escalated_to: Option<String>,
    pub next_change_at: Option<DateTime<Utc>>,
    pub result: Option<String>,
    pub result_evidence_urls: Vec<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns of [`TaskRow`], for SELECT lists.
pub const TASK_COLUMNS: &str = "id, event_id, tracking_number, item_code, city, county, township, village, grid_code, \
    description, address, department_id, state, resume_to, lead, whistle, center_region, rework_count, returned_by, \
    extension_requested, clocks, colour, escalated, escalated_to, next_change_at, result, result_evidence_urls, \
    version, created_at, updated_at";

/// Parses a stored state.
pub fn parse_state(state: &str, resume_to: Option<&str>) -> Option<TaskState> {
    Some(match state {
        "awaiting_triage" => TaskState::AwaitingTriage,
        "assigned" => TaskState::Assigned,
        "signed" => TaskState::Signed,
        "in_progress" => TaskState::InProgress,
        "resolved" => TaskState::Resolved,
        "verified" => TaskState::Verified,
        "closed" => TaskState::Closed,
        "suspended" => TaskState::Suspended {
            resume_to: match resume_to? {
                "signed" => Resumable::Signed,
                "in_progress" => Resumable::InProgress,
                _ => return None,
            },
        },
        _ => return None,
    })
}

/// The stored `resume_to` of a state.
pub fn resume_to_of(state: TaskState) -> Option<&'static str> {
    match state {
        TaskState::Suspended { resume_to: Resumable::Signed } => Some("signed"),
        TaskState::Suspended { resume_to: Resumable::InProgress } => Some("in_progress"),
        _ => None,
    }
}

/// The contract's colour.
pub fn colour_to_proto(colour: Option<Colour>) -> WarningColour {
    match colour {
        None => WarningColour::Unspecified,
        Some(Colour::Blue) => WarningColour::Blue,
        Some(Colour::Yellow) => WarningColour::Yellow,
        Some(Colour::Orange) => WarningColour::Orange,
        Some(Colour::Red) => WarningColour::Red,
    }
}

/// Where a task stands on the clock at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warning {
    /// The colour of the running stage; `None` when no clock runs.
    pub colour: Option<Colour>,
    /// Whether the overdue grace has passed, so the task must escalate as overdue.
    pub overdue_escalation_due: bool,
    /// The next instant something changes without a new fact.
    pub next_change_at: Option<DateTime<Utc>>,
}

/// The warning state of `clocks` at `now`. An overdue task turns orange at its deadline and
/// escalates (red) once `grace` more of its limit has passed (0 escalates at once).
pub fn warning_at(clocks: &Clocks, escalated: bool, cal: &BusinessCalendar, now: DateTime<Utc>, grace: f64) -> Warning {
    let Some((_, clock)) = clocks.running() else {
        return Warning { colour: None, overdue_escalation_due: false, next_change_at: None };
    };
    let colour = warning::colour(clock, cal, now, escalated);
    let mut next = warning::next_change(clock, cal, now);
    let mut due = false;
    if colour == Colour::Orange && !clock.is_paused() {
        match clock.instant_at_fraction(cal, 1.0 + grace.max(0.0)) {
            Some(at) if at <= now => due = true,
            Some(at) => next = Some(at),
            None => {}
        }
    }
    Warning { colour: Some(colour), overdue_escalation_due: due, next_change_at: next }
}

impl TaskRow {
    /// The region path.
    pub fn region(&self) -> RegionPath {
        RegionPath {
            city: self.city.clone(),
            county: self.county.clone(),
            township: self.township.clone(),
            village: self.village.clone(),
        }
    }

    /// The parsed state.
    pub fn task_state(&self) -> Option<TaskState> {
        parse_state(&self.state, self.resume_to.as_deref())
    }

    /// Recomputes the stored colour and next ticker visit at `now` (see [`warning_at`]); a task
    /// whose overdue escalation is due is to be visited at once.
    pub fn refresh_warning(&mut self, cal: &BusinessCalendar, now: DateTime<Utc>, grace: f64) {
        let w = warning_at(&self.clocks.0, self.escalated, cal, now, grace);
        self.colour = colour_to_proto(w.colour) as i16;
        self.next_change_at = if w.overdue_escalation_due { Some(now) } else { w.next_change_at };
    }

    /// Why the task must escalate (督办) now, if it must: overdue past the grace, reworked three
    /// times or returned by three departments, and not escalated yet. A rework or return
    /// escalation happens once per task; the caller checks that against the recorded facts.
    pub fn escalation_reason(
        &self,
        cal: &BusinessCalendar,
        now: DateTime<Utc>,
        grace: f64,
    ) -> Option<warning::EscalationReason> {
        let w = warning_at(&self.clocks.0, self.escalated, cal, now, grace);
        let overdue = w.overdue_escalation_due.then_some(Colour::Orange);
        warning::should_escalate(overdue, self.escalated, self.rework_count.max(0) as u32, &self.returned_by)
    }

    /// What the lifecycle needs to decide.
    pub fn view(&self) -> Option<TaskView> {
        Some(TaskView {
            state: self.task_state()?,
            department_id: self.department_id.clone(),
            region: self.region(),
            grid_code: self.grid_code.clone(),
            grid_self: self.whistle == "grid_self",
            rework_count: self.rework_count.max(0) as u32,
            extension_requested: self.extension_requested.map(|n| n.max(0) as u32),
        })
    }

    /// The task as the contract shows it at `now`.
    pub fn to_proto(&self, refdata: &ReferenceData, now: DateTime<Utc>) -> pb::Task {
        let cal = &refdata.calendar.calendar;
        let status = self.task_state().map(|s| s.status()).unwrap_or(pb::TaskStatus::Unspecified);
        let clocks = [Stage::SignFor, Stage::Handle, Stage::Verify]
            .into_iter()
            .filter_map(|stage| self.clocks.0.get(stage).map(|c| clock_to_proto(stage, c, cal, now)))
            .collect();
        pb::Task {
            id: self.id.to_string(),
            event_id: self.event_id.to_string(),
            tracking_number: self.tracking_number.clone(),
            item_code: self.item_code.clone(),
            item_name: refdata.catalog.item(&self.item_code).map(|i| i.name.clone()).unwrap_or_default(),
            region: Some(self.region()),
            grid_code: self.grid_code.clone().unwrap_or_default(),
            description: self.description.clone(),
            address: self.address.clone(),
            department_id: self.department_id.clone().unwrap_or_default(),
            status: status as i32,
            lead: self.lead,
            colour: self.colour as i32,
            escalated: self.escalated,
            rework_count: self.rework_count.max(0) as u32,
            returned_by: self.returned_by.clone(),
            extension_requested: self.extension_requested.unwrap_or(0).max(0) as u32,
            clocks,
            result: self.result.clone().unwrap_or_default(),
            result_evidence_urls: self.result_evidence_urls.clone(),
            version: self.version,
            created_at: Some(to_proto(self.created_at)),
            updated_at: Some(to_proto(self.updated_at)),
            whistle: self.whistle.clone(),
        }
    }
}

fn time_type_to_proto(t: TimeType) -> pb::TimeType {
    match t {
        TimeType::Urgent => pb::TimeType::Urgent,
        TimeType::WorkingHours => pb::TimeType::WorkingHours,
        TimeType::WorkingDays => pb::TimeType::WorkingDays,
        TimeType::CalendarDays => pb::TimeType::CalendarDays,
    }
}

fn stage_to_proto(s: Stage) -> pb::Stage {
    match s {
        Stage::SignFor => pb::Stage::SignFor,
        Stage::Handle => pb::Stage::Handle,
        Stage::Verify => pb::Stage::Verify,
    }
}

fn clock_to_proto(stage: Stage, clock: &StageClock, cal: &BusinessCalendar, now: DateTime<Utc>) -> pb::StageClock {
    let at = clock.stopped_at().unwrap_or(now);
    pb::StageClock {
        stage: stage_to_proto(stage) as i32,
        started_at: Some(to_proto(clock.start())),
        limit: clock.limit().amount + clock.extensions().iter().sum::<u32>(),
        time_type: time_type_to_proto(clock.limit().time_type) as i32,
        deadline: clock.deadline(cal).map(to_proto),
        used_fraction: clock.used_fraction(cal, at),
        paused: clock.is_paused(),
        stopped_at: clock.stopped_at().map(to_proto),
    }
}
