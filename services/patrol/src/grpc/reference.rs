//! Teams, key places and routes: PutTeam, ListTeams, PutPlace, ListPlaces, PutRoute, GetRoute,
//! ListRoutes.

use std::collections::HashSet;

use civicgrid_kit::{
    auth::principal,
    grpc::{
        Violations,
        paging::{Page, PageRequest},
    },
    region::Level,
    storage::store_status,
};
use civicgrid_proto::v1::{
    GetRouteRequest, ListPlacesRequest, ListPlacesResponse, ListRoutesRequest, ListRoutesResponse, ListTeamsRequest,
    ListTeamsResponse, Place, PlaceKind, PlaceRisk, PutPlaceRequest, PutRouteRequest, PutTeamRequest, Route, Team,
    TeamKind, checkpoint::Target,
};
use tonic::{Request, Response, Status};

use super::{Answer, PatrolApi, listed_region, status, validate};
use crate::{
    convert,
    store::{TextKey, places, region_prefix, routes, teams},
    usecase::reference,
};

const REGION_LEVELS: &[Level] = &[Level::County, Level::Township, Level::Village];

fn check_team(v: &mut Violations, t: &Team) {
    validate::id(v, "team.id", &t.id);
    validate::text(v, "team.name", &t.name, 1, 80);
    v.check(
        TeamKind::try_from(t.kind).is_ok_and(|k| k != TeamKind::Unspecified),
        "team.kind",
        "must be a TeamKind other than UNSPECIFIED",
    );
    validate::region_code(v, "team.region_code", &t.region_code, REGION_LEVELS, true);
    validate::text(v, "team.unit_id", &t.unit_id, 0, 64);
    for (i, s) in t.supervisor_ids.iter().enumerate() {
        validate::text(v, &format!("team.supervisor_ids[{i}]"), s, 1, 64);
    }
    v.check(t.members.len() <= 500, "team.members", "at most 500 members");
    let mut seen = HashSet::new();
    for (i, m) in t.members.iter().enumerate() {
        validate::text(v, &format!("team.members[{i}].member_id"), &m.member_id, 1, 64);
        if !seen.insert(m.member_id.as_str()) {
            v.add(format!("team.members[{i}].member_id"), "is listed twice");
        }
        validate::text(v, &format!("team.members[{i}].name"), &m.name, 1, 40);
        for (j, d) in m.device_ids.iter().enumerate() {
            validate::text(v, &format!("team.members[{i}].device_ids[{j}]"), d, 1, 64);
        }
    }
}

pub(super) async fn put_team(api: &PatrolApi, request: Request<PutTeamRequest>) -> Answer<Team> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    validate::request_id(&mut v, &r.request_id);
    match &r.team {
        Some(t) => check_team(&mut v, t),
        None => v.add("team", "is required"),
    }
    v.into_result()?;
    let team = r.team.unwrap_or_default();
    let c = &api.core;
    let team = reference::put_team(&c.pool, &c.signal, &caller, &r.request_id, team, c.clock.now())
        .await
        .map_err(|e| status("putting a team", e))?;
    api.engine.put_team(team.clone()).await;
    Ok(Response::new(team))
}

pub(super) async fn list_teams(api: &PatrolApi, request: Request<ListTeamsRequest>) -> Answer<ListTeamsResponse> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    v.check(TeamKind::try_from(r.kind).is_ok(), "kind", "must be a TeamKind");
    let page: PageRequest<TextKey> = PageRequest::parse(&mut v, r.page_size, &r.page_token);
    v.into_result()?;
    let region = listed_region(&caller, &r.region_code)?;
    let rows = teams::list(
        &api.core.pool,
        &region_prefix(&region),
        r.kind,
        page.after.as_ref().map(|k| k.0.as_str()),
        page.fetch(),
    )
    .await
    .map_err(|e| store_status("listing teams", e))?;
    let page = Page::of(rows, &page, |t| TextKey(t.id.clone()));
    Ok(Response::new(ListTeamsResponse { teams: page.items, next_page_token: page.next_page_token }))
}

fn check_place(v: &mut Violations, p: &Place) {
    validate::id(v, "place.id", &p.id);
    validate::text(v, "place.name", &p.name, 1, 80);
    v.check(
        PlaceKind::try_from(p.kind).is_ok_and(|k| k != PlaceKind::Unspecified),
        "place.kind",
        "must be a PlaceKind other than UNSPECIFIED",
    );
    v.check(
        PlaceRisk::try_from(p.risk).is_ok_and(|k| k != PlaceRisk::Unspecified),
        "place.risk",
        "must be a PlaceRisk other than UNSPECIFIED",
    );
    validate::region_code(v, "place.region_code", &p.region_code, &[Level::Township, Level::Village], true);
    if let Err((field, why)) = convert::fence(p.fence.as_ref()) {
        v.add(if field.is_empty() { "place.fence".to_string() } else { format!("place.fence.{field}") }, why);
    }
}

pub(super) async fn put_place(api: &PatrolApi, request: Request<PutPlaceRequest>) -> Answer<Place> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    validate::request_id(&mut v, &r.request_id);
    match &r.place {
        Some(p) => check_place(&mut v, p),
        None => v.add("place", "is required"),
    }
    v.into_result()?;
    let c = &api.core;
    let place =
        reference::put_place(&c.pool, &c.signal, &caller, &r.request_id, r.place.unwrap_or_default(), c.clock.now())
            .await
            .map_err(|e| status("putting a place", e))?;
    Ok(Response::new(place))
}

pub(super) async fn list_places(api: &PatrolApi, request: Request<ListPlacesRequest>) -> Answer<ListPlacesResponse> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    v.check(PlaceRisk::try_from(r.risk).is_ok(), "risk", "must be a PlaceRisk");
    let page: PageRequest<TextKey> = PageRequest::parse(&mut v, r.page_size, &r.page_token);
    v.into_result()?;
    let region = listed_region(&caller, &r.region_code)?;
    let rows = places::list(
        &api.core.pool,
        &region_prefix(&region),
        r.risk,
        page.after.as_ref().map(|k| k.0.as_str()),
        page.fetch(),
    )
    .await
    .map_err(|e| store_status("listing places", e))?;
    let page = Page::of(rows, &page, |p| TextKey(p.id.clone()));
    Ok(Response::new(ListPlacesResponse { places: page.items, next_page_token: page.next_page_token }))
}

fn check_route(v: &mut Violations, r: &Route) {
    validate::id(v, "route.id", &r.id);
    validate::text(v, "route.name", &r.name, 1, 80);
    // A grid worker's route may name its grid (15 digits) instead of a region.
    if !crate::area::is_grid(&r.region_code) {
        validate::region_code(v, "route.region_code", &r.region_code, REGION_LEVELS, true);
    }
    v.check(
        (1..=crate::domain::route::MAX_CHECKPOINTS).contains(&r.checkpoints.len()),
        "route.checkpoints",
        "must hold 1 to 200 checkpoints",
    );
    v.check((1..=1_440).contains(&r.tour_minutes), "route.tour_minutes", "must be from 1 to 1440");
    let mut seen = HashSet::new();
    for (i, cp) in r.checkpoints.iter().enumerate() {
        let f = |name: &str| format!("route.checkpoints[{i}].{name}");
        validate::id(v, &f("id"), &cp.id);
        if !seen.insert(cp.id.as_str()) {
            v.add(f("id"), "is used by an earlier checkpoint");
        }
        validate::text(v, &f("name"), &cp.name, 0, 80);
        match &cp.target {
            None => v.add(f("target"), "a place_id or a circle is required"),
            Some(Target::PlaceId(id)) => validate::id(v, &f("place_id"), id),
            Some(Target::Circle(c)) => {
                if let Err((field, why)) = convert::circle_fence(c) {
                    v.add(f(&format!("circle.{field}")), why);
                }
            }
        }
        if let Err((field, why)) = convert::window(cp.window.as_ref()) {
            v.add(f(&format!("window.{field}")), why);
        }
        v.check((0..=3_600).contains(&cp.dwell_seconds), &f("dwell_seconds"), "must be from 0 to 3600");
    }
}

pub(super) async fn put_route(api: &PatrolApi, request: Request<PutRouteRequest>) -> Answer<Route> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    validate::request_id(&mut v, &r.request_id);
    match &r.route {
        Some(route) => check_route(&mut v, route),
        None => v.add("route", "is required"),
    }
    v.into_result()?;
    let c = &api.core;
    let route =
        reference::put_route(&c.pool, &c.signal, &caller, &r.request_id, r.route.unwrap_or_default(), c.clock.now())
            .await
            .map_err(|e| status("putting a route", e))?;
    Ok(Response::new(route))
}

pub(super) async fn get_route(api: &PatrolApi, request: Request<GetRouteRequest>) -> Answer<Route> {
    let caller = principal(&request)?;
    let id = &request.get_ref().route_id;
    let mut v = Violations::new();
    validate::id(&mut v, "route_id", id);
    v.into_result()?;
    let route = routes::get(&api.core.pool, id).await.map_err(|e| store_status("reading a route", e))?;
    match route {
        Some(r) if caller.covers_code(&r.region_code) => Ok(Response::new(r)),
        _ => Err(Status::not_found(format!("no route `{id}` in the caller's region"))),
    }
}

pub(super) async fn list_routes(api: &PatrolApi, request: Request<ListRoutesRequest>) -> Answer<ListRoutesResponse> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let page: PageRequest<TextKey> = PageRequest::parse(&mut v, r.page_size, &r.page_token);
    v.into_result()?;
    let region = listed_region(&caller, &r.region_code)?;
    let rows =
        routes::list(&api.core.pool, &region_prefix(&region), page.after.as_ref().map(|k| k.0.as_str()), page.fetch())
            .await
            .map_err(|e| store_status("listing routes", e))?;
    let page = Page::of(rows, &page, |r| TextKey(r.id.clone()));
    Ok(Response::new(ListRoutesResponse { routes: page.items, next_page_token: page.next_page_token }))
}
