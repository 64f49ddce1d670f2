//! Where a route lies: a region code (county, township or village), or — for a grid worker's
//! route through one grid (网格) — the grid's 15-digit code. A grid nests under its village: its
//! region path is the village's, scopes (the kit's [`civicgrid_kit::auth::Scope`], which
//! [`Principal::covers_code`](civicgrid_kit::auth::Principal::covers_code) applies) and region
//! filters treat it as inside the village, and coverage grouped by region counts it as its own
//! grid.

use civicgrid_kit::region::{self, CodeError};
use civicgrid_proto::v1::RegionPath;

/// True for a well-formed 15-digit grid code.
pub fn is_grid(code: &str) -> bool {
    code.len() == 15 && region::path_of_grid(code).is_ok()
}

/// The region path of a region or grid code.
pub fn path(code: &str) -> Result<RegionPath, CodeError> {
    if code.len() == 15 { region::path_of_grid(code) } else { region::path_of(code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_lies_in_its_village() {
        assert!(is_grid("411602001001002"));
        assert!(!is_grid("411602001001000") && !is_grid("411602001001"));
        assert_eq!(path("411602001001002").unwrap().village, "411602001001");
        assert_eq!(path("411602001").unwrap().township, "411602001");
        let within = |code: &str, scope: &str| civicgrid_kit::auth::Scope::parse(scope).covers_code(code);
        assert!(within("411602001001002", "411602001") && within("411602001001002", "411602001001"));
        assert!(!within("411602001001002", "411602002") && within("411602001001002", ""));
        assert!(within("411602001001002", "411602001001002") && !within("411602001001", "411602001001002"));
        assert!(path("411602001001000").is_err());
    }
}
