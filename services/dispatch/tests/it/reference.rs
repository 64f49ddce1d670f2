//! The reference data admin RPCs: `GetReferenceVersions` answers the versions in force;
//! `LoadReferenceData` checks a whole set, refuses one that does not check with every problem
//! named, puts one that checks in force (new events are routed and timed by it, existing tasks
//! keep what they have), is idempotent by request id, is for administrators only, and reaches
//! the other replicas within seconds.

mod support;

use std::time::Duration;

use civicgrid_dispatch::reference::ReferenceFiles;
use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{GetReferenceVersionsRequest, Stage, TaskRequest, TimeType};
use tonic::Code;

use self::support::*;
use crate::helpers::*;

#[tokio::test]
async fn get_reference_versions_answers_the_shipped_set_to_every_role() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (_, route) = app.ordinary_item(&grid.path);
    for (who, token) in [
        ("admin", admin()),
        ("department", department(&route.lead)),
        ("center", center(TOWNSHIP)),
        ("grid worker", grid_worker(&grid.grid_worker, &grid.code)),
        ("citizen app", citizen()),
    ] {
        assert_eq!(versions_via(&app.client, &token).await, shipped_versions(), "asked as {who}");
    }
    // The same as the files carry.
    let v = app.refdata.versions();
    assert_eq!(
        shipped_versions(),
        versions(&v.catalog, &v.regions, &v.departments, &v.calendar),
        "the shipped files are all at {SHIPPED_VERSION}"
    );
    // Without a token it is not answered.
    let mut client = app.client.clone();
    expect_code(client.get_reference_versions(GetReferenceVersionsRequest {}).await, Code::Unauthenticated, "no token");
    app.stop().await;
}

#[tokio::test]
async fn a_loaded_set_routes_and_times_new_events_and_existing_tasks_keep_theirs() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let (new_kind, new_lead) = other_lead(&app, &item, TOWNSHIP);
    assert_ne!(new_lead, route.lead);

    // An event reported under the shipped set.
    let (_, before) = app.report(&item.code, &grid, 1).await;
    let before = before[0].clone();
    assert_eq!(before.department_id, route.lead);
    assert_eq!(clock_of(&before, Stage::SignFor).limit, 2);

    let v = versions("2026.12.1", "2026.12.2", "2026.12.3", "2026.12.4");
    let files = changed_set(&v, &item, &new_kind);
    let mut client = app.client.clone();
    let answer = client
        .load_reference_data(authed(load_request(&rid(), &files), &admin()))
        .await
        .expect("a set that checks is loaded")
        .into_inner();
    assert_eq!(answer, v, "the answer is the new versions");
    assert_eq!(versions_via(&app.client, &admin()).await, v, "the new set is in force at once");
    assert_eq!(versions_via(&app.client, &department(&route.lead)).await, v);

    // A new event of the item goes to the new lead kind's department, on the new limits.
    let (_, after) = app.report(&item.code, &grid, 1).await;
    let after = &after[0];
    assert_eq!(after.department_id, new_lead, "routed by the new catalog");
    assert!(after.lead);
    let sign_for = clock_of(after, Stage::SignFor);
    assert_eq!((sign_for.limit, sign_for.time_type), (3, TimeType::WorkingHours as i32));
    // 3 working hours from Monday 09:00 is Monday 12:00.
    assert_eq!(deadline_of(sign_for), Some(local("2026-11-16 12:00")));
    let published = app.wait_facts(&after.id, &["task-assigned"]).await;
    assert_eq!(published[0].event.department_id, new_lead);

    // The earlier task keeps its department and its running clock's limit…
    let before_now = app.task(&before.id).await;
    assert_eq!(before_now.department_id, route.lead, "an existing task keeps its department");
    let kept = clock_of(&before_now, Stage::SignFor);
    assert_eq!(kept.limit, 2, "a running clock keeps the limit it started with");
    assert_eq!(deadline_of(kept), Some(local("2026-11-16 11:00")));
    // …and a stage it starts later takes the new limit: 8 working hours from Monday 09:00 is
    // Tuesday 10:00 (3 h to noon, 3.5 h in the afternoon, 1.5 h from 08:30).
    let signed = client
        .sign_for(authed(TaskRequest { request_id: rid(), task_id: before.id.clone() }, &department(&route.lead)))
        .await
        .expect("the old department signs for its task")
        .into_inner();
    let handle = clock_of(&signed, Stage::Handle);
    assert_eq!((handle.limit, handle.time_type), (8, TimeType::WorkingHours as i32));
    assert_eq!(deadline_of(handle), Some(local("2026-11-17 10:00")));

    // The new lead department works its task as usual.
    let signed = client
        .sign_for(authed(TaskRequest { request_id: rid(), task_id: after.id.clone() }, &department(&new_lead)))
        .await
        .expect("the new department signs for its task")
        .into_inner();
    assert_eq!(clock_of(&signed, Stage::Handle).limit, 8);

    // A restart keeps the newest stored set in force, not the configured (shipped) files.
    let mut app = app;
    app.halt().await;
    app.resume().await;
    assert_eq!(versions_via(&app.client, &admin()).await, v, "after a restart");
    let (_, again) = app.report(&item.code, &grid, 1).await;
    assert_eq!(again[0].department_id, new_lead, "routed by the loaded set after a restart");
    app.stop().await;
}

#[tokio::test]
async fn a_set_that_does_not_check_is_refused_with_every_problem_and_changes_nothing() {
    let mut app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let mut client = app.client.clone();
    let v = versions("2026.12.1", "2026.12.1", "2026.12.1", "2026.12.1");

    // Two bad items in the catalog: both are named, on `catalog_toml`.
    let first = &app.refdata.catalog.items()[0];
    let mut bad = shipped_as(&v);
    bad.catalog = edit_item(
        &bad.catalog,
        &first.code,
        &[(&format!("lead = \"{}\"", first.lead_kind), "lead = \"no_such_kind\"")],
    );
    bad.catalog = edit_item(
        &bad.catalog,
        &item.code,
        &[(
            "sign_for = { amount = 2, time_type = \"working_hours\" }",
            "sign_for = { amount = 0, time_type = \"working_hours\" }",
        )],
    );
    let refused_id = rid();
    let got = refused(&mut client, &refused_id, &bad, "a catalog with two problems").await;
    assert_eq!(got.len(), 2, "one violation per problem: {got:?}");
    assert!(got.iter().all(|(field, _)| field == "catalog_toml"), "{got:?}");
    assert!(
        got.iter().any(|(_, d)| d == &format!("item `{}`: unknown lead department kind `no_such_kind`", first.code)),
        "{got:?}"
    );
    assert!(
        got.iter().any(|(_, d)| d.starts_with(&format!("item `{}`: ", item.code)) && d.contains("amount")),
        "{got:?}"
    );

    // A department of an unknown kind: named on `departments_toml`.
    let mut bad = shipped_as(&v);
    let dept = format!("id = \"{}\"\n", route.lead);
    let at = bad.departments.find(&dept).expect("the lead department in departments.toml");
    let kind_line = format!("kind = \"{}\"\n", item.lead_kind);
    let kind_at = at + bad.departments[at..].find(&kind_line).expect("its kind line");
    bad.departments.replace_range(kind_at..kind_at + kind_line.len(), "kind = \"no_such_kind\"\n");
    let got = refused(&mut client, &rid(), &bad, "a department of an unknown kind").await;
    assert_eq!(
        got,
        [("departments_toml".to_string(), format!("department `{}`: unknown kind `no_such_kind`", route.lead))]
    );

    // A calendar that is not TOML: named on `calendar_toml`.
    let mut bad = shipped_as(&v);
    bad.calendar.push_str("\nthis is = = not toml\n");
    let got = refused(&mut client, &rid(), &bad, "a calendar that does not parse").await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "calendar_toml");

    // Regions are checked first, and checking stops at the first file with problems.
    let mut bad = shipped_as(&v);
    bad.regions = bump(&ReferenceFiles::shipped().regions, "not a version!");
    bad.catalog = edit_item(
        &bad.catalog,
        &first.code,
        &[(&format!("lead = \"{}\"", first.lead_kind), "lead = \"no_such_kind\"")],
    );
    let got = refused(&mut client, &rid(), &bad, "bad regions and a bad catalog").await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "regions_toml");
    assert!(got[0].1.contains("not a version!"), "{got:?}");

    // The request's own fields: all problems at once.
    let mut bad = load_request("no", &shipped_as(&v));
    bad.regions_toml = "  \n".into();
    bad.calendar_toml = String::new();
    let status =
        expect_code(client.load_reference_data(authed(bad, &admin())).await, Code::InvalidArgument, "bad fields");
    let mut fields: Vec<String> = violations(&status).into_iter().map(|(f, _)| f).collect();
    fields.sort();
    assert_eq!(fields, ["calendar_toml", "regions_toml", "request_id"]);

    // Nothing changed: the shipped set is in force here, is the newest stored (a replica
    // started now loads it), and still routes.
    assert_eq!(versions_via(&app.client, &admin()).await, shipped_versions());
    let replica = app.spawn_replica().await;
    assert_eq!(versions_via(&replica.client, &admin()).await, shipped_versions(), "nothing was stored");
    replica.stop().await;
    app.halt().await;
    app.resume().await;
    assert_eq!(versions_via(&app.client, &admin()).await, shipped_versions(), "after a restart");
    let (_, tasks) = app.report(&item.code, &grid, 1).await;
    assert_eq!(tasks[0].department_id, route.lead);

    // A refused call stores nothing, so its request id may be used again.
    let mut client = app.client.clone();
    let answer = client
        .load_reference_data(authed(load_request(&refused_id, &shipped_as(&v)), &admin()))
        .await
        .expect("the refused request id loads a good set")
        .into_inner();
    assert_eq!(answer, v);
    assert_eq!(versions_via(&app.client, &admin()).await, v);
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_request_id_changes_nothing() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let (new_kind, new_lead) = other_lead(&app, &item, TOWNSHIP);
    let mut client = app.client.clone();

    let first_v = versions("2026.12.1", "2026.12.1", "2026.12.1", "2026.12.1");
    let first = shipped_as(&first_v);
    let id = rid();
    let answer = client.load_reference_data(authed(load_request(&id, &first), &admin())).await.expect("load");
    assert_eq!(answer.into_inner(), first_v);

    // The same request again: the same answer.
    let again = client.load_reference_data(authed(load_request(&id, &first), &admin())).await.expect("retry");
    assert_eq!(again.into_inner(), first_v);

    // The same request id with another body (a set that checks, at other versions, routing the
    // item elsewhere): the first answer, and the other set is neither in force nor stored.
    let other_v = versions("2026.12.9", "2026.12.9", "2026.12.9", "2026.12.9");
    let other = changed_set(&other_v, &item, &new_kind);
    let again = client.load_reference_data(authed(load_request(&id, &other), &admin())).await.expect("retry");
    assert_eq!(again.into_inner(), first_v, "a retry with another body answers as the first call");
    assert_eq!(versions_via(&app.client, &admin()).await, first_v);
    let replica = app.spawn_replica().await;
    assert_eq!(versions_via(&replica.client, &admin()).await, first_v, "the retry's body was not stored");
    replica.stop().await;
    let (_, tasks) = app.report(&item.code, &grid, 1).await;
    assert_eq!(tasks[0].department_id, route.lead, "still routed by the first set");

    // Another administrator's request ids are their own: the same id loads their set.
    let answer = client
        .load_reference_data(authed(load_request(&id, &other), &admin_as("admin-2")))
        .await
        .expect("another caller, the same request id");
    assert_eq!(answer.into_inner(), other_v);
    let (_, tasks) = app.report(&item.code, &grid, 1).await;
    assert_eq!(tasks[0].department_id, new_lead, "routed by the second administrator's set");

    // A retry of the first call now answers the versions in force now (grpc.md, Idempotency:
    // "a retry returns the versions in force *now* rather than a stored answer") and still
    // changes nothing.
    let again = client.load_reference_data(authed(load_request(&id, &first), &admin())).await.expect("retry");
    assert_eq!(again.into_inner(), other_v);
    assert_eq!(versions_via(&app.client, &admin()).await, other_v);
    app.stop().await;
}

/// A client whose call timed out retries, and the retry lands on another replica that has not
/// yet picked the set up: it is answered with the set its first call put in force.
#[tokio::test]
async fn a_retry_through_another_replica_answers_the_loaded_set() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let replica = app.spawn_replica().await;
    let v = versions("2026.12.1", "2026.12.2", "2026.12.3", "2026.12.4");
    let files = shipped_as(&v);
    let id = rid();
    let mut client = app.client.clone();
    let answer = client.load_reference_data(authed(load_request(&id, &files), &admin())).await.expect("load");
    assert_eq!(answer.into_inner(), v);
    let mut via_replica = replica.client.clone();
    let again =
        via_replica.load_reference_data(authed(load_request(&id, &files), &admin())).await.expect("retry elsewhere");
    assert_eq!(again.into_inner(), v, "the retry reports the set the first call put in force");
    assert_eq!(versions_via(&app.client, &admin()).await, v);
    replica.stop().await;
    app.stop().await;
}

/// Retries sent while the first call is still running wait for it and answer its set.
#[tokio::test]
async fn concurrent_retries_answer_the_loaded_set() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let v = versions("2026.12.1", "2026.12.2", "2026.12.3", "2026.12.4");
    let files = shipped_as(&v);
    let id = rid();
    let calls = (0..6).map(|_| {
        let mut client = app.client.clone();
        let req = load_request(&id, &files);
        async move { client.load_reference_data(authed(req, &admin())).await.map(|r| r.into_inner()) }
    });
    for answer in futures::future::join_all(calls).await {
        assert_eq!(answer.expect("every call is answered"), v);
    }
    assert_eq!(versions_via(&app.client, &admin()).await, v);
    app.stop().await;
}

#[tokio::test]
async fn only_an_administrator_may_load_reference_data() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (_, route) = app.ordinary_item(&grid.path);
    let v = versions("2026.12.1", "2026.12.1", "2026.12.1", "2026.12.1");
    let files = shipped_as(&v);
    let mut client = app.client.clone();
    for (who, token) in [
        ("a department", department(&route.lead)),
        ("a township center", center(TOWNSHIP)),
        ("a county center", center(COUNTY)),
        ("a grid worker", grid_worker(&grid.grid_worker, &grid.code)),
        ("a citizen app", citizen()),
    ] {
        let status = expect_code(
            client.load_reference_data(authed(load_request(&rid(), &files), &token)).await,
            Code::PermissionDenied,
            who,
        );
        assert!(violations(&status).is_empty(), "{who}: {status:?}");
    }
    expect_code(client.load_reference_data(load_request(&rid(), &files)).await, Code::Unauthenticated, "no token");
    assert_eq!(versions_via(&app.client, &admin()).await, shipped_versions(), "nothing changed");
    let answer = client.load_reference_data(authed(load_request(&rid(), &files), &admin())).await.expect("admin");
    assert_eq!(answer.into_inner(), v);
    app.stop().await;
}

#[tokio::test]
async fn another_replica_picks_up_a_loaded_set_within_seconds() {
    let mut app = spawn_app(Clock::manual(monday_9am())).await;
    let replica = app.spawn_replica().await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let (new_kind, new_lead) = other_lead(&app, &item, TOWNSHIP);
    assert_eq!(versions_via(&replica.client, &admin()).await, shipped_versions());

    let v = versions("2026.12.1", "2026.12.2", "2026.12.3", "2026.12.4");
    let mut client = app.client.clone();
    let loaded_at = tokio::time::Instant::now();
    client
        .load_reference_data(authed(load_request(&rid(), &changed_set(&v, &item, &new_kind)), &admin()))
        .await
        .expect("load through the first replica");
    loop {
        if versions_via(&replica.client, &admin()).await == v {
            break;
        }
        assert!(loaded_at.elapsed() < REPLICA_PICKUP, "the other replica still has the shipped set");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // With the first replica stopped, the other one routes a new event by the new set.
    app.halt().await;
    let r = reported(&item.code, &grid, app.clock.now());
    app.publish_reported(&r).await;
    let tasks = tasks_via(&replica.client, &event_id(&r), 1).await;
    assert_eq!(tasks[0].department_id, new_lead, "routed by the set loaded through the other replica");
    assert_ne!(tasks[0].department_id, route.lead);
    assert_eq!(clock_of(&tasks[0], Stage::SignFor).limit, 3);
    replica.stop().await;
    app.stop().await;
}
