//! The engine: the hot state of the running service, in memory, behind one async lock.
//!
//! It holds every team (members and their devices), each member's last accepted fix, and
//! every active shift with its plan and tour progress, so that a fix costs no query: an
//! ingest batch is validated and applied in memory and written in one transaction. Every
//! change of an active shift goes through the engine (ingest, manual check-ins, start and end,
//! the alarm job) while it holds the lock, and is written before the lock is released, so the
//! rows always follow memory in order. When a write fails the memory may be ahead of the
//! database: the engine is marked stale and reloaded from the database before its next use.
//!
//! - [`ingest`]: a batch of fixes (from the NATS feed or SendPositions);
//! - [`walk`]: starting and ending a shift, a manual check-in;
//! - [`alarms`]: the alarm round (misses, late tours, offline members, shifts ended at their end);
//! - [`facts`]: the `PatrolEvent`s the engine publishes.

pub mod alarms;
pub mod facts;
pub mod ingest;
pub mod walk;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use civicgrid_proto::v1::{RegionPath, Team};
use sqlx::types::Json;
use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

use crate::{
    convert::Plan,
    core::Core,
    domain::{
        fix::LastFix,
        geo::Point,
        route::{TourState, TourTimes},
    },
    store::{StoreError, positions, shifts, shifts::ShiftRow, teams},
};

/// A team as the engine needs it.
#[derive(Debug, Clone)]
pub struct TeamInfo {
    /// The team.
    pub team: Team,
    /// Its region path.
    pub region: RegionPath,
}

impl TeamInfo {
    /// The team with its region path.
    pub fn of(team: Team) -> Self {
        let region = team.region.clone().unwrap_or_default();
        TeamInfo { team, region }
    }

    /// A member's name in this team.
    pub fn member_name(&self, member: &str) -> String {
        self.team.members.iter().find(|m| m.member_id == member).map(|m| m.name.clone()).unwrap_or_default()
    }

    /// Whether `member` belongs to the team.
    pub fn has_member(&self, member: &str) -> bool {
        self.team.members.iter().any(|m| m.member_id == member)
    }
}

/// A member as the engine knows them.
#[derive(Debug, Clone, Default)]
pub struct Member {
    /// Their teams.
    pub teams: Vec<String>,
    /// Their devices across their teams; `None` when a team lists none for them (any device).
    pub devices: Option<HashSet<String>>,
    /// Their last accepted fix.
    pub last: Option<LastFix>,
}

impl Member {
    /// Whether a fix from `device` is theirs.
    pub fn uses(&self, device: &str) -> bool {
        self.devices.as_ref().is_none_or(|d| d.contains(device))
    }
}

/// An active shift.
#[derive(Debug, Clone)]
pub struct Live {
    /// Its row, kept current.
    pub row: ShiftRow,
    /// What it walks.
    pub plan: Arc<Plan>,
    /// Its windows' reference instants.
    pub times: TourTimes,
    /// Progress.
    pub tour: TourState,
    /// Members marked offline.
    pub offline: HashSet<String>,
    /// Progress changed in memory (who is inside) and not yet written.
    pub dirty: bool,
}

impl Live {
    /// An active shift from its row; `None` when the row lacks its plan (never written so).
    pub fn of(row: ShiftRow) -> Option<Live> {
        let plan = Arc::new(row.plan.as_ref()?.0.clone());
        let started_at = row.started_at?;
        let tour = row.tour.as_ref().map(|t| t.0.clone()).unwrap_or_else(|| TourState::new(&plan.route));
        let times = TourTimes { started_at, shift_start: row.starts_at, shift_end: row.ends_at };
        let offline = row.offline.iter().cloned().collect();
        Some(Live { row, plan, times, tour, offline, dirty: false })
    }

    /// Copies the progress into the row, raising its version; the row is then to be written.
    pub fn sync_row(&mut self) {
        self.dirty = false;
        self.row.tour = Some(Json(self.tour.clone()));
        let mut offline: Vec<String> = self.offline.iter().cloned().collect();
        offline.sort();
        self.row.offline = offline;
        self.row.next_due_at = crate::domain::route::next_due(&self.tour, &self.plan.route, &self.times)
            .into_iter()
            .chain(self.row.tour_due_at.filter(|_| !self.row.tour_complete && !self.row.late))
            .chain([self.row.ends_at])
            .min();
        self.row.version += 1;
    }
}

/// The engine's state.
#[derive(Debug, Default)]
pub struct State {
    /// Every team by id.
    pub teams: HashMap<String, TeamInfo>,
    /// Every member by id.
    pub members: HashMap<String, Member>,
    /// Active shifts by id.
    pub active: HashMap<Uuid, Live>,
    /// Active shifts by team.
    pub by_team: HashMap<String, Vec<Uuid>>,
    /// Memory may be ahead of the database: reload before use.
    pub stale: bool,
    /// When the alarm round last wrote the shifts the ingest left dirty.
    pub moved_written: Option<std::time::Instant>,
}

impl State {
    /// Puts a team in (or replaces it), keeping its members' last fixes.
    pub fn put_team(&mut self, team: Team) {
        let mut touched: Vec<String> = team.members.iter().map(|m| m.member_id.clone()).collect();
        if let Some(old) = self.teams.get(&team.id) {
            for m in &old.team.members {
                if let Some(member) = self.members.get_mut(&m.member_id) {
                    member.teams.retain(|t| t != &team.id);
                }
                touched.push(m.member_id.clone());
            }
        }
        for m in &team.members {
            let member = self.members.entry(m.member_id.clone()).or_default();
            if !member.teams.contains(&team.id) {
                member.teams.push(team.id.clone());
            }
        }
        self.teams.insert(team.id.clone(), TeamInfo::of(team));
        for id in touched {
            self.refresh_devices(&id);
        }
    }

    /// Recomputes a member's devices from their teams.
    fn refresh_devices(&mut self, id: &str) {
        let Some(member) = self.members.get(id) else { return };
        let mut devices = Some(HashSet::new());
        for t in member.teams.iter().filter_map(|t| self.teams.get(t)) {
            for m in t.team.members.iter().filter(|m| m.member_id == id) {
                match (&mut devices, m.device_ids.is_empty()) {
                    (_, true) => devices = None,
                    (Some(set), false) => set.extend(m.device_ids.iter().cloned()),
                    (None, false) => {}
                }
            }
            if devices.is_none() {
                break;
            }
        }
        if let Some(member) = self.members.get_mut(id) {
            member.devices = devices;
        }
    }

    /// Adds an active shift.
    pub fn activate(&mut self, live: Live) {
        let ids = self.by_team.entry(live.row.team_id.clone()).or_default();
        if !ids.contains(&live.row.id) {
            ids.push(live.row.id);
        }
        self.active.insert(live.row.id, live);
    }

    /// Removes a shift that ended.
    pub fn deactivate(&mut self, id: Uuid) {
        if let Some(live) = self.active.remove(&id)
            && let Some(ids) = self.by_team.get_mut(&live.row.team_id)
        {
            ids.retain(|s| *s != id);
        }
    }
}

/// The engine.
pub struct Engine {
    core: Arc<Core>,
    state: Mutex<State>,
}

impl Engine {
    /// Loads the engine's state from the database.
    pub async fn load(core: Arc<Core>) -> Result<Engine, StoreError> {
        let engine = Engine { core, state: Mutex::new(State::default()) };
        {
            let mut st = engine.state.lock().await;
            engine.reload(&mut st).await?;
        }
        Ok(engine)
    }

    /// The shared parts.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Reads everything anew.
    async fn reload(&self, st: &mut State) -> Result<(), StoreError> {
        let pool = &self.core.pool;
        let mut fresh = State::default();
        for team in teams::all(pool).await? {
            fresh.put_team(team);
        }
        let since = self.core.clock.now() - self.core.settings.limits().max_age;
        let ids: Vec<String> = fresh.members.keys().cloned().collect();
        for p in positions::last_fixes(pool, &ids, since).await? {
            let fix = LastFix { at: p.at, point: Point::new(p.lat, p.lng) };
            fresh.members.entry(p.member_id).or_default().last = Some(fix);
        }
        for row in shifts::active(pool).await? {
            match Live::of(row) {
                Some(live) => fresh.activate(live),
                None => tracing::error!("an active shift without its plan; skipped"),
            }
        }
        *st = fresh;
        Ok(())
    }

    /// The state, reloaded first if a write failed since.
    pub async fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let mut st = self.state.lock().await;
        if st.stale {
            self.reload(&mut st).await?;
        }
        Ok(st)
    }

    /// The teams `member` belongs to.
    pub async fn teams_of(&self, member: &str) -> Vec<String> {
        self.state.lock().await.members.get(member).map(|m| m.teams.clone()).unwrap_or_default()
    }

    /// The last accepted fix of `member`.
    pub async fn last_fix(&self, member: &str) -> Option<LastFix> {
        self.state.lock().await.members.get(member).and_then(|m| m.last)
    }

    /// The team `id` as the engine knows it.
    pub async fn team(&self, id: &str) -> Option<TeamInfo> {
        self.state.lock().await.teams.get(id).cloned()
    }

    /// Puts a team that was just stored.
    pub async fn put_team(&self, team: Team) {
        self.state.lock().await.put_team(team);
    }
}

#[cfg(test)]
mod tests {
    use civicgrid_proto::v1::TeamMember;

    use super::*;

    fn team(id: &str, devices: &[&str]) -> Team {
        Team {
            id: id.into(),
            members: vec![TeamMember {
                member_id: "m1".into(),
                name: "一".into(),
                leader: false,
                device_ids: devices.iter().map(|d| (*d).to_string()).collect(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_members_devices_follow_their_teams() {
        let mut st = State::default();
        st.put_team(team("t1", &["phone-1"]));
        assert!(st.members["m1"].uses("phone-1"));
        assert!(!st.members["m1"].uses("phone-2"));
        st.put_team(team("t2", &["phone-2"]));
        assert!(st.members["m1"].uses("phone-2"));
        st.put_team(team("t2", &[]));
        assert!(st.members["m1"].uses("anything"), "a team listing no device accepts any");
        st.put_team(Team { id: "t2".into(), ..Default::default() });
        assert!(!st.members["m1"].uses("anything"));
        assert_eq!(st.members["m1"].teams, vec!["t1"]);
    }
}
