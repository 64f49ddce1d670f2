//! A batch of fixes, from the positions feed or SendPositions: each is checked (the member,
//! the device, `domain::fix`), becomes the member's last fix and advances the tours of the
//! member's active shifts (`domain::route::advance`) — all in memory — and the batch is
//! written in one transaction: the accepted fixes (one multi-row insert that skips a fix
//! already stored, so a redelivery applies nothing twice), the check-ins, the progress of the
//! shifts with a check-in or a liveness change, and their facts. A shift whose members only
//! entered or left fences is marked dirty and written by the alarm round every few seconds:
//! one row update per shift then, instead of one per batch.

use std::{
    collections::{BTreeMap, HashSet},
    time::Instant,
};

use chrono::{DateTime, Utc};
use civicgrid_kit::time::from_proto;
use civicgrid_proto::v1::PositionFix;
use uuid::Uuid;

use super::{Engine, Live, State, TeamInfo, facts::Facts, walk::completed};
use crate::{
    domain::{
        fix::{LastFix, Limits, Reject, validate_parts},
        geo::Point,
        liveness::{self, Change},
        route::{TourEvent, advance},
    },
    engine::facts::method,
    store::{StoreError, check_ins::NewCheckIns, positions::NewPositions, shifts, shifts::ShiftRow},
    usecase::system_actor,
};

/// What became of a batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    /// Fixes accepted and stored.
    pub accepted: u64,
    /// Fixes rejected, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
}

impl Summary {
    /// Adds another batch's figures.
    pub fn add(&mut self, other: &Summary) {
        self.accepted += other.accepted;
        for (r, n) in &other.rejected {
            *self.rejected.entry(r).or_default() += n;
        }
    }
}

/// What a batch writes.
#[derive(Default)]
struct Writes {
    positions: NewPositions,
    check_ins: NewCheckIns,
    facts: Facts,
    changed: HashSet<Uuid>,
}

/// The batch's fixed inputs.
struct Round {
    now: DateTime<Utc>,
    limits: Limits,
    threshold: chrono::Duration,
}

fn apply(
    st: &mut State,
    round: &Round,
    f: &PositionFix,
    w: &mut Writes,
    metrics: &crate::metrics::PatrolMetrics,
) -> Result<(), &'static str> {
    let (Some(ts), Some(p)) = (f.at.as_ref(), f.point.as_ref()) else { return Err("malformed") };
    let at = from_proto(ts).ok_or("malformed")?;
    let State { teams, members, active, by_team, .. } = st;
    let member = members.get_mut(&f.member_id).filter(|m| !m.teams.is_empty()).ok_or("unknown_member")?;
    if f.device_id.contains('\0') {
        return Err("malformed");
    }
    if !member.uses(&f.device_id) {
        return Err("device");
    }
    let point = Point::new(p.latitude, p.longitude);
    // 0 means the device gave no estimate.
    let accuracy = (f.accuracy_m != 0.0).then_some(f.accuracy_m);
    match validate_parts(at, point, accuracy, member.last.as_ref(), round.now, &round.limits) {
        Ok(()) => {}
        // Older than the member's last fix: a device that buffered while it had no network,
        // or a fix redelivered after a crash behind newer ones. It belongs in the track
        // (checked on its own; an exact repeat is ignored by the insert) but moves nothing:
        // not the last fix, not the tour.
        Err(Reject::OutOfOrder) if member.last.is_some_and(|l| at < l.at) => {
            validate_parts(at, point, accuracy, None, round.now, &round.limits).map_err(|r| r.as_str())?;
            w.positions.push(&f.member_id, at, &f.device_id, point.lat, point.lng, f.accuracy_m, f.speed_mps);
            return Ok(());
        }
        Err(r) => return Err(r.as_str()),
    }
    let fix = LastFix { at, point };
    let prev = member.last.replace(fix);
    w.positions.push(&f.member_id, at, &f.device_id, point.lat, point.lng, f.accuracy_m, f.speed_mps);
    for team_id in &member.teams {
        let Some(team) = teams.get(team_id) else { continue };
        for sid in by_team.get(team_id).map(Vec::as_slice).unwrap_or_default() {
            let Some(live) = active.get_mut(sid) else { continue };
            if at < live.times.started_at {
                continue;
            }
            walk_fix(live, team, &f.member_id, prev, fix, round, w, metrics);
        }
    }
    Ok(())
}

/// One accepted fix on one active shift.
#[allow(clippy::too_many_arguments)]
fn walk_fix(
    live: &mut Live,
    team: &TeamInfo,
    member: &str,
    prev: Option<LastFix>,
    fix: LastFix,
    round: &Round,
    w: &mut Writes,
    metrics: &crate::metrics::PatrolMetrics,
) {
    let id = live.row.id;
    let span = liveness::Shift { start: live.times.started_at, end: live.row.ends_at };
    if live.offline.contains(member)
        && liveness::decide(Some(fix.at), round.now, round.threshold, true, &span) == Some(Change::Online)
    {
        live.offline.remove(member);
        w.facts.member(
            "member-online",
            &live.row,
            team,
            &live.plan.route_name,
            member,
            &system_actor(),
            fix.at,
            round.now,
        );
        w.changed.insert(id);
    }
    let prev = prev.filter(|p| p.at >= live.times.started_at);
    let events = advance(&mut live.tour, &live.plan.route, &live.times, member, prev.as_ref(), fix);
    if events.is_empty() {
        return;
    }
    // Entries and exits only move who is inside: written by the alarm round every few seconds
    // (or at the stop), not by every batch. A check-in is written with its batch.
    live.dirty = true;
    for e in events {
        if let TourEvent::CheckedIn { checkpoint, at, member, how } = e {
            w.changed.insert(id);
            w.check_ins.push(id, &checkpoint, &member, at, method(how) as i32, "");
            metrics.checked_in(how.as_str());
            let name = live.plan.name_of(&checkpoint);
            let member_name = team.member_name(&member);
            let actor = member_actor(team, &member);
            w.facts.shift(
                "checkpoint-checked-in",
                &live.row,
                team,
                &live.plan.route_name,
                &actor,
                at,
                round.now,
                |e| {
                    e.member_id = member;
                    e.member_name = member_name;
                    e.checkpoint_id = checkpoint;
                    e.checkpoint_name = name;
                    e.method = method(how) as i32;
                },
            );
        }
    }
    completed(live, team, &mut w.facts, round.now);
}

/// The member as the actor of what their positions did.
fn member_actor(team: &TeamInfo, member: &str) -> civicgrid_proto::v1::Actor {
    let role = if team.team.kind == civicgrid_proto::v1::TeamKind::GridWorkers as i32 {
        civicgrid_proto::v1::Role::GridWorker
    } else {
        civicgrid_proto::v1::Role::PatrolMember
    };
    civicgrid_proto::v1::Actor { subject: member.to_owned(), role: role as i32, ..Default::default() }
}

impl Engine {
    /// Applies `fixes` and writes them in one transaction; the summary counts what was
    /// accepted and rejected. On a failed write nothing is counted and the engine reloads.
    pub async fn ingest(&self, fixes: &[PositionFix]) -> Result<Summary, StoreError> {
        let started = Instant::now();
        let core = self.core.clone();
        let mut st = self.lock().await?;
        let round =
            Round { now: core.clock.now(), limits: core.settings.limits(), threshold: core.settings.offline_after() };
        let mut w = Writes::default();
        let mut summary = Summary::default();
        for f in fixes {
            match apply(&mut st, &round, f, &mut w, &core.metrics) {
                Ok(()) => summary.accepted += 1,
                Err(reason) => *summary.rejected.entry(reason).or_default() += 1,
            }
        }
        for id in &w.changed {
            if let Some(live) = st.active.get_mut(id) {
                live.sync_row();
            }
        }
        let has_facts = !w.facts.outbox.is_empty();
        let rows: Vec<&ShiftRow> = w.changed.iter().filter_map(|id| st.active.get(id)).map(|l| &l.row).collect();
        let nothing = w.positions.is_empty() && rows.is_empty() && !has_facts;
        let written = async {
            if nothing {
                return Ok(());
            }
            let mut tx = core.pool.begin().await?;
            w.positions.insert(&mut tx).await?;
            w.check_ins.insert(&mut tx).await?;
            shifts::save_progress(&mut tx, &rows).await?;
            w.facts.outbox.insert(&mut tx).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await;
        drop(rows);
        if let Err(e) = written {
            st.stale = true;
            return Err(e);
        }
        drop(st);
        if has_facts {
            core.signal.wake();
        }
        core.metrics.accepted(summary.accepted);
        for (reason, n) in &summary.rejected {
            core.metrics.rejected(reason, *n);
        }
        core.metrics.batch_took(started.elapsed().as_secs_f64());
        Ok(summary)
    }
}
