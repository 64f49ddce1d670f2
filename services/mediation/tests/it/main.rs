//! mediation's integration tests: the service in-process with a manual clock, against its own
//! nats-server and its own database (and a real dispatch where the dispatch link is tested),
//! driven through gRPC and NATS only.

#![allow(clippy::unwrap_used)]

mod access;
mod consumer;
mod deadlines;
mod helpers;
mod input;
mod reference;
mod reveal;
mod runtime;
mod stats;
mod workflow;
