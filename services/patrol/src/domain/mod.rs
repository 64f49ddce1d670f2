//! Pure code: no I/O, no clock reads (the time is passed in as `DateTime<Utc>`).
//!
//! - [`geo`]: points, haversine distance, the local projection, geofences (circle, polygon) and
//!   where a segment between two fixes enters and leaves one.
//! - [`index`]: the uniform grid that finds the fences near a point or a segment.
//! - [`fix`]: a reported position and why one is rejected.
//! - [`route`]: routes of checkpoints and a tour's progress along one: entries, exits, check-ins
//!   (by crossing, dwell or by hand), misses and the next due time.
//! - [`liveness`]: when a member on shift goes offline and comes back.
//! - [`trip`]: distance, moving and stopped time and stops of a track.
//! - [`coverage`]: a shift's checkpoint coverage, time in key places, members' presence and a
//!   region's online rate.

pub mod coverage;
pub mod fix;
pub mod geo;
pub mod index;
pub mod liveness;
pub mod route;
pub mod trip;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod testutil;
