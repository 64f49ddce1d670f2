//! dispatch on the kit's runtime: a graceful stop publishes every task it created, its own
//! metrics parse with a real parser, and NUL characters in the ids clients send are
//! INVALID_ARGUMENT naming the field.

use std::collections::HashSet;

use civicgrid_dev::{
    infra::free_port,
    testing::{self, metrics, status::expect_invalid},
};
use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{GetGridWorkerKpisRequest, GetKpisRequest, ListTasksRequest, TimeRange};

use crate::helpers::{TOWNSHIP, admin, authed, monday_9am, reported, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_graceful_stop_publishes_every_task_it_created() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, _) = app.ordinary_item(&grid.path);
    for _ in 0..300 {
        app.publish_reported(&reported(&item.code, &grid, monday_9am())).await;
    }
    // Stop while the consumer works through the backlog.
    testing::eventually("the first tasks", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM dispatch.tasks").fetch_one(&app.db).await.unwrap_or(0) >= 10
    })
    .await;
    app.shutdown.cancel();
    app.handle.await.expect("join").expect("dispatch stopped cleanly");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM dispatch.outbox").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0, "the drain left outbox rows unpublished");
    let created: HashSet<String> = sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM dispatch.tasks")
        .fetch_all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let published: HashSet<String> = testing::stream::messages(&app.js, "CIVICGRID_DISPATCH")
        .await
        .iter()
        .filter_map(|m| m.headers.get("ce-subject").cloned())
        .collect();
    let missing: Vec<_> = created.difference(&published).collect();
    assert!(missing.is_empty(), "{} tasks created but not published: {missing:?}", missing.len());
}

#[tokio::test]
async fn open_tasks_by_colour_and_published_facts_are_scraped() {
    let port = free_port().expect("a free port");
    let app = spawn_app_with(Clock::manual(monday_9am()), &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n")).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, _) = app.ordinary_item(&grid.path);
    app.report(&item.code, &grid, 1).await;
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut scrape = metrics::scrape(addr).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while scrape.value("civicgrid_facts_published_total", &[("fact", "task-assigned")]).unwrap_or(0.0) < 1.0 {
        assert!(std::time::Instant::now() < deadline, "task-assigned never counted");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        scrape = metrics::scrape(addr).await;
    }
    let open = scrape.family("civicgrid_dispatch_open_tasks").expect("open tasks by colour");
    assert_eq!(open.kind, "gauge");
    assert_eq!(scrape.value("civicgrid_dispatch_open_tasks", &[("colour", "blue")]), Some(1.0));
    assert_eq!(scrape.value("civicgrid_dispatch_open_tasks", &[("colour", "red")]), Some(0.0));
    assert!(
        scrape.value("civicgrid_consumer_deliveries_total", &[("durable", "dispatch-intake")]).unwrap_or(0.0) >= 1.0
    );
    app.stop().await;
}

#[tokio::test]
async fn nul_characters_in_ids_are_invalid_argument_naming_the_field() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let mut client = app.client.clone();
    let list = ListTasksRequest { department_id: "cg\u{0}".into(), ..Default::default() };
    expect_invalid(client.list_tasks(authed(list, &admin())).await, "department_id", "ListTasks.department_id");
    let period = Some(TimeRange {
        from: Some(civicgrid_kit::time::to_proto(monday_9am())),
        to: Some(civicgrid_kit::time::to_proto(monday_9am() + chrono::Duration::days(1))),
    });
    let kpis = GetKpisRequest { period, department_id: "\u{0}".into(), region_code: String::new() };
    expect_invalid(client.get_kpis(authed(kpis, &admin())).await, "department_id", "GetKpis.department_id");
    let kpis = GetKpisRequest { period, department_id: String::new(), region_code: "4116\u{0}".into() };
    expect_invalid(client.get_kpis(authed(kpis, &admin())).await, "region_code", "GetKpis.region_code");
    let worker = GetGridWorkerKpisRequest { period, grid_worker_id: "gw\u{0}".into() };
    expect_invalid(
        client.get_grid_worker_kpis(authed(worker, &admin())).await,
        "grid_worker_id",
        "GetGridWorkerKpis.grid_worker_id",
    );
    app.stop().await;
}
