//! patrol's integration tests: the service in-process with a manual clock, against its own
//! nats-server and its own database (and a real intake where findings are tested), driven
//! through gRPC and NATS only.

#![allow(clippy::unwrap_used)]

mod alarms;
mod helpers;
mod outage;
mod positions;
mod reference;
mod reports;
mod runtime;
mod shifts;
