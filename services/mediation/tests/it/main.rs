//! mediation's integration tests: the service in-process, against its own nats-server and its
//! own database, driven through gRPC and NATS only.
#![allow(clippy::unwrap_used)]
