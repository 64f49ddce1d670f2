//! What the command-center console (crates/console) reads from the bus: the facts of intake,
//! dispatch, mediation and patrol. It owns no stream, publishes nothing and keeps no durable
//! consumer: it follows each stream whole with an ephemeral ordered pull consumer (no acks).
//! The console's follower, `civicgrid topology --json` (`bus.readers`) and the NATS user that
//! deploy/nats/gen-auth.py derives from it all take this one declaration.

use crate::{Reader, dispatch, intake, mediation, patrol};

/// The console's name, and its NATS user.
pub const NAME: &str = "console";

/// The services whose streams the console follows, in the order it starts following them.
pub const SOURCES: [&str; 4] = [intake::SERVICE, dispatch::SERVICE, mediation::SERVICE, patrol::SERVICE];

/// The console as a reader of the bus.
pub const READER: Reader = Reader { name: NAME, sources: &SOURCES };
