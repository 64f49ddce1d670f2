//! 考核: the indicators of a department, of a region and of a grid worker over a handful of tasks
//! driven through the lifecycle, checked against worked examples done by hand.

use chrono::{DateTime, Utc};
use civicgrid_kit::{clock::Clock, time::to_proto};
use civicgrid_proto::v1::{
    GetGridWorkerKpisRequest, GetKpisRequest, GridWorkerKpis, Kpis, Rating, ResolveRequest, Stage, Task,
    TaskReasonRequest, TaskRequest, TaskStatus, TimeRange, TriageRequest,
};
use tonic::Code;

use crate::helpers::*;

fn period(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<TimeRange> {
    Some(TimeRange { from: Some(to_proto(from)), to: Some(to_proto(to)) })
}

impl TestApp {
    async fn kpis_as(&self, token: &str, from: &str, to: &str, department_id: &str, region_code: &str) -> Kpis {
        let mut client = self.client.clone();
        client
            .get_kpis(authed(
                GetKpisRequest {
                    period: period(local(from), local(to)),
                    department_id: department_id.into(),
                    region_code: region_code.into(),
                },
                token,
            ))
            .await
            .expect("kpis")
            .into_inner()
    }
}

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[track_caller]
fn check(k: &Kpis, expected: Expected, what: &str) {
    let got = (
        k.due_to_close,
        k.closed,
        k.closed_on_time,
        k.handled,
        k.reworked,
        k.assigned,
        k.returned,
        k.signed_on_time,
        k.rated,
        k.satisfied,
    );
    assert_eq!(
        got, expected.counts,
        "{what}: (due, closed, on time, handled, reworked, assigned, returned, signed on time, rated, satisfied) in {k:?}"
    );
    let rates = [
        ("closure_rate", k.closure_rate, expected.rates[0]),
        ("on_time_closure_rate", k.on_time_closure_rate, expected.rates[1]),
        ("rework_rate", k.rework_rate, expected.rates[2]),
        ("return_rate", k.return_rate, expected.rates[3]),
        ("on_time_sign_rate", k.on_time_sign_rate, expected.rates[4]),
        ("satisfaction_rate", k.satisfaction_rate, expected.rates[5]),
    ];
    for (name, got, want) in rates {
        assert!(approx(got, want), "{what}: {name} is {got}, expected {want}");
    }
}

struct Expected {
    counts: (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64),
    rates: [f64; 6],
}

/// Four tasks of one department on Monday 16 November 2026 (an urgent item: 1 h to sign for,
/// 4 h to handle):
///
/// | task | 09:00 | then |
/// | --- | --- | --- |
/// | T1 | assigned | signed 09:30 (on time), resolved 10:30 (due 13:30: on time), verified and closed 11:00, rated satisfied 11:30 |
/// | T2 | assigned | signed 09:30, resolved 14:00 (late), verified and closed 14:30, rated dissatisfied 15:00 → reopened and re-assigned |
/// | T3 | assigned | signed 10:30 (late: due 10:00), handle due 14:30, still being handled |
/// | T4 | assigned | returned 09:20, triaged to another department 09:25 |
///
/// For the department over [08:00, 21:00): due to close T1, T2, T3 = 3 (T4 is another's now);
/// closed T1 = 1 (T2's closure was undone by the reopening), on time 1; 结案率 = 按期结案率 = 1/3.
/// Handled T1, T2 = 2, reworked T2 = 1, 返工率 1/2. Assignments T1, T2, T2 again, T3, T4 = 5,
/// returned 1 (回退率 1/5), signed on time T1, T2 = 2 (2/5). Ratings 2, satisfied 1 (1/2).
///
/// Over [08:00, 12:00), recomputed afterwards, the period sees only what happened in it: no
/// deadline fell in it; T1 handled; 4 assignments, 1 returned, 2 signed on time; one rating,
/// satisfied.
#[tokio::test]
async fn a_worked_example() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.urgent_item(&grid.path);
    let d = route.lead.clone();
    let other = app
        .departments_serving(&grid.path, &[d.as_str()])
        .into_iter()
        .find(|x| x.starts_with(TOWNSHIP))
        .expect("another department");
    let dept = department(&d);
    let centre = center(TOWNSHIP);
    let verifier = grid_worker(&grid.grid_worker, &grid.path.village);
    let mut client = app.client.clone();
    let mut events = Vec::new();
    let mut tasks: Vec<Task> = Vec::new();
    for _ in 0..4 {
        let (r, t) = app.report(&item.code, &grid, 1).await;
        events.push(r);
        tasks.push(t[0].clone());
    }
    let req = |t: &Task| TaskRequest { request_id: rid(), task_id: t.id.clone() };
    let resolve = |t: &Task| ResolveRequest {
        request_id: rid(),
        task_id: t.id.clone(),
        result: "已处置".into(),
        evidence_urls: vec!["https://img.example.org/done.jpg".into()],
    };

    app.set_time(local("2026-11-16 09:20"));
    client
        .return_task(authed(
            TaskReasonRequest { request_id: rid(), task_id: tasks[3].id.clone(), reason: "不属于本部门".into() },
            &dept,
        ))
        .await
        .unwrap();
    app.set_time(local("2026-11-16 09:25"));
    client
        .triage(authed(
            TriageRequest { request_id: rid(), task_id: tasks[3].id.clone(), department_id: other.clone() },
            &centre,
        ))
        .await
        .unwrap();
    app.set_time(local("2026-11-16 09:30"));
    client.sign_for(authed(req(&tasks[0]), &dept)).await.unwrap();
    client.sign_for(authed(req(&tasks[1]), &dept)).await.unwrap();
    app.set_time(local("2026-11-16 10:30"));
    client.sign_for(authed(req(&tasks[2]), &dept)).await.unwrap();
    client.resolve(authed(resolve(&tasks[0]), &dept)).await.unwrap();
    app.set_time(local("2026-11-16 11:00"));
    client.verify(authed(req(&tasks[0]), &verifier)).await.unwrap();
    client.close(authed(req(&tasks[0]), &centre)).await.unwrap();
    app.set_time(local("2026-11-16 11:30"));
    app.publish_rated(&rated(&events[0], Rating::Satisfied, "满意", app.clock.now())).await;
    eventually("the first rating", || async {
        app.kpis_as(&dept, "2026-11-16 08:00", "2026-11-16 21:00", "", "").await.rated == 1
    })
    .await;
    app.set_time(local("2026-11-16 14:00"));
    client.resolve(authed(resolve(&tasks[1]), &dept)).await.unwrap();
    app.set_time(local("2026-11-16 14:30"));
    client.verify(authed(req(&tasks[1]), &verifier)).await.unwrap();
    client.close(authed(req(&tasks[1]), &centre)).await.unwrap();
    app.set_time(local("2026-11-16 15:00"));
    app.publish_rated(&rated(&events[1], Rating::Dissatisfied, "没修好", app.clock.now())).await;
    eventually("T2 reopened", || async { app.task(&tasks[1].id).await.status == TaskStatus::Assigned as i32 }).await;

    let third = 1.0 / 3.0;
    // The department, over the day's working span.
    let k = app.kpis_as(&dept, "2026-11-16 08:00", "2026-11-16 21:00", "", "").await;
    check(
        &k,
        Expected { counts: (3, 1, 1, 2, 1, 5, 1, 2, 2, 1), rates: [third, third, 0.5, 0.2, 0.4, 0.5] },
        "department, 08:00–21:00",
    );
    // A center asks for the same department and gets the same figures.
    let k = app.kpis_as(&centre, "2026-11-16 08:00", "2026-11-16 21:00", &d, "").await;
    check(
        &k,
        Expected { counts: (3, 1, 1, 2, 1, 5, 1, 2, 2, 1), rates: [third, third, 0.5, 0.2, 0.4, 0.5] },
        "department asked by the center",
    );
    // The morning alone, recomputed afterwards.
    let k = app.kpis_as(&dept, "2026-11-16 08:00", "2026-11-16 12:00", "", "").await;
    check(
        &k,
        Expected { counts: (0, 0, 0, 1, 0, 4, 1, 2, 1, 1), rates: [0.0, 0.0, 0.0, 0.25, 0.5, 1.0] },
        "department, 08:00–12:00",
    );
    // The township: every task in it, whoever holds it — T4's second assignment counts too.
    let k = app.kpis_as(&centre, "2026-11-16 08:00", "2026-11-16 21:00", "", "").await;
    check(
        &k,
        Expected { counts: (3, 1, 1, 2, 1, 6, 1, 2, 2, 1), rates: [third, third, 0.5, 1.0 / 6.0, 2.0 / 6.0, 0.5] },
        "township, 08:00–21:00",
    );
    // Another day: nothing.
    let k = app.kpis_as(&dept, "2026-11-17 00:00", "2026-11-18 00:00", "", "").await;
    check(&k, Expected { counts: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0), rates: [0.0; 6] }, "Tuesday");

    // Bad periods are refused by field.
    let ask = |from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>| GetKpisRequest {
        period: Some(TimeRange { from: from.map(to_proto), to: to.map(to_proto) }),
        department_id: String::new(),
        region_code: String::new(),
    };
    expect_invalid(
        client.get_kpis(authed(ask(None, Some(local("2026-11-17 00:00"))), &dept)).await,
        "period.from",
        "no start",
    );
    expect_invalid(
        client.get_kpis(authed(ask(Some(local("2026-11-17 00:00")), Some(local("2026-11-16 00:00"))), &dept)).await,
        "period.to",
        "end before start",
    );
    expect_code(
        client
            .get_kpis(authed(
                GetKpisRequest {
                    period: period(local("2026-11-16 00:00"), local("2026-11-17 00:00")),
                    department_id: other.clone(),
                    region_code: String::new(),
                },
                &dept,
            ))
            .await,
        Code::PermissionDenied,
        "a department asks for another's figures",
    );
    app.stop().await;
}

impl TestApp {
    async fn grid_worker_kpis_as(
        &self,
        token: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        grid_worker_id: &str,
    ) -> Result<tonic::Response<GridWorkerKpis>, tonic::Status> {
        let mut client = self.client.clone();
        client
            .get_grid_worker_kpis(authed(
                GetGridWorkerKpisRequest { period: period(from, to), grid_worker_id: grid_worker_id.into() },
                token,
            ))
            .await
    }
}

/// (reports, valid reports, verifications, timely verifications) and the two rates.
#[track_caller]
fn check_grid_worker(k: &GridWorkerKpis, counts: (i64, i64, i64, i64), rates: [f64; 2], what: &str) {
    let got = (k.reports, k.valid_reports, k.verifications, k.timely_verifications);
    assert_eq!(got, counts, "{what}: (reports, valid, verifications, timely) in {k:?}");
    assert!(approx(k.valid_report_rate, rates[0]), "{what}: valid_report_rate {k:?}");
    assert!(approx(k.timely_verification_rate, rates[1]), "{what}: timely_verification_rate {k:?}");
}

/// A grid worker's figures on Monday 16 November 2026. GW (the grid worker of a grid in the
/// township) reports three events at 09:00: two of an urgent item (T1, T2) and one of an item
/// the catalog does not know (T3, triaged). Another grid worker reports one more (T4).
///
/// | task | then |
/// | --- | --- |
/// | T1 | signed 09:10, resolved 09:30; GW verifies it at 09:40, before the verify deadline: timely |
/// | T2 | signed 09:10, resolved 09:30; GW rejects the fix one minute after the verify deadline: late |
/// | T3 | the center dismisses it at 10:00 (不予立案): not a valid report |
/// | T4 | the other grid worker's; the center verifies it: nobody's figure here |
///
/// GW from Monday 08:00 to a day after the rejection: 3 reports, 2 valid (2/3); 2 verifications,
/// 1 timely (1/2). Over [08:00, 09:35), recomputed afterwards: 3 reports, all valid then (T3 was
/// dismissed later), no verification yet.
#[tokio::test]
async fn a_grid_workers_figures() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grids = app.grids_in(TOWNSHIP);
    let grid = grids[0].clone();
    let other_grid = grids
        .iter()
        .find(|g| g.grid_worker != grid.grid_worker)
        .cloned()
        .expect("a second grid worker in the township");
    let (item, route) = app.urgent_item(&grid.path);
    let dept = department(&route.lead);
    let centre = center(TOWNSHIP);
    let gw = grid_worker(&grid.grid_worker, &grid.path.village);
    let mut client = app.client.clone();

    let t1 = app.report(&item.code, &grid, 1).await.1.remove(0);
    let t2 = app.report(&item.code, &grid, 1).await.1.remove(0);
    let t3 = app.report("99.99.997", &grid, 1).await.1.remove(0);
    let t4 = app.report(&item.code, &other_grid, 1).await.1.remove(0);
    assert_eq!(t3.status, TaskStatus::AwaitingTriage as i32);
    let req = |t: &Task| TaskRequest { request_id: rid(), task_id: t.id.clone() };
    let resolve = |t: &Task| ResolveRequest {
        request_id: rid(),
        task_id: t.id.clone(),
        result: "已处置".into(),
        evidence_urls: vec![],
    };
    app.set_time(local("2026-11-16 09:10"));
    for t in [&t1, &t2, &t4] {
        client.sign_for(authed(req(t), &dept)).await.unwrap();
    }
    app.set_time(local("2026-11-16 09:30"));
    let mut verify_due = None;
    for t in [&t1, &t2, &t4] {
        let resolved = client.resolve(authed(resolve(t), &dept)).await.unwrap().into_inner();
        let verify = resolved.clocks.iter().find(|c| c.stage == Stage::Verify as i32).expect("a verify clock");
        verify_due = deadline_of(verify);
    }
    let verify_due = verify_due.expect("the verify stage has a deadline");
    assert!(verify_due > local("2026-11-16 09:41"), "verify deadline {verify_due}");
    app.set_time(local("2026-11-16 09:40"));
    client.verify(authed(req(&t1), &gw)).await.unwrap();
    client.verify(authed(req(&t4), &centre)).await.unwrap();
    app.set_time(local("2026-11-16 10:00"));
    client
        .dismiss(authed(
            TaskReasonRequest { request_id: rid(), task_id: t3.id.clone(), reason: "不属于受理范围".into() },
            &centre,
        ))
        .await
        .unwrap();
    app.set_time(verify_due + chrono::Duration::minutes(1));
    client
        .reject_verification(authed(
            TaskReasonRequest { request_id: rid(), task_id: t2.id.clone(), reason: "现场未修复".into() },
            &gw,
        ))
        .await
        .unwrap();

    let (day_from, day_to) = (local("2026-11-16 08:00"), verify_due + chrono::Duration::days(1));
    // The grid worker, by default and by name.
    let own = app.grid_worker_kpis_as(&gw, day_from, day_to, "").await.expect("own figures").into_inner();
    assert_eq!(own.grid_worker_id, grid.grid_worker);
    check_grid_worker(&own, (3, 2, 2, 1), [2.0 / 3.0, 0.5], "own figures");
    let named = app.grid_worker_kpis_as(&gw, day_from, day_to, &grid.grid_worker).await.unwrap().into_inner();
    assert_eq!(named, own);
    // The township's center, the county's center and an administrator see the same.
    for (token, who) in [(&centre, "township center"), (&center(COUNTY), "county center"), (&admin(), "admin")] {
        let k = app.grid_worker_kpis_as(token, day_from, day_to, &grid.grid_worker).await.expect(who).into_inner();
        assert_eq!(k, own, "{who}");
    }
    // A past period, recomputed afterwards: T3 was not dismissed yet, nothing was verified.
    let morning = app.grid_worker_kpis_as(&gw, day_from, local("2026-11-16 09:35"), "").await.unwrap().into_inner();
    check_grid_worker(&morning, (3, 3, 0, 0), [1.0, 0.0], "08:00–09:35");
    let later = app.grid_worker_kpis_as(&gw, day_from, local("2026-11-16 09:45"), "").await.unwrap().into_inner();
    check_grid_worker(&later, (3, 3, 1, 1), [1.0, 1.0], "08:00–09:45");
    // The other grid worker reported one event and verified nothing (the center verified it).
    let theirs =
        app.grid_worker_kpis_as(&centre, day_from, day_to, &other_grid.grid_worker).await.unwrap().into_inner();
    check_grid_worker(&theirs, (1, 1, 0, 0), [1.0, 0.0], "the other grid worker");
    // A later day: nothing.
    let after =
        app.grid_worker_kpis_as(&gw, day_to, day_to + chrono::Duration::days(1), "").await.unwrap().into_inner();
    check_grid_worker(&after, (0, 0, 0, 0), [0.0, 0.0], "a later day");

    // Scopes: only one's own; only grid workers inside the center's region; no departments.
    let other_township = app
        .refdata
        .regions
        .grids()
        .iter()
        .map(|g| g.village[..9].to_string())
        .find(|t| t != TOWNSHIP)
        .expect("another township");
    for (token, id, what) in [
        (&gw, other_grid.grid_worker.as_str(), "a grid worker asks for another's figures"),
        (&center(&other_township), grid.grid_worker.as_str(), "a center of another township"),
        (&center(OTHER_COUNTY), grid.grid_worker.as_str(), "a center of another county"),
        (&centre, "gw-nobody-anywhere", "a center names a grid worker with no grid"),
        (&dept, grid.grid_worker.as_str(), "a department"),
        (&citizen(), grid.grid_worker.as_str(), "a citizen app"),
    ] {
        expect_code(app.grid_worker_kpis_as(token, day_from, day_to, id).await, Code::PermissionDenied, what);
    }
    // Bad requests, by field.
    expect_invalid(
        app.grid_worker_kpis_as(&centre, day_from, day_to, "").await,
        "grid_worker_id",
        "a center names nobody",
    );
    expect_invalid(
        app.grid_worker_kpis_as(&admin(), day_from, day_to, "gw 1").await,
        "grid_worker_id",
        "whitespace in the id",
    );
    expect_invalid(
        app.grid_worker_kpis_as(&admin(), day_from, day_to, &"g".repeat(129)).await,
        "grid_worker_id",
        "an id too long",
    );
    expect_invalid(app.grid_worker_kpis_as(&gw, day_to, day_from, "").await, "period.to", "end before start");
    expect_invalid(
        client
            .get_grid_worker_kpis(authed(
                GetGridWorkerKpisRequest {
                    period: Some(TimeRange { from: None, to: Some(to_proto(day_to)) }),
                    grid_worker_id: String::new(),
                },
                &gw,
            ))
            .await,
        "period.from",
        "no start",
    );
    app.stop().await;
}
