//! What a fact on the bus says, flattened into named values for rules and templates: dispatch's
//! task facts, intake's `event-reported` and `event-merged`, mediation's case facts (their
//! values in [`super::mediation`]), patrol's facts (in [`super::patrol`]), and notify's own
//! `notify-unacknowledged`. Whom a rule's `to` names for a fact is in [`super::selectors`].

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use civicgrid_kit::time::from_proto;
use civicgrid_proto::v1::{EventMerged, EventReported, RegionPath, TaskEvent, TaskStatus, WarningColour};

use super::recipients::{Kind, Recipient, parent_region};

/// The families of facts notify understands; each has its own set of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactKind {
    /// dispatch's `task-*` facts (`civicgrid.v1.TaskEvent`).
    Task,
    /// intake's `event-reported`.
    EventReported,
    /// intake's `event-merged`.
    EventMerged,
    /// mediation's `case-*` facts (`civicgrid.v1.MediationCaseEvent`).
    Case,
    /// patrol's facts (`civicgrid.v1.PatrolEvent`).
    Patrol,
    /// notify's own: a notice that asked for acknowledgement was not acknowledged in time.
    Unacknowledged,
}

impl FactKind {
    /// The service that publishes facts of this family (`notify` for its own).
    pub fn service(self) -> &'static str {
        match self {
            FactKind::Task => civicgrid_contracts::dispatch::SERVICE,
            FactKind::EventReported | FactKind::EventMerged => civicgrid_contracts::intake::SERVICE,
            FactKind::Case => civicgrid_contracts::mediation::SERVICE,
            FactKind::Patrol => civicgrid_contracts::patrol::SERVICE,
            FactKind::Unacknowledged => civicgrid_contracts::notify::SERVICE,
        }
    }
}

/// dispatch's facts, as its contract declares them.
pub const TASK_FACTS: &[&str] = civicgrid_contracts::dispatch::TASK_FACTS.names;

/// The fact notify raises itself for an unacknowledged notice.
pub const UNACKNOWLEDGED: &str = "notify-unacknowledged";

/// The family of a fact name, or `None` for one notify does not know.
pub fn kind_of(fact: &str) -> Option<FactKind> {
    match fact {
        f if f == civicgrid_contracts::intake::EVENT_REPORTED.name => Some(FactKind::EventReported),
        f if f == civicgrid_contracts::intake::EVENT_MERGED.name => Some(FactKind::EventMerged),
        UNACKNOWLEDGED => Some(FactKind::Unacknowledged),
        f if TASK_FACTS.contains(&f) => Some(FactKind::Task),
        f if super::mediation::CASE_FACTS.contains(&f) => Some(FactKind::Case),
        f if super::patrol::PATROL_FACTS.contains(&f) => Some(FactKind::Patrol),
        _ => None,
    }
}

const REGION_FIELDS: [&str; 5] = ["region_code", "city", "county", "township", "village"];

/// The values a fact of `kind` always has (the placeholders templates may use and the names
/// `when` conditions may test).
pub fn fields(kind: FactKind) -> Vec<&'static str> {
    let own: &[&str] = match kind {
        FactKind::Task => &[
            "fact",
            "task_id",
            "event_id",
            "tracking_number",
            "status",
            "department_id",
            "item_code",
            "colour",
            "escalated",
            "escalated_to",
            "reason",
            "rework_count",
            "lead",
            "grid_code",
            "grid_worker_id",
            "occurred_at",
            "actor",
        ],
        FactKind::EventReported => &[
            "fact",
            "event_id",
            "tracking_number",
            "item_code",
            "source",
            "address",
            "description",
            "occurred_at",
            "reported_at",
        ],
        FactKind::EventMerged => &["fact", "event_id", "tracking_number", "report_count", "reported_at"],
        FactKind::Case => super::mediation::FIELDS,
        FactKind::Patrol => super::patrol::FIELDS,
        FactKind::Unacknowledged => &[
            "fact",
            "original_fact",
            "original_service",
            "original_recipient",
            "original_title",
            "tracking_number",
            "ack_due_at",
            "escalated_to",
        ],
    };
    own.iter().copied().chain(REGION_FIELDS).collect()
}

/// One fact, ready for the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// The payload's ce-type.
    pub source_type: String,
    /// The message's ce-id.
    pub source_event_id: String,
    /// The fact name (`task-assigned` …).
    pub fact: String,
    /// Its family.
    pub kind: FactKind,
    /// The task id (dispatch) or event id (intake) it is about.
    pub subject_id: String,
    /// The intake event behind it, when known (to find its reporters).
    pub event_id: String,
    /// Its region.
    pub region: RegionPath,
    /// Named values (see [`fields`]).
    pub data: BTreeMap<String, String>,
    /// The reporter of an intake fact (the new report's).
    pub reporter_id: String,
    /// When it happened, when the fact says (to leave old facts unannounced).
    pub at: Option<DateTime<Utc>>,
    /// The W3C `traceparent` of the consumer's span for the message that brought it, kept with
    /// its deliveries so the webhook call, made later by the worker, goes on in its trace.
    pub traceparent: Option<String>,
}

impl Fact {
    /// The fact as JSON, to keep it until its event's reporters are known.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "source_type": self.source_type,
            "source_event_id": self.source_event_id,
            "fact": self.fact,
            "subject_id": self.subject_id,
            "event_id": self.event_id,
            "region": [self.region.city, self.region.county, self.region.township, self.region.village],
            "data": self.data,
            "at": self.at.map(|t| t.timestamp_micros()),
            "traceparent": self.traceparent,
        })
    }

    /// A fact kept by [`to_json`](Self::to_json); `None` when it is not one.
    pub fn from_json(v: &serde_json::Value) -> Option<Fact> {
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let fact = text("fact")?;
        let region: Vec<String> =
            v.get("region")?.as_array()?.iter().map(|x| x.as_str().unwrap_or_default().to_string()).collect();
        let data: BTreeMap<String, String> = serde_json::from_value(v.get("data")?.clone()).ok()?;
        Some(Fact {
            source_type: text("source_type")?,
            source_event_id: text("source_event_id")?,
            kind: kind_of(&fact)?,
            fact,
            subject_id: text("subject_id")?,
            event_id: text("event_id")?,
            region: RegionPath {
                city: region.first().cloned().unwrap_or_default(),
                county: region.get(1).cloned().unwrap_or_default(),
                township: region.get(2).cloned().unwrap_or_default(),
                village: region.get(3).cloned().unwrap_or_default(),
            },
            data,
            reporter_id: String::new(),
            at: v.get("at").and_then(|x| x.as_i64()).and_then(DateTime::from_timestamp_micros),
            traceparent: text("traceparent"),
        })
    }
}

pub(super) fn local(ts: Option<&prost_types::Timestamp>, offset: FixedOffset) -> String {
    ts.and_then(from_proto).map(|t| format_local(t, offset)).unwrap_or_default()
}

/// `2026-11-22 09:30` in the platform's time zone.
pub fn format_local(at: DateTime<Utc>, offset: FixedOffset) -> String {
    at.with_timezone(&offset).format("%Y-%m-%d %H:%M").to_string()
}

pub(super) fn region_values(data: &mut BTreeMap<String, String>, region: &RegionPath) {
    let most_precise =
        [&region.village, &region.township, &region.county, &region.city].into_iter().find(|c| !c.is_empty());
    data.insert("region_code".into(), most_precise.cloned().unwrap_or_default());
    data.insert("city".into(), region.city.clone());
    data.insert("county".into(), region.county.clone());
    data.insert("township".into(), region.township.clone());
    data.insert("village".into(), region.village.clone());
}

/// The lower-case name of a colour ("red"), as templates and `when` conditions see it.
pub fn colour_name(colour: i32) -> &'static str {
    match WarningColour::try_from(colour).unwrap_or(WarningColour::Unspecified) {
        WarningColour::Blue => "blue",
        WarningColour::Yellow => "yellow",
        WarningColour::Orange => "orange",
        WarningColour::Red => "red",
        WarningColour::Unspecified => "none",
    }
}

/// The lower-case name of a task status ("awaiting-triage", "assigned" …).
pub fn status_name(status: i32) -> &'static str {
    match TaskStatus::try_from(status).unwrap_or(TaskStatus::Unspecified) {
        TaskStatus::AwaitingTriage => "awaiting-triage",
        TaskStatus::Assigned => "assigned",
        TaskStatus::Signed => "signed",
        TaskStatus::InProgress => "in-progress",
        TaskStatus::Resolved => "resolved",
        TaskStatus::Verified => "verified",
        TaskStatus::Closed => "closed",
        TaskStatus::Suspended => "suspended",
        TaskStatus::Unspecified => "unknown",
    }
}

/// A dispatch task fact.
pub fn from_task_event(ce_id: &str, e: &TaskEvent, offset: FixedOffset) -> Fact {
    let region = e.region.clone().unwrap_or_default();
    let mut data = BTreeMap::new();
    let actor = e.actor.as_ref().map(|a| a.subject.clone()).unwrap_or_default();
    for (k, v) in [
        ("fact", e.fact.clone()),
        ("task_id", e.task_id.clone()),
        ("event_id", e.event_id.clone()),
        ("tracking_number", e.tracking_number.clone()),
        ("status", status_name(e.status).to_string()),
        ("department_id", e.department_id.clone()),
        ("item_code", e.item_code.clone()),
        ("colour", colour_name(e.colour).to_string()),
        ("escalated", e.escalated.to_string()),
        ("escalated_to", e.escalated_to.clone()),
        ("reason", e.reason.clone()),
        ("rework_count", e.rework_count.to_string()),
        ("lead", e.lead.to_string()),
        ("grid_code", e.grid_code.clone()),
        ("grid_worker_id", e.grid_worker_id.clone()),
        ("occurred_at", local(e.occurred_at.as_ref(), offset)),
        ("actor", actor),
    ] {
        data.insert(k.to_string(), v);
    }
    region_values(&mut data, &region);
    Fact {
        source_type: "civicgrid.v1.TaskEvent".into(),
        source_event_id: ce_id.into(),
        fact: e.fact.clone(),
        kind: FactKind::Task,
        subject_id: e.task_id.clone(),
        event_id: e.event_id.clone(),
        region,
        data,
        reporter_id: String::new(),
        at: e.occurred_at.as_ref().and_then(from_proto),
        traceparent: None,
    }
}

/// intake's `event-reported`.
pub fn from_reported(ce_id: &str, r: &EventReported, offset: FixedOffset) -> Fact {
    let event = r.event.clone().unwrap_or_default();
    let location = event.location.clone().unwrap_or_default();
    let region = location.region.clone().unwrap_or_default();
    let first = event.reports.first().cloned().unwrap_or_default();
    let source = civicgrid_proto::v1::EventSource::try_from(event.source)
        .map(|s| s.as_str_name().trim_start_matches("EVENT_SOURCE_").to_ascii_lowercase())
        .unwrap_or_default();
    let mut data = BTreeMap::new();
    for (k, v) in [
        ("fact", "event-reported".to_string()),
        ("event_id", event.id.clone()),
        ("tracking_number", event.tracking_number.clone()),
        ("item_code", event.item_code.clone()),
        ("source", source),
        ("address", location.address.clone()),
        ("description", event.description.clone()),
        ("occurred_at", local(event.occurred_at.as_ref(), offset)),
        ("reported_at", local(event.reported_at.as_ref(), offset)),
    ] {
        data.insert(k.to_string(), v);
    }
    region_values(&mut data, &region);
    Fact {
        source_type: "civicgrid.v1.EventReported".into(),
        source_event_id: ce_id.into(),
        fact: "event-reported".into(),
        kind: FactKind::EventReported,
        subject_id: event.id.clone(),
        event_id: event.id,
        region,
        data,
        reporter_id: first.reporter_id,
        at: event.reported_at.as_ref().and_then(from_proto),
        traceparent: None,
    }
}

/// intake's `event-merged`.
pub fn from_merged(ce_id: &str, m: &EventMerged, offset: FixedOffset) -> Fact {
    let region = m.region.clone().unwrap_or_default();
    let report = m.report.clone().unwrap_or_default();
    let mut data = BTreeMap::new();
    for (k, v) in [
        ("fact", "event-merged".to_string()),
        ("event_id", m.event_id.clone()),
        ("tracking_number", m.tracking_number.clone()),
        ("report_count", m.report_count.to_string()),
        ("reported_at", local(report.reported_at.as_ref(), offset)),
    ] {
        data.insert(k.to_string(), v);
    }
    region_values(&mut data, &region);
    Fact {
        source_type: "civicgrid.v1.EventMerged".into(),
        source_event_id: ce_id.into(),
        fact: "event-merged".into(),
        kind: FactKind::EventMerged,
        subject_id: m.event_id.clone(),
        event_id: m.event_id.clone(),
        region,
        data,
        reporter_id: report.reporter_id,
        at: report.reported_at.as_ref().and_then(from_proto),
        traceparent: None,
    }
}

/// What notify knows of a notice that was not acknowledged in time.
#[derive(Debug, Clone)]
pub struct Unacknowledged {
    /// The notice's id (the fact's "ce-id": one re-escalation per notice).
    pub notification_id: String,
    /// Its recipient.
    pub recipient: String,
    /// Its title.
    pub title: String,
    /// Its fact.
    pub fact: String,
    /// Its subject id.
    pub subject_id: String,
    /// Its region.
    pub region: RegionPath,
    /// Its values.
    pub data: BTreeMap<String, String>,
    /// When it was due.
    pub ack_due_at: DateTime<Utc>,
}

/// The fact for an unacknowledged notice: it escalates one level above the region of the
/// center or leaders it was sent to; for a patrol supervisor, to the township of the fact (the
/// center that watches the team's ground; its county, or city, without one); for any other
/// recipient, to the county of the fact (its city without one).
pub fn unacknowledged(u: &Unacknowledged, offset: FixedOffset) -> Fact {
    let first = |codes: &[&String]| codes.iter().find(|c| !c.is_empty()).map(|c| c.to_string()).unwrap_or_default();
    let above = match Recipient::parse(&u.recipient) {
        Ok(r) if matches!(r.kind, Kind::Center | Kind::Leaders) => parent_region(&r.id).unwrap_or(r.id),
        Ok(r) if r.kind == Kind::PatrolSupervisor => first(&[&u.region.township, &u.region.county, &u.region.city]),
        _ => first(&[&u.region.county, &u.region.city]),
    };
    let service = kind_of(&u.fact).map(FactKind::service).unwrap_or_default();
    // A mediation case has no tracking number: its case number stands in.
    let value = |k: &str| u.data.get(k).filter(|v| !v.is_empty()).cloned();
    let number = value("tracking_number").or_else(|| value("case_number")).unwrap_or_default();
    let mut data = BTreeMap::new();
    for (k, v) in [
        ("fact", UNACKNOWLEDGED.to_string()),
        ("original_fact", u.fact.clone()),
        ("original_service", service.to_string()),
        ("original_recipient", u.recipient.clone()),
        ("original_title", u.title.clone()),
        ("tracking_number", number),
        ("ack_due_at", format_local(u.ack_due_at, offset)),
        ("escalated_to", above),
    ] {
        data.insert(k.to_string(), v);
    }
    region_values(&mut data, &u.region);
    Fact {
        source_type: "civicgrid.v1.Notification".into(),
        source_event_id: u.notification_id.clone(),
        fact: UNACKNOWLEDGED.into(),
        kind: FactKind::Unacknowledged,
        subject_id: u.subject_id.clone(),
        event_id: u.data.get("event_id").cloned().unwrap_or_default(),
        region: u.region.clone(),
        data,
        reporter_id: String::new(),
        at: None,
        traceparent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use civicgrid_proto::v1::{Event, EventReport, Location};

    fn offset() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn path() -> RegionPath {
        RegionPath {
            city: "411600".into(),
            county: "411602".into(),
            township: "411602001".into(),
            village: "411602001001".into(),
        }
    }

    fn task(fact: &str) -> TaskEvent {
        TaskEvent {
            task_id: "t1".into(),
            event_id: "e1".into(),
            fact: fact.into(),
            status: TaskStatus::Assigned as i32,
            department_id: "cg-411602".into(),
            region: Some(path()),
            colour: WarningColour::Red as i32,
            escalated_to: "411602".into(),
            grid_code: "411602001001001".into(),
            grid_worker_id: "gw-1".into(),
            tracking_number: "411602-20261122-000001".into(),
            occurred_at: Some(prost_types::Timestamp { seconds: 1_795_000_000, nanos: 0 }),
            ..Default::default()
        }
    }

    #[test]
    fn every_declared_field_is_filled_for_each_kind() {
        let t = from_task_event("ce1", &task("task-escalated"), offset());
        for f in fields(FactKind::Task) {
            assert!(t.data.contains_key(f), "task fact lacks {f}");
        }
        assert_eq!((t.data["colour"].as_str(), t.data["status"].as_str()), ("red", "assigned"));
        assert_eq!(t.data["region_code"], "411602001001");
        let r = from_reported(
            "ce2",
            &EventReported {
                event: Some(Event {
                    id: "e1".into(),
                    tracking_number: "411602-20261122-000001".into(),
                    location: Some(Location { region: Some(path()), ..Default::default() }),
                    reports: vec![EventReport { reporter_id: "r1".into(), ..Default::default() }],
                    ..Default::default()
                }),
                actor: None,
            },
            offset(),
        );
        for f in fields(FactKind::EventReported) {
            assert!(r.data.contains_key(f), "event-reported lacks {f}");
        }
        assert_eq!(r.reporter_id, "r1");
        let m = from_merged(
            "ce3",
            &EventMerged {
                event_id: "e1".into(),
                report: Some(EventReport { reporter_id: "r2".into(), ..Default::default() }),
                report_count: 2,
                region: Some(path()),
                ..Default::default()
            },
            offset(),
        );
        for f in fields(FactKind::EventMerged) {
            assert!(m.data.contains_key(f), "event-merged lacks {f}");
        }
        let u = unacknowledged(
            &Unacknowledged {
                notification_id: "n1".into(),
                recipient: "center:411602".into(),
                title: "督办".into(),
                fact: "task-escalated".into(),
                subject_id: "t1".into(),
                region: path(),
                data: t.data.clone(),
                ack_due_at: DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
            },
            offset(),
        );
        for f in fields(FactKind::Unacknowledged) {
            assert!(u.data.contains_key(f), "unacknowledged lacks {f}");
        }
        assert_eq!(u.data["escalated_to"], "411600", "a county center's notice goes up to the city");
        assert_eq!(Fact::from_json(&t.to_json()), Some(t), "a kept fact comes back as it was");
        assert_eq!(kind_of("task-warning"), Some(FactKind::Task));
        assert_eq!(kind_of("task-unknown"), None);
    }
}
