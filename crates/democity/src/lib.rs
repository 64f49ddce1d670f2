//! The demo city, generated: a deterministic model of the prefecture 周口市 (411600) — its ten
//! real counties and districts, about 120 townships, 3,000 villages and communities and 15,000
//! grids, each with a polygon; a grid worker per grid; the departments, mediation committees and
//! mediators, and patrol teams, key places and routes — and emitters of each service's reference
//! files. Pure code: no I/O, no clock, no global state.
//!
//! ```
//! use civicgrid_democity::{City, Options};
//!
//! let city = City::generate_with(&Options::new(7).counties(&["411602"])).expect("a known county");
//! assert!(city.region("411602001001").is_some_and(|r| r.name == "七一路社区"));
//! let regions_toml = city.dispatch_regions_toml(); // dispatch's regions.toml
//! assert!(regions_toml.contains("gw-411602001001001"));
//! ```
//!
//! **Deterministic.** [`City::generate`] with the same seed gives the same city, bit for bit, on
//! every platform: choices come from ChaCha8 streams, one per entity, and geometry uses only
//! IEEE arithmetic and written-out constants. A city of
//! some counties ([`City::generate_with`]) has exactly those counties' codes, names, people,
//! departments and committees as the whole city; polygons along borders with counties left out
//! may list fewer vertices.
//!
//! **Codes** follow the statistical division codes: a township's 3-digit segment is 001–099 for
//! a subdistrict (街道), 100–199 for a town (镇), 200–399 for a township (乡); a village's is
//! 001–199 for a community (社区, 居委会), 200–399 for a village (村, 村委会); a grid is its
//! village's code and a 3-digit sequence from 001. The demo city shipped before keeps every code
//! and name it had (nine of its villages predate the convention; see the README).
//!
//! **Geometry**: nested Voronoi tilings in a local projection — the counties are the cells of
//! their real seats within the city's outline, each township a cell of its county, each village
//! of its township, each grid of its village — rounded to 6 decimals with shared vertices, so
//! children tile their parent exactly (the README explains how). Polygons are simple and
//! counter-clockwise.
//!
//! **Emitters**: [`City::dispatch_regions_toml`], [`City::dispatch_departments_toml`],
//! [`City::mediation_organisations_toml`], [`City::mediation_mediators_toml`] (the formats the
//! services load today) and [`City::geometry_geojson`]. Patrol is a plain [`Patrol`] value.

mod build;
mod counties;
mod departments;
mod emit;
mod geom;
mod hash;
mod legacy;
mod mediation;
mod model;
mod names;
mod patrol;
mod rng;
mod scatter;
mod tiling;

#[cfg(test)]
mod testutil;

use std::collections::HashMap;

pub use counties::{CITY_CODE, CITY_NAME, COUNTIES, CountySpec, county_spec};
pub use geom::LatLng;
pub use model::{
    Department, DepartmentKind, Grid, GridWorker, Level, Mediator, OrgKind, Organisation, Region, RegionKind,
};
pub use patrol::{
    Checkpoint, ClockWindow, Fence, KeyPlace, KeyPlaceKind, Patrol, PatrolMember, PatrolRoute, PatrolTeam, TeamKind,
};

/// The generator's version, part of every file's `version`: raised whenever the city a seed
/// gives changes.
pub const GENERATOR: u32 = 1;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The seed.
    pub seed: u64,
    /// The counties to generate, by code (empty: all ten).
    pub counties: Vec<String>,
}

impl Options {
    /// The whole city from `seed`.
    pub fn new(seed: u64) -> Options {
        Options { seed, counties: Vec::new() }
    }

    /// Only these counties.
    pub fn counties(mut self, codes: &[&str]) -> Options {
        self.counties = codes.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Only the first `n` counties in code order (川汇区 first).
    pub fn first_counties(mut self, n: usize) -> Options {
        self.counties = COUNTIES.iter().take(n.max(1)).map(|c| c.code.to_string()).collect();
        self
    }
}

/// Why options cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionsError {
    /// A code that is not one of the ten counties.
    UnknownCounty(String),
}

impl std::fmt::Display for OptionsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionsError::UnknownCounty(code) => write!(f, "`{code}` is not a county of 周口市 (411602 … 411681)"),
        }
    }
}

impl std::error::Error for OptionsError {}

/// The generated city.
#[derive(Debug, Clone, PartialEq)]
pub struct City {
    /// The seed it was generated from.
    pub seed: u64,
    /// The version written into every emitted file: `democity.<GENERATOR>+s<seed>`, and for
    /// some counties only `.c<their codes' last digits>`.
    pub version: String,
    /// The regions: the city, then each county followed by its townships, each followed by its
    /// villages (children in code order).
    pub regions: Vec<Region>,
    /// The grids, in code order.
    pub grids: Vec<Grid>,
    /// The grid workers, one per grid, in the grids' order.
    pub grid_workers: Vec<GridWorker>,
    /// The department kinds.
    pub department_kinds: Vec<DepartmentKind>,
    /// The departments: each county's, then each of its townships'.
    pub departments: Vec<Department>,
    /// The mediation organisations, in region order.
    pub organisations: Vec<Organisation>,
    /// The mediators, in their organisations' order.
    pub mediators: Vec<Mediator>,
    /// Patrol teams, key places and routes.
    pub patrol: Patrol,
    index: HashMap<String, usize>,
}

impl City {
    /// The whole city from `seed`.
    pub fn generate(seed: u64) -> City {
        let all: Vec<&'static CountySpec> = COUNTIES.iter().collect();
        City::assemble(seed, &all, format!("democity.{GENERATOR}+s{seed}"))
    }

    /// The city as `options` ask: all counties, or some.
    pub fn generate_with(options: &Options) -> Result<City, OptionsError> {
        if options.counties.is_empty() {
            return Ok(City::generate(options.seed));
        }
        for code in &options.counties {
            county_spec(code).ok_or_else(|| OptionsError::UnknownCounty(code.clone()))?;
        }
        let chosen: Vec<&'static CountySpec> =
            COUNTIES.iter().filter(|c| options.counties.iter().any(|o| o == c.code)).collect();
        let tail: String = chosen.iter().map(|c| &c.code[4..]).collect();
        Ok(City::assemble(options.seed, &chosen, format!("democity.{GENERATOR}+s{}.c{tail}", options.seed)))
    }

    fn assemble(seed: u64, counties: &[&'static CountySpec], version: String) -> City {
        let built = build::build(seed, counties);
        let departments = departments::departments(&built.regions);
        let organisations = mediation::organisations(&built.regions);
        let mediators = mediation::mediators(seed, &organisations);
        let patrol = patrol::generate(seed, &built.regions, &built.workers);
        let index = built.regions.iter().enumerate().map(|(i, r)| (r.code.clone(), i)).collect();
        City {
            seed,
            version,
            regions: built.regions,
            grids: built.grids,
            grid_workers: built.workers,
            department_kinds: departments::kinds(),
            departments,
            organisations,
            mediators,
            patrol,
            index,
        }
    }

    /// The region with this code.
    pub fn region(&self, code: &str) -> Option<&Region> {
        self.index.get(code).map(|&i| &self.regions[i])
    }

    /// The regions directly under `code`.
    pub fn children<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Region> + 'a {
        self.regions.iter().filter(move |r| r.parent.as_deref() == Some(code))
    }

    /// The regions of a level.
    pub fn at_level(&self, level: Level) -> impl Iterator<Item = &Region> + '_ {
        self.regions.iter().filter(move |r| r.level == level)
    }

    /// The grids of a village.
    pub fn grids_of<'a>(&'a self, village: &'a str) -> impl Iterator<Item = &'a Grid> + 'a {
        self.grids.iter().filter(move |g| g.village == village)
    }
}

#[cfg(test)]
mod tests;
