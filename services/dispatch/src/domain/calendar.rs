//! The business calendar and the four time types live in the shared `civicgrid-calendar` crate
//! (mediation counts its periods on the same calendar); re-exported here so dispatch's domain
//! reads as one.

pub use civicgrid_calendar::*;
