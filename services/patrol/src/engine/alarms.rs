//! The alarm round, run by the alarm job every `patrol.ticker_interval_ms` on the clock it is
//! given: for each active shift, the checkpoints whose window closed unvisited
//! (`checkpoint-missed`), the tour finished (`tour-completed`) or overdue (`tour-late`), the
//! members silent past `patrol.offline_after_secs` (`member-offline`), and the shift ended by
//! the service at its end (`shift-ended`). Active shifts are in memory, so a round costs no
//! query unless something fell due; what it changes is written in one transaction, with (every
//! few seconds) the progress of the shifts whose members only entered or left fences.

use uuid::Uuid;

use chrono::{DateTime, Utc};

use super::{
    Engine, Live, State, TeamInfo,
    facts::Facts,
    walk::{completed, finish},
};
use crate::{
    domain::{
        liveness::{self, Change},
        route::{is_complete, misses},
    },
    store::{StoreError, shifts},
    usecase::system_actor,
};

/// Marks missed the open checkpoints of `live` whose window closed by `upto`, each with a
/// `checkpoint-missed` at its window's end.
fn record_misses(live: &mut Live, team: &TeamInfo, facts: &mut Facts, upto: DateTime<Utc>, now: DateTime<Utc>) {
    let actor = system_actor();
    for cp in misses(&mut live.tour, &live.plan.route, &live.times, upto) {
        live.row.missed += 1;
        let closed = live
            .plan
            .route
            .position(&cp)
            .and_then(|k| live.plan.route.checkpoints().get(k))
            .map_or(upto, |c| c.window.bounds(&live.times).1);
        let name = live.plan.name_of(&cp);
        facts.shift("checkpoint-missed", &live.row, team, &live.plan.route_name, &actor, closed, now, |e| {
            e.checkpoint_id = cp;
            e.checkpoint_name = name;
        });
    }
}

/// How often the shifts whose members only entered or left fences are written: each write
/// of them all holds the engine (and so the ingest) for a moment.
const MOVED_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Engine {
    /// One round at the clock's now; returns how many shifts changed. `flush` writes the
    /// shifts left dirty by the ingest whatever the time since the last write of them.
    pub async fn alarm_round(&self, flush: bool) -> Result<usize, StoreError> {
        let core = self.core.clone();
        let mut st = self.lock().await?;
        let now = core.clock.now();
        let write_moved = flush || st.moved_written.is_none_or(|t| t.elapsed() >= MOVED_EVERY);
        let threshold = core.settings.offline_after();
        let actor = system_actor();
        let mut facts = Facts::default();
        let (mut changed, mut ended, mut moved): (Vec<Uuid>, Vec<Uuid>, Vec<Uuid>) = (vec![], vec![], vec![]);
        let State { teams, members, active, .. } = &mut *st;
        let nobody = TeamInfo::of(Default::default());
        for (id, live) in active.iter_mut() {
            let team = teams.get(&live.row.team_id).unwrap_or(&nobody);
            let before = (live.row.missed, live.row.tour_complete, live.row.late, live.offline.len());
            let ending = now >= live.row.ends_at;
            // Late is judged as of the due time: the checkpoints whose windows closed before it are
            // missed first, and what is still open at it makes the tour late.
            if let Some(due) = live.row.tour_due_at.filter(|d| *d <= now && !live.row.late && !live.row.tour_complete) {
                record_misses(live, team, &mut facts, due - chrono::Duration::microseconds(1), now);
                if is_complete(&live.tour, &live.plan.route) {
                    completed(live, team, &mut facts, now);
                } else {
                    live.row.late = true;
                    facts.shift("tour-late", &live.row, team, &live.plan.route_name, &actor, due, now, |_| {});
                }
            }
            record_misses(live, team, &mut facts, now, now);
            if ending {
                // What the end closes is said by shift-ended, not tour-completed.
                let at = live.row.ends_at;
                finish(live, team, &mut facts, &actor, None, at, now);
                ended.push(*id);
                continue;
            }
            completed(live, team, &mut facts, now);
            let span = liveness::Shift { start: live.times.started_at, end: live.row.ends_at };
            for m in &team.team.members {
                let last = members.get(&m.member_id).and_then(|x| x.last).map(|l| l.at);
                let marked = live.offline.contains(&m.member_id);
                if liveness::decide(last, now, threshold, marked, &span) == Some(Change::Offline) {
                    live.offline.insert(m.member_id.clone());
                    let since = last.map_or(span.start, |t| t.max(span.start));
                    facts.member(
                        "member-offline",
                        &live.row,
                        team,
                        &live.plan.route_name,
                        &m.member_id,
                        &actor,
                        since,
                        now,
                    );
                }
            }
            if before != (live.row.missed, live.row.tour_complete, live.row.late, live.offline.len()) {
                live.sync_row();
                changed.push(*id);
            } else if live.dirty && write_moved {
                live.sync_row();
                moved.push(*id);
            }
        }
        if changed.is_empty() && ended.is_empty() && moved.is_empty() {
            return Ok(0);
        }
        let written = async {
            let mut tx = core.pool.begin().await?;
            for id in changed.iter().chain(&ended) {
                if let Some(live) = st.active.get(id) {
                    shifts::save(&mut tx, &live.row).await?;
                }
            }
            let progress: Vec<_> = moved.iter().filter_map(|id| st.active.get(id)).map(|l| &l.row).collect();
            shifts::save_progress(&mut tx, &progress).await?;
            facts.outbox.insert(&mut tx).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await;
        if let Err(e) = written {
            st.stale = true;
            return Err(e);
        }
        for id in &ended {
            st.deactivate(*id);
        }
        if write_moved {
            st.moved_written = Some(std::time::Instant::now());
        }
        core.signal.wake();
        Ok(changed.len() + ended.len() + moved.len())
    }

    /// Active shifts and members online (reported within the offline threshold, not marked
    /// offline), for the metrics.
    pub async fn gauges(&self) -> (i64, i64) {
        let st = self.state.lock().await;
        let now = self.core.clock.now();
        let threshold = self.core.settings.offline_after();
        let mut online = std::collections::HashSet::new();
        for live in st.active.values() {
            let Some(team) = st.teams.get(&live.row.team_id) else { continue };
            for m in &team.team.members {
                let recent = st.members.get(&m.member_id).and_then(|x| x.last).is_some_and(|l| now - l.at < threshold);
                if recent && !live.offline.contains(&m.member_id) {
                    online.insert(m.member_id.as_str());
                }
            }
        }
        (st.active.len() as i64, online.len() as i64)
    }
}
