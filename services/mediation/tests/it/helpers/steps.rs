//! The workflow's calls as one-liners that expect an answer: what most tests do between
//! their assertions.

use chrono::Duration;
use civicgrid_kit::time::to_proto;
use civicgrid_proto::v1::{
    Agreement, AmendCaseRequest, ApplyConfirmationRequest, CaseReasonRequest, CaseRequest, GetCaseRequest,
    ListCasesRequest, MediationCase, OpenCaseRequest, RecordAgreementRequest, RecordConfirmationRequest,
    RecordFollowUpRequest, RecordSessionRequest, ScheduleSessionRequest,
};

use super::{TestApp, admin, authed, rid, yuan};

impl TestApp {
    pub async fn open(&self, req: OpenCaseRequest, token: &str) -> MediationCase {
        self.client.clone().open_case(authed(req, token)).await.expect("open case").into_inner()
    }

    pub async fn get(&self, id: &str, token: &str) -> MediationCase {
        let req = GetCaseRequest { case_id: id.into() };
        self.client.clone().get_case(authed(req, token)).await.expect("get case").into_inner()
    }

    /// Every case the token may list (one page of up to 500).
    pub async fn list(&self, req: ListCasesRequest, token: &str) -> Vec<MediationCase> {
        let req = ListCasesRequest { page_size: 500, ..req };
        self.client.clone().list_cases(authed(req, token)).await.expect("list cases").into_inner().cases
    }

    pub async fn amend(&self, id: &str, req: AmendCaseRequest, token: &str) -> MediationCase {
        let req = AmendCaseRequest { request_id: rid(), case_id: id.into(), ..req };
        self.client.clone().amend_case(authed(req, token)).await.expect("amend case").into_inner()
    }

    pub async fn accept(&self, id: &str, token: &str) -> MediationCase {
        let req = CaseRequest { request_id: rid(), case_id: id.into() };
        self.client.clone().accept_case(authed(req, token)).await.expect("accept").into_inner()
    }

    /// Schedules a session a day from now and records it held, every party present.
    pub async fn hold_session(&self, id: &str, token: &str) -> MediationCase {
        let at = self.clock.now() + Duration::days(1);
        let req = ScheduleSessionRequest {
            request_id: rid(),
            case_id: id.into(),
            scheduled_at: Some(to_proto(at)),
            place: "陈州街道七一路社区调解室".into(),
        };
        let case = self.client.clone().schedule_session(authed(req, token)).await.expect("schedule").into_inner();
        let session = case.sessions.last().expect("a session").session_id.clone();
        let req = RecordSessionRequest {
            request_id: rid(),
            case_id: id.into(),
            session_id: session,
            adjourned: false,
            attended_party_ids: case.parties.iter().map(|p| p.party_id.clone()).collect(),
            record: "双方陈述事实，调解员释法说理，双方同意协商解决。".into(),
        };
        self.client.clone().record_session(authed(req, token)).await.expect("record session").into_inner()
    }

    /// Records a signed and sealed agreement.
    pub async fn agree(&self, id: &str, token: &str) -> MediationCase {
        self.client.clone().record_agreement(authed(agreement(id), token)).await.expect("agreement").into_inner()
    }

    pub async fn fail(&self, id: &str, token: &str) -> MediationCase {
        let req = CaseReasonRequest {
            request_id: rid(), case_id: id.into(), reason: "双方分歧过大，调解不成".into()
        };
        self.client.clone().record_no_agreement(authed(req, token)).await.expect("no agreement").into_inner()
    }

    pub async fn apply_confirmation(&self, id: &str, token: &str) -> MediationCase {
        let req =
            ApplyConfirmationRequest { request_id: rid(), case_id: id.into(), court: "川汇区人民法院".into() };
        self.client.clone().apply_confirmation(authed(req, token)).await.expect("apply confirmation").into_inner()
    }

    pub async fn court(&self, id: &str, step: &str, token: &str) -> MediationCase {
        let req =
            RecordConfirmationRequest { request_id: rid(), case_id: id.into(), step: step.into(), note: String::new() };
        self.client.clone().record_confirmation(authed(req, token)).await.expect("court step").into_inner()
    }

    pub async fn follow_up(&self, id: &str, performance: &str, token: &str) -> MediationCase {
        let req = RecordFollowUpRequest {
            request_id: rid(),
            case_id: id.into(),
            performance: performance.into(),
            note: "回访双方，协议已按约履行。".into(),
            reopen: false,
        };
        self.client.clone().record_follow_up(authed(req, token)).await.expect("follow-up").into_inner()
    }

    pub async fn close(&self, id: &str, token: &str) -> MediationCase {
        let req = CaseRequest { request_id: rid(), case_id: id.into() };
        self.client.clone().close_case(authed(req, token)).await.expect("close").into_inner()
    }

    /// The case opened from dispatch task `task_id`, once it exists.
    pub async fn case_of_task(&self, task_id: &str) -> MediationCase {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let cases = self.list(ListCasesRequest::default(), &admin()).await;
            if let Some(c) = cases.into_iter().find(|c| c.task_id == task_id) {
                return c;
            }
            assert!(tokio::time::Instant::now() < deadline, "no case for task {task_id}");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}

/// A signed and sealed agreement for case `id`.
pub fn agreement(id: &str) -> RecordAgreementRequest {
    RecordAgreementRequest {
        request_id: rid(),
        case_id: id.into(),
        agreement: Some(Agreement {
            facts: String::new(),
            responsibilities: "被申请人装修未避开休息时间，负主要责任。".into(),
            terms: "被申请人每日 12:00 至 14:00、20:00 后停止施工，并赔偿申请人 500 元。".into(),
            performance: "协议生效后七日内现金一次性支付。".into(),
            amount: Some(yuan(500)),
            perform_by: None,
            effective_at: None,
        }),
        signed_and_sealed: true,
    }
}
