//! The dispatch facts of the run: tasks spread over the generated city's grids, each with the
//! facts a real task has — some wait for triage (and some are then triaged by hand), the rest
//! are assigned, signed for, warned in yellow, orange and escalated in red, or resolved and
//! closed — ordered by when they happened, as dispatch's stream holds them.
//!
//! Only the plan is kept (a few bytes a fact); each `TaskEvent` is encoded when it is published,
//! so the bench's own memory stays small beside the console's.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use civicgrid_democity::City;
use civicgrid_proto::v1::{RegionPath, TaskEvent, TaskStatus, WarningColour};
use prost::Message;
use rand::{Rng, SeedableRng, rngs::StdRng};

/// The steps of a task's life the bench publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    AwaitingTriage,
    Assigned,
    Signed,
    Yellow,
    Orange,
    Escalated,
    Resolved,
    Closed,
}

impl Step {
    /// The fact name, status, colour and escalation after the step.
    fn fact(self) -> (&'static str, TaskStatus, WarningColour, bool) {
        match self {
            Step::AwaitingTriage => {
                ("task-awaiting-triage", TaskStatus::AwaitingTriage, WarningColour::Unspecified, false)
            }
            Step::Assigned => ("task-assigned", TaskStatus::Assigned, WarningColour::Blue, false),
            Step::Signed => ("task-signed", TaskStatus::Signed, WarningColour::Blue, false),
            Step::Yellow => ("task-warning", TaskStatus::Signed, WarningColour::Yellow, false),
            Step::Orange => ("task-warning", TaskStatus::Signed, WarningColour::Orange, false),
            Step::Escalated => ("task-escalated", TaskStatus::Signed, WarningColour::Red, true),
            Step::Resolved => ("task-resolved", TaskStatus::Resolved, WarningColour::Blue, false),
            Step::Closed => ("task-closed", TaskStatus::Closed, WarningColour::Unspecified, false),
        }
    }
}

/// One task: where, what, who, and its steps with their times.
struct TaskPlan {
    grid: u32,
    item: u8,
    department: u32,
    steps: Vec<(Step, DateTime<Utc>)>,
}

/// What the read model must show once every fact is folded in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    /// Open tasks.
    pub open: u64,
    /// Waiting for triage.
    pub triage: u64,
    /// Open and orange or red.
    pub overdue: u64,
    /// Open and escalated.
    pub escalated: u64,
    /// Closed.
    pub closed: u64,
}

/// The run's facts, in publish order, and what they add up to.
pub struct Plan {
    tasks: Vec<TaskPlan>,
    /// (task, step) in publish order.
    order: Vec<(u32, u8)>,
    grids: Vec<(String, String)>,
    departments: Vec<String>,
    seed: u64,
    /// What the read model must show.
    pub expected: Expected,
    /// The id of the task published last (the newest, waiting for triage).
    pub last_task: String,
    /// The county with the most tasks, and its count.
    pub busiest_county: (String, u64),
    /// The village with the most tasks, and its count.
    pub busiest_village: (String, u64),
}

/// The id of task `i` of a run with `seed`.
pub fn task_id(seed: u64, i: usize) -> String {
    uuid::Uuid::from_u64_pair(0x0193_0000_0000_7000 | (seed & 0xFFFF_0000_0FFF), 0x8000_0000_0000_0000 | i as u64)
        .to_string()
}

/// The region path of a 15-digit grid code.
pub fn region_of(grid: &str) -> RegionPath {
    RegionPath {
        city: format!("{}00", &grid[..4]),
        county: grid[..6].into(),
        township: grid[..9].into(),
        village: grid[..12].into(),
    }
}

/// The subject and payload of `event`, as dispatch publishes it.
pub fn encode(event: &TaskEvent) -> (String, Bytes) {
    let region = event.region.clone().unwrap_or_default();
    (civicgrid_contracts::subject("dispatch", &event.fact, &region), Bytes::from(event.encode_to_vec()))
}

/// The life of one task: its steps and whether it ends open, in triage, overdue, escalated.
fn life(rng: &mut StdRng) -> Vec<Step> {
    let mut steps = Vec::with_capacity(6);
    if rng.random::<f64>() < 0.15 {
        steps.push(Step::AwaitingTriage);
        if rng.random::<f64>() < 1.0 / 3.0 {
            return steps;
        }
    }
    steps.push(Step::Assigned);
    let signed = rng.random::<f64>() < 0.9;
    if signed {
        steps.push(Step::Signed);
    }
    let outcome = rng.random::<f64>();
    if outcome < 0.60 {
        if rng.random::<f64>() < 0.2 {
            steps.push(Step::Yellow);
        }
        steps.extend([Step::Resolved, Step::Closed]);
    } else if outcome >= 0.75 {
        if !signed {
            steps.push(Step::Signed);
        }
        steps.push(Step::Yellow);
        if outcome >= 0.85 {
            steps.push(Step::Orange);
        }
        if outcome >= 0.95 {
            steps.push(Step::Escalated);
        }
    }
    steps
}

impl Plan {
    /// `tasks` tasks over `city`'s grids, created over the 30 days before `now`; the last one is
    /// created at `now` and waits for triage, so its fact is the stream's last message.
    pub fn generate(city: &City, tasks: usize, seed: u64, now: DateTime<Utc>) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xC0_5013);
        let grids: Vec<(String, String)> = city.grids.iter().map(|g| (g.code.clone(), g.grid_worker.clone())).collect();
        let departments: Vec<String> = city.departments.iter().map(|d| d.id.clone()).collect();
        let mut serving: HashMap<&str, Vec<u32>> = HashMap::new();
        for (k, d) in city.departments.iter().enumerate() {
            serving.entry(d.region.as_str()).or_default().push(k as u32);
        }
        let mut plans = Vec::with_capacity(tasks);
        let mut expected = Expected::default();
        let mut per_region: HashMap<&str, u64> = HashMap::new();
        for i in 0..tasks {
            let grid = rng.random_range(0..grids.len());
            let code = grids[grid].0.as_str();
            let (county, township) = (&code[..6], &code[..9]);
            let candidates: Vec<u32> =
                [county, township].iter().flat_map(|r| serving.get(r)).flatten().copied().collect();
            let department = if candidates.is_empty() { 0 } else { candidates[rng.random_range(0..candidates.len())] };
            let last = i + 1 == tasks;
            let steps = if last { vec![Step::AwaitingTriage] } else { life(&mut rng) };
            let mut at = if last { now } else { now - Duration::seconds(60 + rng.random_range(0..30 * 86_400) as i64) };
            let limit = now - Duration::seconds(1);
            let mut timed = Vec::with_capacity(steps.len());
            for (k, step) in steps.iter().enumerate() {
                if k > 0 {
                    at = (at + Duration::seconds(600 + rng.random_range(0..6 * 3600) as i64)).min(limit.max(at));
                }
                timed.push((*step, at));
            }
            let end = *steps.last().unwrap_or(&Step::AwaitingTriage);
            match end {
                Step::Closed => expected.closed += 1,
                Step::AwaitingTriage => {
                    expected.open += 1;
                    expected.triage += 1;
                }
                Step::Orange => {
                    expected.open += 1;
                    expected.overdue += 1;
                }
                Step::Escalated => {
                    expected.open += 1;
                    expected.overdue += 1;
                    expected.escalated += 1;
                }
                _ => expected.open += 1,
            }
            *per_region.entry(&code[..6]).or_default() += 1;
            *per_region.entry(&code[..12]).or_default() += 1;
            plans.push(TaskPlan {
                grid: grid as u32,
                item: rng.random_range(0..crate::catalog::ITEMS.len()) as u8,
                department,
                steps: timed,
            });
        }
        let busiest = |len: usize| {
            per_region
                .iter()
                .filter(|(c, _)| c.len() == len)
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(c, n)| (c.to_string(), *n))
                .unwrap_or_default()
        };
        let (busiest_county, busiest_village) = (busiest(6), busiest(12));
        let mut order: Vec<(i64, u32, u8)> = plans
            .iter()
            .enumerate()
            .flat_map(|(t, p)| {
                p.steps.iter().enumerate().map(move |(s, (_, at))| (at.timestamp_micros(), t as u32, s as u8))
            })
            .collect();
        order.sort_unstable();
        Plan {
            tasks: plans,
            order: order.into_iter().map(|(_, t, s)| (t, s)).collect(),
            grids,
            departments,
            seed,
            expected,
            last_task: task_id(seed, tasks.saturating_sub(1)),
            busiest_county,
            busiest_village,
        }
    }

    /// Tasks.
    pub fn tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Facts.
    pub fn facts(&self) -> usize {
        self.order.len()
    }

    /// How many facts of each name.
    pub fn fact_counts(&self) -> Vec<(&'static str, u64)> {
        let mut counts: Vec<(&'static str, u64)> = Vec::new();
        for p in &self.tasks {
            for (step, _) in &p.steps {
                let name = step.fact().0;
                match counts.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((name, 1)),
                }
            }
        }
        counts
    }

    /// The `n`-th fact in publish order.
    pub fn fact(&self, n: usize) -> (String, Bytes) {
        let (t, s) = self.order[n];
        let (t, s) = (t as usize, s as usize);
        let p = &self.tasks[t];
        let (step, at) = p.steps[s];
        let (fact, status, colour, escalated) = step.fact();
        let (grid, worker) = &self.grids[p.grid as usize];
        let region = region_of(grid);
        let created = p.steps[0].1;
        let department = if status == TaskStatus::AwaitingTriage {
            String::new()
        } else {
            self.departments.get(p.department as usize).cloned().unwrap_or_default()
        };
        let event = TaskEvent {
            task_id: task_id(self.seed, t),
            event_id: uuid::Uuid::from_u64_pair(0x0193_0000_0000_7000, t as u64).to_string(),
            fact: fact.into(),
            status: status as i32,
            department_id: department,
            escalated_to: if escalated { region.city.clone() } else { String::new() },
            region: Some(region),
            version: s as i64 + 1,
            occurred_at: Some(civicgrid_kit::time::to_proto(at)),
            lead: true,
            colour: colour as i32,
            escalated: p.steps[..=s].iter().any(|(st, _)| *st == Step::Escalated) && status != TaskStatus::Closed,
            item_code: crate::catalog::ITEMS[p.item as usize].0.into(),
            grid_code: grid.clone(),
            grid_worker_id: worker.clone(),
            tracking_number: format!("{}-{}-{:06}", &grid[..6], created.format("%Y%m%d"), t + 1),
            ..Default::default()
        };
        encode(&event)
    }

    /// A grid of the city, by a random number.
    pub fn grid(&self, n: usize) -> &str {
        &self.grids[n % self.grids.len()].0
    }
}
