//! SubmitEvent, GetEvent, ListEvents through gRPC; what reaches JetStream.

use std::collections::HashSet;

use civicgrid_intake::domain::dedupe::distance_m;
use civicgrid_kit::grpc::field_violations;
use civicgrid_proto::v1::{
    EventReported, GetEventByTrackingNumberRequest, GetEventRequest, ListEventsRequest, Location, SubmitEventRequest,
};
use prost::Message;
use tonic::Code;

use crate::helpers::{report, spawn_app};

#[tokio::test]
async fn invalid_requests_name_every_wrong_field() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let mut bad = report("short", "1.2", 95.0, 114.0);
    bad.source = 0;
    bad.description = "x".into();
    bad.reporter.as_mut().unwrap().phone = "555-1234".into();
    bad.location.as_mut().unwrap().grid_code = "41160200100100".into();
    let status = client.submit_event(bad).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "request_id",
            "source",
            "item_code",
            "location.grid_code",
            "location.point.latitude",
            "description",
            "reporter.phone"
        ]
    );

    let status = client.submit_event(SubmitEventRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(field_violations(&status).iter().any(|(f, _)| f == "location"));

    let status = client.get_event(GetEventRequest { event_id: "nope".into() }).await.unwrap_err();
    assert_eq!(field_violations(&status), vec![("event_id".to_string(), "must be a UUID".to_string())]);
    let status = client.get_event(GetEventRequest { event_id: uuid::Uuid::now_v7().to_string() }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .list_events(ListEventsRequest {
            page_size: 501,
            page_token: "%%".into(),
            region_code: "12".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let fields: Vec<String> = field_violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["region_code", "page_size", "page_token"]);
    // Nothing was stored or published for any of it.
    let db = app.db().await;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&db).await.unwrap();
    assert_eq!(events, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_returns_the_first_answer_and_stores_nothing_new() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let first = client.submit_event(report("retry-0001", "01.02.003", 32.98, 114.02)).await.unwrap().into_inner();
    // Even if the retry's body differs, the first answer stands.
    let mut changed = report("retry-0001", "05.01.002", 33.5, 114.5);
    changed.description = "a different description".into();
    let again = client.submit_event(changed).await.unwrap().into_inner();
    assert_eq!(first, again);
    assert!(!first.merged);
    let db = app.db().await;
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM reports), (SELECT count(*) FROM submissions)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(counts, (1, 1, 1));
    // One message: the outbox drains to the stream, where only one arrives.
    crate::helpers::eventually("the outbox drained", || {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox").fetch_one(&db).await.unwrap() == 0 }
    })
    .await;
    assert_eq!(app.messages("CIVICGRID_INTAKE").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn tracking_numbers_stay_unique_under_200_parallel_submissions_in_one_county() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let mut client = app.client.clone();
        // Points 1 km apart: no two are duplicates of each other.
        let req = report(&format!("par-{i:05}"), "01.02.003", 32.5 + i as f64 * 0.01, 114.02);
        tasks.push(tokio::spawn(async move { client.submit_event(req).await.map(|r| r.into_inner()) }));
    }
    let mut numbers = HashSet::new();
    let mut seqs = Vec::new();
    for t in tasks {
        let answer = t.await.unwrap().expect("submit");
        assert!(!answer.merged);
        let parts: Vec<&str> = answer.tracking_number.split('-').collect();
        assert_eq!(parts[0], "411602");
        assert_eq!(parts[1].len(), 8);
        seqs.push(parts[2].parse::<u32>().unwrap());
        assert!(numbers.insert(answer.tracking_number.clone()), "duplicate {}", answer.tracking_number);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=200).collect::<Vec<u32>>(), "one sequence per county and day, no gaps here");
    app.stop().await;
}

#[tokio::test]
async fn a_nearby_report_of_the_same_item_is_merged_and_everyone_keeps_credit() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let (lat, lng) = (32.980, 114.020);
    let first = client.submit_event(report("dup-00001", "01.02.003", lat, lng)).await.unwrap().into_inner();
    // ~22 m north: the same manhole.
    let near = (lat + 0.0002, lng);
    assert!(distance_m((lat, lng), near) < 50.0);
    let mut second_req = report("dup-00002", "01.02.003", near.0, near.1);
    second_req.reporter.as_mut().unwrap().phone = "13900001111".into();
    let second = client.submit_event(second_req).await.unwrap().into_inner();
    assert!(second.merged);
    assert_eq!(second.event_id, first.event_id);
    assert_eq!(second.tracking_number, first.tracking_number);
    assert_ne!(second.reporter_id, first.reporter_id);
    // ~220 m away, or another item: separate events.
    let far = client.submit_event(report("dup-00003", "01.02.003", lat + 0.002, lng)).await.unwrap().into_inner();
    assert!(!far.merged);
    let other = client.submit_event(report("dup-00004", "02.01.001", lat, lng)).await.unwrap().into_inner();
    assert!(!other.merged);

    let event = client.get_event(GetEventRequest { event_id: first.event_id.clone() }).await.unwrap().into_inner();
    assert_eq!(event.reports.len(), 2);
    assert_eq!(event.reports[0].masked_phone, "138****5678");
    assert_eq!(event.reports[1].masked_phone, "139****1111");
    assert_eq!(event.version, 2);

    let messages = app.wait_messages("CIVICGRID_INTAKE", 4).await;
    let facts: Vec<&str> = messages.iter().map(|m| m.subject_token(2).unwrap()).collect();
    assert_eq!(facts, ["event-reported", "event-merged", "event-reported", "event-reported"]);
    app.stop().await;
}

#[tokio::test]
async fn published_events_carry_cloudevents_headers_and_never_raw_pii() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let answer = client.submit_event(report("pii-00001", "01.02.003", 32.98, 114.02)).await.unwrap().into_inner();
    let mut merged = report("pii-00002", "01.02.003", 32.98, 114.02);
    merged.reporter.as_mut().unwrap().name = "李四".into();
    client.submit_event(merged).await.unwrap();
    let mut by_region = report("pii-00003", "03.01.001", 32.98, 114.02);
    by_region.location = Some(Location { region_code: "411602001".into(), ..Default::default() });
    by_region.source = civicgrid_proto::v1::EventSource::Hotline12345 as i32;
    client.submit_event(by_region).await.unwrap();

    let messages = app.wait_messages("CIVICGRID_INTAKE", 3).await;
    let reported = &messages[0];
    assert_eq!(reported.subject, "civicgrid.intake.event-reported.411600.411602.411602001.411602001001");
    assert_eq!(messages[2].subject, "civicgrid.intake.event-reported.411600.411602.411602001._");
    let h = &reported.headers;
    assert_eq!(h["ce-specversion"], "1.0");
    assert_eq!(h["ce-type"], "civicgrid.v1.EventReported");
    assert_eq!(h["ce-source"], "civicgrid/intake");
    assert_eq!(h["ce-subject"], answer.event_id);
    assert_eq!(h["content-type"], "application/protobuf");
    assert_eq!(h["Nats-Msg-Id"], h["ce-id"]);
    assert_eq!(uuid::Uuid::parse_str(&h["ce-id"]).unwrap().get_version_num(), 7);
    assert!(chrono::DateTime::parse_from_rfc3339(&h["ce-time"]).is_ok());
    assert_eq!(h["traceparent"].split('-').count(), 4, "W3C traceparent: {}", h["traceparent"]);

    let decoded = EventReported::decode(reported.payload.clone()).unwrap();
    let event = decoded.event.unwrap();
    assert_eq!(event.tracking_number, answer.tracking_number);
    assert_eq!(event.reports[0].masked_phone, "138****5678");

    // Decode nothing: look for the raw phone and names anywhere in any message.
    for m in &messages {
        let mut blob = m.payload.to_vec();
        for (k, v) in &m.headers {
            blob.extend(k.as_bytes());
            blob.extend(v.as_bytes());
        }
        for secret in ["13812345678", "张三", "李四", "app-user-1"] {
            assert!(!blob.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} leaked on {}", m.subject);
        }
    }
    // At rest, too, the phone is sealed.
    let db = app.db().await;
    let sealed: Vec<Vec<u8>> = sqlx::query_scalar("SELECT phone_sealed FROM reporters").fetch_all(&db).await.unwrap();
    assert_eq!(sealed.len(), 3);
    for s in sealed {
        assert!(!s.windows(11).any(|w| w == b"13812345678"));
    }
    app.stop().await;
}

#[tokio::test]
async fn events_are_found_by_id_tracking_number_and_filtered_listing_with_pages() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let mut ids = Vec::new();
    for i in 0..5 {
        let a =
            client.submit_event(report(&format!("list-{i:04}"), "01.02.003", 32.0 + i as f64, 114.0)).await.unwrap();
        ids.push(a.into_inner());
    }
    let mut elsewhere = report("list-other", "04.04.004", 32.98, 114.02);
    elsewhere.location.as_mut().unwrap().grid_code = "411603002001001".into();
    client.submit_event(elsewhere).await.unwrap();

    let by_number = client
        .get_event_by_tracking_number(GetEventByTrackingNumberRequest {
            tracking_number: ids[2].tracking_number.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_number.id, ids[2].event_id);
    assert_eq!(by_number.status, civicgrid_proto::v1::EventStatus::Reported as i32);
    let location = by_number.location.unwrap();
    assert_eq!(location.region.unwrap().township, "411602001");

    // Two pages of two and one of one, newest first, in county 411602 only.
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_events(ListEventsRequest {
                region_code: "411602".into(),
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        seen.extend(page.events.iter().map(|e| e.id.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    let mut expected: Vec<String> = ids.iter().map(|a| a.event_id.clone()).collect();
    expected.reverse();
    assert_eq!(seen, expected);

    let other = client
        .list_events(ListEventsRequest { item_code: "04.04.004".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(other.events.len(), 1);
    assert_eq!(other.events[0].location.as_ref().unwrap().region.as_ref().unwrap().county, "411603");
    let city =
        client.list_events(ListEventsRequest { region_code: "411600".into(), ..Default::default() }).await.unwrap();
    assert_eq!(city.into_inner().events.len(), 6);
    app.stop().await;
}

#[tokio::test]
async fn housekeeping_forgets_old_answers_and_drops_old_tracking_sequences() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    client.submit_event(report("house-0001", "01.02.003", 32.98, 114.02)).await.unwrap();
    let db = app.db().await;
    let store = civicgrid_intake::store::Store::new(
        db.clone(),
        civicgrid_intake::pii::PiiCipher::from_base64(&civicgrid_intake::pii::PiiCipher::generate_key()).unwrap(),
        civicgrid_kit::bus::OutboxSignal::default(),
        chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
        50.0,
        chrono::Duration::hours(72),
    );
    // Today nothing is old enough.
    assert_eq!(store.housekeeping(chrono::Utc::now(), chrono::Duration::days(7)).await.unwrap(), (0, 0));
    // Eight days on, the answer and the sequence of that day are gone; retrying then is a new report.
    let later = chrono::Utc::now() + chrono::Duration::days(8);
    assert_eq!(store.housekeeping(later, chrono::Duration::days(7)).await.unwrap(), (1, 1));
    let sequences: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_class WHERE relkind = 'S' AND relname LIKE 'tracking%'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(sequences, 0);
    app.stop().await;
}
