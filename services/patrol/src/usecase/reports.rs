//! Reports recomputed from what is stored: a member's track with its trip totals, coverage
//! per shift, route, region, team or day, and a day's presence (上线率). Nothing here is kept
//! as a running total, so a past period recomputes identically (within the positions'
//! retention).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use civicgrid_proto::v1::{CoverageRow, MemberPresence, PresenceReport, PresenceRow, Team};
use sqlx::PgPool;

use super::UseError;
use crate::{
    convert,
    domain::{
        coverage::{PresenceRule, online_rate, presence},
        fix::LastFix,
        geo::Point,
        index::{FenceIndex, IndexConfig},
        route::{TourState, local_date, local_instant},
        trip::{TripRule, totals_between},
    },
    store::{places, positions, positions::PositionRow, shifts, teams},
};

/// How presence rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PresenceGroup {
    /// One row for all.
    All,
    /// By the team's township.
    Township,
    /// By the team's village.
    Village,
    /// By the team's own region code (the presence-daily facts).
    TeamRegion,
}

fn group_key(team: &Team, by: PresenceGroup) -> String {
    let path = team.region.clone().unwrap_or_default();
    match by {
        PresenceGroup::All => String::new(),
        PresenceGroup::Township => path.township,
        PresenceGroup::Village => path.village,
        PresenceGroup::TeamRegion => team.region_code.clone(),
    }
}

/// The tracks of `members` in `[from, to]`, by member.
async fn tracks(
    pool: &PgPool,
    members: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<String, Vec<LastFix>>, UseError> {
    let rows: Vec<PositionRow> = positions::of_members(pool, members, from, to).await?;
    let mut out: HashMap<String, Vec<LastFix>> = HashMap::new();
    for r in rows {
        out.entry(r.member_id).or_default().push(LastFix { at: r.at, point: Point::new(r.lat, r.lng) });
    }
    Ok(out)
}

/// The presence of the members of teams of `kind` inside region `prefix` on local `day`.
pub async fn presence_report(
    pool: &PgPool,
    day: NaiveDate,
    prefix: &str,
    kind: i32,
    by: PresenceGroup,
    rule: &PresenceRule,
) -> Result<PresenceReport, UseError> {
    let teams = teams::list(pool, prefix, kind, None, i64::MAX).await?;
    let start = local_instant(day, NaiveTime::MIN);
    let end = start + chrono::Duration::days(1);
    let mut rows: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut members = Vec::new();
    // A team at a time: a city's day of positions never sits in memory at once.
    for team in &teams {
        let ids: Vec<String> = team.members.iter().map(|m| m.member_id.clone()).collect();
        let mut times: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
        for (member, at) in positions::times_of(pool, &ids, start - rule.offline_threshold, end).await? {
            times.entry(member).or_default().push(at);
        }
        for m in &team.members {
            let p = presence(times.get(&m.member_id).map(Vec::as_slice).unwrap_or_default(), day, rule);
            let row = rows.entry(group_key(team, by)).or_default();
            row.0 += 1;
            row.1 += i64::from(p.online);
            members.push(MemberPresence {
                member_id: m.member_id.clone(),
                name: m.name.clone(),
                team_id: team.id.clone(),
                online_minutes: i32::try_from(p.online_minutes()).unwrap_or(i32::MAX),
                online: p.online,
            });
        }
    }
    members.sort_by(|a, b| (&a.team_id, &a.member_id).cmp(&(&b.team_id, &b.member_id)));
    Ok(PresenceReport {
        date: day.format("%Y-%m-%d").to_string(),
        rows: rows
            .into_iter()
            .map(|(key, (n, online))| PresenceRow {
                key,
                members: n,
                online,
                online_rate: online_rate(online as usize, n as usize),
            })
            .collect(),
        members,
    })
}

/// How coverage rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CoverageGroup {
    /// One row for all.
    All,
    /// By shift.
    Shift,
    /// By route.
    Route,
    /// By the route's village (else its township, else county).
    Region,
    /// By team.
    Team,
    /// By local day of the start.
    Day,
}

/// Coverage of the shifts started in `[from, to)` inside region `prefix`.
pub async fn coverage(
    pool: &PgPool,
    prefix: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: CoverageGroup,
    trip: &TripRule,
) -> Result<Vec<CoverageRow>, UseError> {
    let rows = shifts::started_between(pool, prefix, from, to).await?;
    let team_ids: Vec<String> = rows.iter().map(|r| r.team_id.clone()).collect();
    let mut team_members: HashMap<String, Vec<String>> = HashMap::new();
    for id in team_ids {
        if !team_members.contains_key(&id)
            && let Some(t) = teams::get(pool, &id).await?
        {
            team_members.insert(id, t.members.iter().map(|m| m.member_id.clone()).collect());
        }
    }
    let index = FenceIndex::build(
        places::within(pool, prefix)
            .await?
            .into_iter()
            .filter_map(|p| Some((p.id.clone(), convert::fence(p.fence.as_ref()).ok()?))),
        IndexConfig::default(),
    );
    let mut out: BTreeMap<String, CoverageRow> = BTreeMap::new();
    for row in &rows {
        let (Some(started), Some(plan)) = (row.started_at, row.plan.as_ref()) else { continue };
        let end = row.ended_at.unwrap_or(row.ends_at).max(started);
        let tour = row.tour.as_ref().map(|t| t.0.clone()).unwrap_or_else(|| TourState::new(&plan.0.route));
        let cov = crate::domain::coverage::coverage(&tour, &plan.0.route);
        let members = team_members.get(&row.team_id).cloned().unwrap_or_default();
        let tracks = tracks(pool, &members, started, end).await?;
        let (mut distance, mut in_places) = (0.0, 0i64);
        for track in tracks.values() {
            distance += totals_between(track, trip, started, end).distance_m;
            in_places += seconds_in_places(track, &index);
        }
        let key = match by {
            CoverageGroup::All => String::new(),
            CoverageGroup::Shift => row.id.to_string(),
            CoverageGroup::Route => row.route_id.clone(),
            CoverageGroup::Region => row.region_code.clone(),
            CoverageGroup::Team => row.team_id.clone(),
            CoverageGroup::Day => local_date(started).format("%Y-%m-%d").to_string(),
        };
        let r = out.entry(key.clone()).or_insert_with(|| CoverageRow { key, ..Default::default() });
        r.shifts += 1;
        r.checkpoints += cov.total as i64;
        r.checked_in += cov.on_time as i64;
        r.missed += cov.missed as i64;
        r.late_tours += i64::from(row.late);
        r.key_place_seconds += in_places;
        r.distance_m += distance;
    }
    Ok(out
        .into_values()
        .map(|mut r| {
            r.share_on_time = if r.checkpoints == 0 { 0.0 } else { r.checked_in as f64 / r.checkpoints as f64 };
            r
        })
        .collect())
}

/// Seconds of a track spent inside key places: for each segment between two fixes, the part
/// of it inside each place it crosses (moving at constant speed along it).
fn seconds_in_places(track: &[LastFix], index: &FenceIndex<String>) -> i64 {
    let mut scratch = Vec::new();
    let mut micros = 0f64;
    for w in track.windows(2) {
        let (a, b) = (w[0], w[1]);
        let span = (b.at - a.at).num_microseconds().unwrap_or(0) as f64;
        index.for_each_crossing(a.point, b.point, &mut scratch, |_, _, _, x| {
            micros += x.spans().iter().map(|s| (s.to - s.from) * span).sum::<f64>();
        });
    }
    (micros / 1e6).round() as i64
}

/// Today's local date at `now`.
pub fn today(now: DateTime<Utc>) -> NaiveDate {
    local_date(now)
}
