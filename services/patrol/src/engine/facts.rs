//! The facts patrol publishes: one `PatrolEvent` each, with what a recipient needs to act
//! without asking back (the team's name, unit and supervisors, the route's name, the region
//! path, the member's name, the checkpoint's name), written to the outbox in the transaction
//! of the change. Shift facts go on the route's region, member facts on the team's.

use chrono::{DateTime, Utc};
use civicgrid_contracts::patrol::FACTS;
use civicgrid_kit::{
    bus::{Envelope, OutboxBatch},
    time::to_proto,
};
use civicgrid_proto::v1::{Actor, CheckInMethod, PatrolEvent, RegionPath};

use super::TeamInfo;
use crate::{SERVICE, domain::route::How, store::shifts::ShiftRow};

/// The method of a check-in as the contract names it; a manual one is a scanned code unless
/// the request said photo.
pub fn method(how: How) -> CheckInMethod {
    match how {
        How::Inside => CheckInMethod::Inside,
        How::Crossing => CheckInMethod::Crossing,
        How::Manual => CheckInMethod::QrCode,
    }
}

/// The region path of a shift's route.
pub fn shift_region(row: &ShiftRow) -> RegionPath {
    crate::area::path(&row.region_code).unwrap_or_default()
}

/// Facts collected during a change, written with it.
#[derive(Debug, Default)]
pub struct Facts {
    /// The outbox rows.
    pub outbox: OutboxBatch,
}

impl Facts {
    /// Adds `event` about `aggregate` on `region`.
    pub fn add(
        &mut self,
        fact: &'static str,
        event: PatrolEvent,
        region: &RegionPath,
        aggregate: &str,
        now: DateTime<Utc>,
    ) {
        let envelope = Envelope::family(&FACTS, fact, region, aggregate, &event);
        self.outbox.add(SERVICE, &envelope, now);
    }

    /// A fact about shift `row` of `team`, walking route `route_name`, on the route's region.
    #[allow(clippy::too_many_arguments)]
    pub fn shift(
        &mut self,
        fact: &'static str,
        row: &ShiftRow,
        team: &TeamInfo,
        route_name: &str,
        actor: &Actor,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        fill: impl FnOnce(&mut PatrolEvent),
    ) {
        let region = shift_region(row);
        let mut event = base(fact, row, team, route_name, actor, at);
        event.region = Some(region.clone());
        fill(&mut event);
        self.add(fact, event, &region, &row.id.to_string(), now);
    }

    /// A fact about `member` of `team` on shift `row`, on the team's region.
    #[allow(clippy::too_many_arguments)]
    pub fn member(
        &mut self,
        fact: &'static str,
        row: &ShiftRow,
        team: &TeamInfo,
        route_name: &str,
        member: &str,
        actor: &Actor,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let mut event = base(fact, row, team, route_name, actor, at);
        event.region = Some(team.region.clone());
        event.member_id = member.to_owned();
        event.member_name = team.member_name(member);
        self.add(fact, event, &team.region, &row.id.to_string(), now);
    }
}

fn base(
    fact: &str,
    row: &ShiftRow,
    team: &TeamInfo,
    route_name: &str,
    actor: &Actor,
    at: DateTime<Utc>,
) -> PatrolEvent {
    PatrolEvent {
        fact: fact.to_owned(),
        shift_id: row.id.to_string(),
        team_id: team.team.id.clone(),
        team_name: team.team.name.clone(),
        unit_id: team.team.unit_id.clone(),
        supervisor_ids: team.team.supervisor_ids.clone(),
        route_id: row.route_id.clone(),
        route_name: route_name.to_owned(),
        occurred_at: Some(to_proto(at)),
        missed: row.missed,
        actor: Some(actor.clone()),
        ..Default::default()
    }
}
