//! The console against a real nats-server: facts published on the services' streams (before
//! and after it starts) become the figures, lists and live feed of its HTTP API; tokens and
//! scopes hold; bad parameters are named.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use civicgrid_console::{Console, DEFAULTS, Settings};
use civicgrid_democity::{City, Options};
use civicgrid_dev::testing::{self, TestNats};
use civicgrid_kit::{Shutdown, auth};
use civicgrid_proto::v1::{RegionPath, TaskEvent, TaskStatus, WarningColour};
use prost::Message;
use serde_json::Value;

const SECRET: &str = "console-test-secret";

struct Running {
    base: String,
    shutdown: Shutdown,
    js: async_nats::jetstream::Context,
    _nats: TestNats,
    _geometry: tempfile::NamedTempFile,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn task(id: &str, version: i64, fact: &str, status: TaskStatus, colour: WarningColour, grid: &str) -> TaskEvent {
    TaskEvent {
        task_id: id.into(),
        event_id: format!("ev-{id}"),
        fact: fact.into(),
        status: status as i32,
        department_id: if status == TaskStatus::AwaitingTriage { String::new() } else { "411602-cgj".into() },
        region: Some(RegionPath {
            city: "411600".into(),
            county: grid[..6].into(),
            township: grid[..9].into(),
            village: grid[..12].into(),
        }),
        version,
        occurred_at: Some(prost_types::Timestamp { seconds: chrono::Utc::now().timestamp(), nanos: 0 }),
        colour: colour as i32,
        escalated: colour == WarningColour::Red,
        item_code: "01.02.003".into(),
        grid_code: grid.into(),
        tracking_number: format!("411602-20261206-{id}"),
        ..Default::default()
    }
}

async fn publish(js: &async_nats::jetstream::Context, t: &TaskEvent) {
    let r = t.region.clone().unwrap_or_default();
    let subject = format!("civicgrid.dispatch.{}.{}.{}.{}.{}", t.fact, r.city, r.county, r.township, r.village);
    js.publish(subject, t.encode_to_vec().into()).await.unwrap().await.unwrap();
}

async fn start(secret: &str) -> Running {
    let nats = testing::nats().await.unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    for service in ["intake", "dispatch", "mediation", "patrol"] {
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: format!("CIVICGRID_{}", service.to_uppercase()),
            subjects: vec![format!("civicgrid.{service}.>")],
            ..Default::default()
        })
        .await
        .unwrap();
    }
    // Before the console starts: it must replay these.
    publish(
        &js,
        &task(
            "000001",
            1,
            "task-awaiting-triage",
            TaskStatus::AwaitingTriage,
            WarningColour::Unspecified,
            "411602001001001",
        ),
    )
    .await;
    publish(&js, &task("000002", 1, "task-assigned", TaskStatus::Assigned, WarningColour::Blue, "411602001002001"))
        .await;
    publish(&js, &task("000002", 2, "task-warning", TaskStatus::Assigned, WarningColour::Orange, "411602001002001"))
        .await;

    let city = City::generate_with(&Options::new(7).counties(&["411602", "411621"])).unwrap();
    let geometry = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(geometry.path(), city.geometry_geojson()).unwrap();
    let toml = format!(
        "[nats]\nurl = \"{}\"\n[auth]\nhs256_secret = \"{secret}\"\n[console]\nlisten = \"127.0.0.1:0\"\ngeometry_path = \"{}\"\n",
        nats.url(),
        geometry.path().display()
    );
    let settings: Settings = civicgrid_kit::config::from_toml(&[DEFAULTS, &toml]).unwrap();
    let console = Console::build(settings).await.unwrap();
    let base = format!("http://{}", console.local_addr());
    let shutdown = Shutdown::new();
    tokio::spawn(console.run_until_stopped(shutdown.clone()));
    Running { base, shutdown, js, _nats: nats, _geometry: geometry }
}

fn token(role: &str, scope: &str) -> String {
    let claims = auth::Claims {
        sub: format!("test-{role}"),
        role: role.into(),
        department_id: String::new(),
        region_scope: scope.into(),
        exp: auth::expiry_in(Duration::from_secs(600)),
        iss: None,
        aud: None,
    };
    auth::issue_token(SECRET, &claims).unwrap()
}

async fn get(url: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut r = reqwest::Client::new().get(url);
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn child<'a>(view: &'a Value, code: &str) -> &'a Value {
    view["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == code)
        .unwrap_or_else(|| panic!("{code} in {view}"))
}

#[tokio::test]
async fn facts_on_the_bus_become_figures_lists_and_a_live_feed() {
    let c = start("").await;
    testing::eventually("the replayed tasks", || async {
        get(&format!("{}/api/tasks?list=open", c.base), None).await.1["total"] == 2
    })
    .await;
    let (status, city) = get(&format!("{}/api/regions", c.base), None).await;
    assert_eq!(status, 200, "{city}");
    assert_eq!(city["code"], "411600");
    assert_eq!(city["children"].as_array().unwrap().len(), 2, "the two generated counties");
    let county = child(&city, "411602");
    assert_eq!((county["figures"]["open"].as_u64(), county["figures"]["worst"].as_i64()), (Some(2), Some(3)));
    assert!(county["ring"].as_array().unwrap().len() >= 3 && county["name"] == "川汇区");
    assert_eq!(child(&city, "411621")["figures"]["open"], 0);

    let (_, village) = get(&format!("{}/api/regions/411602001001", c.base), None).await;
    assert_eq!(village["path"].as_array().unwrap().len(), 4);
    assert_eq!(child(&village, "411602001001001")["figures"]["triage"], 1);

    let (_, triage) = get(&format!("{}/api/tasks?list=triage&region=411602", c.base), None).await;
    assert_eq!(triage["total"], 1);
    assert_eq!(triage["tasks"][0]["tracking_number"], "411602-20261206-000001");
    assert!(triage["tasks"][0]["place"].as_str().unwrap().contains("七一路社区"), "{triage}");
    let (_, overdue) = get(&format!("{}/api/tasks?list=overdue&region=411602001", c.base), None).await;
    assert_eq!(overdue["total"], 1);

    // The live feed: the recent facts first, then what is published now.
    let mut live = reqwest::get(format!("{}/api/live", c.base)).await.unwrap();
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    publish(&c.js, &task("000002", 3, "task-escalated", TaskStatus::Assigned, WarningColour::Red, "411602001002001"))
        .await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains("task-escalated") {
        let chunk =
            tokio::time::timeout_at(deadline, live.chunk()).await.expect("the escalation arrives live").unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap_or_default()));
    }
    assert!(seen.contains("event: fact") && seen.contains("task-awaiting-triage"), "{seen}");
    testing::eventually("the escalated list", || async {
        get(&format!("{}/api/tasks?list=escalated", c.base), None).await.1["total"] == 1
    })
    .await;
    let (_, city) = get(&format!("{}/api/regions", c.base), None).await;
    assert_eq!(child(&city, "411602")["figures"]["worst"], 4);

    // Probes need no token.
    assert_eq!(reqwest::get(format!("{}/healthz", c.base)).await.unwrap().status().as_u16(), 200);
    // The page and its scripts are served.
    let page = reqwest::get(format!("{}/", c.base)).await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"map\"") && page.contains("/app.js"));
}

#[tokio::test]
async fn bad_parameters_are_named() {
    let c = start("").await;
    let (status, body) = get(&format!("{}/api/tasks?colour=9", c.base), None).await;
    assert_eq!((status, body["error"].as_str().unwrap().starts_with("colour")), (400, true), "{body}");
    let (status, body) = get(&format!("{}/api/regions/41a602", c.base), None).await;
    assert_eq!((status, body["error"].as_str().unwrap().starts_with("code")), (400, true), "{body}");
    assert_eq!(get(&format!("{}/api/regions/999999", c.base), None).await.0, 404);
    let (status, body) = get(&format!("{}/api/kpis?period=year", c.base), None).await;
    assert_eq!((status, body["error"].as_str().unwrap().starts_with("period")), (400, true), "{body}");
    let (status, body) = get(&format!("{}/api/kpis?period=custom&from=2026-12-08&to=2026-12-01", c.base), None).await;
    assert_eq!((status, body["error"].as_str().unwrap().starts_with("to")), (400, true), "{body}");
    let (status, body) = get(&format!("{}/api/kpis?period=custom&from=yesterday&to=2026-12-01", c.base), None).await;
    assert_eq!((status, body["error"].as_str().unwrap().starts_with("from")), (400, true), "{body}");
    let post = |body: Value| {
        let url = format!("{}/api/triage", c.base);
        async move {
            let r = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = post(serde_json::json!({ "task_ids": [], "department_id": "411602-cgj" })).await;
    assert_eq!((status, body["error"].as_str().unwrap().starts_with("task_ids")), (400, true), "{body}");
    let (status, body) = post(serde_json::json!({ "task_ids": ["t1"], "department_id": " " })).await;
    assert_eq!((status, body["error"].as_str().unwrap().starts_with("department_id")), (400, true), "{body}");
}

#[tokio::test]
async fn tokens_are_checked_and_a_county_center_sees_only_its_county() {
    let c = start(SECRET).await;
    assert_eq!(get(&format!("{}/api/session", c.base), None).await.0, 401);
    assert_eq!(get(&format!("{}/api/session", c.base), Some("not-a-token")).await.0, 401);
    let (status, body) = get(&format!("{}/api/session", c.base), Some(&token("department", ""))).await;
    assert_eq!(status, 403, "{body}");

    let county = token("county_center", "411621");
    let (status, session) = get(&format!("{}/api/session", c.base), Some(&county)).await;
    assert_eq!((status, session["top"].as_str()), (200, Some("411621")), "{session}");
    assert_eq!(session["auth_enabled"], true);
    let (_, top) = get(&format!("{}/api/regions", c.base), Some(&county)).await;
    assert_eq!(top["code"], "411621");
    assert_eq!(get(&format!("{}/api/regions/411602", c.base), Some(&county)).await.0, 404);
    assert_eq!(get(&format!("{}/api/regions/411600", c.base), Some(&county)).await.0, 404);
    assert_eq!(get(&format!("{}/api/tasks?region=411602", c.base), Some(&county)).await.0, 404);
    // Its own lists hold nothing of 川汇区's.
    testing::eventually("the replay", || async {
        get(&format!("{}/api/tasks?list=open", c.base), Some(&token("center", ""))).await.1["total"] == 2
    })
    .await;
    assert_eq!(get(&format!("{}/api/tasks?list=open", c.base), Some(&county)).await.1["total"], 0);
    // EventSource cannot set headers: the token may come as a parameter.
    let (status, _) = get(&format!("{}/api/session?token={county}", c.base), None).await;
    assert_eq!(status, 200);
}
