//! End-to-end tests: the suite as `civicgrid up` runs it, reached only through gRPC (grpcurl
//! and a tonic client) and NATS.

#![allow(clippy::unwrap_used)]

mod access;
mod access_probes;
mod auth;
mod books;
mod centers;
mod closed_loop;
mod cluster;
mod common;
mod console;
mod departments;
mod faults;
mod fuzz;
mod killpoints;
mod mediation;
mod natsauth;
mod one_process;
mod open311;
mod patrol;
mod poison;
mod readme;
mod replicas;
mod supervision;
mod systemd;
mod tour;
mod traces;
mod trail;
