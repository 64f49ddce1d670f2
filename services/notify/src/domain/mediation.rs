//! mediation's case facts (`civicgrid.v1.MediationCaseEvent`) flattened into named values for
//! rules and templates, and the Chinese words zh-CN templates write for some of them. The fact
//! carries the parties' masked forms only; notify keeps no more of them than their number.

use std::collections::BTreeMap;

use chrono::FixedOffset;
use civicgrid_kit::time::from_proto;
use civicgrid_proto::v1::{CaseSource, CaseState, DisputeType, MediationCaseEvent, RiskLevel, TransferTarget};

use super::facts::{Fact, FactKind, local, region_values};

/// mediation's case facts, as its contract declares them.
pub const CASE_FACTS: &[&str] = civicgrid_contracts::mediation::CASE_FACTS.names;

/// The payload's ce-type.
const SOURCE_TYPE: &str = "civicgrid.v1.MediationCaseEvent";

/// The values of a case fact, besides the region values.
pub const FIELDS: &[&str] = &[
    "fact",
    "case_id",
    "case_number",
    "state",
    "dispute_type",
    "dispute_label",
    "risk",
    "organisation_id",
    "mediator_id",
    "reason",
    "deadline",
    "deadline_due",
    "deadline_state",
    "source",
    "transferred_to",
    "event_id",
    "task_id",
    "party_count",
    "occurred_at",
    "actor",
];

/// A protobuf enum value's name without its prefix, in lower case
/// (`DISPUTE_TYPE_PROPERTY_MANAGEMENT` → `property_management`); empty for the unspecified value.
fn lower(name: &str, prefix: &str) -> String {
    let short = name.trim_start_matches(prefix);
    if short == "UNSPECIFIED" { String::new() } else { short.to_ascii_lowercase() }
}

/// The dispute type as mediation names it: `neighbour`, `family`, `property_management` …;
/// empty when unset.
pub fn dispute_type_name(t: i32) -> String {
    DisputeType::try_from(t).map(|t| lower(t.as_str_name(), "DISPUTE_TYPE_")).unwrap_or_default()
}

/// The dispute type's Chinese name (邻里纠纷 …); empty when unset.
pub fn dispute_label(t: i32) -> &'static str {
    match DisputeType::try_from(t).unwrap_or(DisputeType::Unspecified) {
        DisputeType::Neighbour => "邻里纠纷",
        DisputeType::Family => "婚姻家庭纠纷",
        DisputeType::Land => "土地宅基地纠纷",
        DisputeType::Debt => "债权债务纠纷",
        DisputeType::Damages => "损害赔偿纠纷",
        DisputeType::Labour => "劳资纠纷",
        DisputeType::Consumer => "消费纠纷",
        DisputeType::PropertyManagement => "物业服务纠纷",
        DisputeType::Traffic => "交通事故纠纷",
        DisputeType::Medical => "医疗纠纷",
        DisputeType::Tenancy => "租赁纠纷",
        DisputeType::Other => "其他纠纷",
        DisputeType::Unspecified => "",
    }
}

/// The case's state: `applied`, `accepted`, `in_mediation` …; `unknown` when unset.
pub fn state_name(s: i32) -> String {
    let name = CaseState::try_from(s).map(|s| lower(s.as_str_name(), "CASE_STATE_")).unwrap_or_default();
    if name.is_empty() { "unknown".into() } else { name }
}

/// The risk level: `low`, `medium` or `high`; an unassessed case counts as `low`.
pub fn risk_name(r: i32) -> &'static str {
    match RiskLevel::try_from(r).unwrap_or(RiskLevel::Unspecified) {
        RiskLevel::Medium => "medium",
        RiskLevel::High => "high",
        RiskLevel::Low | RiskLevel::Unspecified => "low",
    }
}

/// The Chinese word zh-CN templates write for a case fact's value, when it has one.
pub fn zh(name: &str, value: &str) -> Option<&'static str> {
    Some(match (name, value) {
        ("state", "applied") => "待受理",
        ("state", "accepted") => "已受理",
        ("state", "in_mediation") => "调解中",
        ("state", "agreed") => "调解成功",
        ("state", "failed") => "调解不成",
        ("state", "refused") => "不予受理",
        ("state", "withdrawn") => "已撤回",
        ("state", "transferred") => "已移交",
        ("state", "closed") => "已结案",
        ("risk", "low") => "低风险",
        ("risk", "medium") => "中风险",
        ("risk", "high") => "高风险",
        ("deadline", "acceptance") => "受理期限",
        ("deadline", "mediation") => "调解期限",
        ("deadline", "confirmation-window") => "司法确认申请期限",
        ("deadline", "court-acceptance") => "法院受理期限",
        ("deadline", "court-ruling") => "法院裁定期限",
        ("deadline_state", "soon") => "即将届满",
        ("deadline_state", "passed") => "已届满",
        ("transferred_to", "court") => "人民法院",
        ("transferred_to", "petition_office") => "信访部门",
        ("transferred_to", "police") => "公安机关",
        ("source", "event") => "事件分流",
        ("source", "application") => "当事人申请",
        ("source", "petition_office") => "信访转入",
        ("source", "court") => "法院委派",
        ("source", "police") => "公安转入",
        _ => return None,
    })
}

/// A mediation case fact.
pub fn from_case_event(ce_id: &str, e: &MediationCaseEvent, offset: FixedOffset) -> Fact {
    let region = e.region.clone().unwrap_or_default();
    let deadline = e.deadline.clone().unwrap_or_default();
    let deadline_state = match (deadline.name.is_empty(), deadline.overdue) {
        (true, _) => "",
        (false, true) => "passed",
        (false, false) => "soon",
    };
    let actor = e.actor.as_ref().map(|a| a.subject.clone()).unwrap_or_default();
    let mut data = BTreeMap::new();
    for (k, v) in [
        ("fact", e.fact.clone()),
        ("case_id", e.case_id.clone()),
        ("case_number", e.case_number.clone()),
        ("state", state_name(e.state)),
        ("dispute_type", dispute_type_name(e.dispute_type)),
        ("dispute_label", dispute_label(e.dispute_type).to_string()),
        ("risk", risk_name(e.risk).to_string()),
        ("organisation_id", e.organisation_id.clone()),
        ("mediator_id", e.mediator_id.clone()),
        ("reason", e.reason.clone()),
        ("deadline", deadline.name.clone()),
        ("deadline_due", local(deadline.due.as_ref(), offset)),
        ("deadline_state", deadline_state.to_string()),
        ("source", CaseSource::try_from(e.source).map(|s| lower(s.as_str_name(), "CASE_SOURCE_")).unwrap_or_default()),
        (
            "transferred_to",
            TransferTarget::try_from(e.transferred_to)
                .map(|t| lower(t.as_str_name(), "TRANSFER_TARGET_"))
                .unwrap_or_default(),
        ),
        ("event_id", e.event_id.clone()),
        ("task_id", e.task_id.clone()),
        ("party_count", e.parties.len().to_string()),
        ("occurred_at", local(e.occurred_at.as_ref(), offset)),
        ("actor", actor),
    ] {
        data.insert(k.to_string(), v);
    }
    region_values(&mut data, &region);
    Fact {
        source_type: SOURCE_TYPE.into(),
        source_event_id: ce_id.into(),
        fact: e.fact.clone(),
        kind: FactKind::Case,
        subject_id: e.case_id.clone(),
        event_id: e.event_id.clone(),
        region,
        data,
        reporter_id: String::new(),
        at: e.occurred_at.as_ref().and_then(from_proto),
        traceparent: None,
    }
}

#[cfg(test)]
mod tests {
    use civicgrid_proto::v1::{Actor, CaseDeadline, Party, RegionPath};

    use super::*;
    use crate::domain::facts::{fields, kind_of};

    fn offset() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn case(fact: &str) -> MediationCaseEvent {
        MediationCaseEvent {
            fact: fact.into(),
            case_id: "c1".into(),
            case_number: "调411602-20261123-0001".into(),
            state: CaseState::InMediation as i32,
            dispute_type: DisputeType::PropertyManagement as i32,
            risk: RiskLevel::High as i32,
            region: Some(RegionPath {
                city: "411600".into(),
                county: "411602".into(),
                township: "411602001".into(),
                village: "411602001001".into(),
            }),
            organisation_id: "411602001-tw".into(),
            mediator_id: "med-1".into(),
            parties: vec![
                Party { party_id: "p1".into(), name_masked: "张*".into(), ..Default::default() },
                Party { party_id: "p2".into(), name_masked: "李*".into(), ..Default::default() },
            ],
            actor: Some(Actor { subject: "civicgrid-mediation".into(), ..Default::default() }),
            occurred_at: Some(prost_types::Timestamp { seconds: 1_795_000_000, nanos: 0 }),
            source: CaseSource::PetitionOffice as i32,
            transferred_to: TransferTarget::Police as i32,
            // 2026-12-15 24:00 Beijing time.
            deadline: Some(CaseDeadline {
                name: "mediation".into(),
                due: Some(prost_types::Timestamp { seconds: 1_797_350_400, nanos: 0 }),
                overdue: false,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_case_fact_has_every_declared_value_and_nothing_unmasked() {
        let f = from_case_event("ce1", &case("case-warning"), offset());
        for k in fields(FactKind::Case) {
            assert!(f.data.contains_key(k), "case fact lacks {k}");
        }
        assert_eq!(f.data.len(), fields(FactKind::Case).len(), "no value beyond the declared ones");
        let v = |k: &str| f.data[k].as_str();
        assert_eq!((v("fact"), v("case_id"), v("case_number")), ("case-warning", "c1", "调411602-20261123-0001"));
        assert_eq!((v("state"), v("risk"), v("source")), ("in_mediation", "high", "petition_office"));
        assert_eq!((v("dispute_type"), v("dispute_label")), ("property_management", "物业服务纠纷"));
        assert_eq!((v("organisation_id"), v("mediator_id")), ("411602001-tw", "med-1"));
        assert_eq!((v("deadline"), v("deadline_due"), v("deadline_state")), ("mediation", "2026-12-16 00:00", "soon"));
        assert_eq!((v("transferred_to"), v("party_count"), v("actor")), ("police", "2", "civicgrid-mediation"));
        assert_eq!((v("region_code"), v("township")), ("411602001001", "411602001"));
        assert!(!f.data.values().any(|v| v.contains('张') || v.contains('李')), "no party names: {:?}", f.data);
        assert_eq!((f.kind, f.subject_id.as_str(), f.source_type.as_str()), (FactKind::Case, "c1", SOURCE_TYPE));
        assert!(f.at.is_some());
        assert_eq!(Fact::from_json(&f.to_json()), Some(f), "a kept fact comes back as it was");
    }

    #[test]
    fn unset_values_are_empty_and_deadlines_passed_or_soon() {
        let mut e = case("case-opened");
        e.deadline = None;
        e.mediator_id.clear();
        e.risk = RiskLevel::Unspecified as i32;
        e.state = CaseState::Unspecified as i32;
        e.dispute_type = DisputeType::Unspecified as i32;
        e.transferred_to = TransferTarget::Unspecified as i32;
        let f = from_case_event("ce1", &e, offset());
        let v = |k: &str| f.data[k].clone();
        assert_eq!(
            (v("deadline"), v("deadline_due"), v("deadline_state")),
            (String::new(), String::new(), String::new())
        );
        assert_eq!((v("risk"), v("state")), ("low".to_string(), "unknown".to_string()), "unassessed counts as low");
        assert_eq!((v("dispute_type"), v("dispute_label"), v("transferred_to")), Default::default());
        let mut passed = case("case-warning");
        if let Some(d) = passed.deadline.as_mut() {
            d.overdue = true;
        }
        assert_eq!(from_case_event("ce2", &passed, offset()).data["deadline_state"], "passed");
    }

    #[test]
    fn an_unacknowledged_case_notice_goes_to_the_county_under_its_case_number() {
        use crate::domain::facts::{Unacknowledged, unacknowledged};
        let f = from_case_event("ce1", &case("case-escalated"), offset());
        let u = |recipient: &str| {
            unacknowledged(
                &Unacknowledged {
                    notification_id: "n1".into(),
                    recipient: recipient.into(),
                    title: "高风险纠纷".into(),
                    fact: f.fact.clone(),
                    subject_id: f.subject_id.clone(),
                    region: f.region.clone(),
                    data: f.data.clone(),
                    ack_due_at: chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
                },
                offset(),
            )
        };
        let station = u("department:411602001-gongan");
        assert_eq!(station.data["tracking_number"], "调411602-20261123-0001", "the case number stands in");
        assert_eq!(station.data["escalated_to"], "411602", "a police station's notice goes to its county");
        assert_eq!(u("center:411602001").data["escalated_to"], "411602");
    }

    #[test]
    fn every_case_fact_of_the_contract_is_known() {
        assert_eq!(CASE_FACTS.len(), 23);
        for f in CASE_FACTS {
            assert_eq!(kind_of(f), Some(FactKind::Case), "{f}");
        }
        assert_eq!(
            (zh("state", "agreed"), zh("deadline", "confirmation-window")),
            (Some("调解成功"), Some("司法确认申请期限"))
        );
        assert_eq!(zh("state", "nonsense"), None);
    }
}
