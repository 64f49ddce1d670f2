//! Shifts outside the engine: scheduling and cancelling (a shift not yet started is no part of
//! the hot state), and reading them as the contract shows them. Starting, ending and checking
//! in are the engine's ([`crate::engine::walk`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use civicgrid_kit::{auth::Principal, time::to_proto};
use civicgrid_proto::v1::{self as pb, CheckpointProgress, CheckpointState, Shift, ShiftState};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Claimed, UseError, answer, claim, reference::in_scope};
use crate::{
    convert::{self, Plan},
    core::Core,
    domain::route::{TourState, TourTimes, Window},
    engine::{
        TeamInfo,
        facts::{Facts, method},
    },
    store::{
        check_ins, routes,
        shifts::{self, CANCELLED, SCHEDULED, ShiftRow},
        teams,
    },
};

/// The contract's state of a stored one.
pub fn state_of(s: &str) -> ShiftState {
    match s {
        shifts::SCHEDULED => ShiftState::Scheduled,
        shifts::ACTIVE => ShiftState::Active,
        shifts::ENDED => ShiftState::Ended,
        shifts::CANCELLED => ShiftState::Cancelled,
        _ => ShiftState::Unspecified,
    }
}

/// The stored name of a state.
pub fn state_name(s: ShiftState) -> Option<&'static str> {
    match s {
        ShiftState::Scheduled => Some(shifts::SCHEDULED),
        ShiftState::Active => Some(shifts::ACTIVE),
        ShiftState::Ended => Some(shifts::ENDED),
        ShiftState::Cancelled => Some(shifts::CANCELLED),
        ShiftState::Unspecified => None,
    }
}

type Methods = HashMap<(Uuid, String), i32>;

fn progress(row: &ShiftRow, plan: &Plan, tour: Option<&TourState>, methods: &Methods) -> Vec<CheckpointProgress> {
    let times = row.started_at.map(|s| TourTimes { started_at: s, shift_start: row.starts_at, shift_end: row.ends_at });
    plan.route
        .checkpoints()
        .iter()
        .enumerate()
        .map(|(k, cp)| {
            let cs = tour.and_then(|t| t.checkpoints.get(k));
            let check_in = cs.and_then(|c| c.check_in.as_ref());
            let state = match (check_in, cs.is_some_and(|c| c.missed)) {
                (Some(_), _) => CheckpointState::CheckedIn,
                (None, true) => CheckpointState::Missed,
                _ => CheckpointState::Open,
            };
            let bounds = match (times, cp.window) {
                (Some(t), w) => Some(w.bounds(&t)),
                (None, Window::FromStart { .. }) => None,
                (None, w) => Some(w.bounds(&TourTimes {
                    started_at: row.starts_at,
                    shift_start: row.starts_at,
                    shift_end: row.ends_at,
                })),
            };
            CheckpointProgress {
                checkpoint_id: cp.id.clone(),
                name: plan.names.get(k).cloned().unwrap_or_default(),
                state: state as i32,
                window_opens_at: bounds.map(|b| to_proto(b.0)),
                window_closes_at: bounds.map(|b| to_proto(b.1)),
                checked_in_at: check_in.map(|c| to_proto(c.at)),
                checked_in_by: check_in.map(|c| c.member.clone()).unwrap_or_default(),
                method: check_in
                    .map(|c| methods.get(&(row.id, cp.id.clone())).copied().unwrap_or(method(c.how) as i32))
                    .unwrap_or(0),
            }
        })
        .collect()
}

/// The shift as answers show it; `route` is the route as stored now, used until the shift
/// started (then its plan counts). A route that cannot be planned any more shows no
/// checkpoints.
pub fn shift_proto(row: &ShiftRow, route: Option<&pb::Route>, methods: &Methods) -> Shift {
    let planned;
    let plan = match (&row.plan, route) {
        (Some(p), _) => Some(&p.0),
        (None, Some(r)) => {
            // Names and windows only: fences do not show, so places need not be resolved.
            planned = Plan::of(r, &places_as_points(r)).ok();
            planned.as_ref()
        }
        (None, None) => None,
    };
    Shift {
        id: row.id.to_string(),
        team_id: row.team_id.clone(),
        route_id: row.route_id.clone(),
        route_version: row.route_version,
        region: crate::area::path(&row.region_code).ok(),
        starts_at: Some(to_proto(row.starts_at)),
        ends_at: Some(to_proto(row.ends_at)),
        state: state_of(&row.state) as i32,
        started_at: row.started_at.map(to_proto),
        started_by: row.started_by.clone(),
        ended_at: row.ended_at.map(to_proto),
        tour_due_at: row.tour_due_at.map(to_proto),
        tour_complete: row.tour_complete,
        late: row.late,
        checkpoints: plan.map(|p| progress(row, p, row.tour.as_ref().map(|t| &t.0), methods)).unwrap_or_default(),
        reason: row.reason.clone(),
        version: row.version,
    }
}

/// Stand-in fences for a route's places (a point each): enough to show names and windows.
fn places_as_points(r: &pb::Route) -> HashMap<String, crate::domain::geo::Fence> {
    let mut out = HashMap::new();
    for cp in &r.checkpoints {
        if let Some(pb::checkpoint::Target::PlaceId(id)) = &cp.target
            && let Ok(f) = crate::domain::geo::Fence::circle(crate::domain::geo::Point::new(1.0, 1.0), 1.0)
        {
            out.insert(id.clone(), f);
        }
    }
    out
}

/// `rows` as answers show them (one query for their routes, one for their check-ins).
pub async fn read(conn: &mut PgConnection, rows: &[ShiftRow]) -> Result<Vec<Shift>, UseError> {
    let unplanned: Vec<String> = rows.iter().filter(|r| r.plan.is_none()).map(|r| r.route_id.clone()).collect();
    let route_list = if unplanned.is_empty() { vec![] } else { routes::by_ids(&mut *conn, &unplanned).await? };
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let methods = check_ins::methods(&mut *conn, &ids).await?;
    Ok(rows.iter().map(|r| shift_proto(r, route_list.iter().find(|x| x.id == r.route_id), &methods)).collect())
}

/// One shift as answers show it.
pub async fn read_one(conn: &mut PgConnection, row: &ShiftRow) -> Result<Shift, UseError> {
    Ok(read(conn, std::slice::from_ref(row)).await?.pop().unwrap_or_default())
}

/// What ScheduleShift asks for (checked by the handler).
pub struct NewShift {
    /// The team.
    pub team_id: String,
    /// The route.
    pub route_id: String,
    /// When it may start.
    pub starts_at: DateTime<Utc>,
    /// When it ends.
    pub ends_at: DateTime<Utc>,
}

/// Schedules a shift.
pub async fn schedule(core: &Core, caller: &Principal, request_id: &str, s: NewShift) -> Result<Shift, UseError> {
    let now = core.clock.now();
    let mut tx = match claim(&core.pool, &caller.subject, request_id).await? {
        Claimed::Answered(s) => return Ok(s),
        Claimed::Fresh(tx) => tx,
    };
    let team = teams::get(&mut *tx, &s.team_id)
        .await?
        .ok_or_else(|| UseError::NotFound(format!("no team `{}`", s.team_id)))?;
    let route = routes::get(&mut *tx, &s.route_id)
        .await?
        .ok_or_else(|| UseError::NotFound(format!("no route `{}`", s.route_id)))?;
    in_scope(caller, &team.region_code, "the team")?;
    in_scope(caller, &route.region_code, "the route")?;
    let row = ShiftRow {
        id: Uuid::now_v7(),
        team_id: team.id.clone(),
        route_id: route.id.clone(),
        region_code: route.region_code.clone(),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        state: SCHEDULED.into(),
        route_version: route.version,
        started_at: None,
        started_by: String::new(),
        ended_at: None,
        tour_due_at: None,
        tour_complete: false,
        late: false,
        missed: 0,
        reason: String::new(),
        plan: None,
        tour: None,
        offline: vec![],
        next_due_at: None,
        version: 1,
        created_at: now,
    };
    shifts::save(&mut tx, &row).await?;
    let mut facts = Facts::default();
    let info = TeamInfo::of(team);
    facts.shift("shift-scheduled", &row, &info, &route.name, &caller.actor(), now, now, |_| {});
    facts.outbox.insert(&mut tx).await?;
    let shift = shift_proto(&row, Some(&route), &HashMap::new());
    Ok(answer(tx, &core.signal, &caller.subject, request_id, shift).await?)
}

/// Cancels a shift that has not started.
pub async fn cancel(
    core: &Core,
    caller: &Principal,
    request_id: &str,
    id: Uuid,
    reason: &str,
) -> Result<Shift, UseError> {
    let now = core.clock.now();
    let mut tx = match claim(&core.pool, &caller.subject, request_id).await? {
        Claimed::Answered(s) => return Ok(s),
        Claimed::Fresh(tx) => tx,
    };
    let mut row = shifts::lock(&mut tx, id).await?.ok_or_else(|| UseError::NotFound("no such shift".into()))?;
    in_scope(caller, &row.region_code, "the shift").map_err(|_| UseError::NotFound("no such shift".into()))?;
    if row.state != SCHEDULED {
        return Err(UseError::Precondition(format!(
            "the shift is {}; only a scheduled shift can be cancelled",
            row.state
        )));
    }
    row.state = CANCELLED.into();
    row.reason = reason.to_owned();
    row.version += 1;
    shifts::save(&mut tx, &row).await?;
    let team = teams::get(&mut *tx, &row.team_id).await?.unwrap_or_default();
    let route = routes::get(&mut *tx, &row.route_id).await?;
    let mut facts = Facts::default();
    let route_name = route.as_ref().map(|r| r.name.clone()).unwrap_or_default();
    facts.shift("shift-cancelled", &row, &TeamInfo::of(team), &route_name, &caller.actor(), now, now, |_| {});
    facts.outbox.insert(&mut tx).await?;
    let shift = shift_proto(&row, route.as_ref(), &HashMap::new());
    Ok(answer(tx, &core.signal, &caller.subject, request_id, shift).await?)
}

/// The plan of route `route` now: the route with its places' fences.
pub async fn plan_of(conn: &mut PgConnection, route: &pb::Route) -> Result<Plan, UseError> {
    let ids: Vec<String> = route
        .checkpoints
        .iter()
        .filter_map(|c| match &c.target {
            Some(pb::checkpoint::Target::PlaceId(id)) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let mut fences = HashMap::new();
    for p in crate::store::places::by_ids(&mut *conn, &ids).await? {
        if let Ok(f) = convert::fence(p.fence.as_ref()) {
            fences.insert(p.id.clone(), f);
        }
    }
    Plan::of(route, &fences).map_err(|e| UseError::Precondition(format!("route `{}` cannot be walked: {e}", route.id)))
}
