//! What a newcomer does after `civicgrid up`: list, check health, submit with grpcurl, and see
//! the event on JetStream with the CloudEvents headers.

use std::time::Duration;

use civicgrid_e2e::Suite;
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread")]
async fn grpcurl_lists_checks_health_and_submits_an_event_that_reaches_jetstream() {
    // The traffic follows the local hour (a tenth of the rate at night in 周口): a rate high
    // enough that a report comes within seconds at any hour the test runs.
    let args = ["--demo-interval-ms", "300", "--traffic-rate", "240"];
    let suite = tokio::task::spawn_blocking(move || Suite::up(&args)).await.unwrap();
    let intake = suite.intake.clone();

    let (ok, listed) = suite.grpcurl(&[&intake, "list"]);
    assert!(ok, "{listed}");
    assert!(listed.contains("civicgrid.v1.IntakeService") && listed.contains("grpc.health.v1.Health"), "{listed}");

    let (ok, health) = suite.grpcurl(&[&intake, "grpc.health.v1.Health/Check"]);
    assert!(ok && health.contains("SERVING"), "{health}");

    // Each port lists exactly what it serves, and serves its metrics.
    for (service, addr, name) in [
        ("intake", &suite.intake, "civicgrid.v1.IntakeService"),
        ("dispatch", &suite.dispatch, "civicgrid.v1.DispatchService"),
        ("notify", &suite.notify, "civicgrid.v1.NotifyService"),
        ("mediation", &suite.mediation, "civicgrid.v1.MediationService"),
        ("patrol", &suite.patrol, "civicgrid.v1.PatrolService"),
    ] {
        let (ok, listed) = suite.grpcurl(&[addr, "list"]);
        assert!(ok, "{listed}");
        let mut listed: Vec<&str> = listed.lines().collect();
        listed.sort();
        assert_eq!(
            listed,
            [
                name,
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection"
            ],
            "{service} lists exactly what it serves"
        );
        // Every listed service can be described: clients that resolve them all (k6) need it.
        for listed in listed {
            let (ok, described) = suite.grpcurl(&[addr, "describe", listed]);
            assert!(ok && described.contains("is a service"), "{service}: describe {listed}: {described}");
        }
        let scrape = civicgrid_dev::testing::metrics::scrape(suite.metrics[service].parse().unwrap()).await;
        assert_eq!(scrape.value("civicgrid_ready", &[("service", service)]), Some(1.0), "{service} ready");
    }

    // `up` loaded the generated demo city (default seed) through the services' own interfaces,
    // and wrote its polygons for the console.
    let (ok, versions) = suite.grpcurl(&[&suite.dispatch, "civicgrid.v1.DispatchService/GetReferenceVersions"]);
    assert!(ok && versions.contains("democity.1+s20261206"), "{versions}");
    let (ok, versions) =
        suite.grpcurl(&[&suite.mediation, "civicgrid.v1.MediationService/GetMediationReferenceVersions"]);
    assert!(ok && versions.contains("democity.1+s20261206"), "{versions}");
    let teams = r#"{"region_code":"411681","page_size":1}"#;
    let (ok, listed) = suite.grpcurl(&["-d", teams, &suite.patrol, "civicgrid.v1.PatrolService/ListTeams"]);
    assert!(ok && listed.contains("项城市"), "a team of a county the shipped data lacks: {listed}");
    let geometry = std::fs::read_to_string(suite.state.path().join("city/geometry.geojson")).expect("geometry");
    assert!(geometry.contains("FeatureCollection") && geometry.contains("411602001001002"));

    let body = r#"{"request_id":"e2e-grpcurl-0001","source":"EVENT_SOURCE_HOTLINE_12345","item_code":"01.02.003",
        "location":{"grid_code":"411602001001002","point":{"latitude":33.7,"longitude":114.7}},
        "description":"井盖缺失，请尽快处理","reporter":{"name":"王五","phone":"13812345678"}}"#;
    let (ok, answer) = suite.grpcurl(&["-d", body, &intake, "civicgrid.v1.IntakeService/SubmitEvent"]);
    assert!(ok, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("grpcurl prints JSON");
    let event_id = answer["eventId"].as_str().expect("eventId").to_string();
    let tracking = answer["trackingNumber"].as_str().expect("trackingNumber").to_string();
    assert!(tracking.starts_with("411602-"), "{tracking}");

    let (ok, bad) = suite.grpcurl(&[
        "-d",
        r#"{"request_id":"x","item_code":"1"}"#,
        &intake,
        "civicgrid.v1.IntakeService/SubmitEvent",
    ]);
    assert!(!ok);
    assert!(bad.contains("InvalidArgument") && bad.contains("request_id") && bad.contains("item_code"), "{bad}");

    let (ok, found) = suite.grpcurl(&[
        "-d",
        &format!(r#"{{"tracking_number":"{tracking}"}}"#),
        &intake,
        "civicgrid.v1.IntakeService/GetEventByTrackingNumber",
    ]);
    assert!(ok && found.contains(&event_id) && found.contains("138****5678"), "{found}");

    // The event is on the stream, with the headers of design §5.
    let client = suite.nats().await;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("CIVICGRID_INTAKE").await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: "civicgrid.intake.event-reported.411600.411602.411602001.411602001001".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut found = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while found.is_none() && tokio::time::Instant::now() < deadline {
        let mut batch =
            consumer.fetch().max_messages(100).expires(Duration::from_millis(500)).messages().await.unwrap();
        while let Some(Ok(m)) = batch.next().await {
            let _ = m.ack().await;
            let h = m.headers.clone().unwrap_or_default();
            if h.get("ce-subject").map(|v| v.as_str()) == Some(event_id.as_str()) {
                found = Some((m.subject.to_string(), h, m.payload.clone()));
            }
        }
    }
    let (subject, headers, payload) = found.expect("the submitted event on CIVICGRID_INTAKE");
    assert_eq!(subject, "civicgrid.intake.event-reported.411600.411602.411602001.411602001001");
    for name in [
        "ce-specversion",
        "ce-id",
        "Nats-Msg-Id",
        "ce-type",
        "ce-source",
        "ce-time",
        "ce-subject",
        "content-type",
        "traceparent",
    ] {
        assert!(headers.get(name).is_some(), "missing header {name}");
    }
    assert_eq!(headers.get("ce-type").unwrap().as_str(), "civicgrid.v1.EventReported");
    assert!(!payload.windows(11).any(|w| w == b"13812345678"), "raw phone on the bus");

    // The demo city is generating traffic and the console shows it.
    let line = tokio::task::spawn_blocking(move || {
        // A demo report (the patrols print their own [demo] lines too).
        let line = suite.wait_for_line("] EVENT_SOURCE_", Duration::from_secs(30));
        suite.wait_for_line("[bus] civicgrid.intake.event-reported", Duration::from_secs(30));
        // The committees and mediators of the demo city settle disputes.
        suite.wait_for_line("settled: agreement signed", Duration::from_secs(90));
        line
    })
    .await
    .unwrap();
    // Reports come from the whole generated city: a grid of one of its counties, and the
    // tracking number of that county.
    let (grid, tracking) =
        line.split_once(" at ").and_then(|(_, rest)| rest.split_once(" -> ")).expect("at <grid> -> <tracking>");
    assert!(grid.starts_with("4116") && grid.len() == 15, "{line}");
    assert!(tracking.starts_with(&format!("{}-", &grid[..6])), "{line}");
}
