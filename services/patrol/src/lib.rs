//! civicgrid patrol (巡逻防控): patrol teams walk routes of checkpoints past key places during
//! their shifts; the service takes their positions, detects check-ins, raises missed-checkpoint
//! and member-offline alarms and reports coverage.
//!
//! For now the crate holds only [`domain`], the pure part: geometry and geofences, the spatial
//! index, position validation, tour progress along a route, liveness, trip totals and coverage.
//! The service's runtime parts (settings, storage, gRPC handlers, consumers, jobs) come next and
//! build on it.

pub mod domain;
