//! The traffic plan, pure: from a seeded rng, the clock and a [`TrafficConfig`] it decides when
//! the next report comes, what it is, where and from whom, and for each task every action of
//! the people who work it with its delay. No I/O: [`super::driver`] carries the plan out.

use std::{ops::Range, time::Duration};

use chrono::{DateTime, Timelike, Utc};
use civicgrid_democity::{City, RegionKind};
use civicgrid_proto::v1::EventSource;
use rand::Rng;

use super::config::TrafficConfig;

/// The local time zone of the city (UTC+08:00), in hours.
const LOCAL_OFFSET_HOURS: i64 = 8;
/// The longest wait between two reports, however quiet the hour.
const MAX_GAP: Duration = Duration::from_secs(300);
/// How far from a grid's centre a report's point may lie, in degrees (about 50 m).
const JITTER_DEG: f64 = 0.0005;

/// A catalog item the generator may report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its code (`01.02.003`).
    pub code: String,
    /// Its name, which the reporter writes as the description.
    pub name: String,
}

/// A grid reports may come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spot {
    /// The grid's code.
    pub grid: String,
    /// Its village's code.
    pub village: String,
    /// Its name (as the address).
    pub name: String,
    /// Its centre (lat, lng).
    pub center: (f64, f64),
}

/// One report to submit.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedReport {
    /// Who reports.
    pub source: EventSource,
    /// Index into the planner's items.
    pub item: usize,
    /// Index into the planner's spots.
    pub spot: usize,
    /// Where exactly (lat, lng).
    pub point: (f64, f64),
    /// Whether it repeats the previous report's spot and item (a duplicate intake merges).
    pub repeat: bool,
}

/// What the people working a task do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The department returns the task as not theirs (回退).
    Return,
    /// The center assigns the returned task again.
    Triage,
    /// The department signs for it (签收).
    SignFor,
    /// The department reports it fixed (办结反馈).
    Resolve,
    /// The grid worker (or center) finds the fix not real (返工).
    RejectVerification,
    /// The grid worker (or center) confirms the fix on site (核查).
    Verify,
    /// The center closes it (结案).
    Close,
    /// The reporter rates the outcome.
    Rate {
        /// Dissatisfied (reopens the event) or satisfied.
        dissatisfied: bool,
    },
}

/// One action and how long after the previous one it comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The wait before it.
    pub after: Duration,
    /// The action.
    pub action: Action,
}

/// Everything that happens to one task, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskScript {
    /// Signed for late: its sign-for took `late_steps`.
    pub late: bool,
    /// Returned once before it was signed for.
    pub returned: bool,
    /// Its first resolution was rejected.
    pub reworked: bool,
    /// Its reporter rates it dissatisfied.
    pub dissatisfied: bool,
    /// The actions.
    pub steps: Vec<Step>,
}

/// The plan: the city's grids and the catalog's items with their weights, and the config.
pub struct Planner {
    config: TrafficConfig,
    items: Vec<Item>,
    item_cumulative: Vec<f64>,
    spots: Vec<Spot>,
    spot_cumulative: Vec<f64>,
    source_cumulative: Vec<f64>,
    last: Option<PlannedReport>,
}

/// Running totals of `weights`, for picking by weight with a binary search.
fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut total = 0.0;
    weights
        .map(|w| {
            total += w.max(0.0);
            total
        })
        .collect()
}

/// An index drawn with the weights whose running totals are `cumulative` (0 when all are 0).
fn pick(rng: &mut impl Rng, cumulative: &[f64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    if total <= 0.0 {
        return 0;
    }
    let x = rng.random_range(0.0..total);
    cumulative.partition_point(|&c| c <= x).min(cumulative.len().saturating_sub(1))
}

impl Planner {
    /// A plan over `city`'s grids and the catalog's `items`, per `config`. `None` when the city
    /// has no grid or the catalog no item.
    pub fn new(config: TrafficConfig, city: &City, items: Vec<Item>) -> Option<Planner> {
        Planner::with_grids(config, city, items, |_| true)
    }

    /// A plan over the grids of `city` that `keep` keeps (by code), as [`Planner::new`].
    pub fn with_grids(
        config: TrafficConfig,
        city: &City,
        items: Vec<Item>,
        keep: impl Fn(&str) -> bool,
    ) -> Option<Planner> {
        let mut spots = Vec::with_capacity(city.grids.len());
        let mut weights = Vec::with_capacity(city.grids.len());
        for g in city.grids.iter().filter(|g| keep(&g.code)) {
            weights.push(spot_weight(&config, city, &g.village));
            spots.push(Spot {
                grid: g.code.clone(),
                village: g.village.clone(),
                name: g.name.clone(),
                center: (g.centroid.lat, g.centroid.lng),
            });
        }
        if spots.is_empty() || items.is_empty() {
            return None;
        }
        let item_cumulative = cumulative(items.iter().map(|i| category_weight(&config, &i.code)));
        let source_cumulative = cumulative(config.source_weights.iter().map(|(_, w)| *w));
        Some(Planner {
            item_cumulative,
            spot_cumulative: cumulative(weights.into_iter()),
            source_cumulative,
            config,
            items,
            spots,
            last: None,
        })
    }

    /// The items.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The grids.
    pub fn spots(&self) -> &[Spot] {
        &self.spots
    }

    /// How long after `now` the next report comes: exponential (a Poisson stream) with the
    /// configured rate scaled by the local hour's factor, at most five minutes.
    pub fn next_gap(&self, rng: &mut impl Rng, now: DateTime<Utc>) -> Duration {
        let rate = self.config.rate_per_minute * hour_factor(&self.config, now);
        if rate <= 0.0 {
            return MAX_GAP;
        }
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        let seconds = -u.ln() * 60.0 / rate;
        Duration::from_secs_f64(seconds).min(MAX_GAP)
    }

    /// The next report.
    pub fn next_report(&mut self, rng: &mut impl Rng) -> PlannedReport {
        let source = self.config.source_weights.get(pick(rng, &self.source_cumulative)).map(|(s, _)| *s);
        let source = source.unwrap_or(EventSource::CitizenApp);
        let report = match &self.last {
            Some(last) if rng.random_bool(self.config.repeat_share.clamp(0.0, 1.0)) => PlannedReport {
                source,
                point: (last.point.0 + 0.00005, last.point.1 + 0.00005),
                repeat: true,
                ..last.clone()
            },
            _ => {
                let spot = pick(rng, &self.spot_cumulative);
                let (lat, lng) = self.spots[spot].center;
                PlannedReport {
                    source,
                    item: pick(rng, &self.item_cumulative),
                    spot,
                    point: (
                        lat + rng.random_range(-JITTER_DEG..JITTER_DEG),
                        lng + rng.random_range(-JITTER_DEG..JITTER_DEG),
                    ),
                    repeat: false,
                }
            }
        };
        self.last = Some(report.clone());
        report
    }

    /// What the department, the grid worker, the center and the reporter do with a newly
    /// assigned task. Only a lead task is rated, and only when `may_dissatisfy` a reporter may
    /// be dissatisfied (a reopened task is not reopened again).
    pub fn task_script(&self, rng: &mut impl Rng, lead: bool, may_dissatisfy: bool) -> TaskScript {
        let c = &self.config;
        let late = rng.random_bool(c.late_share.clamp(0.0, 1.0));
        let returned = rng.random_bool(c.returned_share.clamp(0.0, 1.0));
        let reworked = rng.random_bool(c.reworked_share.clamp(0.0, 1.0));
        let dissatisfied = lead && may_dissatisfy && rng.random_bool(c.dissatisfied_share.clamp(0.0, 1.0));
        let mut steps = Vec::new();
        let mut add =
            |rng: &mut _, range: &Range<f64>, action| steps.push(Step { after: delay(rng, c, range), action });
        if returned {
            add(rng, &c.sign_for_steps, Action::Return);
            add(rng, &c.triage_steps, Action::Triage);
        }
        add(rng, if late { &c.late_steps } else { &c.sign_for_steps }, Action::SignFor);
        add(rng, &c.handle_steps, Action::Resolve);
        if reworked {
            add(rng, &c.verify_steps, Action::RejectVerification);
            add(rng, &c.handle_steps, Action::Resolve);
        }
        add(rng, &c.verify_steps, Action::Verify);
        add(rng, &c.close_steps, Action::Close);
        if lead {
            add(rng, &c.rate_steps, Action::Rate { dissatisfied });
        }
        TaskScript { late, returned, reworked, dissatisfied, steps }
    }

    /// What happens to a dispute mediation resolved: verified, closed, rated satisfied.
    pub fn mediated_script(&self, rng: &mut impl Rng, lead: bool) -> TaskScript {
        let c = &self.config;
        let mut steps = vec![
            Step { after: delay(rng, c, &c.verify_steps), action: Action::Verify },
            Step { after: delay(rng, c, &c.close_steps), action: Action::Close },
        ];
        if lead {
            steps.push(Step { after: delay(rng, c, &c.rate_steps), action: Action::Rate { dissatisfied: false } });
        }
        TaskScript { late: false, returned: false, reworked: false, dissatisfied: false, steps }
    }
}

/// A delay drawn uniformly from `steps` of the configured step.
fn delay(rng: &mut impl Rng, config: &TrafficConfig, steps: &Range<f64>) -> Duration {
    let n = if steps.start < steps.end { rng.random_range(steps.clone()) } else { steps.start };
    config.step.mul_f64(n.max(0.0))
}

/// The factor of the local hour of `now`.
pub fn hour_factor(config: &TrafficConfig, now: DateTime<Utc>) -> f64 {
    let local = now + chrono::Duration::hours(LOCAL_OFFSET_HOURS);
    config.hour_profile.get(local.hour() as usize).copied().unwrap_or(1.0)
}

/// The weight of an item: its category's.
fn category_weight(config: &TrafficConfig, code: &str) -> f64 {
    let category = code.get(..2).unwrap_or_default();
    config.category_weights.iter().find(|(c, _)| *c == category).map_or(config.other_category_weight, |(_, w)| *w)
}

/// The weight of a grid of `village`: the urban core first, then the other subdistricts (街道),
/// and a community's (社区) above a rural village's (村).
fn spot_weight(config: &TrafficConfig, city: &City, village: &str) -> f64 {
    let county = village.get(..6).unwrap_or_default();
    let township = village.get(..9).and_then(|t| city.region(t)).map(|r| r.kind);
    let place = if county == CORE_COUNTY {
        config.core_weight
    } else if township == Some(RegionKind::Subdistrict) {
        config.town_weight
    } else {
        1.0
    };
    let community = city.region(village).map(|r| r.kind) == Some(RegionKind::Community);
    place * if community { config.community_weight } else { 1.0 }
}

/// 川汇区, the urban core of 周口市.
pub const CORE_COUNTY: &str = "411602";
