//! intake's integration tests: the service in-process, against its own nats-server and its own
//! database, driven through gRPC and NATS only.

#![allow(clippy::unwrap_used)]

mod batch;
mod bus;
mod helpers;
mod lookups;
mod open311;
mod rating;
mod retention;
mod runtime;
mod security;
mod submit;
mod task_batch;
