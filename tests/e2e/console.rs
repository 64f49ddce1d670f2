//! The console in headless Chromium, on the suite as `civicgrid up --auth` runs it with the
//! generated city and its traffic: log in with a token, see live facts arrive, drill into a
//! county by the tree and a township by the map, assign a triage item by hand and see it leave
//! the queue, find the event by its tracking number, switch to English. Screenshots of each
//! step go to target/test-artifacts/console-*.png.

use std::time::Duration;

use civicgrid_dev::browser::Browser;
use civicgrid_e2e::Suite;
use civicgrid_proto::v1::{
    EventSource, GetTaskRequest, ListTasksRequest, Location, Reporter, SubmitEventRequest, TaskStatus,
    dispatch_service_client::DispatchServiceClient, intake_service_client::IntakeServiceClient,
};

use crate::common::as_;

const LONG: Duration = Duration::from_secs(60);

/// The admin token `civicgrid up --auth` prints.
fn printed_admin_token(suite: &Suite) -> String {
    let line = suite.wait_for_line("tokens: admin", Duration::from_secs(5));
    line.split_whitespace().last().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duty_officer_watches_drills_assigns_and_tracks_in_the_browser() {
    let suite =
        tokio::task::spawn_blocking(|| Suite::up(&["--auth", "--demo-interval-ms", "500", "--traffic-rate", "240"]))
            .await
            .unwrap();
    let admin = printed_admin_token(&suite);
    let mut intake = IntakeServiceClient::connect(format!("http://{}", suite.intake)).await.unwrap();
    let mut dispatch = DispatchServiceClient::connect(format!("http://{}", suite.dispatch)).await.unwrap();

    // A report located only at county level has no township to route to: it waits for triage.
    let report = SubmitEventRequest {
        request_id: "e2e-console-triage-1".into(),
        source: EventSource::Hotline12345 as i32,
        item_code: "01.02.003".into(),
        location: Some(Location {
            region_code: "411602".into(),
            address: "川汇区 某路口".into(),
            ..Default::default()
        }),
        description: "井盖缺失（控制台测试）".into(),
        reporter: Some(Reporter { name: "测试".into(), phone: "13800001111".into(), account_id: String::new() }),
        ..Default::default()
    };
    let submitted = intake.submit_event(as_(report, &admin)).await.unwrap().into_inner();
    let number = submitted.tracking_number.clone();

    let browser = Browser::start().await.unwrap();
    browser.goto(&suite.console).await.unwrap();
    browser.wait_for("#login:not([hidden]) #token").await.unwrap();
    browser.fill("#token", &admin).await.unwrap();
    browser.click("#login-go").await.unwrap();

    // The whole city, its ten counties on the map and in the tree.
    browser.wait_for("#map[data-region='411600']").await.unwrap();
    assert_eq!(browser.count("#tree li[data-level='county']").await.unwrap(), 10);
    browser.wait_for("#kpis .tile[data-kpi='closure_rate']").await.unwrap();
    browser.wait_for("#kpis .tile[data-kpi='grid_workers_online']").await.unwrap();
    // Live facts arrive without a reload: the feed grows while we watch.
    browser.wait_for("#feed li.feed-item").await.unwrap();
    let before = browser.count("#feed li.feed-item").await.unwrap();
    wait_until(
        &browser,
        "more live facts",
        |n| n > before as u64,
        "return document.querySelectorAll('#feed li.feed-item').length",
    )
    .await;
    browser.screenshot("console-city").await.unwrap();

    // Drill into 川汇区 by the tree, then into a township by clicking the map.
    js_click(&browser, "#tree li[data-code='411602']").await;
    browser.wait_for("#map[data-region='411602']").await.unwrap();
    assert!(browser.count("#tree li[data-level='township']").await.unwrap() >= 5);
    browser.screenshot("console-county").await.unwrap();
    let clicked = browser
        .eval(
            "const h = S.hits.find((x) => x.child.code === '411602001'); if (!h) return false; \
             const c = document.querySelector('#map'); const r = c.getBoundingClientRect(); \
             const [x, y] = h.pts.reduce(([a, b], [p, q]) => [a + p / h.pts.length, b + q / h.pts.length], [0, 0]); \
             c.dispatchEvent(new MouseEvent('click', { clientX: r.left + x * r.width / c.width, clientY: r.top + y * r.height / c.height, bubbles: true })); \
             return true;",
        )
        .await
        .unwrap();
    assert_eq!(clicked, serde_json::json!(true));
    browser.wait_for("#map[data-region='411602001']").await.unwrap();
    js_click(&browser, "#crumbs a[data-code='411602']").await;
    browser.wait_for("#map[data-region='411602']").await.unwrap();

    // The report waits in the triage queue; assign it by hand and see it leave.
    let in_queue = format!(
        "return [...document.querySelectorAll('#list tr[data-task] td.num')].filter((x) => x.textContent === '{number}').length"
    );
    wait_until(&browser, "the report in the triage queue", |n| n == 1, &in_queue).await;
    let task_id = browser
        .eval(&format!(
            "const td = [...document.querySelectorAll('#list td.num')].find((x) => x.textContent === '{number}'); \
             const tr = td.closest('tr'); tr.querySelector('input.pick').checked = true; return tr.dataset.task;"
        ))
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    browser.fill("#triage-department", "411602-chengguan").await.unwrap();
    browser.screenshot("console-triage").await.unwrap();
    browser.click("#triage-assign").await.unwrap();
    browser.wait_for_text("#triage-result", "1", LONG).await.unwrap();
    assert_eq!(browser.count(&format!("#list tr[data-task='{task_id}']")).await.unwrap(), 0, "it left the queue");
    let task = dispatch.get_task(as_(GetTaskRequest { task_id: task_id.clone() }, &admin)).await.unwrap().into_inner();
    // Assigned to the department the officer chose; the demo traffic's departments (on in this
    // suite) may have signed for it already, as they do for every task they see assigned.
    assert_eq!(task.department_id, "411602-chengguan");
    assert!(matches!(task.status(), TaskStatus::Assigned | TaskStatus::Signed), "{:?}", task.status());
    let listed = dispatch
        .list_tasks(as_(ListTasksRequest { event_id: submitted.event_id.clone(), ..Default::default() }, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.tasks.len(), 1);

    // Its whole history by tracking number: intake's report and dispatch's triage and assignment.
    browser.fill("#track-number", &number).await.unwrap();
    browser.click("#track-go").await.unwrap();
    browser.wait_for(&format!("#track-event[data-number='{number}']")).await.unwrap();
    browser.wait_for("#timeline li[data-service='intake'][data-fact='event-reported']").await.unwrap();
    browser.wait_for("#timeline li[data-service='dispatch'][data-fact='task-awaiting-triage']").await.unwrap();
    browser.wait_for("#timeline li[data-service='dispatch'][data-fact='task-assigned']").await.unwrap();
    browser.screenshot("console-timeline").await.unwrap();

    // Chinese by default, English on request.
    browser.wait_for_text("header h1", "指挥中心", LONG).await.unwrap();
    browser.click("#lang").await.unwrap();
    browser.wait_for_text("header h1", "Command center", LONG).await.unwrap();
    browser.close().await.unwrap();
}

/// Polls `js` (a function body returning a number) until `ok` holds, for up to a minute.
async fn wait_until(browser: &Browser, what: &str, ok: impl Fn(u64) -> bool, js: &str) {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let n = browser.eval(js).await.unwrap().as_u64().unwrap_or(0);
        if ok(n) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what} (last {n})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Clicks `css` from inside the page, waiting until it exists. The tree and the breadcrumb are
/// redrawn as figures change, so WebDriver's find-then-click could hit an element just replaced.
async fn js_click(browser: &Browser, css: &str) {
    let js = format!("const e = document.querySelector(\"{css}\"); if (!e) return 0; e.click(); return 1;");
    wait_until(browser, css, |n| n == 1, &js).await;
}

/// `civicgrid console` on its own, as its container runs it: configured by `CIVICGRID__…`
/// variables only, against the suite's NATS and services, read with curl.
#[tokio::test(flavor = "multi_thread")]
async fn civicgrid_console_runs_alone_from_its_environment() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-traffic", "--quiet"])).await.unwrap();
    let port = civicgrid_dev::infra::free_port().unwrap();
    let geometry = suite.state.path().join("city/geometry.geojson");
    let mut console = std::process::Command::new(civicgrid_e2e::civicgrid_binary())
        .arg("console")
        .env("CIVICGRID__NATS__URL", &suite.nats_url)
        .env("CIVICGRID__CONSOLE__LISTEN", format!("127.0.0.1:{port}"))
        .env("CIVICGRID__CONSOLE__GEOMETRY_PATH", &geometry)
        .env("CIVICGRID__CONSOLE__INTAKE_URL", format!("http://{}", suite.intake))
        .env("CIVICGRID__CONSOLE__DISPATCH_URL", format!("http://{}", suite.dispatch))
        .env("CIVICGRID__CONSOLE__MEDIATION_URL", format!("http://{}", suite.mediation))
        .env("CIVICGRID__CONSOLE__PATROL_URL", format!("http://{}", suite.patrol))
        .env("CIVICGRID__TELEMETRY__LOG", "warn")
        .spawn()
        .expect("civicgrid console");
    let curl = |path: &str| {
        let out = std::process::Command::new("curl")
            .args(["-s", "--max-time", "5", &format!("http://127.0.0.1:{port}{path}")])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while curl("/healthz") != "serving\n" {
        assert!(tokio::time::Instant::now() < deadline, "civicgrid console did not become healthy");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let city: serde_json::Value = serde_json::from_str(&curl("/api/regions")).unwrap();
    assert_eq!(
        (city["name"].as_str(), city["children"].as_array().map(Vec::len)),
        (Some("周口市"), Some(10)),
        "{city}"
    );
    let kpis: serde_json::Value = serde_json::from_str(&curl("/api/kpis?region=411602")).unwrap();
    assert!(kpis["dispatch"]["error"].is_null() && kpis["mediation"]["error"].is_null(), "{kpis}");
    // SIGTERM stops it.
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(console.id() as i32, libc::SIGTERM) };
    let stopped = tokio::task::spawn_blocking(move || {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(status)) = console.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = console.kill();
        let _ = console.wait();
        None
    })
    .await
    .unwrap();
    assert!(stopped.is_some_and(|s| s.success()), "civicgrid console stops on SIGTERM: {stopped:?}");
}
