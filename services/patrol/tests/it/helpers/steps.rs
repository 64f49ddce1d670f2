//! The workflow's calls: a patrol set up, shifts scheduled and started, fixes along a line.

use chrono::{DateTime, Duration, Utc};
use civicgrid_kit::time::to_proto;
use civicgrid_proto::v1::{GetShiftRequest, PositionFix, Route, ScheduleShiftRequest, Shift, ShiftRequest};

use super::{COUNTY, TestApp, at, authed, center, cp, fix, rid, route, team};

/// The route of most tests: three small checkpoints 500 m apart on a line going east.
pub fn line_route(id: &str, ordered: bool) -> Route {
    route(id, ordered, vec![cp("a", 0.0, 0.0, 30.0), cp("b", 500.0, 0.0, 30.0), cp("c", 1000.0, 0.0, 30.0)])
}

/// Fixes of `member` from `start`, one every `step` seconds, moving from `from` to `to` metres
/// east (north 0), `n` of them.
pub fn walk(member: &str, start: DateTime<Utc>, step: i64, from: f64, to: f64, n: usize) -> Vec<PositionFix> {
    (0..n)
        .map(|i| {
            let f = if n > 1 { i as f64 / (n - 1) as f64 } else { 0.0 };
            fix(member, start + Duration::seconds(step * i as i64), at(from + (to - from) * f, 0.0))
        })
        .collect()
}

impl TestApp {
    /// Team `t1` (members m1, m2) and `route`, put by the county's center.
    pub async fn setup(&self, r: Route) {
        let c = center(COUNTY);
        self.put_team(team("t1", &["m1", "m2"]), &c).await;
        self.put_route(r, &c).await;
    }

    /// Schedules team t1 on `route_id` for `[from, to)`.
    pub async fn schedule(&self, route_id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Shift {
        let r = ScheduleShiftRequest {
            request_id: rid(),
            team_id: "t1".into(),
            route_id: route_id.into(),
            starts_at: Some(to_proto(from)),
            ends_at: Some(to_proto(to)),
        };
        self.client.clone().schedule_shift(authed(r, &center(COUNTY))).await.expect("ScheduleShift").into_inner()
    }

    /// Member `token` starts shift `id`.
    pub async fn start(&self, id: &str, token: &str) -> Shift {
        let r = ShiftRequest { request_id: rid(), shift_id: id.into() };
        self.client.clone().start_shift(authed(r, token)).await.expect("StartShift").into_inner()
    }

    /// Shift `id` as the county's center sees it.
    pub async fn shift(&self, id: &str) -> Shift {
        let r = GetShiftRequest { shift_id: id.into() };
        self.client.clone().get_shift(authed(r, &center(COUNTY))).await.expect("GetShift").into_inner()
    }

    /// Publishes `fixes` on NATS, in order.
    pub async fn publish_all(&self, fixes: &[PositionFix]) {
        for f in fixes {
            self.publish_fix(f).await;
        }
    }

    /// How many positions are stored.
    pub async fn stored_positions(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM patrol.positions").fetch_one(&self.db).await.unwrap()
    }
}
