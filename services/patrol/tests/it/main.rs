//! patrol's integration tests: the service in-process with a manual clock, against its own
//! nats-server and its own database (and a real intake where findings are tested), driven
//! through gRPC and NATS only.

#![allow(clippy::unwrap_used)]

#[allow(dead_code, unused_imports)] // the helpers of the tests still to come
mod helpers;
mod reference;
