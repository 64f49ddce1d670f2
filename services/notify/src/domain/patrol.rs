//! patrol's facts (`civicgrid.v1.PatrolEvent`) flattened into named values for rules and
//! templates, with the Chinese names of the facts and of the ways a checkpoint is checked in.
//! Of people, a fact names only team members (id and name) and supervisors (ids): what a
//! supervisor needs to act. The contract carries no phones, and notify keeps nothing else.

use std::collections::BTreeMap;

use chrono::FixedOffset;
use civicgrid_kit::time::from_proto;
use civicgrid_proto::v1::{CheckInMethod, PatrolEvent};

use super::facts::{Fact, FactKind, local, region_values};

/// patrol's facts, as its contract declares them.
pub const PATROL_FACTS: &[&str] = civicgrid_contracts::patrol::FACTS.names;

/// The payload's ce-type.
const SOURCE_TYPE: &str = "civicgrid.v1.PatrolEvent";

/// The values of a patrol fact, besides the region values.
pub const FIELDS: &[&str] = &[
    "fact",
    "fact_label",
    "shift_id",
    "team_id",
    "team_name",
    "unit_id",
    "supervisor_ids",
    "route_id",
    "route_name",
    "member_id",
    "member_name",
    "checkpoint_id",
    "checkpoint_name",
    "method",
    "method_label",
    "occurred_at",
    "event_id",
    "tracking_number",
    "date",
    "members",
    "online",
    "online_rate",
    "missed",
    "actor",
];

/// The Chinese name of a patrol fact (巡逻漏检 …); empty for a name patrol does not publish.
pub fn fact_label(fact: &str) -> &'static str {
    match fact {
        "shift-scheduled" => "排班",
        "shift-started" => "开始巡逻",
        "shift-ended" => "结束巡逻",
        "shift-cancelled" => "取消排班",
        "checkpoint-checked-in" => "巡逻签到",
        "checkpoint-missed" => "巡逻漏检",
        "tour-completed" => "巡逻完成",
        "tour-late" => "巡逻超时",
        "member-offline" => "队员离线",
        "member-online" => "队员恢复在线",
        "finding-reported" => "巡逻发现上报",
        "presence-daily" => "每日上线率",
        _ => "",
    }
}

/// How a checkpoint was checked in: `inside`, `crossing`, `qr_code`, `photo`; empty when unset,
/// with its Chinese name.
pub fn method(m: i32) -> (&'static str, &'static str) {
    match CheckInMethod::try_from(m).unwrap_or(CheckInMethod::Unspecified) {
        CheckInMethod::Inside => ("inside", "到达签到"),
        CheckInMethod::Crossing => ("crossing", "途经签到"),
        CheckInMethod::QrCode => ("qr_code", "扫码签到"),
        CheckInMethod::Photo => ("photo", "拍照签到"),
        CheckInMethod::Unspecified => ("", ""),
    }
}

/// The online rate as a percentage with one decimal (`0.875` → `87.5`); `0.0` for a rate that
/// is not a number.
pub fn percent(rate: f64) -> String {
    let rate = if rate.is_finite() { rate.clamp(0.0, 1.0) } else { 0.0 };
    format!("{:.1}", rate * 100.0)
}

/// The supervisors' ids as one value: separated by single spaces, which no recipient id holds.
/// Blank ids are left out.
pub fn join_ids(ids: &[String]) -> String {
    ids.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
}

/// A patrol fact.
pub fn from_patrol_event(ce_id: &str, e: &PatrolEvent, offset: FixedOffset) -> Fact {
    let region = e.region.clone().unwrap_or_default();
    let (method, method_label) = method(e.method);
    let actor = e.actor.as_ref().map(|a| a.subject.clone()).unwrap_or_default();
    let presence = e.fact == "presence-daily";
    let mut data = BTreeMap::new();
    for (k, v) in [
        ("fact", e.fact.clone()),
        ("fact_label", fact_label(&e.fact).to_string()),
        ("shift_id", e.shift_id.clone()),
        ("team_id", e.team_id.clone()),
        ("team_name", e.team_name.clone()),
        ("unit_id", e.unit_id.clone()),
        ("supervisor_ids", join_ids(&e.supervisor_ids)),
        ("route_id", e.route_id.clone()),
        ("route_name", e.route_name.clone()),
        ("member_id", e.member_id.clone()),
        ("member_name", e.member_name.clone()),
        ("checkpoint_id", e.checkpoint_id.clone()),
        ("checkpoint_name", e.checkpoint_name.clone()),
        ("method", method.to_string()),
        ("method_label", method_label.to_string()),
        ("occurred_at", local(e.occurred_at.as_ref(), offset)),
        ("event_id", e.event_id.clone()),
        ("tracking_number", e.tracking_number.clone()),
        ("date", e.date.clone()),
        // Counts mean something for presence-daily only; elsewhere they stay empty, not 0.
        ("members", if presence { e.members.to_string() } else { String::new() }),
        ("online", if presence { e.online.to_string() } else { String::new() }),
        ("online_rate", if presence { percent(e.online_rate) } else { String::new() }),
        ("missed", e.missed.to_string()),
        ("actor", actor),
    ] {
        data.insert(k.to_string(), v);
    }
    region_values(&mut data, &region);
    // A shift's facts are about the shift; presence-daily, about its day.
    let subject_id = if e.shift_id.is_empty() { e.date.clone() } else { e.shift_id.clone() };
    Fact {
        source_type: SOURCE_TYPE.into(),
        source_event_id: ce_id.into(),
        fact: e.fact.clone(),
        kind: FactKind::Patrol,
        subject_id,
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
    use civicgrid_proto::v1::{Actor, RegionPath};

    use super::*;
    use crate::domain::facts::{TASK_FACTS, fields, kind_of};

    fn offset() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn event(fact: &str) -> PatrolEvent {
        PatrolEvent {
            fact: fact.into(),
            shift_id: "s1".into(),
            team_id: "411602-zx-1".into(),
            team_name: "川汇区专职巡防一中队".into(),
            unit_id: "411602-gongan".into(),
            supervisor_ids: vec!["sup-1".into(), " ".into(), "sup-2".into()],
            route_id: "r1".into(),
            route_name: "人民路校园周边".into(),
            region: Some(RegionPath {
                city: "411600".into(),
                county: "411602".into(),
                township: "411602001".into(),
                village: "411602001001".into(),
            }),
            member_id: "m-7".into(),
            member_name: "王强".into(),
            checkpoint_id: "cp-3".into(),
            checkpoint_name: "实验小学东门".into(),
            method: CheckInMethod::Crossing as i32,
            // 2026-11-16 09:00 Beijing time.
            occurred_at: Some(prost_types::Timestamp { seconds: 1_794_790_800, nanos: 0 }),
            missed: 2,
            actor: Some(Actor { subject: "civicgrid-patrol".into(), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn a_patrol_fact_has_every_declared_value_and_nothing_more() {
        let f = from_patrol_event("ce1", &event("checkpoint-missed"), offset());
        for k in fields(FactKind::Patrol) {
            assert!(f.data.contains_key(k), "patrol fact lacks {k}");
        }
        assert_eq!(f.data.len(), fields(FactKind::Patrol).len(), "no value beyond the declared ones");
        let v = |k: &str| f.data[k].as_str();
        assert_eq!((v("fact"), v("fact_label")), ("checkpoint-missed", "巡逻漏检"));
        assert_eq!((v("team_name"), v("unit_id")), ("川汇区专职巡防一中队", "411602-gongan"));
        assert_eq!(v("supervisor_ids"), "sup-1 sup-2", "blank ids are left out");
        assert_eq!((v("route_name"), v("checkpoint_name")), ("人民路校园周边", "实验小学东门"));
        assert_eq!((v("member_id"), v("member_name")), ("m-7", "王强"));
        assert_eq!((v("method"), v("method_label")), ("crossing", "途经签到"));
        assert_eq!((v("occurred_at"), v("missed"), v("actor")), ("2026-11-16 09:00", "2", "civicgrid-patrol"));
        assert_eq!((v("members"), v("online"), v("online_rate")), ("", "", ""), "no counts outside presence-daily");
        assert_eq!((v("region_code"), v("township")), ("411602001001", "411602001"));
        assert_eq!((f.kind, f.subject_id.as_str(), f.source_type.as_str()), (FactKind::Patrol, "s1", SOURCE_TYPE));
        assert!(f.at.is_some());
        assert_eq!(Fact::from_json(&f.to_json()), Some(f), "a kept fact comes back as it was");
    }

    #[test]
    fn presence_daily_is_about_its_day_and_its_rate_is_a_percentage() {
        let e = PatrolEvent {
            fact: "presence-daily".into(),
            region: Some(RegionPath { city: "411600".into(), county: "411602".into(), ..Default::default() }),
            date: "2026-11-15".into(),
            members: 240,
            online: 210,
            online_rate: 0.875,
            ..Default::default()
        };
        let f = from_patrol_event("ce2", &e, offset());
        let v = |k: &str| f.data[k].as_str();
        assert_eq!((v("date"), v("members"), v("online"), v("online_rate")), ("2026-11-15", "240", "210", "87.5"));
        assert_eq!((f.subject_id.as_str(), v("region_code"), v("fact_label")), ("2026-11-15", "411602", "每日上线率"));
        assert_eq!((v("shift_id"), v("supervisor_ids"), v("method")), ("", "", ""));
        assert_eq!(
            (percent(1.0), percent(0.0), percent(f64::NAN), percent(2.0)),
            ("100.0".into(), "0.0".into(), "0.0".into(), "100.0".into())
        );
    }

    #[test]
    fn a_finding_names_its_tracking_number_and_methods_their_chinese_names() {
        let mut e = event("finding-reported");
        e.event_id = "ev-1".into();
        e.tracking_number = "411602-20261116-000042".into();
        e.method = CheckInMethod::Unspecified as i32;
        let f = from_patrol_event("ce3", &e, offset());
        assert_eq!((f.data["tracking_number"].as_str(), f.event_id.as_str()), ("411602-20261116-000042", "ev-1"));
        assert_eq!((f.data["method"].as_str(), f.data["method_label"].as_str()), ("", ""));
        assert_eq!(method(CheckInMethod::Inside as i32), ("inside", "到达签到"));
        assert_eq!(method(CheckInMethod::QrCode as i32), ("qr_code", "扫码签到"));
        assert_eq!(method(CheckInMethod::Photo as i32), ("photo", "拍照签到"));
        assert_eq!(method(99), ("", ""), "a method patrol adds later is unset here");
    }

    #[test]
    fn every_patrol_fact_of_the_contract_is_known_and_named() {
        assert_eq!(PATROL_FACTS.len(), 12);
        for f in PATROL_FACTS {
            assert_eq!(kind_of(f), Some(FactKind::Patrol), "{f}");
            assert!(!fact_label(f).is_empty(), "{f} has a Chinese name");
            assert!(
                !TASK_FACTS.contains(f) && !super::super::mediation::CASE_FACTS.contains(f),
                "{f} is patrol's alone"
            );
        }
        assert_eq!(fact_label("member-sos"), "");
    }
}
