//! Findings and reports: ReportFinding, GetTrack, GetCoverage, GetPresence.

use chrono::{DateTime, NaiveDate, Utc};
use civicgrid_kit::{
    auth::{Principal, principal},
    grpc::{Violations, paging::decode_token, paging::encode_token},
    region,
    storage::store_status,
    time::to_proto,
};
use civicgrid_proto::v1::{
    Coverage, Finding, GetCoverageRequest, GetPresenceRequest, GetTrackRequest, PresenceReport, ReportFindingRequest,
    Role, Stop, TeamKind, TimeRange, Track, TrackPoint,
};
use tonic::{Request, Response, Status};

use super::{Answer, PatrolApi, listed_region, status, validate};
use crate::{
    convert::geo_point,
    domain::{fix::LastFix, geo::Point, trip::totals_between},
    store::{positions, region_prefix, shifts},
    usecase::{
        findings::{self, NewFinding},
        reports::{CoverageGroup, PresenceGroup, coverage, presence_report},
    },
};

/// True for a catalog item code: two to four dot-separated groups of 2 to 4 digits.
fn is_item_code(s: &str) -> bool {
    let groups: Vec<&str> = s.split('.').collect();
    (2..=4).contains(&groups.len())
        && groups.iter().all(|g| (2..=4).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()))
}

pub(super) async fn report_finding(api: &PatrolApi, request: Request<ReportFindingRequest>) -> Answer<Finding> {
    let caller = principal(&request)?;
    let authorization = request.metadata().get("authorization").cloned();
    let r = request.into_inner();
    let mut v = Violations::new();
    validate::request_id(&mut v, &r.request_id);
    let id = validate::uuid(&mut v, "shift_id", &r.shift_id);
    v.check(
        is_item_code(&r.item_code),
        "item_code",
        "must be 2 to 4 dot-separated groups of 2 to 4 digits, e.g. 01.02.003",
    );
    validate::text(&mut v, "description", &r.description, 5, 2_000);
    if r.point.is_some() {
        validate::geo_point(&mut v, "point", r.point.as_ref());
    }
    if !r.grid_code.is_empty() && region::path_of_grid(&r.grid_code).is_err() {
        v.add("grid_code", "must be a 15-digit grid code");
    }
    v.check(r.evidence_urls.len() <= 9, "evidence_urls", "at most 9 URLs");
    for (i, u) in r.evidence_urls.iter().enumerate() {
        let ok = (u.starts_with("http://") || u.starts_with("https://")) && u.len() <= 500;
        v.check(ok, &format!("evidence_urls[{i}]"), "must be an http or https URL of at most 500 characters");
    }
    v.into_result()?;
    let new = NewFinding {
        shift_id: id.unwrap_or_default(),
        item_code: r.item_code,
        description: r.description,
        point: r.point,
        grid_code: r.grid_code,
        evidence_urls: r.evidence_urls,
    };
    let finding = findings::report(&api.engine, &caller, authorization, &r.request_id, new)
        .await
        .map_err(|e| status("reporting a finding", e))?;
    Ok(Response::new(finding))
}

/// Whether `caller` may read `member`'s track: their own, or a manager over one of their teams.
async fn may_track(api: &PatrolApi, caller: &Principal, member: &str) -> bool {
    if caller.subject == member || (caller.role == Role::Admin && caller.region_scope.is_empty()) {
        return true;
    }
    if !matches!(caller.role, Role::Admin | Role::Center | Role::CountyCenter) {
        return false;
    }
    for t in api.engine.teams_of(member).await {
        if let Some(team) = api.engine.team(&t).await
            && caller.covers_code(&team.team.region_code)
        {
            return true;
        }
    }
    false
}

pub(super) async fn get_track(api: &PatrolApi, request: Request<GetTrackRequest>) -> Answer<Track> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    validate::text(&mut v, "member_id", &r.member_id, 1, 64);
    let (shift_id, period) = match (r.shift_id.is_empty(), r.period.is_some()) {
        (false, false) => (validate::uuid(&mut v, "shift_id", &r.shift_id), None),
        (true, true) => (None, validate::period(&mut v, "period", r.period.as_ref(), 7)),
        _ => {
            v.add("shift_id", "give either shift_id or period");
            (None, None)
        }
    };
    let size = match r.page_size {
        0 => 5_000,
        n @ 1..=20_000 => i64::from(n),
        _ => {
            v.add("page_size", "must be from 0 to 20000 (0 means 5000)");
            5_000
        }
    };
    let after: Option<i64> = if r.page_token.is_empty() {
        None
    } else {
        let t = decode_token::<i64>(&r.page_token);
        v.check(t.is_some(), "page_token", civicgrid_kit::grpc::paging::PAGE_TOKEN_RULE);
        t
    };
    v.into_result()?;
    if !may_track(api, &caller, &r.member_id).await {
        return Err(Status::permission_denied("the caller may not read this member's track"));
    }
    let pool = &api.core.pool;
    let (from, to): (DateTime<Utc>, DateTime<Utc>) = match (shift_id, period) {
        (Some(id), _) => {
            let row = shifts::get(pool, id).await.map_err(|e| store_status("reading a shift", e))?;
            let row = row.ok_or_else(|| Status::not_found("no such shift"))?;
            let start = row.started_at.unwrap_or(row.starts_at);
            (start, row.ended_at.unwrap_or(row.ends_at).max(start))
        }
        (None, Some(p)) => p,
        (None, None) => return Err(Status::invalid_argument("shift_id or period")),
    };
    let rows = positions::of_members(pool, std::slice::from_ref(&r.member_id), from, to)
        .await
        .map_err(|e| store_status("reading a track", e))?;
    let track: Vec<LastFix> = rows.iter().map(|p| LastFix { at: p.at, point: Point::new(p.lat, p.lng) }).collect();
    let totals = totals_between(&track, &api.core.settings.trip_rule(), from, to);
    let mut page: Vec<&LastFix> =
        track.iter().filter(|f| after.is_none_or(|a| f.at.timestamp_micros() > a)).take(size as usize + 1).collect();
    let more = page.len() as i64 > size;
    page.truncate(size as usize);
    let next_page_token = match page.last() {
        Some(last) if more => encode_token(&last.at.timestamp_micros()),
        _ => String::new(),
    };
    Ok(Response::new(Track {
        member_id: r.member_id,
        period: Some(TimeRange { from: Some(to_proto(from)), to: Some(to_proto(to)) }),
        points: page.iter().map(|f| TrackPoint { at: Some(to_proto(f.at)), point: Some(geo_point(f.point)) }).collect(),
        next_page_token,
        distance_m: totals.distance_m,
        moving_seconds: totals.moving.num_seconds(),
        stopped_seconds: totals.stopped.num_seconds(),
        stops: totals
            .stops
            .iter()
            .map(|s| Stop {
                start: Some(to_proto(s.start)),
                end: Some(to_proto(s.end)),
                duration_seconds: s.duration.num_seconds(),
                center: Some(geo_point(s.center)),
            })
            .collect(),
    }))
}

pub(super) async fn get_coverage(api: &PatrolApi, request: Request<GetCoverageRequest>) -> Answer<Coverage> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let period = validate::period(&mut v, "period", r.period.as_ref(), 366);
    let by = match r.group_by.as_str() {
        "" => Some(CoverageGroup::All),
        "shift" => Some(CoverageGroup::Shift),
        "route" => Some(CoverageGroup::Route),
        // A route given a grid code counts under its grid: "grid" names the same grouping.
        "region" | "grid" => Some(CoverageGroup::Region),
        "team" => Some(CoverageGroup::Team),
        "day" => Some(CoverageGroup::Day),
        _ => None,
    };
    v.check(by.is_some(), "group_by", "must be empty, shift, route, region, grid, team or day");
    v.into_result()?;
    let region = listed_region(&caller, &r.region_code)?;
    let (Some((from, to)), Some(by)) = (period, by) else { return Err(Status::invalid_argument("period")) };
    let rows = coverage(&api.core.pool, &region_prefix(&region), from, to, by, &api.core.settings.trip_rule())
        .await
        .map_err(|e| status("computing coverage", e))?;
    Ok(Response::new(Coverage { rows }))
}

pub(super) async fn get_presence(api: &PatrolApi, request: Request<GetPresenceRequest>) -> Answer<PresenceReport> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let day = NaiveDate::parse_from_str(&r.date, "%Y-%m-%d").ok().filter(|_| r.date.len() == 10);
    v.check(day.is_some(), "date", "must be a day, YYYY-MM-DD");
    let kind = match TeamKind::try_from(r.kind) {
        Ok(TeamKind::Unspecified) => Some(TeamKind::GridWorkers),
        Ok(k) => Some(k),
        Err(_) => None,
    };
    v.check(kind.is_some(), "kind", "must be a TeamKind");
    let by = match r.group_by.as_str() {
        "" => Some(PresenceGroup::All),
        "township" => Some(PresenceGroup::Township),
        "village" => Some(PresenceGroup::Village),
        _ => None,
    };
    v.check(by.is_some(), "group_by", "must be empty, township or village");
    v.into_result()?;
    let region = listed_region(&caller, &r.region_code)?;
    let (Some(day), Some(kind), Some(by)) = (day, kind, by) else { return Err(Status::invalid_argument("date")) };
    let report = presence_report(
        &api.core.pool,
        day,
        &region_prefix(&region),
        kind as i32,
        by,
        &api.core.settings.presence_rule(),
    )
    .await
    .map_err(|e| status("computing presence", e))?;
    Ok(Response::new(report))
}

#[cfg(test)]
mod tests {
    #[test]
    fn item_codes() {
        assert!(super::is_item_code("01.02.003"));
        assert!(super::is_item_code("06.01"));
        assert!(!super::is_item_code("6.01"));
        assert!(!super::is_item_code("01"));
    }
}
