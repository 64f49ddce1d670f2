//! RateOutcome (回访): one rating per outcome round, idempotent, published as `event-rated`; a
//! citizen's app proves the tracking number with the reporter's phone, as when it reads.

use civicgrid_kit::grpc::field_violations;
use civicgrid_proto::v1::{EventRated, EventStatus, GetEventRequest, RateOutcomeRequest, Rating, Role, TaskStatus};
use prost::Message;
use tonic::Code;

use crate::{
    bus::{dispatch_stream, fact, publish_fact, region},
    helpers::{TestApp, eventually, report, spawn_app, spawn_app_with},
    security::{SECRET, authed, token},
};

fn rate(request_id: &str, tracking_number: &str, rating: Rating, comment: &str) -> RateOutcomeRequest {
    RateOutcomeRequest {
        request_id: request_id.into(),
        tracking_number: tracking_number.into(),
        rating: rating as i32,
        comment: comment.into(),
        phone_last4: String::new(),
    }
}

/// [`rate`] with the proof a citizen's app gives.
fn rate_proved(request_id: &str, tracking_number: &str, rating: Rating, phone_last4: &str) -> RateOutcomeRequest {
    RateOutcomeRequest { phone_last4: phone_last4.into(), ..rate(request_id, tracking_number, rating, "") }
}

/// Publishes one task fact of the event's lead task and waits until intake shows `expect`.
pub(crate) async fn task_fact(
    app: &TestApp,
    event_id: &str,
    name: &str,
    status: TaskStatus,
    version: i64,
    expect: EventStatus,
) {
    let ce_id = format!("{event_id}-v{version}");
    publish_fact(&app.js, &ce_id, &ce_id, &fact(event_id, name, status, version)).await;
    let db = app.db().await;
    let id = uuid::Uuid::parse_str(event_id).unwrap();
    eventually(&format!("{name} v{version} → {expect:?}"), || {
        let db = db.clone();
        async move {
            let s: i16 =
                sqlx::query_scalar("SELECT status FROM events WHERE id = $1").bind(id).fetch_one(&db).await.unwrap();
            s == expect as i16
        }
    })
    .await;
}

/// assigned v1, signed v2, resolved v3: the event is RESOLVED.
pub(crate) async fn resolve(app: &TestApp, event_id: &str) {
    task_fact(app, event_id, "task-assigned", TaskStatus::Assigned, 1, EventStatus::Dispatched).await;
    task_fact(app, event_id, "task-signed", TaskStatus::Signed, 2, EventStatus::InProgress).await;
    task_fact(app, event_id, "task-resolved", TaskStatus::Resolved, 3, EventStatus::Resolved).await;
}

/// `event-rated` messages published, once the outbox has none left to publish (the relay
/// deletes what JetStream acknowledged).
async fn rated_in_outbox(app: &TestApp) -> i64 {
    let db = app.db().await;
    crate::helpers::eventually("the outbox drained", || {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox").fetch_one(&db).await.unwrap() == 0 }
    })
    .await;
    app.messages("CIVICGRID_INTAKE")
        .await
        .iter()
        .filter(|m| m.subject.starts_with("civicgrid.intake.event-rated."))
        .count() as i64
}

#[tokio::test]
async fn one_rating_per_outcome_published_as_event_rated_and_again_after_a_rework() {
    let app = spawn_app().await;
    dispatch_stream(&app).await;
    let mut client = app.client.clone();
    let submitted = client.submit_event(report("rate-ev-0001", "01.02.003", 32.98, 114.02)).await.unwrap().into_inner();
    let (id, number) = (submitted.event_id.clone(), submitted.tracking_number.clone());

    // Nothing to rate before the event is resolved; the refusal keeps its request id free.
    let status = client.rate_outcome(rate("rate-0001", &number, Rating::Satisfied, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("once the event is resolved"), "{}", status.message());

    resolve(&app, &id).await;
    let before = client.get_event(GetEventRequest { event_id: id.clone() }).await.unwrap().into_inner();
    // The same request id, now that the event is resolved, is processed as new.
    let first = client
        .rate_outcome(rate("rate-0001", &format!("  {number} "), Rating::Satisfied, " 修得很快，谢谢 "))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.event_id, id);
    assert_eq!(uuid::Uuid::parse_str(&first.rating_id).unwrap().get_version_num(), 7);

    let messages = app.wait_messages("CIVICGRID_INTAKE", 2).await;
    let m = &messages[1];
    assert_eq!(m.subject, "civicgrid.intake.event-rated.411600.411602.411602001.411602001001");
    let h = &m.headers;
    assert_eq!(h["ce-specversion"], "1.0");
    assert_eq!(h["ce-type"], "civicgrid.v1.EventRated");
    assert_eq!(h["ce-source"], "civicgrid/intake");
    assert_eq!(h["ce-subject"], id);
    assert_eq!(h["content-type"], "application/protobuf");
    assert_eq!(h["Nats-Msg-Id"], h["ce-id"]);
    assert_eq!(uuid::Uuid::parse_str(&h["ce-id"]).unwrap().get_version_num(), 7);
    assert!(chrono::DateTime::parse_from_rfc3339(&h["ce-time"]).is_ok());
    assert!(h.contains_key("traceparent"));
    let rated = EventRated::decode(m.payload.clone()).unwrap();
    assert_eq!(rated.event_id, id);
    assert_eq!(rated.tracking_number, number);
    assert_eq!(rated.rating, Rating::Satisfied as i32);
    assert_eq!(rated.comment, "修得很快，谢谢");
    assert_eq!(rated.region, Some(region()));
    assert_eq!(rated.rating_id, first.rating_id);
    assert!(rated.rated_at.is_some());
    let actor = rated.actor.unwrap();
    assert_eq!((actor.subject.as_str(), actor.role), ("dev-admin", Role::Admin as i32));
    // The rating is a change of the event: its version moved, and the fact carries the new one.
    let after = client.get_event(GetEventRequest { event_id: id.clone() }).await.unwrap().into_inner();
    assert_eq!(after.version, before.version + 1);
    assert_eq!(rated.version, after.version);

    // The same outcome cannot be rated twice, whoever asks and however.
    let status = client.rate_outcome(rate("rate-0002", &number, Rating::Dissatisfied, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    // A retry of the first call returns its answer, even with another body, and changes nothing.
    let again = client.rate_outcome(rate("rate-0001", &number, Rating::Dissatisfied, "")).await.unwrap().into_inner();
    assert_eq!(again, first);
    assert_eq!(rated_in_outbox(&app).await, 1);
    // Closing the resolved event is the same outcome: still rated.
    task_fact(&app, &id, "task-closed", TaskStatus::Closed, 4, EventStatus::Closed).await;
    let status = client.rate_outcome(rate("rate-0003", &number, Rating::Dissatisfied, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    // A rework reopens the case: not ratable while it is handled, ratable once resolved again.
    task_fact(&app, &id, "task-reworked", TaskStatus::Assigned, 5, EventStatus::Dispatched).await;
    let status = client.rate_outcome(rate("rate-0004", &number, Rating::Satisfied, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    task_fact(&app, &id, "task-resolved", TaskStatus::Resolved, 6, EventStatus::Resolved).await;
    let second =
        client.rate_outcome(rate("rate-0004", &number, Rating::Dissatisfied, "还是漏水")).await.unwrap().into_inner();
    assert_ne!(second.rating_id, first.rating_id);
    let status = client.rate_outcome(rate("rate-0005", &number, Rating::Satisfied, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    let messages = app.wait_messages("CIVICGRID_INTAKE", 3).await;
    let facts: Vec<&str> = messages.iter().map(|m| m.subject_token(2).unwrap()).collect();
    assert_eq!(facts, ["event-reported", "event-rated", "event-rated"]);
    let last = EventRated::decode(messages[2].payload.clone()).unwrap();
    assert_eq!((last.rating, last.rating_id.as_str()), (Rating::Dissatisfied as i32, second.rating_id.as_str()));
    assert!(last.version > rated.version);

    let db = app.db().await;
    let rows: Vec<(i32, i16, String)> =
        sqlx::query_as("SELECT outcome_round, rating, comment FROM ratings WHERE event_id = $1 ORDER BY outcome_round")
            .bind(uuid::Uuid::parse_str(&id).unwrap())
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(rows, [(1, 1, "修得很快，谢谢".to_string()), (2, 3, "还是漏水".to_string())]);
    app.stop().await;
}

#[tokio::test]
async fn invalid_ratings_name_every_field_and_unknown_numbers_are_not_found() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let bad = RateOutcomeRequest {
        request_id: "short".into(),
        tracking_number: "411602-20261122".into(),
        rating: Rating::Unspecified as i32,
        comment: "差".repeat(501),
        phone_last4: "56a8".into(),
    };
    let status = client.rate_outcome(bad).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["request_id", "tracking_number", "rating", "comment", "phone_last4"]);
    let unknown_value =
        RateOutcomeRequest { rating: 42, ..rate("rate-0001", "411602-20261122-000001", Rating::Satisfied, "") };
    let status = client.rate_outcome(unknown_value).await.unwrap_err();
    assert_eq!(field_violations(&status).into_iter().map(|(f, _)| f).collect::<Vec<_>>(), ["rating"]);

    let status =
        client.rate_outcome(rate("rate-0001", "411602-20261122-999999", Rating::Satisfied, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let db = app.db().await;
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM ratings), (SELECT count(*) FROM rating_requests), (SELECT count(*) FROM outbox)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(counts, (0, 0, 0));
    app.stop().await;
}

#[tokio::test]
async fn concurrent_ratings_of_one_outcome_record_exactly_one() {
    let app = spawn_app().await;
    dispatch_stream(&app).await;
    let mut client = app.client.clone();
    let submitted = client.submit_event(report("race-ev-0001", "01.02.003", 32.98, 114.02)).await.unwrap().into_inner();
    resolve(&app, &submitted.event_id).await;

    // Ten different callbacks at once: one wins, the others are refused.
    let mut calls = Vec::new();
    for i in 0..10 {
        let mut c = client.clone();
        let req = rate(&format!("race-{i:04}"), &submitted.tracking_number, Rating::Satisfied, "");
        calls.push(tokio::spawn(async move { c.rate_outcome(req).await.map(|r| r.into_inner()) }));
    }
    let mut won = Vec::new();
    for call in calls {
        match call.await.unwrap() {
            Ok(answer) => won.push(answer),
            Err(status) => assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}"),
        }
    }
    assert_eq!(won.len(), 1);
    // Ten retries of the winning call at once (its request id is race-<i>): all get its answer.
    let winner: String =
        sqlx::query_scalar("SELECT request_id FROM rating_requests").fetch_one(&app.db().await).await.unwrap();
    let mut retries = Vec::new();
    for _ in 0..10 {
        let mut c = client.clone();
        let req = rate(&winner, &submitted.tracking_number, Rating::Dissatisfied, "");
        retries.push(tokio::spawn(async move { c.rate_outcome(req).await.map(|r| r.into_inner()) }));
    }
    for retry in retries {
        assert_eq!(retry.await.unwrap().unwrap(), won[0]);
    }
    let ratings: i64 = sqlx::query_scalar("SELECT count(*) FROM ratings").fetch_one(&app.db().await).await.unwrap();
    assert_eq!(ratings, 1);
    assert_eq!(rated_in_outbox(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn the_citizen_app_and_the_center_in_scope_may_rate_others_may_not() {
    let app = spawn_app_with(&format!("[auth]\nhs256_secret = \"{SECRET}\"\n")).await;
    dispatch_stream(&app).await;
    let mut client = app.client.clone();
    let citizen = token("citizen_app", "");
    let submitted = client
        .submit_event(authed(report("auth-ev-0001", "01.02.003", 32.98, 114.02), &citizen))
        .await
        .unwrap()
        .into_inner();
    let number = submitted.tracking_number.clone();
    resolve(&app, &submitted.event_id).await;

    let status = client.rate_outcome(rate("auth-0001", &number, Rating::Satisfied, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // Departments must not rate their own work; grid workers verify but do not call back;
    // county centers only subscribe. The role is checked before the fields.
    for (role, scope) in [("department", "411602"), ("grid_worker", "411602001"), ("county_center", "411602")] {
        let status = client
            .rate_outcome(authed(rate("x", &number, Rating::Satisfied, ""), &token(role, scope)))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
    }
    // A center rates only inside its region: outside it the number does not exist.
    let status = client
        .rate_outcome(authed(rate("auth-0002", &number, Rating::Satisfied, ""), &token("center", "411603")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("no event"), "{}", status.message());

    // The citizen app proves the number: without the reporter's phone's last digits it cannot
    // rate, and with the wrong ones (or for a number never given out) the event does not exist.
    let status =
        client.rate_outcome(authed(rate("auth-0003", &number, Rating::Dissatisfied, ""), &citizen)).await.unwrap_err();
    assert_eq!(field_violations(&status).into_iter().map(|(f, _)| f).collect::<Vec<_>>(), ["phone_last4"]);
    let (day, seq) = number.split_at(number.len() - 6);
    let next = format!("{day}{:06}", seq.parse::<u32>().unwrap() + 1);
    for (n, proof) in [(&number, "1234"), (&next, "5678")] {
        let wrong = rate_proved("auth-0003", n, Rating::Dissatisfied, proof);
        let status = client.rate_outcome(authed(wrong, &citizen)).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{n} {proof}: {status:?}");
        assert_eq!(status.message(), format!("no event with tracking number {n}"));
    }
    let proved = RateOutcomeRequest {
        comment: "还行".into(),
        ..rate_proved("auth-0003", &number, Rating::BasicallySatisfied, "5678")
    };
    let answer = client.rate_outcome(authed(proved, &citizen)).await.unwrap().into_inner();
    assert_eq!(answer.event_id, submitted.event_id);
    // Request ids belong to the caller: the center's "auth-0003" is a new call, and refused
    // because this outcome is rated already.
    let status = client
        .rate_outcome(authed(rate("auth-0003", &number, Rating::Satisfied, ""), &token("center", "411602")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    let messages = app.wait_messages("CIVICGRID_INTAKE", 2).await;
    let rated = EventRated::decode(messages[1].payload.clone()).unwrap();
    let actor = rated.actor.unwrap();
    assert_eq!((actor.subject.as_str(), actor.role), ("citizen_app-1", Role::CitizenApp as i32));
    assert_eq!(rated.rating, Rating::BasicallySatisfied as i32);
    app.stop().await;
}

#[tokio::test]
async fn the_migration_counts_the_outcome_rounds_of_events_resolved_before_it() {
    let url = civicgrid_dev::testing::database().await.expect("database");
    let settings = civicgrid_kit::config::DatabaseSettings {
        url: Some(url.into()),
        schema: None,
        max_connections: 2,
        acquire_timeout_secs: 10,
    };
    let db = civicgrid_kit::db::connect(&settings, "intake").await.unwrap();
    let all = <civicgrid_intake::Intake as civicgrid_kit::runtime::Service>::migrations();
    civicgrid_kit::db::migrate(&db, "intake", all[..2].to_vec()).await.unwrap();
    // Histories as intake 0002 kept them: (event, statuses in order).
    let histories: [(&str, &[i16]); 4] = [
        ("never resolved", &[3, 4]),
        ("resolved and closed", &[3, 4, 5, 6]),
        ("reworked twice", &[3, 4, 5, 3, 4, 5, 6, 4, 5]),
        ("closed at triage", &[2, 6]),
    ];
    let mut ids = Vec::new();
    for (i, (what, statuses)) in histories.iter().enumerate() {
        let id = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO events (id, tracking_number, source, item_code, city, county, description, occurred_at, \
             reported_at, status) VALUES ($1, $2, 2, '01.02.003', '411600', '411602', $3, now(), now(), $4)",
        )
        .bind(id)
        .bind(format!("411602-20261122-{i:06}"))
        .bind(what)
        .bind(statuses.last().copied().unwrap())
        .execute(&db)
        .await
        .unwrap();
        for s in statuses.iter() {
            sqlx::query(
                "INSERT INTO status_history (event_id, status, fact, task_id, at) VALUES ($1, $2, 'f', 't', now())",
            )
            .bind(id)
            .bind(s)
            .execute(&db)
            .await
            .unwrap();
        }
        ids.push(id);
    }
    civicgrid_kit::db::migrate(&db, "intake", all).await.unwrap();
    let mut rounds = Vec::new();
    for id in ids {
        let r: i32 =
            sqlx::query_scalar("SELECT outcome_round FROM events WHERE id = $1").bind(id).fetch_one(&db).await.unwrap();
        rounds.push(r);
    }
    assert_eq!(rounds, [0, 1, 3, 1]);
}
