//! Reading cases within what the caller may see: one case, the listing (filtered in SQL), and
//! the agreement document with the parties unsealed (only for those who handle the case, each
//! answer recorded in the audit trail first).

use chrono::{DateTime, Utc};
use civicgrid_kit::auth::Principal;
use civicgrid_proto::v1::{AgreementDocument, MediationCase, PartyRole};
use uuid::Uuid;

use super::ActError;
use crate::{
    cases::Case,
    domain::{
        agreement::{self, Document, DocumentParty},
        case::{CaseError, Standing},
        visibility::{self, Visibility},
    },
    store::{
        Store, StoreError, cases,
        reveals::{Reveal, revealed_person},
    },
};

fn role_label(role: PartyRole) -> &'static str {
    match role {
        PartyRole::Applicant => "申请人",
        PartyRole::Respondent => "被申请人",
        PartyRole::ThirdParty | PartyRole::Unspecified => "第三人",
    }
}

impl Store {
    /// What `caller` may list.
    pub fn visibility_of(&self, caller: &Principal) -> Visibility {
        let refdata = self.refdata();
        visibility::visibility(caller, &self.justice_kinds, &|id: &str| refdata.organisation(id).is_some())
    }

    /// How `caller` stands to `case`; `None` when they may not see it.
    pub fn standing_of(&self, caller: &Principal, case: &Case) -> Option<Standing> {
        let refdata = self.refdata();
        let path = case.row.path();
        visibility::standing(caller, case.scope(&path), &self.justice_kinds, &|id: &str| {
            refdata.organisation(id).is_some()
        })
    }

    /// Case `id` as `caller` may see it; `None` when there is none or they may not.
    async fn visible_case(&self, caller: &Principal, id: Uuid) -> Result<Option<(Case, Standing)>, StoreError> {
        Ok(cases::get(&self.pool, id).await?.and_then(|c| self.standing_of(caller, &c).map(|s| (c, s))))
    }

    /// Case `id` for `caller` at `now`.
    pub async fn get_case(
        &self,
        caller: &Principal,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<MediationCase>, StoreError> {
        let refdata = self.refdata();
        Ok(self.visible_case(caller, id).await?.map(|(c, _)| c.to_proto(&refdata.calendar, &self.policy, now)))
    }

    /// The cases of `filter`, newest first, at most `limit`.
    pub async fn list_cases(
        &self,
        filter: &cases::CaseFilter,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<MediationCase>, StoreError> {
        let refdata = self.refdata();
        let found = cases::list(&self.pool, filter, limit).await?;
        Ok(found.iter().map(|c| c.to_proto(&refdata.calendar, &self.policy, now)).collect())
    }

    /// The agreement document of case `id`, with the parties in full: for the case's mediator,
    /// its organisation, its justice office and admins only. The reveal is recorded in the audit
    /// trail (`reveal` says why) before the document is returned; without the record, no
    /// document.
    pub async fn agreement_document(
        &self,
        caller: &Principal,
        id: Uuid,
        reveal: &Reveal,
    ) -> Result<AgreementDocument, ActError> {
        let (case, standing) = self.visible_case(caller, id).await?.ok_or(ActError::NotFound)?;
        if !matches!(standing, Standing::Admin | Standing::Organisation | Standing::JusticeOffice | Standing::Mediator)
        {
            return Err(ActError::Denied(
                "only the case's mediator, its organisation, its justice office or an admin may fetch the agreement"
                    .into(),
            ));
        }
        let row = &case.row;
        let a = row.agreement.as_ref().map(|a| a.0.clone()).ok_or_else(|| {
            ActError::Case(CaseError::NotNow {
                action: "get_agreement_document",
                why: "no agreement is recorded for the case".into(),
            })
        })?;
        let refdata = self.refdata();
        let mut parties = Vec::with_capacity(case.parties.len());
        let mut people = Vec::with_capacity(case.parties.len());
        for p in &case.parties {
            let open = p.unseal(&self.cipher)?;
            people.push(revealed_person(p.id, &open));
            parties.push(DocumentParty {
                role_label: role_label(open.role),
                name: open.name,
                id_number: open.id_number,
                address: open.address,
                phone: open.phone,
            });
        }
        let document = Document {
            organisation: refdata.organisation(&row.organisation_id).map(|o| o.name.clone()).unwrap_or_default(),
            case_number: row.case_number.clone(),
            parties,
            facts: a.facts,
            responsibilities: a.responsibilities,
            terms: a.terms,
            performance: a.performance,
            amount: a.amount_nanos.filter(|n| *n > 0).map(agreement::yuan),
            perform_by: a.perform_by,
            mediator: refdata.mediator(&row.mediator_id).map(|m| m.name.clone()).unwrap_or_default(),
            effective_at: row.agreement_effective_at,
        };
        let text = agreement::render(&document, refdata.calendar.offset());
        let record = self.record_reveal(&case, people, caller.actor(), reveal).await?;
        tracing::info!(case_id = %row.id, audit_record = %record, subject = %caller.subject, "agreement document revealed");
        Ok(AgreementDocument {
            case_id: row.id.to_string(),
            file_name: format!("调解协议书-{}.txt", row.case_number),
            text,
        })
    }
}
