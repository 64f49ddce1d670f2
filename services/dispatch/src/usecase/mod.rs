//! dispatch's use cases, as methods of [`Store`]: each runs one transaction over the
//! [`store`](crate::store) modules' SQL and the pure rules of [`domain`](crate::domain),
//! [`planning`](crate::planning) and [`visibility`](crate::visibility).
//!
//! - [`create`]: tasks for newly reported events;
//! - [`act`]: an action on a task for a caller (idempotent), and [`apply`]: writing a
//!   lifecycle decision, shared with ratings;
//! - [`rating`]: a rating of an event's outcome, reopening the case when dissatisfied;
//! - [`tick`]: one warning-ticker round; [`escalation`]: when and how a task escalates;
//! - [`reference`]: the reference set in force, loading a new one;
//! - [`kpis`]: assessment figures folded from the recorded facts.

pub mod act;
pub mod apply;
pub mod create;
pub mod escalation;
pub mod kpis;
pub mod rating;
pub mod reference;
pub mod tick;

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::{Actor, Role};

pub use self::{
    act::ActError,
    reference::{LoadError, reference_in_force},
};
use crate::{store::Store, tasks::TaskRow};

/// The system actor that routes and reopens on dispatch's own authority.
pub fn system_actor() -> Actor {
    Actor {
        subject: "civicgrid-dispatch".into(),
        role: Role::Admin as i32,
        department_id: String::new(),
        region_scope: String::new(),
    }
}

impl Store {
    /// Recomputes colour and next ticker visit of `row` at `now`, on the calendar in force.
    pub(crate) fn refresh_warning(&self, row: &mut TaskRow, now: DateTime<Utc>) {
        row.refresh_warning(&self.refdata().calendar.calendar, now, self.grace);
    }
}
