//! notify's integration tests: a real nats-server and PostgreSQL per test, facts published on
//! the bus exactly as intake, dispatch, mediation and patrol publish them, notify driven through
//! gRPC, and a real HTTP receiver for webhooks.

#![allow(clippy::unwrap_used)]

mod guards;
mod helpers;
mod inbox;
mod inbox_locks;
mod mediation;
mod patrol;
mod plans;
mod recipients;
mod restart;
mod rules_file;
mod runtime;
mod signature;
mod sms;
mod timing;
mod upgrade;
mod webhooks;
