//! The JSON API of the map, the lists, triage by hand and the KPI tiles.

use axum::{
    Json,
    extract::{Path, Query, State},
};
use chrono::{Duration, Utc};
use civicgrid_proto::v1::{
    GetCoverageRequest, GetKpisRequest, GetMediationStatsRequest, GetPresenceRequest, Kpis, TimeRange, TriageRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, AppState, Caller};
use crate::{
    atlas::{Area, Level},
    projection::views::{self, Figures, ListFilter},
};

/// `GET /api/session`
pub async fn session(State(app): State<AppState>, caller: Caller) -> Json<Value> {
    let p = &caller.principal;
    Json(json!({
        "subject": p.subject,
        "role": p.role.as_str_name(),
        "region_scope": p.region_scope,
        "auth_enabled": app.auth.enabled(),
        "top": top_code(&app, &caller),
        "areas": app.atlas.len(),
    }))
}

/// The region a caller's map starts at: their scope, else the city.
fn top_code(app: &AppState, caller: &Caller) -> String {
    let scope = &caller.principal.region_scope;
    if !scope.is_empty() {
        return scope.clone();
    }
    app.atlas.root().map(|a| a.code.clone()).unwrap_or_default()
}

/// The level of a code the atlas does not know, by its length.
fn level_of(code: &str) -> Level {
    match code.len() {
        0 => Level::City,
        6 if code.ends_with("00") => Level::City,
        6 => Level::County,
        9 => Level::Township,
        12 => Level::Village,
        _ => Level::Grid,
    }
}

#[derive(Serialize)]
struct Child<'a> {
    code: &'a str,
    name: &'a str,
    level: Level,
    ring: &'a [[f64; 2]],
    centroid: [f64; 2],
    figures: Figures,
}

/// `GET /api/regions`: the caller's top region.
pub async fn top_region(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let code = top_code(&app, &caller);
    region_view(&app, &caller, &code).await
}

/// `GET /api/regions/{code}`: the region, its path from the city, its own figures and each
/// child's polygon and figures.
pub async fn region(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    region_view(&app, &caller, &code).await
}

async fn region_view(app: &AppState, caller: &Caller, code: &str) -> Result<Json<Value>, ApiError> {
    if !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::bad("code", "a region code is digits only"));
    }
    caller.check_region(code)?;
    let area = app.atlas.area(code);
    if area.is_none() && !app.atlas.is_empty() {
        return Err(ApiError::not_found(format!("no region {code}")));
    }
    let level = area.map(|a| a.level).unwrap_or_else(|| level_of(code));
    let (total, by_child) = {
        let state = app.state.read().await;
        let within = if level == Level::City && area.is_some() { "" } else { code };
        views::figures_by_child(&state, within, level, Utc::now())
    };
    let children: Vec<Value> = if app.atlas.is_empty() {
        let mut keys: Vec<&String> = by_child.keys().collect();
        keys.sort();
        keys.into_iter()
            .map(|k| json!({ "code": k, "name": k, "level": level_of(k), "ring": [], "figures": by_child[k] }))
            .collect()
    } else {
        app.atlas
            .children(code)
            .map(|a: &Area| {
                let figures = by_child.get(&a.code).cloned().unwrap_or_default();
                let child = Child {
                    code: &a.code,
                    name: &a.name,
                    level: a.level,
                    ring: &a.ring,
                    centroid: a.centroid,
                    figures,
                };
                serde_json::to_value(child).unwrap_or(Value::Null)
            })
            .collect()
    };
    let path: Vec<Value> =
        app.atlas.path(code).iter().map(|a| json!({ "code": a.code, "name": a.name, "level": a.level })).collect();
    Ok(Json(json!({
        "code": code,
        "name": area.map(|a| a.name.as_str()).unwrap_or(code),
        "level": level,
        "ring": area.map(|a| a.ring.as_slice()).unwrap_or(&[]),
        "path": path,
        "figures": total,
        "children": children,
    })))
}

/// `GET /api/tasks`: one of the lists, with place names.
pub async fn tasks(
    State(app): State<AppState>,
    caller: Caller,
    Query(mut f): Query<ListFilter>,
) -> Result<Json<Value>, ApiError> {
    if f.region.is_empty() {
        f.region = caller.principal.region_scope.clone();
    }
    caller.check_region(&f.region)?;
    if !(0..=4).contains(&f.colour) {
        return Err(ApiError::bad("colour", "0 (any) to 4 (red)"));
    }
    let within = if app.atlas.root().is_some_and(|r| r.code == f.region) { String::new() } else { f.region.clone() };
    let page = views::list(&*app.state.read().await, &ListFilter { region: within, ..f });
    let rows: Vec<Value> = page
        .tasks
        .iter()
        .map(|t| {
            let place: Vec<&str> = app.atlas.path(&t.region[3]).iter().skip(1).map(|a| a.name.as_str()).collect();
            let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
            v["place"] = json!(place.join(" "));
            v
        })
        .collect();
    Ok(Json(json!({ "tasks": rows, "total": page.total })))
}

/// `POST /api/triage`'s body.
#[derive(Debug, Deserialize)]
pub struct TriageBody {
    /// The tasks to assign.
    #[serde(default)]
    pub task_ids: Vec<String>,
    /// The department to assign them to.
    #[serde(default)]
    pub department_id: String,
}

/// `POST /api/triage`: assigns each task through dispatch's `Triage`, as the caller. Answers one
/// result per task; a task dispatch refuses does not stop the others.
pub async fn triage(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<TriageBody>,
) -> Result<Json<Value>, ApiError> {
    if body.task_ids.is_empty() {
        return Err(ApiError::bad("task_ids", "choose at least one task"));
    }
    if body.task_ids.len() > 100 {
        return Err(ApiError::bad("task_ids", "at most 100 at once"));
    }
    if body.department_id.trim().is_empty() {
        return Err(ApiError::bad("department_id", "choose a department"));
    }
    let calls = body.task_ids.iter().map(|id| {
        let mut dispatch = app.clients.dispatch.clone();
        // One key per task and department: pressing the button twice assigns once.
        let key: String = format!("console:{id}:{}", body.department_id)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "_.:-".contains(*c))
            .take(64)
            .collect();
        let request = caller.request(TriageRequest {
            request_id: key,
            task_id: id.clone(),
            department_id: body.department_id.clone(),
        });
        async move {
            match dispatch.triage(request).await {
                Ok(t) => json!({ "task_id": id, "ok": true, "status": t.into_inner().status().as_str_name() }),
                Err(s) => json!({ "task_id": id, "ok": false, "error": s.message() }),
            }
        }
    });
    Ok(Json(json!({ "results": futures::future::join_all(calls).await })))
}

/// `?region=`
#[derive(Debug, Deserialize)]
pub struct RegionQuery {
    /// A region code.
    #[serde(default)]
    pub region: String,
}

/// `GET /api/departments?region=`: the departments seen on tasks of the region's county.
pub async fn departments(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<RegionQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.check_region(&q.region)?;
    let county = if q.region.len() >= 6 && !q.region.ends_with("00") { &q.region[..6] } else { "" };
    let state = app.state.read().await;
    Ok(Json(json!({ "departments": views::departments(&state, county).collect::<Vec<_>>() })))
}

/// `?region=&period=`
#[derive(Debug, Deserialize)]
pub struct KpiQuery {
    /// A region code; empty: the caller's scope.
    #[serde(default)]
    pub region: String,
    /// `today` (default), `7d`, `30d` or `custom`.
    #[serde(default)]
    pub period: String,
    /// With `custom`: the first local day, `YYYY-MM-DD`.
    #[serde(default)]
    pub from: String,
    /// With `custom`: the last local day, `YYYY-MM-DD`.
    #[serde(default)]
    pub to: String,
}

fn kpis_json(k: &Kpis) -> Value {
    json!({
        "due_to_close": k.due_to_close, "closed": k.closed, "closure_rate": k.closure_rate,
        "on_time_closure_rate": k.on_time_closure_rate, "rework_rate": k.rework_rate,
        "satisfaction_rate": k.satisfaction_rate, "assigned": k.assigned, "return_rate": k.return_rate,
        "handled": k.handled, "reworked": k.reworked, "rated": k.rated, "satisfied": k.satisfied,
    })
}

fn answer<T>(r: Result<tonic::Response<T>, tonic::Status>, f: impl FnOnce(T) -> Value) -> Value {
    match r {
        Ok(r) => f(r.into_inner()),
        Err(s) => json!({ "error": s.message() }),
    }
}

/// `GET /api/kpis`: the tiles for a region and period, each from the service that owns it;
/// a service that cannot answer leaves its tiles with an error and the rest still show.
pub async fn kpis(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<KpiQuery>,
) -> Result<Json<Value>, ApiError> {
    let now = Utc::now();
    let (from, to) = views::period(&q.period, &q.from, &q.to, now).map_err(|(field, why)| ApiError::bad(field, why))?;
    caller.check_region(&q.region)?;
    let period = Some(TimeRange { from: Some(ts(from)), to: Some(ts(to)) });
    // Presence is counted per local day: the period's last.
    let today = (to - Duration::seconds(1) + Duration::hours(8)).format("%Y-%m-%d").to_string();
    let region = q.region.clone();
    let (mut d, mut m, mut p1, mut p2) = (
        app.clients.dispatch.clone(),
        app.clients.mediation.clone(),
        app.clients.patrol.clone(),
        app.clients.patrol.clone(),
    );
    let busiest = views::busiest_departments(&*app.state.read().await, &region, 6);
    let (dispatch, mediation, coverage, presence) = tokio::join!(
        d.get_kpis(caller.request(GetKpisRequest {
            period,
            department_id: String::new(),
            region_code: region.clone()
        })),
        m.get_stats(caller.request(GetMediationStatsRequest {
            period,
            region_code: region.clone(),
            group_by: String::new()
        })),
        p1.get_coverage(caller.request(GetCoverageRequest {
            period,
            region_code: region.clone(),
            group_by: String::new()
        })),
        p2.get_presence(caller.request(GetPresenceRequest {
            date: today,
            region_code: region.clone(),
            ..Default::default()
        })),
    );
    let departments = futures::future::join_all(busiest.into_iter().map(|(id, open)| {
        let mut d = app.clients.dispatch.clone();
        let request = caller.request(GetKpisRequest { period, department_id: id.clone(), region_code: String::new() });
        async move {
            let mut v = answer(d.get_kpis(request).await, |k| kpis_json(&k));
            v["department_id"] = json!(id);
            v["open"] = json!(open);
            v
        }
    }))
    .await;
    Ok(Json(json!({
        "from": from, "to": to,
        "dispatch": answer(dispatch, |k| kpis_json(&k)),
        "mediation": answer(mediation, |s| {
            let r = s.rows.into_iter().next().unwrap_or_default();
            json!({ "opened": r.opened, "settled": r.settled, "failed": r.failed, "success_rate": r.success_rate, "overdue": r.overdue })
        }),
        "coverage": answer(coverage, |c| {
            let r = c.rows.into_iter().next().unwrap_or_default();
            let share = if r.checkpoints > 0 { r.checked_in as f64 / r.checkpoints as f64 } else { 0.0 };
            json!({ "shifts": r.shifts, "checkpoints": r.checkpoints, "checked_in": r.checked_in, "missed": r.missed, "coverage": share })
        }),
        "presence": answer(presence, |p| {
            let r = p.rows.into_iter().next().unwrap_or_default();
            json!({ "members": r.members, "online": r.online, "online_rate": r.online_rate })
        }),
        "departments": departments,
    })))
}

fn ts(t: chrono::DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 }
}
