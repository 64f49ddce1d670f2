//! dispatch's integration tests: the service in-process with a manual clock, against its own
//! nats-server and its own database, driven through gRPC and NATS only.

#![allow(clippy::unwrap_used)]

mod batch;
mod helpers;
mod isolation;
mod kpis;
mod lifecycle;
mod reference;
mod reroute;
mod rework;
mod routing;
mod runtime;
mod warnings;
mod watch;
