//! Region scopes: the one rule, for every service, of which places a caller's `region_scope`
//! claim covers.
//!
//! A scope is empty (everywhere), a region code of any level — city or county (6 digits),
//! township (9), village (12) — or a grid code (15 digits: the grid's village code and a 3-digit
//! sequence). A region scope covers every place inside the region (a city every county whose
//! code starts with the city's first four digits); a grid scope covers the grid itself and
//! nothing else — not its village, not a place of the village outside the grid. A claim that is
//! none of these covers nothing. What an *empty* scope means for a role (everything for an
//! administrator, nothing for a grid worker) is each service's decision, not this module's.

use civicgrid_proto::v1::RegionPath;

use crate::region::{self, CodeError};

/// A caller's region scope, parsed from its `region_scope` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// No limit: the claim is empty.
    Everywhere,
    /// A city, county, township or village (a valid region code).
    Region(String),
    /// One grid (a valid 15-digit grid code).
    Grid(String),
    /// A claim that is neither a region nor a grid code: covers nothing.
    Nowhere,
}

/// The area a listing is narrowed to: what a scope allows of what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    /// No narrowing.
    Everywhere,
    /// A region of any level (a valid region code).
    Region(String),
    /// One grid (a valid grid code).
    Grid(String),
}

impl Area {
    /// The region or grid code of the area; empty for everywhere.
    pub fn code(&self) -> &str {
        match self {
            Area::Everywhere => "",
            Area::Region(code) | Area::Grid(code) => code,
        }
    }
}

/// Why a listing cannot be narrowed to the area asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NarrowError {
    /// The code asked for is neither a region nor a grid code (a client's mistake).
    #[error("must be a region code (6, 9 or 12 digits) or a grid code (15 digits)")]
    BadCode(CodeError),
    /// The area asked for (or, when none was, the scope itself) is not inside the scope.
    #[error("is outside the caller's scope")]
    Outside,
}

impl Scope {
    /// The scope a `region_scope` claim names.
    pub fn parse(claim: &str) -> Scope {
        if claim.is_empty() {
            Scope::Everywhere
        } else if region::level(claim).is_ok() {
            Scope::Region(claim.to_string())
        } else if region::path_of_grid(claim).is_ok() {
            Scope::Grid(claim.to_string())
        } else {
            Scope::Nowhere
        }
    }

    /// Whether a place lies in the scope: its region path, and its grid code (empty when the
    /// place is not known to lie in a grid).
    pub fn covers(&self, path: &RegionPath, grid_code: &str) -> bool {
        match self {
            Scope::Everywhere => true,
            Scope::Region(code) => region::contains(code, path),
            Scope::Grid(grid) => grid_code == grid,
            Scope::Nowhere => false,
        }
    }

    /// Whether the region or grid named by `code` lies in the scope (a grid lies in its
    /// village and every region above). A malformed code lies in no scope but everywhere.
    pub fn covers_code(&self, code: &str) -> bool {
        match self {
            Scope::Everywhere => true,
            Scope::Region(scope) => match region::path_of_grid(code) {
                Ok(path) => region::contains(scope, &path),
                Err(_) => region::within(code, scope),
            },
            Scope::Grid(grid) => code == grid,
            Scope::Nowhere => false,
        }
    }

    /// The area a listing covers when `asked` (a region or grid code; empty for no filter)
    /// is asked for: the asked area when the scope covers it, the scope's own area when
    /// nothing was asked.
    pub fn narrow(&self, asked: &str) -> Result<Area, NarrowError> {
        if asked.is_empty() {
            return match self {
                Scope::Everywhere => Ok(Area::Everywhere),
                Scope::Region(code) => Ok(Area::Region(code.clone())),
                Scope::Grid(grid) => Ok(Area::Grid(grid.clone())),
                Scope::Nowhere => Err(NarrowError::Outside),
            };
        }
        let area = match region::level(asked) {
            Ok(_) => Area::Region(asked.to_string()),
            Err(e) if asked.len() != 15 => return Err(NarrowError::BadCode(e)),
            Err(_) => {
                region::path_of_grid(asked).map_err(NarrowError::BadCode)?;
                Area::Grid(asked.to_string())
            }
        };
        if self.covers_code(asked) { Ok(area) } else { Err(NarrowError::Outside) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRID: &str = "411602001001003";

    fn village() -> RegionPath {
        region::path_of("411602001001").unwrap()
    }

    #[test]
    fn claims_parse_by_shape() {
        assert_eq!(Scope::parse(""), Scope::Everywhere);
        for code in ["411600", "411602", "411602001", "411602001001"] {
            assert_eq!(Scope::parse(code), Scope::Region(code.into()), "{code}");
        }
        assert_eq!(Scope::parse(GRID), Scope::Grid(GRID.into()));
        for bad in ["41160", "4116020", "411602001001000", "4116020010010031", "41160a", "411602000", " 411602"] {
            assert_eq!(Scope::parse(bad), Scope::Nowhere, "{bad}");
        }
    }

    #[test]
    fn every_region_level_covers_what_is_inside_it() {
        let p = village();
        for scope in ["", "411600", "411602", "411602001", "411602001001"] {
            assert!(Scope::parse(scope).covers(&p, ""), "{scope}");
            assert!(Scope::parse(scope).covers(&p, GRID), "{scope} covers a grid of its village");
        }
        for scope in ["411700", "411603", "411602002", "411602001002", "junk", "4116020010"] {
            assert!(!Scope::parse(scope).covers(&p, GRID), "{scope}");
        }
    }

    #[test]
    fn a_grid_scope_covers_its_grid_only() {
        let grid = Scope::parse(GRID);
        let p = village();
        assert!(grid.covers(&p, GRID));
        assert!(!grid.covers(&p, ""), "the village outside any grid");
        assert!(!grid.covers(&p, "411602001001004"), "a neighbouring grid");
        assert!(grid.covers_code(GRID));
        for code in ["411602001001", "411602001", "411602", "411600", "411602001001004", ""] {
            assert!(!grid.covers_code(code), "{code}");
        }
    }

    #[test]
    fn codes_of_every_level_and_grids_lie_in_region_scopes() {
        let city = Scope::parse("411600");
        for code in ["411600", "411602", "411602001", "411602001001", GRID] {
            assert!(city.covers_code(code), "{code}");
            assert!(Scope::Everywhere.covers_code(code), "{code}");
        }
        assert!(!city.covers_code("411700") && !city.covers_code("411702001"));
        let county = Scope::parse("411602");
        assert!(county.covers_code(GRID) && county.covers_code("411602") && county.covers_code("411602001"));
        assert!(!county.covers_code("411600"), "a city is not inside its county");
        assert!(!county.covers_code("411603001001003") && !county.covers_code("411603"));
        let in_village = Scope::parse("411602001001");
        assert!(in_village.covers_code(GRID) && !in_village.covers_code("411602001"));
        for bad in ["4116", "411602001001000", "x"] {
            assert!(!county.covers_code(bad), "{bad}");
        }
        assert!(!Scope::Nowhere.covers_code("411602") && !Scope::Nowhere.covers(&village(), GRID));
    }

    #[test]
    fn listings_narrow_to_what_the_scope_covers() {
        assert_eq!(Scope::Everywhere.narrow(""), Ok(Area::Everywhere));
        assert_eq!(Scope::Everywhere.narrow(GRID), Ok(Area::Grid(GRID.into())));
        let county = Scope::parse("411602");
        assert_eq!(county.narrow(""), Ok(Area::Region("411602".into())));
        assert_eq!(county.narrow("411602001"), Ok(Area::Region("411602001".into())));
        assert_eq!(county.narrow(GRID), Ok(Area::Grid(GRID.into())));
        assert_eq!(county.narrow("411603"), Err(NarrowError::Outside));
        assert_eq!(county.narrow("411600"), Err(NarrowError::Outside));
        assert!(matches!(county.narrow("41160"), Err(NarrowError::BadCode(_))));
        assert!(matches!(county.narrow("411602001001000"), Err(NarrowError::BadCode(_))));
        let grid = Scope::parse(GRID);
        assert_eq!(grid.narrow(""), Ok(Area::Grid(GRID.into())));
        assert_eq!(grid.narrow(GRID), Ok(Area::Grid(GRID.into())));
        assert_eq!(grid.narrow("411602001001"), Err(NarrowError::Outside));
        assert_eq!(Scope::Nowhere.narrow(""), Err(NarrowError::Outside));
        assert_eq!(Scope::parse("411600").narrow("411602"), Ok(Area::Region("411602".into())));
        assert_eq!((Area::Everywhere.code(), Area::Grid(GRID.into()).code()), ("", GRID));
    }
}
