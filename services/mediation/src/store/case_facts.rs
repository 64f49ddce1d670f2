//! SQL on `case_facts`, and [`Writes`]: what one transaction records about cases, collected as
//! it goes and written together — every fact with its actor and what the statistics need of
//! the case then (`recorded`, a `domain::stats::RecordedFact`), the `MediationCaseEvent` of each
//! fact for the outbox, and the calls that keep a case's dispatch task in step.

use chrono::{DateTime, Utc};
use civicgrid_contracts::mediation::CASE_FACTS;
use civicgrid_kit::{
    bus::{Envelope, OutboxBatch},
    time::to_proto,
};
use civicgrid_proto::v1::{Actor, CaseDeadline, MediationCaseEvent, Role};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, types::Json};
use uuid::Uuid;

use super::{
    StoreError,
    cases::CaseFilter,
    dispatch_calls::{self, NewCall},
};
use crate::{
    SERVICE,
    cases::Case,
    domain::{
        case::State,
        stats::{RecordedFact, RegionPathRecord, money_of_nanos},
    },
};

/// What a fact says beyond the case itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FactDetail {
    /// The reason, ruling, performance or warning it carries.
    pub reason: String,
    /// For `case-warning`: the deadline.
    pub deadline: Option<CaseDeadline>,
    /// For outcomes: days from acceptance.
    pub days_to_outcome: Option<f64>,
    /// For outcomes: whether it came after the mediation deadline.
    pub overdue: bool,
    /// For `case-confirmation-ruled`: the ruling.
    pub ruling: Option<String>,
}

/// The actor as `case_facts.actor` stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorRecord {
    /// Account id.
    pub subject: String,
    /// Role name, e.g. `ROLE_MEDIATOR`.
    pub role: String,
    /// Department, if any.
    pub department_id: String,
    /// Region scope, if any.
    pub region_scope: String,
}

impl From<&Actor> for ActorRecord {
    fn from(a: &Actor) -> Self {
        ActorRecord {
            subject: a.subject.clone(),
            role: Role::try_from(a.role).unwrap_or(Role::Unspecified).as_str_name().to_string(),
            department_id: a.department_id.clone(),
            region_scope: a.region_scope.clone(),
        }
    }
}

/// The fact payload of `fact` about `case` (after the change) by `actor`.
pub fn event(case: &Case, fact: &str, actor: &Actor, detail: &FactDetail, at: DateTime<Utc>) -> MediationCaseEvent {
    let r = &case.row;
    MediationCaseEvent {
        fact: fact.to_string(),
        case_id: r.id.to_string(),
        case_number: r.case_number.clone(),
        state: r.state().map(State::to_proto).unwrap_or_default() as i32,
        dispute_type: i32::from(r.dispute_type),
        risk: i32::from(r.risk),
        region: Some(r.path()),
        organisation_id: r.organisation_id.clone(),
        mediator_id: r.mediator_id.clone(),
        parties: case.masked_parties(),
        version: r.version,
        actor: Some(actor.clone()),
        reason: detail.reason.clone(),
        occurred_at: Some(to_proto(at)),
        source: i32::from(r.source),
        event_id: r.event_id.map(|e| e.to_string()).unwrap_or_default(),
        task_id: r.task_id.map(|t| t.to_string()).unwrap_or_default(),
        amount_involved: Some(money_of_nanos(r.amount())),
        transferred_to: if fact == "case-transferred" { i32::from(r.transferred_to) } else { 0 },
        deadline: detail.deadline.clone(),
        tracking_number: r.tracking_number.clone(),
    }
}

/// What the statistics need of `case` for `fact`.
fn recorded(case: &Case, fact: &str, detail: &FactDetail, at: DateTime<Utc>) -> RecordedFact {
    let r = &case.row;
    RecordedFact {
        fact: fact.to_string(),
        at,
        organisation_id: r.organisation_id.clone(),
        mediator_id: r.mediator_id.clone(),
        region: RegionPathRecord::from(&r.path()),
        dispute_type: i32::from(r.dispute_type),
        source: i32::from(r.source),
        amount_nanos: r.amount(),
        days_to_outcome: detail.days_to_outcome,
        overdue: detail.overdue,
        ruling: detail.ruling.clone(),
    }
}

/// What a transaction writes about cases: facts, outgoing messages and calls to dispatch.
#[derive(Default)]
pub struct Writes {
    case_id: Vec<Uuid>,
    fact: Vec<String>,
    actor: Vec<Json<ActorRecord>>,
    reason: Vec<String>,
    version: Vec<i64>,
    at: Vec<DateTime<Utc>>,
    county: Vec<String>,
    recorded: Vec<Json<RecordedFact>>,
    outbox: OutboxBatch,
    calls: Vec<NewCall>,
}

impl Writes {
    /// Records `fact` of `case` as it is now (its version already raised for it): the audit
    /// row and the message on the bus, with masked parties only.
    pub fn record(&mut self, case: &Case, fact: &str, actor: &Actor, detail: &FactDetail, at: DateTime<Utc>) {
        let r = &case.row;
        self.case_id.push(r.id);
        self.fact.push(fact.to_string());
        self.actor.push(Json(ActorRecord::from(actor)));
        self.reason.push(detail.reason.clone());
        self.version.push(r.version);
        self.at.push(at);
        self.county.push(r.county.clone());
        self.recorded.push(Json(recorded(case, fact, detail, at)));
        let message = event(case, fact, actor, detail, at);
        self.outbox.add(SERVICE, &Envelope::family(&CASE_FACTS, fact, &r.path(), r.id, &message), at);
    }

    /// Queues a call to dispatch.
    pub fn call_dispatch(&mut self, call: NewCall) {
        self.calls.push(call);
    }

    /// Whether messages wait to be written.
    pub fn publishes(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Writes everything collected, in one statement per table.
    pub async fn finish(mut self, tx: &mut PgConnection) -> Result<(), StoreError> {
        if !self.case_id.is_empty() {
            sqlx::query(
                "INSERT INTO case_facts (case_id, fact, actor, reason, version, at, county, recorded) \
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::text[], $5::bigint[], \
                   $6::timestamptz[], $7::text[], $8::jsonb[])",
            )
            .bind(&self.case_id)
            .bind(&self.fact)
            .bind(&self.actor)
            .bind(&self.reason)
            .bind(&self.version)
            .bind(&self.at)
            .bind(&self.county)
            .bind(&self.recorded)
            .execute(&mut *tx)
            .await?;
        }
        self.outbox.insert(&mut *tx).await?;
        dispatch_calls::insert(tx, &self.calls).await
    }
}

/// The recorded facts that count in the statistics, of `[from, to)`, within the scope of
/// `scope` (its region, organisation and mediator fields; the others are not looked at).
pub async fn recorded_between(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    scope: &CaseFilter,
) -> Result<Vec<RecordedFact>, StoreError> {
    let rows: Vec<Json<RecordedFact>> = sqlx::query_scalar(
        "SELECT recorded FROM case_facts WHERE at >= $1 AND at < $2 AND fact = ANY($3) \
           AND ($4::text IS NULL OR recorded->'region'->>'city' = $4) AND ($5::text IS NULL OR county = $5) \
           AND ($6::text IS NULL OR recorded->'region'->>'township' = $6) \
           AND ($7::text IS NULL OR recorded->'region'->>'village' = $7) \
           AND ($8::text IS NULL OR recorded->>'organisation_id' = $8) \
           AND ($9::text IS NULL OR recorded->>'mediator_id' = $9) \
         ORDER BY seq",
    )
    .bind(from)
    .bind(to)
    .bind(COUNTED)
    .bind(&scope.city)
    .bind(&scope.county)
    .bind(&scope.township)
    .bind(&scope.village)
    .bind(&scope.organisation_id)
    .bind(&scope.mediator_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|j| j.0).collect())
}

/// The facts the statistics count.
const COUNTED: &[&str] = &[
    "case-opened",
    "case-accepted",
    "case-agreement-reached",
    "case-failed",
    "case-confirmation-applied",
    "case-confirmation-ruled",
    "case-transferred",
    "case-refused",
    "case-withdrawn",
];
