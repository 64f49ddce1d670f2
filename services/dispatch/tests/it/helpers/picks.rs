//! Picks from the shipped reference data: grids of a township, and catalog items with the
//! route, limits and whistle level a test needs.

use civicgrid_dispatch::{
    domain::{
        calendar::TimeType,
        routing::{self, Route, WhistleLevel},
        sla::Limit,
    },
    reference::CatalogItem,
};
use civicgrid_kit::region;
use civicgrid_proto::v1::RegionPath;

use super::TestApp;

/// A grid of the shipped data and where it lies.
#[derive(Debug, Clone)]
pub struct GridPick {
    pub code: String,
    pub grid_worker: String,
    pub path: RegionPath,
}

impl TestApp {
    /// The first grid of the shipped data inside `township`.
    pub fn grid_in(&self, township: &str) -> GridPick {
        self.grids_in(township).into_iter().next().unwrap_or_else(|| panic!("no grid in {township}"))
    }

    /// Every grid of the shipped data inside `township`.
    pub fn grids_in(&self, township: &str) -> Vec<GridPick> {
        self.refdata
            .regions
            .grids()
            .iter()
            .filter(|g| g.village.starts_with(township))
            .map(|g| GridPick {
                code: g.code.clone(),
                grid_worker: g.grid_worker.clone(),
                path: region::path_of_grid(&g.code).expect("grid code"),
            })
            .collect()
    }

    /// How the shipped data routes `item` at `path`.
    pub fn route(&self, item: &CatalogItem, path: &RegionPath) -> Option<Route> {
        routing::route(&item.route_rule(), path, self.refdata.departments.directory())
    }

    /// The first catalog item (in catalog order) that `wanted` accepts, with its route at `path`.
    pub fn item_where(
        &self,
        path: &RegionPath,
        what: &str,
        wanted: impl Fn(&CatalogItem, Option<&Route>) -> bool,
    ) -> (CatalogItem, Option<Route>) {
        self.refdata
            .catalog
            .items()
            .iter()
            .map(|i| (i.clone(), self.route(i, path)))
            .find(|(i, r)| wanted(i, r.as_ref()))
            .unwrap_or_else(|| panic!("the shipped catalog has no {what}"))
    }

    /// A routine item routed to a lead department alone, whose sign-for limit is
    /// `sign_for` and handling limit `handle`.
    pub fn routine_item(&self, path: &RegionPath, sign_for: Limit, handle: Limit) -> (CatalogItem, Route) {
        let (item, route) = self.item_where(path, "routine item with one department and those limits", |i, r| {
            i.whistle == WhistleLevel::Routine
                && i.sign_for == sign_for
                && i.handle == handle
                && r.is_some_and(|r| r.assisting.is_empty())
        });
        (item, route.expect("routed"))
    }

    /// The catalog's usual routine item: 2 working hours to sign for, 16 to handle.
    pub fn ordinary_item(&self, path: &RegionPath) -> (CatalogItem, Route) {
        self.routine_item(path, Limit::new(2, TimeType::WorkingHours), Limit::new(16, TimeType::WorkingHours))
    }

    /// An urgent routine item: 1 continuous hour to sign for, 4 to handle.
    pub fn urgent_item(&self, path: &RegionPath) -> (CatalogItem, Route) {
        self.routine_item(path, Limit::new(1, TimeType::Urgent), Limit::new(4, TimeType::Urgent))
    }

    /// A routine item whose route names assisting departments as well as the lead.
    pub fn item_with_assisting(&self, path: &RegionPath) -> (CatalogItem, Route) {
        let (item, route) = self.item_where(path, "routed item with assisting departments", |i, r| {
            i.whistle == WhistleLevel::Routine && r.is_some_and(|r| !r.assisting.is_empty())
        });
        (item, route.expect("routed"))
    }

    /// Departments serving `path` (any level), other than those in `except`.
    pub fn departments_serving(&self, path: &RegionPath, except: &[&str]) -> Vec<String> {
        self.refdata
            .departments
            .directory()
            .all()
            .iter()
            .filter(|d| region::contains(&d.region_code, path) && !except.contains(&d.id.as_str()))
            .map(|d| d.id.clone())
            .collect()
    }

    /// A department that does not serve `path`.
    pub fn department_not_serving(&self, path: &RegionPath) -> String {
        self.refdata
            .departments
            .directory()
            .all()
            .iter()
            .find(|d| !region::contains(&d.region_code, path))
            .map(|d| d.id.clone())
            .expect("a department elsewhere")
    }
}
