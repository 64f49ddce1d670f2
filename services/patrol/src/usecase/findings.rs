//! A finding: something a member saw on patrol, submitted to intake's SubmitEvent (source
//! PATROL, the caller's own token forwarded, patrol's request id reused so a retry is the same
//! call to intake) and then linked to the shift with a `finding-reported` fact. The request id
//! is claimed in the transaction that links it, so a retry after a failure calls intake again
//! (intake answers it the same) and links once.

use civicgrid_kit::auth::Principal;
use civicgrid_proto::v1::{EventSource, Finding, GeoPoint, Location, Reporter, SubmitEventRequest};
use tonic::{Request, metadata::MetadataValue};
use uuid::Uuid;

use super::{Claimed, UseError, answer, claim};
use crate::{
    convert::geo_point,
    engine::{Engine, facts::Facts},
    store::{
        findings::{self, FindingRow},
        shifts::{self, ACTIVE},
    },
};

/// What ReportFinding asks for (checked by the handler).
pub struct NewFinding {
    /// The shift.
    pub shift_id: Uuid,
    /// The catalog item.
    pub item_code: String,
    /// What was seen.
    pub description: String,
    /// Where, if the request said.
    pub point: Option<GeoPoint>,
    /// The grid, if the request said.
    pub grid_code: String,
    /// Photos and videos.
    pub evidence_urls: Vec<String>,
}

/// Reports `f` for `caller`, whose bearer header is `authorization` (forwarded to intake).
pub async fn report(
    engine: &Engine,
    caller: &Principal,
    authorization: Option<MetadataValue<tonic::metadata::Ascii>>,
    request_id: &str,
    f: NewFinding,
) -> Result<Finding, UseError> {
    let core = engine.core().clone();
    let mut tx = match claim(&core.pool, &caller.subject, request_id).await? {
        Claimed::Answered(f) => return Ok(f),
        Claimed::Fresh(tx) => tx,
    };
    let row = shifts::get(&mut *tx, f.shift_id).await?.ok_or_else(|| UseError::NotFound("no such shift".into()))?;
    let team = engine.team(&row.team_id).await.ok_or_else(|| UseError::NotFound("the shift's team is gone".into()))?;
    if !team.has_member(&caller.subject) {
        return Err(UseError::Denied("only a member of the shift's team may report from it".into()));
    }
    if row.state != ACTIVE {
        return Err(UseError::Precondition(format!("the shift is {}, not active", row.state)));
    }
    let point = match f.point {
        Some(p) => Some(p),
        None => engine.last_fix(&caller.subject).await.map(|l| geo_point(l.point)),
    };
    let submit = SubmitEventRequest {
        request_id: request_id.to_owned(),
        source: EventSource::Patrol as i32,
        item_code: f.item_code,
        location: Some(Location {
            point,
            region_code: if f.grid_code.is_empty() { row.region_code.clone() } else { String::new() },
            grid_code: f.grid_code,
            address: String::new(),
            region: None,
        }),
        description: f.description,
        evidence_urls: f.evidence_urls,
        occurred_at: None,
        reporter: Some(Reporter {
            name: team.member_name(&caller.subject),
            phone: String::new(),
            account_id: caller.subject.clone(),
        }),
    };
    let mut call = Request::new(submit);
    if let Some(value) = authorization {
        call.metadata_mut().insert("authorization", value);
    }
    let answer_of_intake = core.intake.clone().submit_event(call).await.map_err(UseError::Upstream)?.into_inner();
    let now = core.clock.now();
    let finding = FindingRow {
        id: Uuid::now_v7(),
        shift_id: row.id,
        member_id: caller.subject.clone(),
        event_id: answer_of_intake.event_id.clone(),
        tracking_number: answer_of_intake.tracking_number.clone(),
        reported_at: now,
    };
    findings::insert(&mut tx, &finding).await?;
    let mut facts = Facts::default();
    let route_name = row.plan.as_ref().map(|p| p.0.route_name.clone()).unwrap_or_default();
    let member_name = team.member_name(&caller.subject);
    facts.shift("finding-reported", &row, &team, &route_name, &caller.actor(), now, now, |e| {
        e.member_id = caller.subject.clone();
        e.member_name = member_name;
        e.event_id = finding.event_id.clone();
        e.tracking_number = finding.tracking_number.clone();
    });
    facts.outbox.insert(&mut tx).await?;
    let proto = Finding {
        id: finding.id.to_string(),
        shift_id: row.id.to_string(),
        member_id: finding.member_id.clone(),
        event_id: finding.event_id,
        tracking_number: finding.tracking_number,
        reported_at: Some(civicgrid_kit::time::to_proto(now)),
    };
    Ok(answer(tx, &core.signal, &caller.subject, request_id, proto).await?)
}
