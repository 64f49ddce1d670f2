//! What the dispatch bench feeds dispatch, all from the shipped reference data (the demo city
//! 周口市): reported events whose item routes to a department at the event's grid, and open
//! tasks shaped exactly as dispatch stores them.

use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, TimeZone, Utc};
use civicgrid_dispatch::{
    domain::{
        routing::{self, Route},
        sla::StageClock,
        warning::Colour,
    },
    reference::{CatalogItem, ReferenceData},
    tasks::{Clocks, colour_to_proto, warning_at},
};
use civicgrid_kit::{
    bus::{Envelope, envelope::to_header_map},
    region,
    time::to_proto,
};
use civicgrid_proto::v1::{
    Actor, Event, EventReport, EventReported, EventSource, EventStatus, GeoPoint, Location, RegionPath, Role,
};
use uuid::Uuid;

/// A small deterministic generator (xorshift64*), so two runs load the same tasks.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A catalog item reported in a grid where the item routes to a department.
pub struct Combo {
    /// The item.
    pub item: CatalogItem,
    /// The grid's code, name and grid worker.
    pub grid_code: String,
    pub grid_name: String,
    pub grid_worker: String,
    /// The grid's region path.
    pub path: RegionPath,
    /// Where dispatch routes it.
    pub route: Route,
}

impl Combo {
    /// Tasks dispatch creates for one event of this combination: the lead and each assisting
    /// department.
    pub fn tasks(&self) -> usize {
        1 + self.route.assisting.len()
    }
}

/// Every (item, grid) of the shipped data that routes to a department.
pub fn combos(refdata: &ReferenceData) -> Vec<Combo> {
    let mut out = Vec::new();
    for grid in refdata.regions.grids() {
        let Ok(path) = region::path_of_grid(&grid.code) else { continue };
        for item in refdata.catalog.items() {
            if let Some(route) = routing::route(&item.route_rule(), &path, refdata.departments.directory()) {
                out.push(Combo {
                    item: item.clone(),
                    grid_code: grid.code.clone(),
                    grid_name: grid.name.clone(),
                    grid_worker: grid.grid_worker.clone(),
                    path: path.clone(),
                    route,
                });
            }
        }
    }
    out
}

/// An `event-reported` message, encoded and with intake's headers, ready to publish.
pub struct Prepared {
    /// The event's id (what `TaskEvent.event_id` carries back).
    pub event_id: String,
    /// `civicgrid.intake.event-reported.<region path>`.
    pub subject: String,
    /// intake's CloudEvents headers (`ce-id` = `Nats-Msg-Id`, a fresh UUIDv7).
    pub headers: async_nats::HeaderMap,
    /// The encoded `EventReported`.
    pub payload: bytes::Bytes,
    /// Tasks dispatch will create for it.
    pub tasks: usize,
}

/// `count` reported events of randomly chosen combinations, as intake publishes them (the
/// `EventReported` with its first report, the actor, the envelope and headers intake's relay
/// sends).
pub fn reported_events(combos: &[Combo], count: usize, rng: &mut Rng, tag: &str) -> Vec<Prepared> {
    let now = Utc::now();
    (0..count)
        .map(|n| {
            let c = &combos[rng.below(combos.len())];
            let event_id = Uuid::now_v7();
            let at = to_proto(now);
            let grid_worker = !c.grid_worker.is_empty() && n % 2 == 0;
            let source = if grid_worker { EventSource::GridWorker } else { EventSource::CitizenApp };
            let description = format!("{}：现场需要处置（bench {tag} {n}）", c.item.name);
            let evidence = vec![format!("https://img.example.org/bench/{tag}/{n}.jpg")];
            let event = Event {
                id: event_id.to_string(),
                tracking_number: format!("{}-{}-B{tag}{n:07}", c.path.county, now.format("%Y%m%d")),
                source: source as i32,
                item_code: c.item.code.clone(),
                location: Some(Location {
                    point: Some(GeoPoint {
                        latitude: 33.60 + rng.unit() * 0.05,
                        longitude: 114.62 + rng.unit() * 0.05,
                    }),
                    grid_code: c.grid_code.clone(),
                    region_code: c.path.village.clone(),
                    address: c.grid_name.clone(),
                    region: Some(c.path.clone()),
                }),
                description: description.clone(),
                evidence_urls: evidence.clone(),
                occurred_at: Some(at),
                reported_at: Some(at),
                status: EventStatus::Reported as i32,
                reports: vec![EventReport {
                    report_id: Uuid::now_v7().to_string(),
                    source: source as i32,
                    reporter_id: Uuid::now_v7().to_string(),
                    masked_phone: "138****5678".into(),
                    description,
                    evidence_urls: evidence,
                    reported_at: Some(at),
                }],
                history: vec![],
                version: 1,
            };
            let actor = if grid_worker {
                Actor {
                    subject: c.grid_worker.clone(),
                    role: Role::GridWorker as i32,
                    department_id: String::new(),
                    region_scope: c.grid_code.clone(),
                }
            } else {
                Actor {
                    subject: "citizen-app-bench".into(),
                    role: Role::CitizenApp as i32,
                    department_id: String::new(),
                    region_scope: String::new(),
                }
            };
            let reported = EventReported { event: Some(event), actor: Some(actor) };
            let envelope = Envelope::fact(&civicgrid_contracts::intake::EVENT_REPORTED, &c.path, event_id, &reported);
            let headers = to_header_map(&envelope.headers("intake", Uuid::now_v7(), now));
            Prepared {
                event_id: event_id.to_string(),
                subject: envelope.subject,
                headers,
                payload: envelope.payload.into(),
                tasks: c.tasks(),
            }
        })
        .collect()
}

/// One shape of open task: a lead task in state `signed` whose handling clock runs, with the
/// columns the ticker reads and writes computed by dispatch's own code.
pub struct Template {
    /// Index into the combinations.
    pub combo: usize,
    /// `tasks.clocks`: its stage clocks, stored by dispatch's own code.
    pub clocks: Clocks,
    /// `tasks.colour` (civicgrid.v1.WarningColour) at the load instant.
    pub colour: i16,
    /// `tasks.next_change_at`: the next colour change, after the load instant.
    pub next_change_at: DateTime<Utc>,
    /// When it was assigned (the sign-for clock's start).
    pub created_at: DateTime<Utc>,
    /// When it was signed for (the handling clock's start).
    pub updated_at: DateTime<Utc>,
}

fn whole_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t.timestamp_millis()).single().unwrap_or(t)
}

/// `count` open-task shapes at `now`: each picks a combination, starts its handling clock at a
/// random point of the item's handling window before `now` (so it is still blue or yellow),
/// and its sign-for clock a random part of the sign-for limit before that, stopped when the
/// handling clock started. Colour and next change come from `tasks::warning_at`, the
/// function dispatch itself uses, on the shipped calendar.
pub fn open_task_templates(
    refdata: &ReferenceData,
    combos: &[Combo],
    now: DateTime<Utc>,
    grace: f64,
    count: usize,
    rng: &mut Rng,
) -> Result<Vec<Template>> {
    let cal = &refdata.calendar.calendar;
    let now = whole_ms(now);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let combo = rng.below(combos.len());
        let item = &combos[combo].item;
        let window = StageClock::new(now, item.handle)
            .deadline(cal)
            .map(|d| d - now)
            .context("a handling clock without a deadline")?;
        let mut u = rng.unit();
        let mut found = None;
        for _ in 0..12 {
            let start = whole_ms(now - Duration::milliseconds((window.num_milliseconds() as f64 * u) as i64));
            let sign_start = whole_ms(
                start
                    - Duration::milliseconds((item.sign_for.duration().num_milliseconds() as f64 * rng.unit()) as i64),
            );
            let mut sign_for = StageClock::new(sign_start, item.sign_for);
            sign_for.stop(start).map_err(|e| anyhow::anyhow!("stopping a sign-for clock: {e}"))?;
            let clocks =
                Clocks { sign_for: Some(sign_for), handle: Some(StageClock::new(start, item.handle)), verify: None };
            let w = warning_at(&clocks, false, cal, now, grace);
            match (w.colour, w.next_change_at) {
                (Some(Colour::Blue | Colour::Yellow), Some(next)) if next > now && !w.overdue_escalation_due => {
                    found = Some((clocks, w.colour, next, sign_start, start));
                    break;
                }
                _ => u *= 0.5,
            }
        }
        let Some((clocks, colour, next, created_at, updated_at)) = found else { continue };
        out.push(Template {
            combo,
            clocks,
            colour: colour_to_proto(colour) as i16,
            next_change_at: next,
            created_at,
            updated_at,
        });
    }
    Ok(out)
}

/// Shared read-only inputs of a run.
pub struct Inputs {
    /// The shipped reference data (what dispatch loads when no directory is configured).
    pub refdata: Arc<ReferenceData>,
    /// Its routable combinations.
    pub combos: Vec<Combo>,
}

impl Inputs {
    /// Loads the shipped data and finds its combinations.
    pub fn load() -> Result<Inputs> {
        let refdata = ReferenceData::shipped().context("dispatch's shipped reference data")?;
        let combos = combos(&refdata);
        anyhow::ensure!(!combos.is_empty(), "no catalog item routes anywhere in the shipped data");
        Ok(Inputs { refdata: Arc::new(refdata), combos })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_open_and_consistent() {
        let inputs = Inputs::load().unwrap();
        let now = Utc::now();
        let mut rng = Rng::new(7);
        let t = open_task_templates(&inputs.refdata, &inputs.combos, now, 0.5, 500, &mut rng).unwrap();
        assert_eq!(t.len(), 500);
        let cal = &inputs.refdata.calendar.calendar;
        for x in &t {
            let clocks = &x.clocks;
            assert_eq!(clocks.running().map(|(s, _)| s), Some(civicgrid_dispatch::domain::lifecycle::Stage::Handle));
            let w = warning_at(clocks, false, cal, whole_ms(now), 0.5);
            assert_eq!(w.next_change_at, Some(x.next_change_at));
            assert_eq!(colour_to_proto(w.colour) as i16, x.colour);
            assert!(x.next_change_at > now);
        }
    }

    #[test]
    fn events_route_and_carry_intake_headers() {
        let inputs = Inputs::load().unwrap();
        let mut rng = Rng::new(3);
        let events = reported_events(&inputs.combos, 20, &mut rng, "t");
        for e in &events {
            assert!(e.subject.starts_with("civicgrid.intake.event-reported."), "{}", e.subject);
            let h = &e.headers;
            assert_eq!(h.get("ce-type").map(|v| v.as_str()), Some("civicgrid.v1.EventReported"));
            assert_eq!(h.get("ce-id").map(|v| v.as_str()), h.get("Nats-Msg-Id").map(|v| v.as_str()));
            assert!(e.tasks >= 1);
        }
    }
}
