//! Loading the generated demo city (`civicgrid-democity`) into the running services, through
//! their own public reference interfaces only — as an operator's tooling would: dispatch's
//! `LoadReferenceData` (the city's regions and departments, with the shipped catalog and
//! calendar), mediation's `LoadMediationReferenceData` (its committees and mediators) and
//! patrol's `PutTeam`, `PutPlace` and `PutRoute`. A dispatch or mediation set already in force
//! (same versions, as after a restart without `--fresh`) is not loaded again.

use std::{path::Path, time::Instant};

use anyhow::Context;
use civicgrid_democity::{City, Fence, KeyPlace, KeyPlaceKind, Options, PatrolRoute, PatrolTeam, TeamKind};
use civicgrid_kit::region::Level;
use civicgrid_proto::v1::{
    Checkpoint, CheckpointWindow, Circle, ClockWindow, GeoPoint, GetMediationReferenceVersionsRequest,
    GetReferenceVersionsRequest, LoadMediationReferenceDataRequest, LoadReferenceDataRequest, Place, PlaceKind,
    PlaceRisk, Polygon, PutPlaceRequest, PutRouteRequest, PutTeamRequest, Route, Team, TeamMember, checkpoint,
    checkpoint_window, dispatch_service_client::DispatchServiceClient, geofence,
    mediation_service_client::MediationServiceClient, patrol_service_client::PatrolServiceClient,
};
use futures::StreamExt;
use tonic::transport::Channel;

use super::{
    traffic::{Item, Planner, TrafficConfig},
    with_token,
};

/// How many patrol Put calls run at once: enough to hide the round trips, few enough not to
/// crowd the two services' connection pools.
const PATROL_CONCURRENCY: usize = 8;

/// A team holds at most this many members (patrol's limit).
const MAX_MEMBERS: usize = 500;

/// Where the services listen and who loads the city.
pub struct Endpoints {
    /// Dispatch's gRPC URL.
    pub dispatch: String,
    /// Mediation's gRPC URL.
    pub mediation: String,
    /// Patrol's gRPC URL.
    pub patrol: String,
    /// An administrator's token (ignored by services when `--auth` is off).
    pub admin: String,
}

/// The shipped files the city does not replace: dispatch's catalog and the calendar.
struct Shipped<'a> {
    /// `services/dispatch/data/catalog.toml`.
    catalog: &'a str,
    /// The shipped `calendar.toml`.
    calendar: &'a str,
}

/// Generates the city of `seed`, printing how long it took.
pub async fn generate(seed: u64) -> anyhow::Result<City> {
    let started = Instant::now();
    let city = tokio::task::spawn_blocking(move || City::generate(seed)).await?;
    println!(
        "[city] generated {}: {} regions, {} grids ({:.1?})",
        city.version,
        city.regions.len(),
        city.grids.len(),
        started.elapsed()
    );
    Ok(city)
}

/// Writes `city`'s geometry to `geometry_path` and loads it into the services at `to`,
/// printing how long each part took.
pub async fn load_city(city: &City, geometry_path: &Path, to: &Endpoints) -> anyhow::Result<()> {
    write_geometry(city, geometry_path)?;
    let shipped = civicgrid_dispatch::reference::SHIPPED;
    load(city, &Shipped { catalog: shipped.catalog, calendar: shipped.calendar }, to).await
}

/// The codes of the counties and townships the suite serves: `city`'s, or without one the
/// shipped small city's.
pub fn region_codes(city: Option<&City>) -> anyhow::Result<Vec<String>> {
    if let Some(city) = city {
        return Ok(city.regions.iter().map(|r| r.code.clone()).collect());
    }
    let shipped = civicgrid_dispatch::reference::ReferenceData::shipped().context("the shipped reference data")?;
    let levels = [Level::County, Level::Township];
    Ok(levels.iter().flat_map(|l| shipped.regions.at_level(*l)).map(|r| r.code.clone()).collect())
}

/// The traffic generator's plan over `city`'s grids; without a city (`--small-city`) over the
/// shipped small city's grids (the same codes, from a generated city of its two counties). The
/// items are the shipped catalog's.
pub fn traffic_planner(config: TrafficConfig, city: Option<&City>, seed: u64) -> anyhow::Result<Planner> {
    let shipped = civicgrid_dispatch::reference::ReferenceData::shipped().context("the shipped reference data")?;
    let items: Vec<Item> =
        shipped.catalog.items().iter().map(|i| Item { code: i.code.clone(), name: i.name.clone() }).collect();
    let planner = match city {
        Some(city) => Planner::new(config, city, items),
        None => {
            let counties: Vec<&str> = shipped.regions.at_level(Level::County).map(|r| r.code.as_str()).collect();
            let small = City::generate_with(&Options::new(seed).counties(&counties)).context("the shipped counties")?;
            Planner::with_grids(config, &small, items, |code| shipped.regions.grid(code).is_some())
        }
    };
    planner.context("no grid or catalog item to report")
}

/// Writes the city's GeoJSON (every region and grid polygon) to `path`, creating its folder.
fn write_geometry(city: &City, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, city.geometry_geojson()).with_context(|| format!("writing {}", path.display()))
}

/// Loads `city` into dispatch, mediation and patrol, printing what took how long.
async fn load(city: &City, shipped: &Shipped<'_>, to: &Endpoints) -> anyhow::Result<()> {
    let started = Instant::now();
    load_dispatch(city, shipped, to).await?;
    println!(
        "[city] dispatch: {} regions, {} grids, {} departments ({:.1?})",
        city.regions.len(),
        city.grids.len(),
        city.departments.len(),
        started.elapsed()
    );
    let step = Instant::now();
    load_mediation(city, shipped, to).await?;
    println!(
        "[city] mediation: {} committees, {} mediators ({:.1?})",
        city.organisations.len(),
        city.mediators.len(),
        step.elapsed()
    );
    let step = Instant::now();
    let calls = load_patrol(city, to).await?;
    println!(
        "[city] patrol: {} teams, {} key places, {} routes in {calls} calls ({:.1?})",
        city.patrol.teams.len(),
        city.patrol.key_places.len(),
        city.patrol.routes.len(),
        step.elapsed()
    );
    println!("[city] {} loaded in {:.1?}", city.version, started.elapsed());
    Ok(())
}

/// Puts the city's regions and departments in force in dispatch (unless they already are).
async fn load_dispatch(city: &City, shipped: &Shipped<'_>, to: &Endpoints) -> anyhow::Result<()> {
    let mut client = DispatchServiceClient::connect(to.dispatch.clone())
        .await
        .context("connecting to dispatch")?
        .max_decoding_message_size(usize::MAX);
    let now = client.get_reference_versions(with_token(GetReferenceVersionsRequest {}, &to.admin)).await?.into_inner();
    if now.regions == city.version && now.departments == city.version {
        return Ok(());
    }
    let request = LoadReferenceDataRequest {
        request_id: request_id("dispatch", city),
        catalog_toml: shipped.catalog.into(),
        regions_toml: city.dispatch_regions_toml(),
        departments_toml: city.dispatch_departments_toml(),
        calendar_toml: shipped.calendar.into(),
    };
    client.load_reference_data(with_token(request, &to.admin)).await.context("dispatch LoadReferenceData")?;
    Ok(())
}

/// Puts the city's committees and mediators in force in mediation (unless they already are).
async fn load_mediation(city: &City, shipped: &Shipped<'_>, to: &Endpoints) -> anyhow::Result<()> {
    let mut client = MediationServiceClient::connect(to.mediation.clone()).await.context("connecting to mediation")?;
    let request = with_token(GetMediationReferenceVersionsRequest {}, &to.admin);
    let now = client.get_mediation_reference_versions(request).await?.into_inner();
    if now.organisations == city.version && now.mediators == city.version {
        return Ok(());
    }
    let request = LoadMediationReferenceDataRequest {
        request_id: request_id("mediation", city),
        organisations_toml: city.mediation_organisations_toml(),
        mediators_toml: city.mediation_mediators_toml(),
        calendar_toml: shipped.calendar.into(),
    };
    client
        .load_mediation_reference_data(with_token(request, &to.admin))
        .await
        .context("mediation LoadMediationReferenceData")?;
    Ok(())
}

/// Puts every key place, then every team and route, into patrol; the number of calls made.
/// Put replaces by id, so a restart writes the same values again.
async fn load_patrol(city: &City, to: &Endpoints) -> anyhow::Result<usize> {
    let client = PatrolServiceClient::connect(to.patrol.clone()).await.context("connecting to patrol")?;
    // Ids are the same in every seed's city: a fresh key makes each load write its own values.
    let suffix = load_stamp();
    let (patrol, admin) = (&city.patrol, to.admin.as_str());
    let places = patrol
        .key_places
        .iter()
        .map(|p| PutPlaceRequest { request_id: format!("city-{}-{suffix}", p.id), place: Some(place(p)) });
    put_all(&client, admin, places, |mut c, r| async move { c.put_place(r).await.map(|_| ()) })
        .await
        .context("patrol PutPlace")?;
    let teams = patrol
        .teams
        .iter()
        .map(|t| PutTeamRequest { request_id: format!("city-{}-{suffix}", t.id), team: Some(team(t)) });
    put_all(&client, admin, teams, |mut c, r| async move { c.put_team(r).await.map(|_| ()) })
        .await
        .context("patrol PutTeam")?;
    let routes = patrol
        .routes
        .iter()
        .map(|r| PutRouteRequest { request_id: format!("city-{}-{suffix}", r.id), route: Some(route(r)) });
    put_all(&client, admin, routes, |mut c, r| async move { c.put_route(r).await.map(|_| ()) })
        .await
        .context("patrol PutRoute")?;
    Ok(city.patrol.key_places.len() + city.patrol.teams.len() + city.patrol.routes.len())
}

/// Makes one Put call per request, as the administrator, a few at a time; the first failure
/// ends the load.
async fn put_all<R, F, Fut>(
    client: &PatrolServiceClient<Channel>,
    admin: &str,
    requests: impl Iterator<Item = R>,
    put: F,
) -> Result<(), tonic::Status>
where
    F: Fn(PatrolServiceClient<Channel>, tonic::Request<R>) -> Fut,
    Fut: Future<Output = Result<(), tonic::Status>>,
{
    let calls = requests.map(|r| put(client.clone(), with_token(r, admin)));
    let mut running = futures::stream::iter(calls).buffer_unordered(PATROL_CONCURRENCY);
    while let Some(done) = running.next().await {
        done?;
    }
    Ok(())
}

/// A load's idempotency key: the service, the city's version (`+` is not allowed) and the time
/// of the load. The time matters: going back to a seed loaded before must load it again, not
/// get the earlier call's answer back while another city is in force.
fn request_id(service: &str, city: &City) -> String {
    format!("city-{service}-{}-{}", city.version.replace('+', "-"), load_stamp())
}

/// Milliseconds since the epoch, as this load's part of idempotency keys.
fn load_stamp() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

fn geo(p: civicgrid_democity::LatLng) -> GeoPoint {
    GeoPoint { latitude: p.lat, longitude: p.lng }
}

/// A democity key place as patrol's `Place`.
fn place(p: &KeyPlace) -> Place {
    let shape = match &p.fence {
        Fence::Circle { center, radius_m } => {
            geofence::Shape::Circle(Circle { center: Some(geo(*center)), radius_m: *radius_m })
        }
        Fence::Polygon { ring } => geofence::Shape::Polygon(Polygon { ring: ring.iter().map(|&v| geo(v)).collect() }),
    };
    let (kind, risk) = match p.kind {
        KeyPlaceKind::School => (PlaceKind::School, PlaceRisk::High),
        KeyPlaceKind::Market => (PlaceKind::Market, PlaceRisk::Medium),
        KeyPlaceKind::Station => (PlaceKind::Station, PlaceRisk::High),
        KeyPlaceKind::Hospital => (PlaceKind::Hospital, PlaceRisk::Medium),
        KeyPlaceKind::Riverbank => (PlaceKind::Riverbank, PlaceRisk::High),
        KeyPlaceKind::Square => (PlaceKind::Square, PlaceRisk::Low),
    };
    Place {
        id: p.id.clone(),
        name: p.name.clone(),
        kind: kind as i32,
        risk: risk as i32,
        region_code: p.village.clone(),
        fence: Some(civicgrid_proto::v1::Geofence { shape: Some(shape) }),
        ..Default::default()
    }
}

/// A democity team as patrol's `Team` (its first member leads; at most patrol's 500 members).
fn team(t: &PatrolTeam) -> Team {
    let kind = match t.kind {
        TeamKind::Professional => civicgrid_proto::v1::TeamKind::Professional,
        TeamKind::Volunteer => civicgrid_proto::v1::TeamKind::Volunteer,
        TeamKind::GridWorkers => civicgrid_proto::v1::TeamKind::GridWorkers,
    };
    Team {
        id: t.id.clone(),
        name: t.name.clone(),
        kind: kind as i32,
        region_code: t.region.clone(),
        unit_id: t.unit.clone(),
        members: t
            .members
            .iter()
            .take(MAX_MEMBERS)
            .enumerate()
            .map(|(i, m)| TeamMember {
                member_id: m.id.clone(),
                name: m.name.clone(),
                leader: i == 0,
                device_ids: vec![],
            })
            .collect(),
        ..Default::default()
    }
}

/// A democity route as patrol's `Route`: its checkpoints at its key places in their clock
/// windows; a tour may take the route's whole shift.
fn route(r: &PatrolRoute) -> Route {
    Route {
        id: r.id.clone(),
        name: r.name.clone(),
        region_code: r.township.clone(),
        ordered: r.ordered,
        checkpoints: r
            .checkpoints
            .iter()
            .enumerate()
            .map(|(i, c)| Checkpoint {
                id: format!("cp-{:02}", i + 1),
                name: String::new(),
                target: Some(checkpoint::Target::PlaceId(c.key_place.clone())),
                window: Some(CheckpointWindow {
                    window: Some(checkpoint_window::Window::Clock(ClockWindow {
                        from: c.window.from.clone(),
                        to: c.window.to.clone(),
                    })),
                }),
                dwell_seconds: c.dwell_s.min(3_600) as i32,
            })
            .collect(),
        tour_minutes: shift_minutes(&r.shift.from, &r.shift.to),
        ..Default::default()
    }
}

/// Minutes from `from` to `to` (`HH:MM`, past midnight when `to` is earlier), 1 to 1,440.
fn shift_minutes(from: &str, to: &str) -> i32 {
    let minutes = |t: &str| -> Option<i32> {
        let (h, m) = t.split_once(':')?;
        Some(h.parse::<i32>().ok()? * 60 + m.parse::<i32>().ok()?)
    };
    match (minutes(from), minutes(to)) {
        (Some(a), Some(b)) => (b - a).rem_euclid(1_440).clamp(1, 1_440),
        _ => 240,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shift_past_midnight_is_counted_forward() {
        assert_eq!(shift_minutes("08:00", "12:00"), 240);
        assert_eq!(shift_minutes("22:00", "02:00"), 240);
        assert_eq!(shift_minutes("bad", "02:00"), 240);
    }

    #[test]
    fn every_patrol_value_of_a_county_fits_patrols_limits() {
        let city = City::generate_with(&civicgrid_democity::Options::new(1).counties(&["411602"])).unwrap();
        for t in &city.patrol.teams {
            let t = team(t);
            assert!(
                !t.members.is_empty() && t.members.len() <= MAX_MEMBERS && t.name.chars().count() <= 80,
                "{}",
                t.id
            );
        }
        for r in &city.patrol.routes {
            let r = route(r);
            assert!((1..=200).contains(&r.checkpoints.len()) && (1..=1_440).contains(&r.tour_minutes), "{}", r.id);
        }
        assert!(request_id("dispatch", &city).len() <= 64);
    }
}
