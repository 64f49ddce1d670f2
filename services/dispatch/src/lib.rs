//! civicgrid dispatch (分流交办, 督办, 考核): routes reported events to departments, runs each
//! task's lifecycle, keeps its stage clocks on a business calendar, raises four-colour warnings
//! and escalations, and scores departments, regions and grid workers.
//!
//! The crate holds the foundations the service is built on:
//!
//! - [`domain`](mod@domain): pure code — the business calendar and time types, stage clocks,
//!   warning colours and escalation, the task state machine with its permission checks,
//!   routing, and the assessment formulas;
//! - [`reference`](mod@reference): the reference data dispatch owns — item catalog, regions
//!   and grids, departments, calendar — loaded from versioned TOML files and checked, with an
//!   example dataset for the demo city 周口市 compiled in.

pub mod domain;
pub mod reference;
