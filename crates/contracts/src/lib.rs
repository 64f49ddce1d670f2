//! civicgrid's bus contracts, declared once and used by producers, consumers, `civicgrid up`
//! and the deployment tooling (through `civicgrid topology --json`).
//!
//! - Subjects are `civicgrid.<service>.<fact>.<city>.<county>.<township>.<village>`
//!   ([`subject`]); a missing level is `_`.
//! - Each service owns one stream, `CIVICGRID_<SERVICE>` over `civicgrid.<service>.>`
//!   ([`Stream`]); dead letters go to [`DEADLETTER_STREAM`].
//! - A [`Fact`] names one fact and the protobuf message it carries (its `ce-type`); a
//!   [`FactFamily`] names several facts that share one message (dispatch's `TaskEvent`).
//! - A [`Consumer`] is a durable JetStream consumer: who keeps it, on which stream, with which
//!   filter subjects.
//! - A [`Feed`] is a stream of inputs kept apart from the facts (patrol's positions).
//! - A [`Reader`] follows services' streams with ephemeral ordered consumers and publishes
//!   nothing (the command-center [`console`]).
//!
//! The modules [`intake`], [`dispatch`], [`mediation`], [`patrol`] and [`notify`] hold each
//! service's stream, facts, feeds and consumers; [`topology`] gathers them all.

pub mod console;
pub mod dispatch;
pub mod intake;
pub mod mediation;
pub mod notify;
pub mod patrol;
mod types;

pub use types::{Consumer, Fact, FactFamily, Feed, Published, Stream, Subjects, Subscription};

use civicgrid_proto::v1::RegionPath;
use serde::Serialize;

/// The stream that holds every dead letter, on `civicgrid.deadletter.>`.
pub const DEADLETTER_STREAM: &str = "CIVICGRID_DEADLETTER";

/// The subjects of [`DEADLETTER_STREAM`].
pub const DEADLETTER_SUBJECTS: &str = "civicgrid.deadletter.>";

/// Every service that owns a stream, in the order the closed loop runs.
pub const STREAMS: &[Stream] = &[intake::STREAM, dispatch::STREAM, mediation::STREAM, patrol::STREAM, notify::STREAM];

/// Every feed of inputs.
pub const FEEDS: &[Feed] = &[patrol::POSITIONS];

/// Every durable consumer any service keeps.
pub const CONSUMERS: &[Consumer] = &[
    intake::TASK_STATUS,
    dispatch::INTAKE,
    mediation::DISPATCH,
    notify::INTAKE,
    notify::DISPATCH,
    notify::MEDIATION,
    notify::PATROL,
];

/// Every reader of the bus: processes that only follow streams (ephemeral ordered
/// consumers), publish nothing and keep no durable consumer.
pub const READERS: &[Reader] = &[console::READER];

/// A reader of the bus: it owns no stream, publishes nothing and keeps no durable consumer; it
/// follows each of its sources' streams whole (`civicgrid.<service>.>`) from the first message
/// with an ephemeral ordered pull consumer, which it never acknowledges. Its NATS user is its
/// name.
#[derive(Debug, Clone, Copy)]
pub struct Reader {
    /// Its name, and its NATS user.
    pub name: &'static str,
    /// The services whose streams it follows.
    pub sources: &'static [&'static str],
}

impl Reader {
    /// The filter subject of its consumer on `source`'s stream: the whole stream,
    /// `civicgrid.<source>.>`.
    pub fn filter_subject(source: &str) -> String {
        format!("civicgrid.{source}.>")
    }

    /// The name of one of its ordered consumers: `<reader>-<unique>`, `unique` being new for
    /// every consumer it starts (a NUID). A reader names its consumers itself: created with a
    /// name, the consumer's filter is part of the API subject
    /// (`$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>`), so its NATS user needs no right
    /// to the unnamed create form, which would let it rewrite another consumer's filter.
    pub fn consumer_name(&self, unique: &str) -> String {
        format!("{}-{unique}", self.name)
    }
}

/// The region tokens of a subject: `<city>.<county>.<township>.<village>`, `_` for a missing
/// level.
pub fn region_tokens(path: &RegionPath) -> String {
    let t = |s: &str| if s.is_empty() { "_".to_string() } else { s.to_string() };
    format!("{}.{}.{}.{}", t(&path.city), t(&path.county), t(&path.township), t(&path.village))
}

/// The subject of fact `fact` of `service` about something in `region`.
pub fn subject(service: &str, fact: &str, region: &RegionPath) -> String {
    format!("civicgrid.{service}.{fact}.{}", region_tokens(region))
}

/// The stream a service owns: `CIVICGRID_<SERVICE>`.
pub fn stream_name(service: &str) -> String {
    format!("CIVICGRID_{}", service.to_ascii_uppercase())
}

/// The dead-letter subject of one consumer: `civicgrid.deadletter.<service>.<durable>`.
pub fn deadletter_subject(service: &str, durable: &str) -> String {
    format!("civicgrid.deadletter.{service}.{durable}")
}

/// The stream owned by `service`, if it owns one.
pub fn stream_of(service: &str) -> Option<&'static Stream> {
    STREAMS.iter().find(|s| s.service == service)
}

/// The consumers kept by `service`.
pub fn consumers_of(service: &str) -> impl Iterator<Item = &'static Consumer> + '_ {
    CONSUMERS.iter().filter(move |c| c.service == service)
}

/// Everything above as data: what `civicgrid topology --json` prints under `bus`.
#[derive(Debug, Clone, Serialize)]
pub struct Topology {
    /// Each service's stream and the facts published on it.
    pub streams: Vec<StreamInfo>,
    /// Each feed of inputs (patrol's positions).
    pub feeds: Vec<FeedInfo>,
    /// The dead-letter stream.
    pub deadletter: DeadletterInfo,
    /// Every durable consumer.
    pub consumers: Vec<ConsumerInfo>,
    /// Every reader (the console): what it follows with ephemeral ordered consumers.
    pub readers: Vec<ReaderInfo>,
}

/// One stream in [`Topology`].
#[derive(Debug, Clone, Serialize)]
pub struct StreamInfo {
    /// The owning service.
    pub service: &'static str,
    /// `CIVICGRID_<SERVICE>`.
    pub name: String,
    /// Its subjects: `civicgrid.<service>.>`.
    pub subjects: Vec<String>,
    /// The facts published on it.
    pub facts: Vec<FactInfo>,
}

/// One fact in [`Topology`].
#[derive(Debug, Clone, Serialize)]
pub struct FactInfo {
    /// The fact's token in the subject, e.g. `event-reported`.
    pub name: &'static str,
    /// The protobuf full name of its payload (`ce-type`).
    pub ce_type: String,
    /// The subjects it is published on: `civicgrid.<service>.<fact>.>`.
    pub subjects: String,
}

/// One feed in [`Topology`].
#[derive(Debug, Clone, Serialize)]
pub struct FeedInfo {
    /// The service that owns and reads it.
    pub service: &'static str,
    /// The stream's name.
    pub name: &'static str,
    /// Its subjects, `civicgrid.<service>.<token>.>`.
    pub subjects: Vec<String>,
    /// The protobuf full name of its messages.
    pub message: String,
    /// The durable consumer the service reads it through.
    pub durable: &'static str,
    /// That consumer's dead-letter subject.
    pub deadletter_subject: String,
}

/// The dead-letter stream in [`Topology`].
#[derive(Debug, Clone, Serialize)]
pub struct DeadletterInfo {
    /// [`DEADLETTER_STREAM`].
    pub name: &'static str,
    /// [`DEADLETTER_SUBJECTS`].
    pub subjects: Vec<&'static str>,
    /// How one consumer's dead-letter subject is formed.
    pub subject_pattern: &'static str,
}

/// One durable consumer in [`Topology`].
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerInfo {
    /// The service that keeps it (and dead-letters on `civicgrid.deadletter.<service>.>`).
    pub service: &'static str,
    /// The durable name.
    pub durable: &'static str,
    /// The service whose stream it reads.
    pub source: &'static str,
    /// The stream it reads.
    pub stream: String,
    /// Its filter subjects.
    pub filter_subjects: Vec<String>,
    /// Its dead-letter subject.
    pub deadletter_subject: String,
}

/// One reader in [`Topology`].
#[derive(Debug, Clone, Serialize)]
pub struct ReaderInfo {
    /// Its name, and its NATS user.
    pub name: &'static str,
    /// How it consumes: always `ordered` (ephemeral, unacknowledged pull consumers).
    pub consumers: &'static str,
    /// What it publishes: nothing.
    pub publishes: Vec<String>,
    /// The streams it follows.
    pub reads: Vec<ReadInfo>,
}

/// One stream a reader follows.
#[derive(Debug, Clone, Serialize)]
pub struct ReadInfo {
    /// The service whose stream it is.
    pub source: &'static str,
    /// `CIVICGRID_<SOURCE>`.
    pub stream: String,
    /// The ordered consumer's single filter subject, `civicgrid.<source>.>`.
    pub filter_subject: String,
}

/// The whole bus topology.
pub fn topology() -> Topology {
    Topology {
        streams: STREAMS
            .iter()
            .map(|s| StreamInfo {
                service: s.service,
                name: s.name(),
                subjects: s.subjects(),
                facts: s
                    .facts()
                    .into_iter()
                    .map(|(name, ce_type)| FactInfo {
                        name,
                        ce_type,
                        subjects: format!("civicgrid.{}.{name}.>", s.service),
                    })
                    .collect(),
            })
            .collect(),
        feeds: FEEDS
            .iter()
            .map(|f| FeedInfo {
                service: f.service,
                name: f.name,
                subjects: vec![f.subjects()],
                message: (f.message)(),
                durable: f.durable,
                deadletter_subject: f.deadletter_subject(),
            })
            .collect(),
        deadletter: DeadletterInfo {
            name: DEADLETTER_STREAM,
            subjects: vec![DEADLETTER_SUBJECTS],
            subject_pattern: "civicgrid.deadletter.<service>.<durable>",
        },
        consumers: CONSUMERS
            .iter()
            .map(|c| ConsumerInfo {
                service: c.service,
                durable: c.durable,
                source: c.source,
                stream: stream_name(c.source),
                filter_subjects: c.filter_subjects(),
                deadletter_subject: deadletter_subject(c.service, c.durable),
            })
            .collect(),
        readers: READERS
            .iter()
            .map(|r| ReaderInfo {
                name: r.name,
                consumers: "ordered",
                publishes: Vec::new(),
                reads: r
                    .sources
                    .iter()
                    .map(|s| ReadInfo { source: s, stream: stream_name(s), filter_subject: Reader::filter_subject(s) })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_put_the_region_last_with_blanks_for_missing_levels() {
        let path = RegionPath {
            city: "411600".into(),
            county: "411602".into(),
            township: "411602001".into(),
            village: String::new(),
        };
        assert_eq!(intake::EVENT_REPORTED.subject(&path), "civicgrid.intake.event-reported.411600.411602.411602001._");
        assert_eq!(
            dispatch::TASK_FACTS.subject("task-warning", &path),
            "civicgrid.dispatch.task-warning.411600.411602.411602001._"
        );
    }

    #[test]
    fn ce_types_are_protobuf_full_names() {
        assert_eq!(intake::EVENT_REPORTED.ce_type(), "civicgrid.v1.EventReported");
        assert_eq!(dispatch::TASK_FACTS.ce_type(), "civicgrid.v1.TaskEvent");
        assert_eq!(notify::NOTIFY_FACTS.ce_type(), "civicgrid.v1.NotifyEvent");
    }

    #[test]
    fn every_consumer_reads_a_declared_stream_and_only_declared_facts() {
        for c in CONSUMERS {
            let stream = stream_of(c.source).unwrap_or_else(|| panic!("{}: no stream {}", c.durable, c.source));
            let names: Vec<&str> = stream.facts().into_iter().map(|(n, _)| n).collect();
            if let Subscription::Facts(facts) = c.subscription {
                for f in facts {
                    assert!(names.contains(f), "{}: {f} is not a fact of {}", c.durable, c.source);
                }
            }
            assert!(c.durable.starts_with(c.service), "{} is named after its service", c.durable);
        }
        let mut durables: Vec<_> = CONSUMERS.iter().map(|c| c.durable).collect();
        durables.sort();
        durables.dedup();
        assert_eq!(durables.len(), CONSUMERS.len(), "durable names are unique");
    }

    #[test]
    fn topology_serialises() {
        let json = serde_json::to_value(topology()).expect("json");
        assert_eq!(json["streams"][0]["name"], "CIVICGRID_INTAKE");
        assert_eq!(json["consumers"][0]["filter_subjects"][0], "civicgrid.dispatch.>");
    }

    #[test]
    fn the_console_reads_the_four_fact_streams_whole_and_owns_nothing() {
        let json = serde_json::to_value(topology()).expect("json");
        let console = &json["readers"][0];
        assert_eq!(console["name"], "console");
        assert_eq!(console["consumers"], "ordered");
        assert_eq!(console["publishes"], serde_json::json!([]));
        let reads: Vec<(String, String)> = console["reads"]
            .as_array()
            .expect("reads")
            .iter()
            .map(|r| (r["stream"].as_str().unwrap_or("").into(), r["filter_subject"].as_str().unwrap_or("").into()))
            .collect();
        assert_eq!(
            reads,
            [
                ("CIVICGRID_INTAKE".to_string(), "civicgrid.intake.>".to_string()),
                ("CIVICGRID_DISPATCH".into(), "civicgrid.dispatch.>".into()),
                ("CIVICGRID_MEDIATION".into(), "civicgrid.mediation.>".into()),
                ("CIVICGRID_PATROL".into(), "civicgrid.patrol.>".into()),
            ]
        );
        assert_eq!(console::READER.consumer_name("abc"), "console-abc");
        for r in READERS {
            assert!(r.sources.iter().all(|s| stream_of(s).is_some()), "{} reads declared streams", r.name);
            assert!(STREAMS.iter().all(|s| s.service != r.name), "{} owns no stream", r.name);
            assert!(CONSUMERS.iter().all(|c| c.service != r.name), "{} keeps no durable", r.name);
            assert!(
                FEEDS.iter().all(|f| r.sources.iter().all(|s| stream_name(s) != f.name)),
                "{} reads no feed",
                r.name
            );
        }
    }

    #[test]
    fn notify_reads_every_case_fact_of_mediation() {
        let c = consumers_of(notify::SERVICE).find(|c| c.source == mediation::SERVICE).expect("notify-mediation");
        assert_eq!((c.durable, c.stream().as_str()), ("notify-mediation", "CIVICGRID_MEDIATION"));
        assert_eq!(c.filter_subjects(), ["civicgrid.mediation.>"]);
        assert_eq!(c.deadletter_subject(), "civicgrid.deadletter.notify.notify-mediation");
    }

    #[test]
    fn notify_reads_patrols_facts_and_never_its_positions() {
        let c = consumers_of(notify::SERVICE).find(|c| c.source == patrol::SERVICE).expect("notify-patrol");
        assert_eq!((c.durable, c.stream().as_str()), ("notify-patrol", "CIVICGRID_PATROL"));
        let expected: Vec<String> = patrol::FACTS.names.iter().map(|f| format!("civicgrid.patrol.{f}.>")).collect();
        assert_eq!(expected.len(), 12);
        assert_eq!(c.filter_subjects(), expected, "exactly the 12 facts, in the contract's order");
        let positions = patrol::POSITIONS.subjects();
        assert_eq!(positions, "civicgrid.patrol.position.>");
        assert!(!c.filter_subjects().contains(&positions), "positions are not notify's");
        assert!(
            c.filter_subjects()
                .iter()
                .all(|s| s != "civicgrid.patrol.>" && !s.starts_with("civicgrid.patrol.position.")),
            "no filter takes the positions' subjects"
        );
        assert_eq!(c.deadletter_subject(), "civicgrid.deadletter.notify.notify-patrol");
    }
}
