use chrono::{DateTime, Duration, TimeZone, Utc};
use civicgrid_proto::v1::{
    Event, EventReported, Location, MediationCaseEvent, RegionPath, TaskEvent, TaskStatus, WarningColour,
};

use super::views::{self, Figures, ListFilter, ListKind};
use super::{Fact, State};
use crate::atlas::Level;

fn at(h: i64) -> DateTime<Utc> {
    // 2026-12-07 00:00 UTC+8 is 2026-12-06 16:00 UTC.
    Utc.with_ymd_and_hms(2026, 12, 6, 16, 0, 0).unwrap() + Duration::hours(h)
}

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 })
}

fn region(village: &str) -> Option<RegionPath> {
    Some(RegionPath {
        city: "411600".into(),
        county: village[..6].into(),
        township: village[..9].into(),
        village: village.into(),
    })
}

#[allow(clippy::too_many_arguments)]
fn task(
    id: &str,
    version: i64,
    fact: &str,
    status: TaskStatus,
    colour: WarningColour,
    grid: &str,
    dept: &str,
    h: i64,
) -> Fact {
    Fact::Task(TaskEvent {
        task_id: id.into(),
        event_id: format!("ev-{id}"),
        fact: fact.into(),
        status: status as i32,
        department_id: dept.into(),
        region: region(&grid[..12]),
        version,
        occurred_at: ts(at(h)),
        colour: colour as i32,
        item_code: "01.02.003".into(),
        grid_code: grid.into(),
        tracking_number: format!("TN-{id}"),
        ..Default::default()
    })
}

const G1: &str = "411602001001001";
const G2: &str = "411602001002001";
const G3: &str = "411621100001001";

fn city() -> State {
    let mut s = State::default();
    s.apply(task("a", 1, "task-awaiting-triage", TaskStatus::AwaitingTriage, WarningColour::Unspecified, G1, "", 1));
    s.apply(task("b", 1, "task-assigned", TaskStatus::Assigned, WarningColour::Blue, G1, "411602-cg", 2));
    s.apply(task("b", 2, "task-warning", TaskStatus::Assigned, WarningColour::Orange, G1, "411602-cg", 3));
    s.apply(task("c", 1, "task-assigned", TaskStatus::Assigned, WarningColour::Blue, G2, "411602-hb", 4));
    s.apply(task("c", 3, "task-closed", TaskStatus::Closed, WarningColour::Unspecified, G2, "411602-hb", 9));
    // A replayed older fact changes nothing.
    s.apply(task("c", 2, "task-resolved", TaskStatus::Resolved, WarningColour::Yellow, G2, "411602-hb", 8));
    s.apply(task("d", 1, "task-escalated", TaskStatus::Signed, WarningColour::Red, G3, "411621-cg", 5));
    s
}

#[test]
fn figures_count_each_child_and_the_worst_colour() {
    let s = city();
    let (total, kids) = views::figures_by_child(&s, "411600", Level::City, at(10));
    assert_eq!(total, Figures { open: 3, triage: 1, overdue: 2, escalated: 0, worst: 4, closed_today: 1 });
    assert_eq!(kids["411602"], Figures { open: 2, triage: 1, overdue: 1, escalated: 0, worst: 3, closed_today: 1 });
    assert_eq!(kids["411621"].worst, 4);
    let (_, grids) = views::figures_by_child(&s, "411602001001", Level::Village, at(10));
    assert_eq!(grids.keys().collect::<Vec<_>>(), [&G1.to_string()]);
    assert_eq!(grids[G1].open, 2);
}

#[test]
fn closed_today_starts_at_local_midnight() {
    let s = city();
    // Task c closed at 01:00 local on the 7th: today on the 7th, not on the 8th.
    assert_eq!(views::figures_by_child(&s, "", Level::City, at(23)).0.closed_today, 1);
    assert_eq!(views::figures_by_child(&s, "", Level::City, at(24)).0.closed_today, 0);
    assert_eq!(views::start_of_day(at(5)), at(0));
}

#[test]
fn a_newer_fact_wins_and_an_older_replayed_one_is_ignored() {
    let s = city();
    assert_eq!(s.tasks["c"].status, "TASK_STATUS_CLOSED");
    assert_eq!(s.tasks["b"].colour, "WARNING_COLOUR_ORANGE");
    assert!(s.tasks["c"].closed_at.is_some());
}

#[test]
fn lists_follow_their_filters_and_order() {
    let s = city();
    let ids = |f: &ListFilter| views::list(&s, f).tasks.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(&ListFilter::default()), ["a"]);
    let overdue = ListFilter { list: ListKind::Overdue, ..Default::default() };
    assert_eq!(ids(&overdue), ["d", "b"], "red before orange");
    assert_eq!(ids(&ListFilter { region: "411602".into(), ..overdue.clone() }), ["b"]);
    assert_eq!(ids(&ListFilter { department: "411621-cg".into(), ..overdue.clone() }), ["d"]);
    assert_eq!(ids(&ListFilter { colour: 4, ..overdue.clone() }), ["d"]);
    assert_eq!(ids(&ListFilter { since: Some(at(3)), ..overdue.clone() }), ["d"]);
    assert_eq!(ids(&ListFilter { item: "02.".into(), ..overdue.clone() }), Vec::<String>::new());
    let open = ListFilter { list: ListKind::Open, limit: Some(2), ..Default::default() };
    let page = views::list(&s, &open);
    assert_eq!((page.total, page.tasks.len()), (3, 2));
    assert_eq!(views::departments(&s, "411602").collect::<Vec<_>>(), ["411602-cg", "411602-hb"]);
    assert_eq!(views::busiest_departments(&s, "", 5), [("411602-cg".to_string(), 1), ("411621-cg".to_string(), 1)]);
}

#[test]
fn a_tracking_number_collects_its_steps_across_services() {
    let mut s = city();
    s.apply(Fact::Reported(EventReported {
        event: Some(Event {
            tracking_number: "TN-a".into(),
            item_code: "01.02.003".into(),
            reported_at: ts(at(0)),
            location: Some(Location { region: region(&G1[..12]), ..Default::default() }),
            ..Default::default()
        }),
        actor: None,
    }));
    let line = s.apply(Fact::Case(MediationCaseEvent {
        fact: "case-opened".into(),
        case_number: "M-1".into(),
        tracking_number: "TN-a".into(),
        organisation_id: "org-1".into(),
        region: region(&G1[..12]),
        occurred_at: ts(at(2)),
        ..Default::default()
    }));
    assert!(line.within("411602001") && !line.within("411621"));
    let steps: Vec<(&str, &str)> = s.steps["TN-a"].iter().map(|p| (p.service, p.fact.as_str())).collect();
    assert_eq!(
        steps,
        [("dispatch", "task-awaiting-triage"), ("intake", "event-reported"), ("mediation", "case-opened")]
    );
    assert_eq!(s.recent.back().map(|i| i.seq), Some(9));
}

#[test]
fn periods_start_at_local_midnight_and_custom_ones_name_their_wrong_field() {
    let now = at(10); // 2026-12-07 10:00 local
    assert_eq!(views::period("today", "", "", now), Ok((at(0), now)));
    assert_eq!(views::period("7d", "", "", now), Ok((at(-6 * 24), now)));
    assert_eq!(views::period("custom", "2026-12-01", "2026-12-07", now), Ok((at(-6 * 24), at(24))));
    assert_eq!(views::period("custom", "2026-12-07", "2026-12-07", now), Ok((at(0), at(24))));
    assert_eq!(views::period("custom", "12/01", "2026-12-07", now).unwrap_err().0, "from");
    assert_eq!(views::period("custom", "2026-12-08", "2026-12-07", now).unwrap_err().0, "to");
    assert_eq!(views::period("custom", "2025-01-01", "2026-12-07", now).unwrap_err().0, "to");
    assert_eq!(views::period("year", "", "", now).unwrap_err().0, "period");
}

#[test]
fn pruning_forgets_only_what_is_finished_and_old() {
    let mut s = city();
    // c closed at hour 9; the others are open.
    assert_eq!(s.prune(at(9)), 0, "closed at the cut-off: kept");
    assert_eq!(s.prune(at(10)), 1);
    assert!(!s.tasks.contains_key("c") && s.tasks.contains_key("a") && s.tasks.contains_key("d"));
    assert!(!s.steps.contains_key("TN-c") && s.steps.contains_key("TN-a"));
    // An open task keeps its old steps.
    assert_eq!(s.prune(at(1000)), 0);
    assert!(s.steps.contains_key("TN-a"));
}
