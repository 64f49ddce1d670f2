//! Opening a case: on an application or a transfer in through `OpenCase` (idempotent by request
//! id), or on a dispute dispatched to a justice office (once per task). The organisation and the
//! mediator are chosen by `domain::assignment` (the mediator's load: their open cases); the
//! case number is `调<county>-<yyyymmdd>-<nextval('case_numbers'):06>` in the calendar's local
//! day. Facts: `case-opened`, then `case-assigned` when a mediator was found, then
//! `case-escalated` when the case opens at HIGH risk.

use chrono::{DateTime, Utc};
use civicgrid_kit::{auth::Principal, region};
use civicgrid_proto::v1::{
    Actor, CaseSource, DisputeType, MediationCase, RegionPath, RiskLevel, TaskEvent, TransferTarget,
};
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use super::{ActError, Claimed, invalid, system_actor};
use crate::{
    cases::{Case, CaseRow},
    domain::{assignment, case::State},
    store::{
        Store, Writes,
        case_facts::FactDetail,
        cases,
        parties::{self, NewParty, PartyRow},
    },
};

/// The dispatch task a case came from.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskLink {
    /// The task.
    pub task_id: Uuid,
    /// Its department (a justice office).
    pub department: String,
    /// The intake event.
    pub event_id: Option<Uuid>,
    /// The event's tracking number.
    pub tracking_number: String,
}

/// A case to open, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    /// Where it comes from.
    pub source: CaseSource,
    /// What it is about.
    pub dispute_type: DisputeType,
    /// The facts.
    pub facts: String,
    /// The amount in dispute, nano-yuan.
    pub amount_nanos: i128,
    /// The parties (none for a dispatched dispute).
    pub parties: Vec<NewParty>,
    /// Where.
    pub path: RegionPath,
    /// The grid, when known.
    pub grid_code: Option<String>,
    /// The organisation asked for.
    pub organisation_id: Option<String>,
    /// The risk at opening.
    pub risk: RiskLevel,
    /// The sender's reference of a transfer in.
    pub external_reference: String,
    /// The dispatch task, for a dispatched dispute.
    pub task: Option<TaskLink>,
}

/// The Chinese name of a dispute type, for the facts of a dispatched dispute.
fn label(t: DisputeType) -> &'static str {
    match t {
        DisputeType::Neighbour => "邻里纠纷",
        DisputeType::Family => "婚姻家庭纠纷",
        DisputeType::Land => "土地、房屋宅基地纠纷",
        DisputeType::Debt => "债权债务纠纷",
        DisputeType::Damages => "损害赔偿纠纷",
        DisputeType::Labour => "劳资纠纷",
        DisputeType::Consumer => "消费纠纷",
        DisputeType::PropertyManagement => "物业服务纠纷",
        DisputeType::Traffic => "交通事故纠纷",
        DisputeType::Medical => "医疗纠纷",
        DisputeType::Tenancy => "租赁纠纷",
        DisputeType::Other | DisputeType::Unspecified => "其他纠纷",
    }
}

impl Store {
    /// Opens a case for `caller`, idempotently by `request_id`, and answers it.
    pub async fn open_case(
        &self,
        caller: &Principal,
        request_id: &str,
        new: NewCase,
        now: DateTime<Utc>,
    ) -> Result<MediationCase, ActError> {
        let mut tx = match self.claim(&caller.subject, request_id).await? {
            Claimed::Fresh(tx) => tx,
            Claimed::Answered(answer) => return Ok(answer),
        };
        let case = self.open_in(&mut tx, new, &caller.actor(), now).await?;
        let answer = case.to_proto(&self.refdata().calendar, &self.policy, now);
        Ok(self.answer(tx, &caller.subject, request_id, answer).await?)
    }

    /// Opens the case of a `task-assigned` fact of a dispute item (`dispute_type`) for a
    /// justice office, in the consumer's transaction; `None` when the task has a case already.
    pub async fn open_for_task(
        &self,
        tx: &mut PgConnection,
        task: &TaskEvent,
        dispute_type: DisputeType,
        now: DateTime<Utc>,
    ) -> Result<Option<Case>, ActError> {
        let task_id = Uuid::parse_str(&task.task_id).map_err(|_| invalid("task_id", "must be a UUID"))?;
        if cases::exists_for_task(tx, task_id).await? {
            return Ok(None);
        }
        let path = task.region.clone().ok_or_else(|| invalid("region", "is required"))?;
        let facts = format!(
            "一门受理事件 {}（事项 {}）经分流交办至司法所 {}：{}。纠纷事实、当事人待调解组织核实补充。",
            task.tracking_number,
            task.item_code,
            task.department_id,
            label(dispute_type)
        );
        let new = NewCase {
            source: CaseSource::Event,
            dispute_type,
            facts,
            amount_nanos: 0,
            parties: vec![],
            path,
            grid_code: Some(task.grid_code.clone()).filter(|g| !g.is_empty()),
            organisation_id: None,
            risk: RiskLevel::Low,
            external_reference: String::new(),
            task: Some(TaskLink {
                task_id,
                department: task.department_id.clone(),
                event_id: Uuid::parse_str(&task.event_id).ok(),
                tracking_number: task.tracking_number.clone(),
            }),
        };
        Ok(Some(self.open_in(tx, new, &system_actor(), now).await?))
    }

    /// Opens `new` by `actor` inside `tx`: chooses the organisation and the mediator, numbers
    /// the case, and writes it with its parties, facts and messages.
    pub async fn open_in(
        &self,
        tx: &mut PgConnection,
        new: NewCase,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Case, ActError> {
        let refdata = self.refdata();
        let organisation_id = match &new.organisation_id {
            Some(id) => {
                let org = refdata
                    .organisation(id)
                    .ok_or_else(|| invalid("organisation_id", format!("no organisation `{id}`")))?;
                if !region::contains(&org.org.region_code, &new.path) {
                    return Err(invalid("organisation_id", format!("`{id}` does not serve the case's region")));
                }
                id.clone()
            }
            None => assignment::organisation_for(&refdata.orgs(), &new.path, new.dispute_type)
                .map(|o| o.id.clone())
                .ok_or_else(|| invalid("region_code", "no mediation organisation serves this region"))?,
        };
        let load = cases::open_load(&mut *tx, Some(&organisation_id)).await?;
        let mediators = refdata.mediator_refs();
        let mediator_id = assignment::mediator_for(&mediators, &organisation_id, new.dispute_type, &load)
            .map(|m| m.id.clone())
            .unwrap_or_default();
        let number = cases::next_number(tx).await?;
        let day = refdata.calendar.local_date(now).format("%Y%m%d");
        let id = Uuid::now_v7();
        let risk = if new.risk == RiskLevel::Unspecified { RiskLevel::Low } else { new.risk };
        let task = new.task.as_ref();
        let row = CaseRow {
            id,
            case_number: format!("调{}-{day}-{number:06}", new.path.county),
            source: new.source as i16,
            dispute_type: new.dispute_type as i16,
            facts: new.facts,
            amount_nanos: new.amount_nanos.to_string(),
            city: new.path.city.clone(),
            county: new.path.county.clone(),
            township: new.path.township.clone(),
            village: new.path.village.clone(),
            grid_code: new.grid_code,
            risk: risk as i16,
            state: State::Applied.as_str().to_string(),
            organisation_id,
            mediator_id,
            reason: String::new(),
            transferred_to: TransferTarget::Unspecified as i16,
            external_reference: new.external_reference.clone(),
            task_id: task.map(|t| t.task_id),
            task_department: task.map(|t| t.department.clone()),
            event_id: task.and_then(|t| t.event_id),
            tracking_number: task.map(|t| t.tracking_number.clone()).unwrap_or_default(),
            opened_at: now,
            accepted_at: None,
            extension_days: 0,
            agreement: None,
            agreement_effective_at: None,
            confirmation: None,
            follow_ups: Json(vec![]),
            warnings_given: vec![],
            next_warning_at: None,
            deadline_at: None,
            version: 0,
            updated_at: now,
            closed_at: None,
        };
        let parties =
            new.parties.iter().enumerate().map(|(i, p)| PartyRow::seal(&self.cipher, id, i as i32, p)).collect();
        let mut case = Case { row, parties, sessions: vec![] };
        let mut facts = vec![("case-opened", FactDetail { reason: new.external_reference, ..Default::default() })];
        if !case.row.mediator_id.is_empty() {
            facts.push(("case-assigned", FactDetail::default()));
        }
        if risk == RiskLevel::High {
            facts.push(("case-escalated", FactDetail { reason: "opened at HIGH risk".into(), ..Default::default() }));
        }
        let mut w = Writes::default();
        self.write_change(tx, &mut w, &mut case, &facts, actor, now).await?;
        parties::insert(tx, &case.parties).await?;
        w.finish(tx).await?;
        Ok(case)
    }
}
