//! The traffic generator: the city's life played through the suite's public interfaces only,
//! as a department's system or a citizen's app would — reports with a realistic mix of items,
//! sources and places (more in the urban core and its communities, more by day), and the
//! departments, grid workers, center and reporters who work each task with realistic delays
//! (some late, some returned, some reworked, some rated dissatisfied).
//!
//! - [`config`]: what it plays ([`TrafficConfig`]);
//! - [`plan`]: the decisions, pure and unit-tested (seeded rng, clock, config in; reports,
//!   gaps and each task's actions with their delays out);
//! - [`driver`]: carries the plan out over gRPC.
//!
//! It is a client and nothing more: `deps_tests` fails if any of its files names a service
//! crate, the database or the kit's storage and bus internals.

pub mod config;
pub mod driver;
pub mod plan;

pub use config::TrafficConfig;
pub use driver::{Targets, run};
pub use plan::{Item, Planner};

#[cfg(test)]
mod deps_tests;
#[cfg(test)]
mod tests;
