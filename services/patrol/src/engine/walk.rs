//! A shift walked: started by a member of its team (its plan fixed then), ended by a member
//! (or a manager, or the alarm round at its end), and checked in by hand near a checkpoint.
//! Each call works on a copy of the shift under the engine's lock, writes it, and puts the
//! copy in only after the commit, so a failed write leaves memory as the database is.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use civicgrid_kit::auth::Principal;
use civicgrid_proto::v1::{CheckInMethod, Role, Shift};
use sqlx::types::Json;
use uuid::Uuid;

use super::{Engine, Live, State, facts::Facts};
use crate::{
    domain::route::{ManualCheckIn, ManualRefusal, TourEvent, TourState, TourTimes, manual_check_in},
    store::{
        check_ins::NewCheckIns,
        routes,
        shifts::{self, ACTIVE, ENDED, SCHEDULED},
    },
    usecase::{Claimed, UseError, answer, claim, shifts::plan_of, shifts::read_one},
};

/// Whether `caller` may walk shifts of `team_id` (a member of the team, or an administrator
/// whose scope covers the team).
fn walker(st: &State, caller: &Principal, team_id: &str) -> bool {
    st.teams
        .get(team_id)
        .is_some_and(|t| t.has_member(&caller.subject) || (caller.role == Role::Admin && caller.covers(&t.region, "")))
}

/// Whether `caller` manages shifts in `region_code` (a center in scope, or an administrator).
fn manager(caller: &Principal, region_code: &str) -> bool {
    matches!(caller.role, Role::Admin | Role::Center) && caller.covers_code(region_code)
}

impl Engine {
    /// A member starts shift `id`.
    pub async fn start(&self, caller: &Principal, request_id: &str, id: Uuid) -> Result<Shift, UseError> {
        let core = self.core.clone();
        let mut st = self.lock().await?;
        let now = core.clock.now();
        let mut tx = match claim(&core.pool, &caller.subject, request_id).await? {
            Claimed::Answered(s) => return Ok(s),
            Claimed::Fresh(tx) => tx,
        };
        let mut row = shifts::lock(&mut tx, id).await?.ok_or_else(|| UseError::NotFound("no such shift".into()))?;
        if !walker(&st, caller, &row.team_id) {
            return Err(UseError::Denied("only a member of the shift's team may start it".into()));
        }
        if row.state != SCHEDULED {
            return Err(UseError::Precondition(format!("the shift is {}, not scheduled", row.state)));
        }
        if now < row.starts_at || now >= row.ends_at {
            return Err(UseError::Precondition(format!(
                "the shift may start from {} until {}",
                row.starts_at.to_rfc3339(),
                row.ends_at.to_rfc3339()
            )));
        }
        let route = routes::get(&mut *tx, &row.route_id)
            .await?
            .ok_or_else(|| UseError::NotFound("the shift's route is gone".into()))?;
        let plan = plan_of(&mut tx, &route).await?;
        let due = (now + chrono::Duration::minutes(i64::from(plan.tour_minutes))).min(row.ends_at);
        row.state = ACTIVE.into();
        row.started_at = Some(now);
        row.started_by = caller.subject.clone();
        row.route_version = route.version;
        row.tour_due_at = Some(due);
        row.tour = Some(Json(TourState::new(&plan.route)));
        row.plan = Some(Json(plan.clone()));
        let mut live = Live {
            times: TourTimes { started_at: now, shift_start: row.starts_at, shift_end: row.ends_at },
            tour: TourState::new(&plan.route),
            plan: Arc::new(plan),
            offline: Default::default(),
            dirty: false,
            row,
        };
        live.sync_row();
        shifts::save(&mut tx, &live.row).await?;
        let mut facts = Facts::default();
        if let Some(team) = st.teams.get(&live.row.team_id) {
            let (who, name) = (caller.subject.clone(), team.member_name(&caller.subject));
            facts.shift("shift-started", &live.row, team, &live.plan.route_name, &caller.actor(), now, now, |e| {
                e.member_id = who;
                e.member_name = name;
            });
        }
        facts.outbox.insert(&mut tx).await?;
        let shift = read_one(&mut tx, &live.row).await?;
        let shift = answer(tx, &core.signal, &caller.subject, request_id, shift).await?;
        st.activate(live);
        Ok(shift)
    }

    /// A member (or a manager) ends shift `id`: what was not visited is missed.
    pub async fn end(&self, caller: &Principal, request_id: &str, id: Uuid) -> Result<Shift, UseError> {
        let core = self.core.clone();
        let mut st = self.lock().await?;
        let now = core.clock.now();
        let mut tx = match claim(&core.pool, &caller.subject, request_id).await? {
            Claimed::Answered(s) => return Ok(s),
            Claimed::Fresh(tx) => tx,
        };
        let row = shifts::lock(&mut tx, id).await?.ok_or_else(|| UseError::NotFound("no such shift".into()))?;
        if !walker(&st, caller, &row.team_id) && !manager(caller, &row.region_code) {
            return Err(UseError::Denied("only a member of the shift's team or a center may end it".into()));
        }
        let Some(mut live) = st.active.get(&id).cloned().filter(|_| row.state == ACTIVE) else {
            return Err(UseError::Precondition(format!("the shift is {}, not active", row.state)));
        };
        let mut facts = Facts::default();
        let team = st.teams.get(&live.row.team_id).cloned().unwrap_or_else(|| super::TeamInfo::of(Default::default()));
        finish(&mut live, &team, &mut facts, &caller.actor(), Some(&caller.subject), now, now);
        shifts::save(&mut tx, &live.row).await?;
        facts.outbox.insert(&mut tx).await?;
        let shift = read_one(&mut tx, &live.row).await?;
        let shift = answer(tx, &core.signal, &caller.subject, request_id, shift).await?;
        st.deactivate(id);
        Ok(shift)
    }

    /// The calling member checks checkpoint `checkpoint` of shift `id` in by hand.
    pub async fn check_in(
        &self,
        caller: &Principal,
        request_id: &str,
        id: Uuid,
        checkpoint: &str,
        how: CheckInMethod,
        evidence: &str,
    ) -> Result<Shift, UseError> {
        let core = self.core.clone();
        let mut st = self.lock().await?;
        let now = core.clock.now();
        let mut tx = match claim(&core.pool, &caller.subject, request_id).await? {
            Claimed::Answered(s) => return Ok(s),
            Claimed::Fresh(tx) => tx,
        };
        let row = shifts::get(&mut *tx, id).await?.ok_or_else(|| UseError::NotFound("no such shift".into()))?;
        if !st.teams.get(&row.team_id).is_some_and(|t| t.has_member(&caller.subject)) {
            return Err(UseError::Denied("only a member of the shift's team may check in".into()));
        }
        let Some(mut live) = st.active.get(&id).cloned() else {
            return Err(UseError::Precondition(format!("the shift is {}, not active", row.state)));
        };
        let position = st.members.get(&caller.subject).and_then(|m| m.last);
        let request = ManualCheckIn { checkpoint, member: &caller.subject, position: position.as_ref(), now };
        let rule = core.settings.manual_rule();
        let event =
            manual_check_in(&mut live.tour, &live.plan.route, &live.times, &request, &rule).map_err(|e| match e {
                ManualRefusal::UnknownCheckpoint => {
                    UseError::NotFound(format!("the route has no checkpoint `{checkpoint}`"))
                }
                e => UseError::Precondition(format!("{}: {e}", e.as_str())),
            })?;
        let team = st.teams.get(&live.row.team_id).cloned().unwrap_or_else(|| super::TeamInfo::of(Default::default()));
        let mut facts = Facts::default();
        let mut rows = NewCheckIns::default();
        if let TourEvent::CheckedIn { checkpoint, at, member, .. } = &event {
            rows.push(id, checkpoint, member, *at, how as i32, evidence);
            let name = live.plan.name_of(checkpoint);
            let member_name = team.member_name(member);
            facts.shift(
                "checkpoint-checked-in",
                &live.row,
                &team,
                &live.plan.route_name,
                &caller.actor(),
                *at,
                now,
                |e| {
                    e.member_id = member.clone();
                    e.member_name = member_name;
                    e.checkpoint_id = checkpoint.clone();
                    e.checkpoint_name = name;
                    e.method = how as i32;
                },
            );
            core.metrics.checked_in(if how == CheckInMethod::Photo { "photo" } else { "qr_code" });
        }
        completed(&mut live, &team, &mut facts, now);
        live.sync_row();
        rows.insert(&mut tx).await?;
        shifts::save(&mut tx, &live.row).await?;
        facts.outbox.insert(&mut tx).await?;
        let shift = read_one(&mut tx, &live.row).await?;
        let shift = answer(tx, &core.signal, &caller.subject, request_id, shift).await?;
        st.activate(live);
        Ok(shift)
    }
}

/// Publishes `tour-completed` once every checkpoint is checked in or missed.
pub fn completed(live: &mut Live, team: &super::TeamInfo, facts: &mut Facts, now: DateTime<Utc>) {
    if !live.row.tour_complete && crate::domain::route::is_complete(&live.tour, &live.plan.route) {
        live.row.tour_complete = true;
        let actor = crate::usecase::system_actor();
        facts.shift("tour-completed", &live.row, team, &live.plan.route_name, &actor, now, now, |_| {});
    }
}

/// Ends `live` at `at`: open checkpoints missed (each a `checkpoint-missed`), then
/// `shift-ended` with the number missed.
pub fn finish(
    live: &mut Live,
    team: &super::TeamInfo,
    facts: &mut Facts,
    actor: &civicgrid_proto::v1::Actor,
    member: Option<&str>,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    let route = live.plan.route.clone();
    for (k, cp) in route.checkpoints().iter().enumerate() {
        if let Some(cs) = live.tour.checkpoints.get_mut(k)
            && cs.is_open()
        {
            cs.missed = true;
            live.row.missed += 1;
            let name = live.plan.names.get(k).cloned().unwrap_or_default();
            facts.shift("checkpoint-missed", &live.row, team, &live.plan.route_name, actor, at, now, |e| {
                e.checkpoint_id = cp.id.clone();
                e.checkpoint_name = name;
            });
        }
    }
    live.row.tour_complete = true;
    live.row.state = ENDED.into();
    live.row.ended_at = Some(at);
    live.sync_row();
    live.row.next_due_at = None;
    facts.shift("shift-ended", &live.row, team, &live.plan.route_name, actor, at, now, |e| {
        if let Some(m) = member {
            e.member_id = m.to_owned();
            e.member_name = team.member_name(m);
        }
    });
}
