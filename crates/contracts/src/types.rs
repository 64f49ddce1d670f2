//! The contract types: a stream, a fact, a family of facts, a consumer.

use std::marker::PhantomData;

use civicgrid_proto::v1::RegionPath;

/// One service's stream: `CIVICGRID_<SERVICE>` over its subjects, and what is published on
/// it.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    /// The owning service (its subject token and schema).
    pub service: &'static str,
    /// What is published on it.
    pub published: &'static [Published],
    /// Which subjects it holds.
    pub subjects: Subjects,
}

/// Which subjects a service's stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subjects {
    /// Everything under `civicgrid.<service>.>`.
    Service,
    /// Only its facts, `civicgrid.<service>.<fact>.>` each: the service has other subjects
    /// under its token that another stream holds (patrol's positions, a [`Feed`]).
    Facts,
}

/// A stream of inputs a service takes in at a high rate, kept apart from its facts with a
/// short age limit: patrol's positions. Devices publish on its subjects; the service reads it
/// through one durable consumer.
#[derive(Debug, Clone, Copy)]
pub struct Feed {
    /// The service that owns and reads it.
    pub service: &'static str,
    /// The stream's name, `CIVICGRID_<SERVICE>_<WHAT>`.
    pub name: &'static str,
    /// The token after the service's in its subjects: `civicgrid.<service>.<token>.<region path>`.
    pub token: &'static str,
    /// The durable consumer the service reads it through.
    pub durable: &'static str,
    /// The protobuf full name of the messages on it.
    pub message: fn() -> String,
}

impl Feed {
    /// `civicgrid.<service>.<token>.>`.
    pub fn subjects(&self) -> String {
        format!("civicgrid.{}.{}.>", self.service, self.token)
    }

    /// The subject a device in `region` publishes on.
    pub fn subject(&self, region: &RegionPath) -> String {
        format!("civicgrid.{}.{}.{}", self.service, self.token, crate::region_tokens(region))
    }

    /// The dead-letter subject of its consumer.
    pub fn deadletter_subject(&self) -> String {
        crate::deadletter_subject(self.service, self.durable)
    }
}

/// Facts published on a stream: one [`Fact`] or a [`FactFamily`].
#[derive(Debug, Clone, Copy)]
pub enum Published {
    /// One fact.
    One {
        /// The fact's name.
        name: &'static str,
        /// The protobuf full name of its payload.
        ce_type: fn() -> String,
    },
    /// Several facts sharing one payload type.
    Family {
        /// The facts' names.
        names: &'static [&'static str],
        /// The protobuf full name of their payload.
        ce_type: fn() -> String,
    },
}

impl Stream {
    /// `CIVICGRID_<SERVICE>`.
    pub fn name(&self) -> String {
        crate::stream_name(self.service)
    }

    /// Its subjects: `civicgrid.<service>.>`, or one `civicgrid.<service>.<fact>.>` per fact.
    pub fn subjects(&self) -> Vec<String> {
        match self.subjects {
            Subjects::Service => vec![format!("civicgrid.{}.>", self.service)],
            Subjects::Facts => {
                self.facts().into_iter().map(|(name, _)| format!("civicgrid.{}.{name}.>", self.service)).collect()
            }
        }
    }

    /// Every fact published on the stream with its `ce-type`.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for p in self.published {
            match p {
                Published::One { name, ce_type } => out.push((*name, ce_type())),
                Published::Family { names, ce_type } => out.extend(names.iter().map(|n| (*n, ce_type()))),
            }
        }
        out
    }
}

/// One fact: its owning service, its name (the subject's third token) and, as a type, the
/// protobuf message it carries. A producer can only build the subject and `ce-type` of a fact
/// from the message type it declares.
pub struct Fact<M> {
    /// The publishing service.
    pub service: &'static str,
    /// The fact's name, e.g. `event-reported`.
    pub name: &'static str,
    payload: PhantomData<fn() -> M>,
}

impl<M> Fact<M> {
    /// Declares a fact.
    pub const fn new(service: &'static str, name: &'static str) -> Self {
        Fact { service, name, payload: PhantomData }
    }
}

impl<M: prost::Name> Fact<M> {
    /// The subject of this fact about something in `region`.
    pub fn subject(&self, region: &RegionPath) -> String {
        crate::subject(self.service, self.name, region)
    }

    /// The `ce-type`: the payload's protobuf full name.
    pub fn ce_type(&self) -> String {
        M::full_name()
    }

    /// The filter subject that receives this fact everywhere: `civicgrid.<service>.<fact>.>`.
    pub fn filter(&self) -> String {
        format!("civicgrid.{}.{}.>", self.service, self.name)
    }

    /// This fact as an entry of its stream's [`Stream::published`].
    pub const fn published(&self) -> Published {
        Published::One { name: self.name, ce_type: <M as prost::Name>::full_name }
    }
}

/// Facts that share one payload type; the fact's name travels in the subject (and, for
/// dispatch's `TaskEvent`, in the payload's `fact` field).
pub struct FactFamily<M> {
    /// The publishing service.
    pub service: &'static str,
    /// Every fact of the family.
    pub names: &'static [&'static str],
    payload: PhantomData<fn() -> M>,
}

impl<M> FactFamily<M> {
    /// Declares a family.
    pub const fn new(service: &'static str, names: &'static [&'static str]) -> Self {
        FactFamily { service, names, payload: PhantomData }
    }

    /// Whether `fact` belongs to the family.
    pub fn contains(&self, fact: &str) -> bool {
        self.names.contains(&fact)
    }
}

impl<M: prost::Name> FactFamily<M> {
    /// The subject of `fact` about something in `region`. A name outside the family is a
    /// programming error: debug builds panic on it.
    pub fn subject(&self, fact: &str, region: &RegionPath) -> String {
        debug_assert!(self.contains(fact), "`{fact}` is not a fact of {}", self.service);
        crate::subject(self.service, fact, region)
    }

    /// The `ce-type` every fact of the family carries.
    pub fn ce_type(&self) -> String {
        M::full_name()
    }

    /// The family as an entry of its stream's [`Stream::published`].
    pub const fn published(&self) -> Published {
        Published::Family { names: self.names, ce_type: <M as prost::Name>::full_name }
    }
}

/// What a consumer receives from its source stream.
#[derive(Debug, Clone, Copy)]
pub enum Subscription {
    /// Every fact of the stream (its subjects).
    All,
    /// These facts only (`civicgrid.<source>.<fact>.>` each).
    Facts(&'static [&'static str]),
}

/// A durable JetStream consumer.
#[derive(Debug, Clone, Copy)]
pub struct Consumer {
    /// The service that keeps it.
    pub service: &'static str,
    /// The durable name, shared by every replica of the service.
    pub durable: &'static str,
    /// The service whose stream it reads.
    pub source: &'static str,
    /// What it receives.
    pub subscription: Subscription,
}

impl Consumer {
    /// The stream it reads.
    pub fn stream(&self) -> String {
        crate::stream_name(self.source)
    }

    /// Its filter subjects.
    pub fn filter_subjects(&self) -> Vec<String> {
        match self.subscription {
            Subscription::All => crate::stream_of(self.source)
                .map(|s| s.subjects())
                .unwrap_or_else(|| vec![format!("civicgrid.{}.>", self.source)]),
            Subscription::Facts(facts) => facts.iter().map(|f| format!("civicgrid.{}.{f}.>", self.source)).collect(),
        }
    }

    /// Its dead-letter subject.
    pub fn deadletter_subject(&self) -> String {
        crate::deadletter_subject(self.service, self.durable)
    }
}
