//! Queries over [`State`]: figures per child region, the task lists with their filters.
//! Each walks the task rows once (100,000 rows take about a millisecond), so there are no
//! running counters to get wrong.

use std::collections::HashMap;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{State, TaskRow};
use crate::atlas::Level;

/// The figures of one region (or grid).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Open tasks (not verified or closed).
    pub open: u64,
    /// Waiting for triage (分流).
    pub triage: u64,
    /// Open and past the deadline (orange or red).
    pub overdue: u64,
    /// Open and escalated (督办).
    pub escalated: u64,
    /// The worst colour among open tasks: 0 none, 1 blue, 2 yellow, 3 orange, 4 red.
    pub worst: i32,
    /// Closed since the start of today (UTC+08:00).
    pub closed_today: u64,
}

impl Figures {
    fn add(&mut self, t: &TaskRow, today: DateTime<Utc>) {
        if t.is_open() {
            self.open += 1;
            self.worst = self.worst.max(t.colour_rank());
        }
        self.triage += t.in_triage() as u64;
        self.overdue += t.is_overdue() as u64;
        self.escalated += (t.is_open() && t.escalated) as u64;
        self.closed_today += t.closed_at.is_some_and(|c| c >= today) as u64;
    }
}

/// The start of the local day (UTC+08:00, the zone of the calendar) that holds `now`.
pub fn start_of_day(now: DateTime<Utc>) -> DateTime<Utc> {
    let zone = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"));
    let local = now.with_timezone(&zone).date_naive().and_hms_opt(0, 0, 0).unwrap_or_default();
    local.and_local_timezone(zone).single().map(|t| t.with_timezone(&Utc)).unwrap_or(now)
}

/// A period's first instant and the instant after its last.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// A wrong period parameter: its name and why.
pub type BadParameter = (&'static str, String);

/// The instants of a KPI period: `today`, `7d` and `30d` end now and start at a local
/// midnight (`today` included); `custom` runs from the start of the local day `from` to the
/// end of the local day `to` (`YYYY-MM-DD`, at most 366 days). The error names the parameter.
pub fn period(name: &str, from: &str, to: &str, now: DateTime<Utc>) -> Result<Span, BadParameter> {
    let days = match name {
        "" | "today" => 1,
        "7d" => 7,
        "30d" => 30,
        "custom" => {
            let day = |field: &'static str, text: &str| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map_err(|_| (field, format!("`{text}` is not a date YYYY-MM-DD")))
            };
            let (first, last) = (day("from", from)?, day("to", to)?);
            if last < first {
                return Err(("to", "must not be before `from`".into()));
            }
            if (last - first).num_days() >= 366 {
                return Err(("to", "a period is at most 366 days".into()));
            }
            let start =
                |d: NaiveDate| start_of_day(d.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc() - Duration::hours(8));
            return Ok((start(first), start(last) + Duration::days(1)));
        }
        _ => return Err(("period", "one of today, 7d, 30d, custom".into())),
    };
    Ok((start_of_day(now) - Duration::days(days - 1), now))
}

/// The key a task counts under among the children of a region of `level`.
fn child_key(t: &TaskRow, level: Level) -> &str {
    match level {
        Level::City => &t.region[1],
        Level::County => &t.region[2],
        Level::Township => &t.region[3],
        Level::Village | Level::Grid => &t.grid_code,
    }
}

/// The figures of `code` itself and of each of its children (by child code), for a region of
/// `level`.
pub fn figures_by_child(
    state: &State,
    code: &str,
    level: Level,
    now: DateTime<Utc>,
) -> (Figures, HashMap<String, Figures>) {
    let today = start_of_day(now);
    let mut total = Figures::default();
    // Borrowed keys while counting: an owned key per task was most of a city view's cost.
    let mut children: HashMap<&str, Figures> = HashMap::new();
    for t in state.tasks.values().filter(|t| t.within(code)) {
        total.add(t, today);
        let key = child_key(t, level);
        if !key.is_empty() && level != Level::Grid {
            children.entry(key).or_default().add(t, today);
        }
    }
    (total, children.into_iter().map(|(k, f)| (k.to_string(), f)).collect())
}

/// Which list of tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    /// The triage queue, oldest first.
    #[default]
    Triage,
    /// Open and overdue, worst and oldest first.
    Overdue,
    /// Open and escalated, worst and oldest first.
    Escalated,
    /// Every open task, newest first.
    Open,
}

/// What a list is filtered by; empty fields do not filter.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListFilter {
    /// Which list.
    #[serde(default)]
    pub list: ListKind,
    /// A region or grid code.
    #[serde(default)]
    pub region: String,
    /// A department id.
    #[serde(default)]
    pub department: String,
    /// A catalog item code or its prefix (`01.02`).
    #[serde(default)]
    pub item: String,
    /// Only tasks of at least this colour (1 blue … 4 red).
    #[serde(default)]
    pub colour: i32,
    /// Only tasks created at or after this instant (RFC 3339).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// At most this many rows (default 100, at most 500).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A page of a list: the first rows and how many matched in all.
#[derive(Debug, Serialize)]
pub struct TaskList {
    /// The rows.
    pub tasks: Vec<TaskRow>,
    /// How many tasks matched.
    pub total: usize,
}

/// The tasks of one list.
pub fn list(state: &State, f: &ListFilter) -> TaskList {
    let mut rows: Vec<&TaskRow> = state
        .tasks
        .values()
        .filter(|t| match f.list {
            ListKind::Triage => t.in_triage(),
            ListKind::Overdue => t.is_overdue(),
            ListKind::Escalated => t.is_open() && t.escalated,
            ListKind::Open => t.is_open(),
        })
        .filter(|t| t.within(&f.region))
        .filter(|t| f.department.is_empty() || t.department_id == f.department)
        .filter(|t| f.item.is_empty() || t.item_code.starts_with(&f.item))
        .filter(|t| t.colour_rank() >= f.colour)
        .filter(|t| f.since.is_none_or(|s| t.created_at >= s))
        .collect();
    match f.list {
        ListKind::Triage => rows.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id))),
        ListKind::Overdue | ListKind::Escalated => rows.sort_by(|a, b| {
            b.colour_rank().cmp(&a.colour_rank()).then(a.created_at.cmp(&b.created_at)).then(a.id.cmp(&b.id))
        }),
        ListKind::Open => rows.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id))),
    }
    let total = rows.len();
    let limit = f.limit.unwrap_or(100).clamp(1, 500);
    TaskList { tasks: rows.into_iter().take(limit).cloned().collect(), total }
}

/// Departments seen on tasks of `county` (all when empty), by id.
pub fn departments<'a>(state: &'a State, county: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    state.departments.iter().filter(move |(_, c)| county.is_empty() || *c == county).map(|(d, _)| d.as_str())
}

/// The departments with the most open tasks in `region`, busiest first.
pub fn busiest_departments(state: &State, region: &str, n: usize) -> Vec<(String, u64)> {
    let mut open: HashMap<&str, u64> = HashMap::new();
    for t in state.tasks.values().filter(|t| t.is_open() && !t.department_id.is_empty() && t.within(region)) {
        *open.entry(&t.department_id).or_default() += 1;
    }
    let mut rows: Vec<(String, u64)> = open.into_iter().map(|(d, c)| (d.to_string(), c)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    rows.truncate(n);
    rows
}
