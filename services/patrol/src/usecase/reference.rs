//! Teams, key places and routes: put (idempotent by request id, within the caller's region,
//! the version raised by one) and read.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use civicgrid_kit::auth::Principal;
use civicgrid_proto::v1::{Place, Route, Team, checkpoint::Target};
use sqlx::PgPool;

use super::{Claimed, UseError, answer, claim, invalid};
use crate::store::{places, routes, teams};

/// Refuses a region outside the caller's scope.
pub fn in_scope(caller: &Principal, code: &str, what: &str) -> Result<(), UseError> {
    if caller.covers_code(code) {
        Ok(())
    } else {
        Err(UseError::Denied(format!("{what} in region {code} is outside the caller's region {}", caller.region_scope)))
    }
}

fn path(code: &str, field: &str) -> Result<civicgrid_proto::v1::RegionPath, UseError> {
    crate::area::path(code).map_err(|e| invalid(field, e.to_string()))
}

/// Creates or replaces `team` (checked by the handler).
pub async fn put_team(
    pool: &PgPool,
    signal: &civicgrid_kit::bus::OutboxSignal,
    caller: &Principal,
    request_id: &str,
    mut team: Team,
    now: DateTime<Utc>,
) -> Result<Team, UseError> {
    in_scope(caller, &team.region_code, "a team")?;
    let mut tx = match claim(pool, &caller.subject, request_id).await? {
        Claimed::Answered(t) => return Ok(t),
        Claimed::Fresh(tx) => tx,
    };
    let old = teams::lock(&mut tx, &team.id).await?;
    if let Some(old) = &old {
        in_scope(caller, &old.region_code, "the team")?;
    }
    team.region = Some(path(&team.region_code, "team.region_code")?);
    team.version = old.map_or(1, |o| o.version + 1);
    teams::save(&mut tx, &team, now).await?;
    Ok(answer(tx, signal, &caller.subject, request_id, team).await?)
}

/// Creates or replaces `place` (checked by the handler).
pub async fn put_place(
    pool: &PgPool,
    signal: &civicgrid_kit::bus::OutboxSignal,
    caller: &Principal,
    request_id: &str,
    mut place: Place,
    now: DateTime<Utc>,
) -> Result<Place, UseError> {
    in_scope(caller, &place.region_code, "a place")?;
    let mut tx = match claim(pool, &caller.subject, request_id).await? {
        Claimed::Answered(p) => return Ok(p),
        Claimed::Fresh(tx) => tx,
    };
    let old = places::lock(&mut tx, &place.id).await?;
    if let Some(old) = &old {
        in_scope(caller, &old.region_code, "the place")?;
    }
    place.region = Some(path(&place.region_code, "place.region_code")?);
    place.version = old.map_or(1, |o| o.version + 1);
    places::save(&mut tx, &place, now).await?;
    Ok(answer(tx, signal, &caller.subject, request_id, place).await?)
}

/// Creates or replaces `route` (checked by the handler): every place it names must exist;
/// a checkpoint without a name takes its place's.
pub async fn put_route(
    pool: &PgPool,
    signal: &civicgrid_kit::bus::OutboxSignal,
    caller: &Principal,
    request_id: &str,
    mut route: Route,
    now: DateTime<Utc>,
) -> Result<Route, UseError> {
    in_scope(caller, &route.region_code, "a route")?;
    let mut tx = match claim(pool, &caller.subject, request_id).await? {
        Claimed::Answered(r) => return Ok(r),
        Claimed::Fresh(tx) => tx,
    };
    let old = routes::lock(&mut tx, &route.id).await?;
    if let Some(old) = &old {
        in_scope(caller, &old.region_code, "the route")?;
    }
    let wanted: Vec<String> = route
        .checkpoints
        .iter()
        .filter_map(|c| match &c.target {
            Some(Target::PlaceId(id)) => Some(id.clone()),
            _ => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let found = places::by_ids(&mut *tx, &wanted).await?;
    for (i, cp) in route.checkpoints.iter_mut().enumerate() {
        if let Some(Target::PlaceId(id)) = &cp.target {
            let Some(place) = found.iter().find(|p| &p.id == id) else {
                return Err(invalid(format!("route.checkpoints[{i}].place_id"), format!("no place `{id}`")));
            };
            if cp.name.is_empty() {
                cp.name = place.name.clone();
            }
        } else if cp.name.is_empty() {
            cp.name = cp.id.clone();
        }
    }
    route.region = Some(path(&route.region_code, "route.region_code")?);
    route.version = old.map_or(1, |o| o.version + 1);
    routes::save(&mut tx, &route, now).await?;
    Ok(answer(tx, signal, &caller.subject, request_id, route).await?)
}
