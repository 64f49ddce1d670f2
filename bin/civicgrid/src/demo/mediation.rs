//! The people of mediation, played for the demo: residents apply for mediation through the
//! citizen app now and then, and every case — applied for, or opened from a dispute dispatched
//! to a justice office — is worked by its committee and mediator: accepted, a session held,
//! and most often an agreement, judicial confirmation for some, a follow-up and the close; one
//! in five fails and goes to the court. One application in eight is high-risk, which notify
//! escalates to the township center and the police station.

use std::time::Duration;

use civicgrid_kit::Shutdown;
use civicgrid_proto::v1::{
    Agreement, AmendCaseRequest, ApplyConfirmationRequest, CaseReasonRequest, CaseRequest, CaseSource, DisputeType,
    MediationCase, MediationCaseEvent, Money, OpenCaseRequest, PartyInput, PartyRole, RecordAgreementRequest,
    RecordConfirmationRequest, RecordFollowUpRequest, RecordSessionRequest, RiskLevel, ScheduleSessionRequest,
    TransferCaseRequest, TransferTarget, mediation_service_client::MediationServiceClient,
};
use futures::StreamExt;
use prost::Message;
use rand::Rng;
use tonic::transport::Channel;

use super::{department_token, person_token, token, with_token};

/// Applications residents file (dispute type, facts, amount in yuan).
const APPLICATIONS: &[(DisputeType, &str, i64)] = &[
    (DisputeType::Neighbour, "楼上住户装修噪声和漏水影响楼下生活，双方多次争吵", 3_000),
    (DisputeType::Debt, "朋友借款两万元到期未还，多次催要无果", 20_000),
    (DisputeType::Tenancy, "租房合同到期后房东拒绝退还押金", 2_400),
    (DisputeType::Family, "兄妹三人对父母赡养费用分担意见不一", 0),
    (DisputeType::Damages, "电动车在小区内剐蹭停放车辆，赔偿数额有争议", 1_800),
    (DisputeType::PropertyManagement, "业主以服务质量差为由拒交物业费", 4_600),
];

/// The case's mediator acting, or its committee when no mediator was free.
fn actor_token(secret: &str, case: &MediationCase) -> String {
    if case.mediator_id.is_empty() {
        department_token(secret, "department", &case.organisation_id, "")
    } else {
        mediator_token(secret, &case.mediator_id)
    }
}

/// A mediator's token: their id is the `sub`.
fn mediator_token(secret: &str, mediator_id: &str) -> String {
    person_token(secret, "mediator", mediator_id)
}

async fn connect(endpoint: &str, shutdown: &Shutdown) -> Option<MediationServiceClient<Channel>> {
    loop {
        match MediationServiceClient::connect(endpoint.to_string()).await {
            Ok(c) => return Some(c),
            Err(_) => tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => return None,
            },
        }
    }
}

/// Files an application every `every * 8` and works every case that opens, until shutdown.
pub async fn work_cases(endpoint: String, nats_url: String, secret: String, every: Duration, shutdown: Shutdown) {
    let Some(client) = connect(&endpoint, &shutdown).await else { return };
    let Ok(nats) = super::connect_nats(&nats_url).await else { return };
    let Ok(mut opened) = nats.subscribe("civicgrid.mediation.case-opened.>").await else { return };
    tokio::spawn(apply(client.clone(), secret.clone(), every * 8, shutdown.clone()));
    loop {
        let msg = tokio::select! {
            m = opened.next() => m,
            _ = shutdown.cancelled() => return,
        };
        let Some(msg) = msg else { return };
        let Ok(fact) = MediationCaseEvent::decode(msg.payload.clone()) else { continue };
        let (client, secret, shutdown) = (client.clone(), secret.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                r = play_case(client, &secret, &fact.case_id, every) => {
                    if let Err(e) = r {
                        println!("[demo] case {}: {} {}", fact.case_number, e.code(), e.message());
                    }
                }
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

/// A party with plausible (made-up) contacts; `n` varies them.
fn party(role: PartyRole, name: &str, n: u64) -> PartyInput {
    let mut rng = rand::rng();
    PartyInput {
        role: role as i32,
        name: name.into(),
        phone: format!("13{:09}", rng.random_range(0..1_000_000_000u32)),
        id_number: id_number(&format!(
            "411602{:04}{:02}{:02}{:03}",
            rng.random_range(1950..2005),
            1 + n % 12,
            1 + n % 28,
            n % 1000
        )),
        address: "周口市川汇区".into(),
    }
}

/// A resident ID number: the 17 digits and their check digit (GB 11643, ISO 7064 MOD 11-2).
fn id_number(digits: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = digits.bytes().zip(WEIGHTS).map(|(d, w)| u32::from(d.wrapping_sub(b'0')) * w).sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{digits}{check}")
}

/// The communities of 川汇区 residents apply from: the shipped small city's, which the generated
/// city keeps, so applications work with either.
const VILLAGES: &[&str] = &["411602001001", "411602001002", "411602002001", "411602002003", "411602003001"];

/// Residents applying through the citizen app.
async fn apply(mut client: MediationServiceClient<Channel>, secret: String, every: Duration, shutdown: Shutdown) {
    let citizen = token(&secret, "citizen_app", "");
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        n += 1;
        let (request, high) = {
            let mut rng = rand::rng();
            let (dispute, facts, yuan) = APPLICATIONS[rng.random_range(0..APPLICATIONS.len())];
            let village = VILLAGES[rng.random_range(0..VILLAGES.len())];
            let high = rng.random_bool(0.125);
            let parties = vec![party(PartyRole::Applicant, "张伟", n), party(PartyRole::Respondent, "李娜", n + 1)];
            let request = OpenCaseRequest {
                request_id: format!("demo-apply-{}-{n}", std::process::id()),
                source: CaseSource::Application as i32,
                dispute_type: dispute as i32,
                facts: if high { format!("{facts}；一方扬言报复，有激化风险") } else { facts.into() },
                amount_involved: (yuan > 0).then(|| Money { currency_code: "CNY".into(), units: yuan, nanos: 0 }),
                parties,
                region_code: village.into(),
                organisation_id: String::new(),
                risk: if high { RiskLevel::High } else { RiskLevel::Low } as i32,
                external_reference: String::new(),
            };
            (request, high)
        };
        match client.open_case(with_token(request, &citizen)).await {
            Ok(c) => {
                let c = c.into_inner();
                println!(
                    "[demo] resident applied for mediation: {} {} -> {} ({}){}",
                    c.case_number,
                    DisputeType::try_from(c.dispute_type).map(|d| d.as_str_name()).unwrap_or("?"),
                    c.organisation_id,
                    if c.mediator_id.is_empty() { "no mediator free" } else { &c.mediator_id },
                    if high { ", HIGH risk: escalated" } else { "" }
                );
            }
            Err(e) => println!("[demo] mediation application failed: {} {}", e.code(), e.message()),
        }
    }
}

/// One case from acceptance to its close, as its committee and mediator.
async fn play_case(
    mut client: MediationServiceClient<Channel>,
    secret: &str,
    case_id: &str,
    every: Duration,
) -> Result<(), tonic::Status> {
    let admin = token(secret, "admin", "");
    let step = |name: &str| format!("demo-{name}-{case_id}");
    let pause = || tokio::time::sleep(every);
    let case =
        client.get_case(with_token(civicgrid_proto::v1::GetCaseRequest { case_id: case_id.into() }, &admin)).await?;
    let case = case.into_inner();
    let committee = department_token(secret, "department", &case.organisation_id, "");
    let (fails, confirm) = {
        let mut rng = rand::rng();
        (rng.random_bool(0.2), rng.random_bool(0.4))
    };

    // A case opened from a dispatched report has no parties yet (intake keeps the reporter's
    // personal data): the committee records them after talking to both sides.
    let has = |role: PartyRole| case.parties.iter().any(|p| p.role == role as i32);
    if !has(PartyRole::Applicant) || !has(PartyRole::Respondent) {
        pause().await;
        let amend = AmendCaseRequest {
            request_id: step("amend"),
            case_id: case_id.into(),
            parties: vec![party(PartyRole::Applicant, "王芳", 1), party(PartyRole::Respondent, "刘强", 2)],
            facts: String::new(),
            amount_involved: None,
        };
        client.amend_case(with_token(amend, &committee)).await?;
    }
    pause().await;
    let accept = CaseRequest { request_id: step("accept"), case_id: case_id.into() };
    let case = client.accept_case(with_token(accept, &committee)).await?.into_inner();
    println!("[demo] {} accepted {} ({})", case.organisation_id, case.case_number, case.facts);
    let acting = actor_token(secret, &case);

    pause().await;
    let schedule = ScheduleSessionRequest {
        request_id: step("schedule"),
        case_id: case_id.into(),
        scheduled_at: Some(prost_types::Timestamp::from(std::time::SystemTime::now() + Duration::from_secs(3600))),
        place: "社区调解室".into(),
    };
    let case = client.schedule_session(with_token(schedule, &acting)).await?.into_inner();
    let session = case.sessions.last().map(|s| s.session_id.clone()).unwrap_or_default();
    pause().await;
    let held = RecordSessionRequest {
        request_id: step("session"),
        case_id: case_id.into(),
        session_id: session,
        adjourned: false,
        attended_party_ids: case.parties.iter().map(|p| p.party_id.clone()).collect(),
        record: "双方陈述事实，调解员释法说理，双方各自作出让步".into(),
    };
    client.record_session(with_token(held, &acting)).await?;

    pause().await;
    if fails {
        let failed = CaseReasonRequest {
            request_id: step("failed"),
            case_id: case_id.into(),
            reason: "双方对赔偿数额分歧较大，调解不成".into(),
        };
        client.record_no_agreement(with_token(failed, &acting)).await?;
        let transfer = TransferCaseRequest {
            request_id: step("transfer"),
            case_id: case_id.into(),
            target: TransferTarget::Court as i32,
            reason: "告知当事人依法向人民法院起诉".into(),
        };
        client.transfer_case(with_token(transfer, &committee)).await?;
        println!("[demo] {} failed: referred to the court", case.case_number);
        return Ok(());
    }
    let agreement = RecordAgreementRequest {
        request_id: step("agree"),
        case_id: case_id.into(),
        agreement: Some(Agreement {
            facts: case.facts.clone(),
            responsibilities: "双方对纠纷的发生均负有一定责任".into(),
            terms: "被申请人向申请人赔礼道歉并一次性支付补偿款；双方今后友好相处，不再就此事发生争执".into(),
            performance: "协议签订之日起十日内一次性付清".into(),
            amount: case.amount_involved,
            perform_by: Some(prost_types::Timestamp::from(
                std::time::SystemTime::now() + Duration::from_secs(10 * 24 * 3600),
            )),
            effective_at: None,
        }),
        signed_and_sealed: true,
    };
    let case = client.record_agreement(with_token(agreement, &acting)).await?.into_inner();
    println!("[demo] {} settled: agreement signed", case.case_number);
    if confirm {
        pause().await;
        let apply = ApplyConfirmationRequest {
            request_id: step("confirm-apply"),
            case_id: case_id.into(),
            court: "周口市川汇区人民法院".into(),
        };
        client.apply_confirmation(with_token(apply, &acting)).await?;
        for court_step in ["accepted", "confirmed"] {
            pause().await;
            let ruling = RecordConfirmationRequest {
                request_id: step(&format!("court-{court_step}")),
                case_id: case_id.into(),
                step: court_step.into(),
                note: String::new(),
            };
            client.record_confirmation(with_token(ruling, &acting)).await?;
        }
        println!("[demo] {} judicially confirmed", case.case_number);
    }
    pause().await;
    let follow_up = RecordFollowUpRequest {
        request_id: step("follow-up"),
        case_id: case_id.into(),
        performance: "performed".into(),
        note: "回访：款项已付清，双方关系缓和".into(),
        reopen: false,
    };
    client.record_follow_up(with_token(follow_up, &acting)).await?;
    let close = CaseRequest { request_id: step("close"), case_id: case_id.into() };
    client.close_case(with_token(close, &committee)).await?;
    println!("[demo] {} closed after the follow-up", case.case_number);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_parties_pass_mediations_checks() {
        for n in 0..200 {
            let p = party(PartyRole::Applicant, "张伟", n);
            assert!(civicgrid_mediation::domain::mask::is_id_number(&p.id_number), "{}", p.id_number);
            assert!(civicgrid_mediation::domain::mask::is_mobile(&p.phone), "{}", p.phone);
        }
    }
}
