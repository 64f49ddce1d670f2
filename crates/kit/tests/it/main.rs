//! Integration tests of the shared plumbing against a real nats-server and PostgreSQL.

#![allow(clippy::unwrap_used)]

mod audit;
mod bus;
mod bus_discarded;
mod feed;
mod jwks;
mod outbox_vacuum;
mod relay_batches;
mod relay_plans;
mod tls;
mod traces;
