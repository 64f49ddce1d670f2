//! A worked example with known figures.

use chrono::{Duration, TimeZone};
use civicgrid_proto::v1::{CaseSource, DisputeType};

use super::*;

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 2, 0, 0).unwrap()
}

fn fact(name: &str, day: u32, org: &str, mediator: &str, township: &str, kind: DisputeType) -> RecordedFact {
    RecordedFact {
        fact: name.into(),
        at: at(day),
        organisation_id: org.into(),
        mediator_id: mediator.into(),
        region: RegionPathRecord {
            city: "411600".into(),
            county: "411602".into(),
            township: township.into(),
            village: String::new(),
        },
        dispute_type: kind as i32,
        source: CaseSource::Application as i32,
        amount_nanos: 0,
        days_to_outcome: None,
        overdue: false,
        ruling: None,
    }
}

/// November 2026 in two townships: five cases opened (one transferred in by a court), four
/// accepted (amounts 1,000.50 + 2,000 + 0 + 500 yuan), one refused; three agreements (after 10,
/// 20 and 36 days, the last overdue) and one failure (after 15 days), which was transferred out;
/// two confirmations applied, one confirmed. One case opened in October does not count.
fn november() -> Vec<RecordedFact> {
    let (a, b) = ("411602001", "411602002");
    let (org_a, org_b) = ("org-a", "org-b");
    let n = DisputeType::Neighbour;
    let f = DisputeType::Family;
    let mut facts = vec![
        fact("case-opened", 2, org_a, "m1", a, n),
        fact("case-opened", 2, org_a, "m1", a, f),
        fact("case-opened", 3, org_a, "m2", a, n),
        fact("case-opened", 4, org_b, "m3", b, n),
        fact("case-opened", 5, org_b, "m3", b, f),
        fact("case-refused", 6, org_b, "m3", b, f),
    ];
    facts[3].source = CaseSource::Court as i32;
    for (day, org, m, t, kind, yuan_nanos) in [
        (3, org_a, "m1", a, n, 1_000_500_000_000_i128),
        (3, org_a, "m1", a, f, 2_000_000_000_000),
        (4, org_a, "m2", a, n, 0),
        (5, org_b, "m3", b, n, 500_000_000_000),
    ] {
        let mut accepted = fact("case-accepted", day, org, m, t, kind);
        accepted.amount_nanos = yuan_nanos;
        facts.push(accepted);
    }
    for (name, day, org, m, t, kind, days, overdue) in [
        ("case-agreement-reached", 13, org_a, "m1", a, n, 10.0, false),
        ("case-agreement-reached", 23, org_a, "m1", a, f, 20.0, false),
        ("case-agreement-reached", 30, org_b, "m3", b, n, 36.0, true),
        ("case-failed", 19, org_a, "m2", a, n, 15.0, false),
    ] {
        let mut outcome = fact(name, day, org, m, t, kind);
        outcome.days_to_outcome = Some(days);
        outcome.overdue = overdue;
        facts.push(outcome);
    }
    facts.push(fact("case-transferred", 20, org_a, "m2", a, n));
    facts.push(fact("case-confirmation-applied", 15, org_a, "m1", a, n));
    facts.push(fact("case-confirmation-applied", 25, org_a, "m1", a, f));
    let mut ruled = fact("case-confirmation-ruled", 26, org_a, "m1", a, n);
    ruled.ruling = Some("confirmed".into());
    facts.push(ruled);
    let mut october = fact("case-opened", 1, org_a, "m1", a, n);
    october.at = at(1) - Duration::days(5);
    facts.push(october);
    facts
}

fn november_range() -> (DateTime<Utc>, DateTime<Utc>) {
    (Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap())
}

#[test]
fn the_whole_scope() {
    let (from, to) = november_range();
    let rows = fold(&november(), from, to, GroupBy::Whole);
    let t = &rows[""];
    assert_eq!((t.opened, t.accepted, t.settled, t.failed, t.refused), (5, 4, 3, 1, 1));
    assert_eq!(t.success_rate(), 0.75);
    assert_eq!(t.mean_days(), (10.0 + 20.0 + 36.0 + 15.0) / 4.0);
    assert_eq!(t.overdue, 1);
    assert_eq!((t.confirmations_applied, t.confirmations_confirmed), (2, 1));
    assert_eq!((t.transfers_in, t.transfers_out), (1, 1));
    let row = t.to_proto(String::new());
    assert_eq!(row.amount_involved.as_ref().map(|m| (m.units, m.nanos)), Some((3_500, 500_000_000)));
}

#[test]
fn grouped_by_organisation_mediator_region_and_type() {
    let (from, to) = november_range();
    let facts = november();
    let by_org = fold(&facts, from, to, GroupBy::Organisation);
    assert_eq!(by_org.keys().collect::<Vec<_>>(), ["org-a", "org-b"]);
    assert_eq!((by_org["org-a"].settled, by_org["org-a"].failed), (2, 1));
    assert!((by_org["org-a"].success_rate() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!((by_org["org-b"].opened, by_org["org-b"].refused, by_org["org-b"].success_rate()), (2, 1, 1.0));
    let by_mediator = fold(&facts, from, to, GroupBy::Mediator);
    assert_eq!(by_mediator["m2"].failed, 1);
    let by_township = fold(&facts, from, to, GroupBy::Region(RegionLevel::Township));
    assert_eq!(by_township["411602002"].transfers_in, 1);
    let by_type = fold(&facts, from, to, GroupBy::DisputeType);
    assert_eq!(by_type["DISPUTE_TYPE_FAMILY"].opened, 2);
    assert_eq!(by_type["DISPUTE_TYPE_NEIGHBOUR"].settled, 2);
}

#[test]
fn an_empty_period_has_no_rows_and_money_round_trips() {
    let rows = fold(&november(), at(1) - Duration::days(400), at(1) - Duration::days(300), GroupBy::Whole);
    assert!(rows.is_empty());
    assert_eq!(Tally::default().success_rate(), 0.0);
    let m = Money { currency_code: "CNY".into(), units: 12, nanos: 340_000_000 };
    assert_eq!(money_of_nanos(nanos_of_money(&m)), m);
}
