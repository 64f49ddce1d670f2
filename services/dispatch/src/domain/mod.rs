//! dispatch's domain: the business calendar, stage clocks, warnings and escalation, the task
//! lifecycle, routing and assessment. Pure: no I/O, no clock reads — every function takes the
//! instant it reasons about.

pub mod calendar;
pub mod kpi;
pub mod lifecycle;
pub mod routing;
pub mod sla;
pub mod warning;
