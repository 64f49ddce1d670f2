//! Between the contract's messages and the pure domain: geofences, windows, and the
//! [`Plan`] a shift walks (its route resolved, places' fences copied in).

use std::collections::HashMap;

use chrono::{Duration, NaiveTime};
use civicgrid_proto::v1::{
    self as pb, CheckpointWindow, GeoPoint, Geofence, checkpoint::Target, checkpoint_window, geofence::Shape,
};
use serde::{Deserialize, Serialize};

use crate::domain::{
    geo::{Fence, FenceError, FenceSpec, Point},
    route::{Checkpoint, Route, RouteError, Window},
};

/// A proto point as a domain point.
pub fn point(p: &GeoPoint) -> Point {
    Point::new(p.latitude, p.longitude)
}

/// A domain point as a proto point.
pub fn geo_point(p: Point) -> GeoPoint {
    GeoPoint { latitude: p.lat, longitude: p.lng }
}

/// Why a geofence message is not a fence: the field (relative to the fence) and why.
pub type FieldError = (String, String);

/// The fence of a `Geofence` message, or the field that is wrong (relative to the message:
/// `circle.radius_m`, `polygon.ring[3]`, or empty for a missing shape).
pub fn fence(g: Option<&Geofence>) -> Result<Fence, FieldError> {
    let spec = match g.and_then(|g| g.shape.as_ref()) {
        Some(Shape::Circle(c)) => ("circle", circle_spec(c)),
        Some(Shape::Polygon(p)) => ("polygon", FenceSpec::Polygon { ring: p.ring.iter().map(point).collect() }),
        None => return Err((String::new(), "a circle or a polygon is required".into())),
    };
    Fence::new(spec.1).map_err(|e: FenceError| (format!("{}.{}", spec.0, e.field()), e.to_string()))
}

fn circle_spec(c: &pb::Circle) -> FenceSpec {
    // A missing centre is 0,0: refused as coordinates.
    FenceSpec::Circle { center: c.center.as_ref().map(point).unwrap_or(Point::new(0.0, 0.0)), radius_m: c.radius_m }
}

/// A circle message's fence.
pub fn circle_fence(c: &pb::Circle) -> Result<Fence, FieldError> {
    Fence::new(circle_spec(c)).map_err(|e| (e.field(), e.to_string()))
}

/// The `Geofence` message of a fence.
pub fn geofence(f: &Fence) -> Geofence {
    let shape = match f.spec() {
        FenceSpec::Circle { center, radius_m } => {
            Shape::Circle(pb::Circle { center: Some(geo_point(center)), radius_m })
        }
        FenceSpec::Polygon { ring } => Shape::Polygon(pb::Polygon { ring: ring.into_iter().map(geo_point).collect() }),
    };
    Geofence { shape: Some(shape) }
}

/// "HH:MM" as a time of day.
pub fn clock_time(s: &str) -> Option<NaiveTime> {
    if s.len() != 5 {
        return None;
    }
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

/// The window of a `CheckpointWindow` message, or the field (relative to it) that is wrong.
pub fn window(w: Option<&CheckpointWindow>) -> Result<Window, FieldError> {
    match w.and_then(|w| w.window.as_ref()) {
        None => Ok(Window::Anytime),
        Some(checkpoint_window::Window::Clock(c)) => {
            let from =
                clock_time(&c.from).ok_or(("clock.from".to_string(), "must be HH:MM (00:00 to 23:59)".into()))?;
            let to = clock_time(&c.to).ok_or(("clock.to".to_string(), "must be HH:MM (00:00 to 23:59)".into()))?;
            if from == to {
                return Err(("clock.to".into(), "must differ from `from`".into()));
            }
            Ok(Window::Clock { from, to })
        }
        Some(checkpoint_window::Window::FromStart(s)) => {
            if s.min_minutes < 0 {
                return Err(("from_start.min_minutes".into(), "must be 0 or more".into()));
            }
            if s.max_minutes <= s.min_minutes || s.max_minutes > 1_440 {
                return Err(("from_start.max_minutes".into(), "must be above min_minutes and at most 1440".into()));
            }
            Ok(Window::FromStart {
                min: Duration::minutes(i64::from(s.min_minutes)),
                max: Duration::minutes(i64::from(s.max_minutes)),
            })
        }
    }
}

/// What a shift walks: its route as it was when the shift started, places' fences copied in,
/// with the names alarms show. Stored as JSON in `shifts.plan`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// The route's checkpoints as the domain walks them.
    pub route: Route,
    /// The checkpoints' names, in route order.
    pub names: Vec<String>,
    /// The route's name.
    pub route_name: String,
    /// Minutes the tour may take.
    pub tour_minutes: i32,
}

impl Plan {
    /// The plan of `route` (a stored, checked route) with the fences of `places` by id.
    pub fn of(route: &pb::Route, places: &HashMap<String, Fence>) -> Result<Plan, PlanError> {
        let mut checkpoints = Vec::with_capacity(route.checkpoints.len());
        for (i, cp) in route.checkpoints.iter().enumerate() {
            let fence = match &cp.target {
                Some(Target::PlaceId(id)) => places.get(id).cloned().ok_or(PlanError::Place(i, id.clone()))?,
                Some(Target::Circle(c)) => circle_fence(c).map_err(|(_, why)| PlanError::Invalid(i, why))?,
                None => return Err(PlanError::Invalid(i, "no target".into())),
            };
            let window = window(cp.window.as_ref()).map_err(|(_, why)| PlanError::Invalid(i, why))?;
            checkpoints.push(Checkpoint {
                id: cp.id.clone(),
                fence,
                window,
                dwell: Duration::seconds(i64::from(cp.dwell_seconds.max(0))),
            });
        }
        let domain = Route::new(route.id.clone(), route.ordered, checkpoints).map_err(PlanError::Route)?;
        Ok(Plan {
            route: domain,
            names: route.checkpoints.iter().map(|c| c.name.clone()).collect(),
            route_name: route.name.clone(),
            tour_minutes: route.tour_minutes,
        })
    }

    /// The name of checkpoint `id`.
    pub fn name_of(&self, id: &str) -> String {
        self.route.position(id).and_then(|k| self.names.get(k)).cloned().unwrap_or_default()
    }
}

/// Why a stored route cannot be walked.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Checkpoint `i` names a place that does not exist.
    #[error("checkpoints[{0}].place_id: no place `{1}`")]
    Place(usize, String),
    /// Checkpoint `i` is not valid.
    #[error("checkpoints[{0}]: {1}")]
    Invalid(usize, String),
    /// The route as a whole is not valid.
    #[error(transparent)]
    Route(RouteError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_times() {
        assert_eq!(clock_time("08:30"), NaiveTime::from_hms_opt(8, 30, 0));
        assert_eq!(clock_time("8:30"), None);
        assert_eq!(clock_time("24:00"), None);
        assert_eq!(window(None), Ok(Window::Anytime));
        let bad = CheckpointWindow {
            window: Some(checkpoint_window::Window::FromStart(pb::StartOffsetWindow {
                min_minutes: 10,
                max_minutes: 5,
            })),
        };
        assert_eq!(window(Some(&bad)).unwrap_err().0, "from_start.max_minutes");
    }

    #[test]
    fn fences_name_their_field() {
        let g = Geofence { shape: Some(Shape::Circle(pb::Circle { center: None, radius_m: 10.0 })) };
        assert_eq!(fence(Some(&g)).unwrap_err().0, "circle.center");
        let g = Geofence {
            shape: Some(Shape::Circle(pb::Circle {
                center: Some(GeoPoint { latitude: 33.6, longitude: 114.6 }),
                radius_m: -1.0,
            })),
        };
        assert_eq!(fence(Some(&g)).unwrap_err().0, "circle.radius_m");
        assert!(fence(None).is_err());
    }
}
