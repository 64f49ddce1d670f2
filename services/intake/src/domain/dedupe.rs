//! Duplicate detection: is a new report the same thing as an open event nearby?

/// Mean earth radius in metres (IUGG).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two (lat, lng) points in degrees (haversine).
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let dlat = lat2 - lat1;
    let dlng = (b.1 - a.1).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

/// A latitude/longitude box that contains every point within `radius_m` of `center`; used to
/// narrow the database search before measuring exactly.
pub fn bounding_box(center: (f64, f64), radius_m: f64) -> (f64, f64, f64, f64) {
    let dlat = (radius_m / EARTH_RADIUS_M).to_degrees();
    let cos = center.0.to_radians().cos().abs().max(1e-6);
    let dlng = (radius_m / (EARTH_RADIUS_M * cos)).to_degrees().min(180.0);
    (center.0 - dlat, center.0 + dlat, center.1 - dlng, center.1 + dlng)
}

/// The advisory lock key that serialises the duplicate search of one catalog item in one
/// county. A single submission and a batch must take the same lock for the same report.
pub fn lock_key(item_code: &str, county: &str) -> String {
    format!("intake-dedupe:{item_code}:{county}")
}

/// An open event that a report might duplicate.
#[derive(Debug, Clone)]
pub struct Candidate<Id> {
    /// The event's id.
    pub id: Id,
    /// Its coordinates, when it has them.
    pub point: Option<(f64, f64)>,
    /// Its grid code, when it has one.
    pub grid_code: Option<String>,
}

/// The candidate a report duplicates: the nearest within `radius_m` when the report has
/// coordinates; otherwise the first one in the same grid. Candidates are already filtered to
/// the same catalog item, county and time window.
pub fn find_duplicate<Id: Clone>(
    candidates: &[Candidate<Id>],
    point: Option<(f64, f64)>,
    grid_code: Option<&str>,
    radius_m: f64,
) -> Option<Id> {
    if let Some(p) = point {
        return candidates
            .iter()
            .filter_map(|c| c.point.map(|q| (distance_m(p, q), c)))
            .filter(|(d, _)| *d <= radius_m)
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, c)| c.id.clone());
    }
    let grid = grid_code?;
    candidates.iter().find(|c| c.grid_code.as_deref() == Some(grid)).map(|c| c.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        // One thousandth of a degree of latitude is about 111 m.
        let d = distance_m((33.0, 114.0), (33.001, 114.0));
        assert!((d - 111.2).abs() < 0.5, "{d}");
        assert_eq!(distance_m((33.0, 114.0), (33.0, 114.0)), 0.0);
    }

    #[test]
    fn bounding_box_contains_the_circle() {
        let (lat0, lat1, lng0, lng1) = bounding_box((33.0, 114.0), 50.0);
        assert!(distance_m((33.0, 114.0), (lat1, 114.0)) >= 49.9);
        assert!(distance_m((33.0, 114.0), (33.0, lng1)) >= 49.9);
        assert!(lat0 < 33.0 && lng0 < 114.0);
    }

    #[test]
    fn one_lock_per_item_and_county() {
        assert_eq!(lock_key("01.02.003", "411602"), "intake-dedupe:01.02.003:411602");
        assert_ne!(lock_key("01.02.003", "411602"), lock_key("01.02.003", "411603"));
        assert_ne!(lock_key("01.02.003", "411602"), lock_key("01.02.004", "411602"));
    }

    #[test]
    fn nearest_within_radius_wins() {
        let c = vec![
            Candidate { id: 1, point: Some((33.0003, 114.0)), grid_code: None }, // ~33 m
            Candidate { id: 2, point: Some((33.0001, 114.0)), grid_code: None }, // ~11 m
            Candidate { id: 3, point: Some((33.01, 114.0)), grid_code: None },   // ~1.1 km
        ];
        assert_eq!(find_duplicate(&c, Some((33.0, 114.0)), None, 50.0), Some(2));
        assert_eq!(find_duplicate(&c, Some((33.0, 114.0)), None, 5.0), None);
        assert_eq!(find_duplicate(&c[2..], Some((33.0, 114.0)), None, 50.0), None);
    }

    #[test]
    fn without_coordinates_the_same_grid_matches() {
        let c = vec![
            Candidate { id: 1, point: None, grid_code: Some("411602001001001".into()) },
            Candidate { id: 2, point: None, grid_code: Some("411602001001002".into()) },
        ];
        assert_eq!(find_duplicate(&c, None, Some("411602001001002"), 50.0), Some(2));
        assert_eq!(find_duplicate(&c, None, Some("411602001001009"), 50.0), None);
        assert_eq!(find_duplicate(&c, None, None, 50.0), None);
    }
}
