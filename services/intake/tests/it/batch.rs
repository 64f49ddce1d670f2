//! Group commit: the promises of SubmitEvent hold between submissions of one batch. The store
//! is driven directly with batches of known composition, and through gRPC with a long batch
//! window so that concurrent calls share a transaction.

use std::collections::HashSet;

use civicgrid_intake::{
    domain::validate::{NewReport, validate},
    pii::PiiCipher,
    store::{Store, StoreError, Submission},
};
use civicgrid_kit::{auth::Principal, bus::OutboxSignal, grpc::field_violations};
use civicgrid_proto::v1::{EventMerged, EventReported, GetEventRequest, SubmitEventRequest, SubmitEventResponse};
use prost::Message;
use tonic::Code;

use crate::helpers::{TestApp, report, spawn_app, spawn_app_with};

/// A store over the test's database, as intake builds it (50 m, 72 h, +08:00).
async fn store(app: &TestApp) -> Store {
    Store::new(
        app.db().await,
        PiiCipher::from_base64(&PiiCipher::generate_key()).unwrap(),
        OutboxSignal::default(),
        chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
        50.0,
        chrono::Duration::hours(72),
    )
}

fn submission(req: &SubmitEventRequest) -> Submission {
    let now = chrono::Utc::now();
    Submission {
        report: validate(req, now).expect("valid"),
        caller: Principal::development_admin(),
        now,
        span: tracing::Span::none(),
    }
}

fn ok(answers: Vec<Result<SubmitEventResponse, StoreError>>) -> Vec<SubmitEventResponse> {
    answers.into_iter().map(|a| a.expect("accepted")).collect()
}

async fn count(db: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"))).fetch_one(db).await.unwrap()
}

#[tokio::test]
async fn two_copies_of_a_request_id_in_one_batch_get_the_first_answer_and_one_event() {
    let app = spawn_app().await;
    let store = store(&app).await;
    let mut changed = report("twin-0001", "05.01.002", 33.5, 114.5);
    changed.description = "a different body for the same request id".into();
    let answers = ok(store
        .submit_batch(&[
            submission(&report("twin-0001", "01.02.003", 32.98, 114.02)),
            submission(&report("twin-0002", "01.02.003", 31.0, 114.02)),
            submission(&changed),
        ])
        .await);
    assert_eq!(answers[0], answers[2]);
    assert_ne!(answers[0].event_id, answers[1].event_id);
    assert!(answers.iter().all(|a| !a.merged));
    let db = app.db().await;
    assert_eq!((count(&db, "events").await, count(&db, "reports").await, count(&db, "submissions").await), (2, 2, 2));

    // In a later batch, the stored answer comes back, for both copies.
    let again = ok(store
        .submit_batch(&[
            submission(&report("twin-0002", "01.02.003", 31.0, 114.02)),
            submission(&report("twin-0003", "01.02.003", 30.0, 114.02)),
            submission(&report("twin-0002", "02.01.001", 30.5, 114.02)),
        ])
        .await);
    assert_eq!(again[0], answers[1]);
    assert_eq!(again[2], answers[1]);
    assert_eq!(count(&db, "events").await, 3);
    let messages = app.wait_messages("CIVICGRID_INTAKE", 3).await;
    assert_eq!(messages.len(), 3, "one message per event, none for the copies");
    app.stop().await;
}

#[tokio::test]
async fn a_report_merges_into_an_event_opened_earlier_in_the_same_batch_or_stored_before() {
    let app = spawn_app().await;
    let store = store(&app).await;
    let (lat, lng) = (32.980, 114.020);
    let mut grid_only = report("merge-0004", "01.02.003", 0.0, 0.0);
    grid_only.location.as_mut().unwrap().point = None;
    let answers = ok(store
        .submit_batch(&[
            submission(&report("merge-0001", "01.02.003", lat, lng)),
            // ~22 m north: the same manhole.
            submission(&report("merge-0002", "01.02.003", lat + 0.0002, lng)),
            // ~220 m: another one.
            submission(&report("merge-0003", "01.02.003", lat + 0.002, lng)),
            // Only the grid: the newest open event of the grid, the one just above.
            submission(&grid_only),
        ])
        .await);
    let merged: Vec<bool> = answers.iter().map(|a| a.merged).collect();
    assert_eq!(merged, [false, true, false, true]);
    assert_eq!(answers[1].event_id, answers[0].event_id);
    assert_eq!(answers[1].tracking_number, answers[0].tracking_number);
    assert_eq!(answers[3].event_id, answers[2].event_id);

    // A later batch merges twice into the stored first event.
    let later = ok(store
        .submit_batch(&[
            submission(&report("merge-0005", "01.02.003", lat, lng + 0.0001)),
            submission(&report("merge-0006", "01.02.003", lat - 0.0001, lng)),
        ])
        .await);
    assert!(later.iter().all(|a| a.merged && a.event_id == answers[0].event_id));

    let mut client = app.client.clone();
    let event = client.get_event(GetEventRequest { event_id: answers[0].event_id.clone() }).await.unwrap().into_inner();
    assert_eq!(event.reports.len(), 4);
    assert_eq!(event.version, 4);
    let second =
        client.get_event(GetEventRequest { event_id: answers[2].event_id.clone() }).await.unwrap().into_inner();
    assert_eq!((second.reports.len(), second.version), (2, 2));

    // On the bus: each event reported before its merges, each merge with the count and version
    // it gave the event.
    let messages = app.wait_messages("CIVICGRID_INTAKE", 6).await;
    let facts: Vec<&str> = messages.iter().map(|m| m.subject_token(2).unwrap()).collect();
    assert_eq!(
        facts,
        ["event-reported", "event-merged", "event-reported", "event-merged", "event-merged", "event-merged"]
    );
    let reported = EventReported::decode(messages[0].payload.clone()).unwrap().event.unwrap();
    assert_eq!((reported.version, reported.reports.len()), (1, 1));
    let steps: Vec<(String, i32, i64)> = [1, 3, 4, 5]
        .iter()
        .map(|&i| {
            let m = EventMerged::decode(messages[i].payload.clone()).unwrap();
            (m.event_id, m.report_count, m.version)
        })
        .collect();
    let (first, other) = (answers[0].event_id.clone(), answers[2].event_id.clone());
    assert_eq!(steps, [(first.clone(), 2, 2), (other, 2, 2), (first.clone(), 3, 3), (first, 4, 4)]);
    app.stop().await;
}

#[tokio::test]
async fn tracking_numbers_increase_along_a_batch_in_each_county() {
    let app = spawn_app().await;
    let store = store(&app).await;
    let mut batch = Vec::new();
    for i in 0..12 {
        let mut req = report(&format!("order-{i:04}"), "01.02.003", 32.0 + i as f64 * 0.01, 114.0);
        if i % 3 == 0 {
            req.location.as_mut().unwrap().grid_code = "411603002001001".into();
        }
        batch.push(submission(&req));
    }
    let answers = ok(store.submit_batch(&batch).await);
    let mut by_county: std::collections::HashMap<String, Vec<u32>> = Default::default();
    for a in &answers {
        let parts: Vec<&str> = a.tracking_number.split('-').collect();
        by_county.entry(parts[0].to_string()).or_default().push(parts[2].parse().unwrap());
    }
    assert_eq!(by_county["411602"], (1..=8).collect::<Vec<u32>>());
    assert_eq!(by_county["411603"], (1..=4).collect::<Vec<u32>>());
    // The next batch continues where this one ended.
    let next = ok(store
        .submit_batch(&[
            submission(&report("order-0100", "01.02.003", 33.0, 114.0)),
            submission(&report("order-0101", "01.02.003", 33.1, 114.0)),
        ])
        .await);
    let seqs: Vec<&str> = next.iter().map(|a| a.tracking_number.rsplit('-').next().unwrap()).collect();
    assert_eq!(seqs, ["000009", "000010"]);
    app.stop().await;
}

/// The batch plans its statements at every execution on purpose (`force_custom_plan`): a plan kept
/// from a young table's statistics goes wrong as the table grows. Its row-writing statement, whose
/// plans (inserts from arrays, foreign-key look-ups by primary key) no growth can make wrong once
/// `events` and `reporters` have statistics of some size, then runs under the connection's default
/// (here the database's setting), so that PostgreSQL keeps its plans and those of the checks. A
/// trigger notes the setting that the row-writing statement ran under.
#[tokio::test]
async fn a_batch_writes_its_rows_under_the_databases_plan_cache_setting_once_the_tables_have_grown() {
    let app = spawn_app().await;
    let db = app.db().await;
    sqlx::raw_sql(
        "CREATE TABLE seen_mode (n serial, mode text); \
         CREATE FUNCTION note_mode() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN INSERT INTO seen_mode (mode) VALUES (current_setting('plan_cache_mode')); RETURN NULL; END $$; \
         CREATE TRIGGER note_mode AFTER INSERT ON reports FOR EACH STATEMENT EXECUTE FUNCTION note_mode(); \
         DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = force_generic_plan', current_database()); END $$",
    )
    .execute(&db)
    .await
    .unwrap();
    // A new pool, whose connections start with the database's setting.
    let store = store(&app).await;
    let young = ok(store
        .submit_batch(&[
            submission(&report("mode-0001", "01.02.003", 32.0, 114.02)),
            submission(&report("mode-0002", "01.02.003", 33.0, 114.02)),
        ])
        .await);
    // Closed events and reporters enough for a few hundred pages each, then their statistics.
    sqlx::raw_sql(
        "INSERT INTO reporters (id, account_id) SELECT gen_random_uuid(), repeat('r', 400) FROM generate_series(1, 3000); \
         INSERT INTO events (id, tracking_number, source, item_code, city, county, description, occurred_at, reported_at, status) \
           SELECT gen_random_uuid(), 'filler-' || g, 1, '09.09.009', '411600', '411602', repeat('d', 400), now(), now(), 6 \
           FROM generate_series(1, 3000) g; \
         ANALYZE events; ANALYZE reporters",
    )
    .execute(&db)
    .await
    .unwrap();
    // The store looks at the tables again every 64 batches while they are young
    // (`plans::CHECK_EVERY`), then keeps what it saw; the first batch merges into a stored event
    // (statement 3 updates it).
    let mut merged = None;
    for n in 0..67 {
        let lat = 40.0 + f64::from(n) * 0.01;
        let first = if n == 0 {
            report("mode-merge", "01.02.003", 32.0002, 114.02)
        } else {
            report(&format!("mode-a{n:03}"), "01.02.003", lat, 114.02)
        };
        let second = report(&format!("mode-b{n:03}"), "01.02.003", lat, 116.0);
        let answers = ok(store.submit_batch(&[submission(&first), submission(&second)]).await);
        merged.get_or_insert(answers[0].merged);
    }
    let seen: Vec<String> = sqlx::query_scalar("SELECT mode FROM seen_mode ORDER BY n").fetch_all(&db).await.unwrap();
    assert!(young.iter().all(|a| !a.merged) && merged == Some(true), "{young:?} {merged:?}");
    assert_eq!(seen.len(), 68);
    assert!(seen[..64].iter().all(|m| m == "force_custom_plan"), "young tables, and until the next look: {seen:?}");
    assert!(
        seen[64..].iter().all(|m| m == "force_generic_plan"),
        "grown tables: the connection's default, kept: {seen:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_submission_the_database_refuses_fails_alone() {
    let app = spawn_app().await;
    let store = store(&app).await;
    // Validation refuses NUL characters; a report that slipped past it must not sink the batch.
    let mut poisoned = submission(&report("poison-0002", "01.02.003", 31.0, 114.02));
    poisoned.report = NewReport { description: "井盖\0缺失".into(), ..poisoned.report };
    let answers = store
        .submit_batch(&[
            submission(&report("poison-0001", "01.02.003", 32.0, 114.02)),
            poisoned,
            submission(&report("poison-0003", "01.02.003", 33.0, 114.02)),
        ])
        .await;
    assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
    assert!(matches!(answers[1], Err(StoreError::Db(_))), "{:?}", answers[1]);
    let db = app.db().await;
    assert_eq!((count(&db, "events").await, count(&db, "submissions").await), (2, 2));
    let messages = app.wait_messages("CIVICGRID_INTAKE", 2).await;
    assert_eq!(messages.len(), 2);
    // The refused one stored nothing, so its request id is still free.
    let retried = ok(store.submit_batch(&[submission(&report("poison-0002", "01.02.003", 31.0, 114.02))]).await);
    assert!(!retried[0].merged);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_calls_share_a_batch_and_each_gets_its_own_answer() {
    // A long window, so that the calls below are written together.
    let app = spawn_app_with("[intake]\nbatch_window_ms = 300\nbatch_writers = 1\n").await;
    let mut calls = Vec::new();
    for i in 0..8 {
        let mut client = app.client.clone();
        let req = report(&format!("grpc-{i:04}"), "01.02.003", 30.0 + i as f64 * 0.01, 114.0);
        calls.push(tokio::spawn(async move { client.submit_event(req).await }));
    }
    // A copy of grpc-0000 and a bad request in the same window.
    let mut client = app.client.clone();
    let copy = tokio::spawn(async move { client.submit_event(report("grpc-0000", "01.02.003", 30.0, 114.0)).await });
    let mut bad = report("grpc-bad1", "01.02.003", 30.5, 114.0);
    bad.description = "x".into();
    let status = app.client.clone().submit_event(bad).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&status).into_iter().map(|(f, _)| f).collect::<Vec<_>>(), ["description"]);

    let mut answers = Vec::new();
    for c in calls {
        answers.push(c.await.unwrap().expect("accepted").into_inner());
    }
    let copy = copy.await.unwrap().expect("accepted").into_inner();
    assert_eq!(copy, answers[0]);
    let numbers: HashSet<String> = answers.iter().map(|a| a.tracking_number.clone()).collect();
    assert_eq!(numbers.len(), 8);
    // One transaction wrote them all: the rows share their inserting transaction id.
    let db = app.db().await;
    let transactions: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM events").fetch_one(&db).await.unwrap();
    assert_eq!(transactions, 1);

    let messages = app.wait_messages("CIVICGRID_INTAKE", 8).await;
    assert_eq!(messages.len(), 8);
    // Each message carries the trace of its own call, not the writer's.
    let traces: HashSet<String> =
        messages.iter().map(|m| m.headers["traceparent"].split('-').nth(1).unwrap().to_string()).collect();
    assert_eq!(traces.len(), 8, "{traces:?}");
    app.stop().await;
}
