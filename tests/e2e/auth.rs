//! Bearer tokens as a user meets them: `civicgrid token` signs the claims asked for and refuses
//! bad arguments, and under `civicgrid up --auth` every service checks tokens against the
//! `AUTH_SECRET` of `secrets.env`: no token or a forged one is UNAUTHENTICATED, health and
//! reflection stay open, the admin and county-center tokens `up` prints work within their
//! scope, and so do tokens signed with `civicgrid token` (README "A short tour", docs/grpc.md
//! "Tokens"): a grid worker's scoped to one grid, a department's, and a citizen's app's that
//! follows a report by its tracking number and the reporter's phone (docs/grpc.md "Who may read
//! which events").

use std::{
    process::{Command, Stdio},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use civicgrid_e2e::{Suite, civicgrid_binary};
use civicgrid_proto::v1::{
    EventSource, GeoPoint, GetEventByTrackingNumberRequest, GetEventRequest, GetTaskRequest, ListEventsRequest,
    ListInboxRequest, ListTasksRequest, Location, Reporter, SubmitEventRequest, Task,
    dispatch_service_client::DispatchServiceClient, intake_service_client::IntakeServiceClient,
    notify_service_client::NotifyServiceClient,
};
use tonic::{Code, Request, transport::Channel};

/// Runs `civicgrid token` with `args`, with `CIVICGRID__AUTH__HS256_SECRET` set to `secret_env`
/// (or unset); returns (success, stdout, stderr).
fn civicgrid_token(args: &[&str], secret_env: Option<&str>) -> (bool, String, String) {
    let mut command = Command::new(civicgrid_binary());
    command.arg("token").args(args).env_remove("CIVICGRID__AUTH__HS256_SECRET").stdin(Stdio::null());
    if let Some(secret) = secret_env {
        command.env("CIVICGRID__AUTH__HS256_SECRET", secret);
    }
    let out = command.output().expect("running civicgrid token");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The token `civicgrid token <args>` prints, as one line.
fn signed(args: &[&str]) -> String {
    let (ok, out, err) = civicgrid_token(args, None);
    assert!(ok, "civicgrid token {args:?} failed: {err}");
    assert_eq!(out.lines().count(), 1, "one line: {out:?}");
    out.trim().to_string()
}

/// Decodes unpadded base64url, as JWTs use it.
fn base64url(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        (match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {text:?}"),
        }) as u32
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in text.bytes() {
        acc = (acc << 6) | value(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The header (`part` 0) or the claims (`part` 1) of a JWT.
fn jwt_part(token: &str, part: usize) -> serde_json::Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    serde_json::from_slice(&base64url(parts[part])).expect("a JWT part is JSON")
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Asserts that a token expires `hours` from now (within a minute).
fn expires_in_hours(claims: &serde_json::Value, hours: i64) {
    let exp = claims["exp"].as_i64().expect("numeric exp");
    assert!((exp - (now_secs() + hours * 3600)).abs() < 60, "exp {exp} is not {hours} h from now");
}

#[test]
fn civicgrid_token_signs_the_claims_asked_for_and_refuses_bad_arguments() {
    let token = signed(&[
        "--secret",
        "s3cret",
        "--role",
        "department",
        "--department",
        "411602001-chengguan",
        "--subject",
        "cg-411602001",
        "--scope",
        "411602001",
        "--issuer",
        "civicgrid-e2e",
        "--audience",
        "dispatch",
        "--hours",
        "2",
    ]);
    let header = jwt_part(&token, 0);
    assert_eq!(header["alg"], "HS256", "{header}");
    let claims = jwt_part(&token, 1);
    for (name, want) in [
        ("sub", "cg-411602001"),
        ("role", "department"),
        ("department_id", "411602001-chengguan"),
        ("region_scope", "411602001"),
        ("iss", "civicgrid-e2e"),
        ("aud", "dispatch"),
    ] {
        assert_eq!(claims[name], want, "{name} in {claims}");
    }
    expires_in_hours(&claims, 2);

    // The documented defaults: subject `cli`, 24 hours, no department, scope everywhere.
    let claims = jwt_part(&signed(&["--secret", "s3cret", "--role", "admin"]), 1);
    assert_eq!((claims["sub"].as_str(), claims["role"].as_str()), (Some("cli"), Some("admin")), "{claims}");
    for absent in ["department_id", "region_scope", "iss", "aud"] {
        assert!(claims.get(absent).is_none(), "{absent} in {claims}");
    }
    expires_in_hours(&claims, 24);

    // Bad arguments: a clear message on stderr, nothing on stdout, a non-zero exit.
    let (ok, out, err) = civicgrid_token(&["--secret", "s3cret", "--role", "king"], None);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("unknown role `king`"), "{err}");
    let (ok, out, err) = civicgrid_token(&["--secret", "s3cret"], None);
    assert!(!ok && out.is_empty() && err.contains("--role"), "{err}");
    let (ok, out, err) = civicgrid_token(&["--secret", "s3cret", "--role", "department"], None);
    assert!(!ok && out.is_empty() && err.contains("needs --department"), "{err}");
    let (ok, out, err) = civicgrid_token(&["--secret", "s3cret", "--role", "admin", "--hours", "0"], None);
    assert!(!ok && out.is_empty() && err.contains("--hours"), "{err}");
    // No --secret and no CIVICGRID__AUTH__HS256_SECRET.
    let (ok, out, err) = civicgrid_token(&["--role", "admin"], None);
    assert!(!ok && out.is_empty() && err.contains("--secret"), "{err}");
    // The secret may come from CIVICGRID__AUTH__HS256_SECRET instead (checked against the
    // services in the test below).
    let (ok, out, err) = civicgrid_token(&["--role", "admin"], Some("s3cret"));
    assert!(ok && out.trim().split('.').count() == 3, "{out}{err}");
}

fn as_<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

fn report(request_id: &str, grid_code: &str, point: (f64, f64)) -> SubmitEventRequest {
    SubmitEventRequest {
        request_id: request_id.into(),
        source: EventSource::Hotline12345 as i32,
        item_code: "01.02.003".into(),
        location: Some(Location {
            point: Some(GeoPoint { latitude: point.0, longitude: point.1 }),
            grid_code: grid_code.into(),
            ..Default::default()
        }),
        description: "井盖缺失，夜间行人易跌落".into(),
        reporter: Some(Reporter { phone: "13812345678".into(), ..Default::default() }),
        ..Default::default()
    }
}

/// The tasks of `event_id` as the admin sees them, once dispatch has routed it.
async fn tasks_of(dispatch: &mut DispatchServiceClient<Channel>, admin: &str, event_id: &str) -> Vec<Task> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let request = ListTasksRequest { event_id: event_id.into(), ..Default::default() };
        let tasks = dispatch.list_tasks(as_(request, admin)).await.unwrap().into_inner().tasks;
        if !tasks.is_empty() {
            return tasks;
        }
        assert!(tokio::time::Instant::now() < deadline, "dispatch made no task for event {event_id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last word of the line `up` printed containing `label`: a token.
fn printed_token(suite: &Suite, label: &str) -> String {
    let line = suite.wait_for_line(label, Duration::from_secs(10));
    line.split_whitespace().last().unwrap_or_default().to_string()
}

/// Asserts that grpcurl failed with gRPC status `code` (as grpcurl names it).
fn refused(result: (bool, String), code: &str) {
    let (ok, text) = result;
    assert!(!ok && text.contains(&format!("Code: {code}")), "wanted {code}, got: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn up_with_auth_checks_every_call_and_its_tokens_work_within_their_scope() {
    let suite = tokio::task::spawn_blocking(|| {
        Suite::up(&["--auth", "--quiet", "--demo-interval-ms", "500", "--traffic-rate", "240"])
    })
    .await
    .unwrap();
    let (intake_addr, dispatch_addr, notify_addr) =
        (suite.intake.clone(), suite.dispatch.clone(), suite.notify.clone());

    // `up` prints an admin token and a county-center token for 411602, valid for 7 days.
    let admin = printed_token(&suite, "tokens: admin");
    let county = printed_token(&suite, "county_center 411602");
    let claims = jwt_part(&admin, 1);
    assert_eq!(claims["role"], "admin", "{claims}");
    assert!(claims.get("region_scope").is_none(), "{claims}");
    expires_in_hours(&claims, 7 * 24);
    let claims = jwt_part(&county, 1);
    assert_eq!((claims["role"].as_str(), claims["region_scope"].as_str()), (Some("county_center"), Some("411602")));
    expires_in_hours(&claims, 7 * 24);
    let secrets = std::fs::read_to_string(suite.state.path().join("secrets.env")).expect("secrets.env");
    let secret = secrets.lines().find_map(|l| l.strip_prefix("AUTH_SECRET=")).expect("AUTH_SECRET in secrets.env");
    assert!(!secret.is_empty());
    // And one token of each other role, each holding the role and account it names.
    for (label, role, sub) in [
        ("center 411602 (the command center)", "center", "demo-center"),
        ("department 411602002-chengguan", "department", "demo-411602002-chengguan"),
        ("grid_worker gw-411602002001001", "grid_worker", "gw-411602002001001"),
        ("mediator med-411602001001-cw-01", "mediator", "med-411602001001-cw-01"),
        ("citizen_app (the reporters' app)", "citizen_app", "demo-citizen_app"),
    ] {
        let claims = jwt_part(&printed_token(&suite, label), 1);
        assert_eq!((claims["role"].as_str(), claims["sub"].as_str()), (Some(role), Some(sub)), "{label}: {claims}");
    }

    // Health and reflection need no token, on every service.
    for addr in [&intake_addr, &dispatch_addr, &notify_addr] {
        let (ok, health) = suite.grpcurl(&[addr, "grpc.health.v1.Health/Check"]);
        assert!(ok && health.contains("SERVING"), "{addr}: {health}");
        let (ok, listed) = suite.grpcurl(&[addr, "list"]);
        assert!(ok && listed.contains("civicgrid.v1.") && listed.contains("grpc.health.v1.Health"), "{listed}");
    }
    let (ok, described) = suite.grpcurl(&[&dispatch_addr, "describe", "civicgrid.v1.DispatchService"]);
    assert!(ok && described.contains("ListTasks"), "{described}");

    // Every service call without a token, or with one signed with another secret, is
    // UNAUTHENTICATED, even for the admin role.
    let forged = signed(&["--secret", "not-the-suite-secret", "--role", "admin"]);
    let submit = r#"{"request_id":"auth-grpcurl-0001","source":"EVENT_SOURCE_HOTLINE_12345","item_code":"01.02.003",
        "location":{"grid_code":"411602001001002","point":{"latitude":33.71,"longitude":114.71}},
        "description":"井盖缺失，夜间行人易跌落","reporter":{"phone":"13812345678"}}"#;
    let calls = [
        (&intake_addr, "civicgrid.v1.IntakeService/SubmitEvent", submit),
        (&dispatch_addr, "civicgrid.v1.DispatchService/ListTasks", r#"{"page_size":5}"#),
        (&notify_addr, "civicgrid.v1.NotifyService/ListInbox", r#"{"recipient":"center:411602"}"#),
    ];
    let forged_header = format!("authorization: Bearer {forged}");
    for (addr, method, body) in calls {
        refused(suite.grpcurl(&["-d", body, addr, method]), "Unauthenticated");
        refused(suite.grpcurl(&["-H", &forged_header, "-d", body, addr, method]), "Unauthenticated");
    }

    // The admin token `up` printed works, as grpcurl users pass it.
    let admin_header = format!("authorization: Bearer {admin}");
    for (addr, method, body) in calls {
        let (ok, answer) = suite.grpcurl(&["-H", &admin_header, "-d", body, addr, method]);
        assert!(ok, "{method} as admin: {answer}");
    }

    // The admin reports one event in the county 411602 and one in 411621 (far from the demo's
    // spots, so nothing merges).
    let mut intake = IntakeServiceClient::connect(format!("http://{intake_addr}")).await.unwrap();
    let mut dispatch = DispatchServiceClient::connect(format!("http://{dispatch_addr}")).await.unwrap();
    let mut notify = NotifyServiceClient::connect(format!("http://{notify_addr}")).await.unwrap();
    let home = report("auth-home-0001", "411602001001002", (33.72, 114.72));
    let home = intake.submit_event(as_(home, &admin)).await.unwrap().into_inner();
    let away = report("auth-away-0001", "411621100001001", (33.45, 114.87));
    let away = intake.submit_event(as_(away, &admin)).await.unwrap().into_inner();
    assert!(!home.merged && !away.merged);
    let home_tasks = tasks_of(&mut dispatch, &admin, &home.event_id).await;
    let away_tasks = tasks_of(&mut dispatch, &admin, &away.event_id).await;

    // The county-center token is limited to 411602: it sees the home event's tasks, not the
    // other county's, and naming 411621 anywhere is PERMISSION_DENIED.
    let listed = |event_id: &str| ListTasksRequest { event_id: event_id.into(), ..Default::default() };
    let seen = dispatch.list_tasks(as_(listed(&home.event_id), &county)).await.unwrap().into_inner().tasks;
    assert_eq!(seen.len(), home_tasks.len());
    let seen = dispatch.list_tasks(as_(listed(&away.event_id), &county)).await.unwrap().into_inner().tasks;
    assert!(seen.is_empty(), "county 411602 sees a task of 411621: {seen:?}");
    let all = ListTasksRequest { page_size: 500, ..Default::default() };
    let seen = dispatch.list_tasks(as_(all, &county)).await.unwrap().into_inner().tasks;
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|t| t.region.as_ref().is_some_and(|r| r.county == "411602")), "{seen:?}");
    let elsewhere = ListTasksRequest { region_code: "411621".into(), ..Default::default() };
    let status = dispatch.list_tasks(as_(elsewhere, &county)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = dispatch.get_task(as_(GetTaskRequest { task_id: away_tasks[0].id.clone() }, &county)).await;
    assert_eq!(status.unwrap_err().code(), Code::NotFound, "another county's task does not exist for it");
    let status = intake.submit_event(as_(report("auth-away-0002", "411621100001001", (33.46, 114.88)), &county)).await;
    assert_eq!(status.unwrap_err().code(), Code::PermissionDenied);
    let events = ListEventsRequest { region_code: "411621".into(), ..Default::default() };
    assert_eq!(intake.list_events(as_(events, &county)).await.unwrap_err().code(), Code::PermissionDenied);
    let inbox = |recipient: &str| ListInboxRequest { recipient: recipient.into(), page_size: 5, ..Default::default() };
    notify.list_inbox(as_(inbox("center:411602"), &county)).await.unwrap();
    let status = notify.list_inbox(as_(inbox("center:411621"), &county)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // A department token signed by `civicgrid token` with the AUTH_SECRET of secrets.env (the
    // README's recipe) sees its own tasks only.
    let lead = home_tasks.iter().find(|t| t.lead).expect("a lead task");
    let other = home_tasks.iter().find(|t| t.department_id != lead.department_id).expect("an assisting department");
    let department = signed(&[
        "--secret",
        secret,
        "--role",
        "department",
        "--department",
        &lead.department_id,
        "--subject",
        "auth-e2e-department",
    ]);
    let header = format!("authorization: Bearer {department}");
    let body = format!(r#"{{"event_id":"{}"}}"#, home.event_id);
    let (ok, answer) =
        suite.grpcurl(&["-H", &header, "-d", &body, &dispatch_addr, "civicgrid.v1.DispatchService/ListTasks"]);
    assert!(ok, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("grpcurl prints JSON");
    let ids: Vec<&str> = answer["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [lead.id.as_str()], "the department sees its own task of the event, not the other's");
    let seen = dispatch.list_tasks(as_(ListTasksRequest::default(), &department)).await.unwrap().into_inner().tasks;
    assert!(seen.iter().any(|t| t.id == lead.id), "{seen:?}");
    assert!(seen.iter().all(|t| t.department_id == lead.department_id), "{seen:?}");
    let theirs = ListTasksRequest { department_id: other.department_id.clone(), ..Default::default() };
    let status = dispatch.list_tasks(as_(theirs, &department)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = dispatch.get_task(as_(GetTaskRequest { task_id: other.id.clone() }, &department)).await;
    assert_eq!(status.unwrap_err().code(), Code::NotFound);
    let mine = dispatch.get_task(as_(GetTaskRequest { task_id: lead.id.clone() }, &department)).await.unwrap();
    assert_eq!(mine.into_inner().department_id, lead.department_id);

    // The secret may also come from CIVICGRID__AUTH__HS256_SECRET (docs/grpc.md "Tokens").
    let (ok, app, err) = civicgrid_token(&["--role", "citizen_app", "--subject", "app-12345"], Some(secret));
    assert!(ok, "{err}");
    // The number alone is not enough (numbers are sequential): the reporter's phone ends in
    // 5678, and a wrong ending answers as a missing number does.
    let lookup = |last4: &str| GetEventByTrackingNumberRequest {
        tracking_number: away.tracking_number.clone(),
        phone_last4: last4.into(),
    };
    let status = intake.get_event_by_tracking_number(as_(lookup(""), app.trim())).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let status = intake.get_event_by_tracking_number(as_(lookup("0000"), app.trim())).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let event = intake.get_event_by_tracking_number(as_(lookup("5678"), app.trim())).await.unwrap().into_inner();
    assert_eq!(event.id, away.event_id);

    // In intake the department reads the event of its own task (once intake has applied the
    // task's fact), never the other county's.
    let get = |id: &str| GetEventRequest { event_id: id.into() };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Err(status) = intake.get_event(as_(get(&home.event_id), &department)).await {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert!(tokio::time::Instant::now() < deadline, "the department never reads its task's event");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = intake.get_event(as_(get(&away.event_id), &department)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    // A grid worker scoped to grid 411602001001002 (`civicgrid token --scope`, the docs' form)
    // reports in its grid, reads and lists what is there, and nothing outside it.
    let worker =
        signed(&["--secret", secret, "--role", "grid_worker", "--scope", "411602001001002", "--subject", "gw-e2e"]);
    let mine = report("auth-grid-0001", "411602001001002", (33.76, 114.76));
    let mine = intake.submit_event(as_(mine, &worker)).await.unwrap().into_inner();
    intake.get_event(as_(get(&mine.event_id), &worker)).await.unwrap();
    let listed = intake.list_events(as_(ListEventsRequest::default(), &worker)).await.unwrap().into_inner().events;
    assert!(listed.iter().any(|e| e.id == mine.event_id), "{listed:?}");
    assert!(listed.iter().all(|e| e.location.as_ref().unwrap().grid_code == "411602001001002"), "{listed:?}");
    let status = intake.get_event(as_(get(&away.event_id), &worker)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let next_door = report("auth-grid-0002", "411602001001001", (33.77, 114.77));
    let status = intake.submit_event(as_(next_door, &worker)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let tasks = dispatch.list_tasks(as_(ListTasksRequest::default(), &worker)).await.unwrap().into_inner().tasks;
    assert!(tasks.iter().all(|t| t.grid_code == "411602001001002"), "dispatch holds it to the same grid: {tasks:?}");

    // The demo signs its own tokens with the suite's secret: its reports get in and its
    // departments and center take tasks to the end.
    let output = tokio::task::spawn_blocking(move || {
        suite.wait_for_line("[demo] ", Duration::from_secs(60));
        suite.wait_for_line(" closed", Duration::from_secs(120));
        suite.output.lock().unwrap().clone()
    })
    .await
    .unwrap();
    // ("verification of … failed" is the demo's center rejecting on purpose.)
    let refusals: Vec<&String> = output
        .iter()
        .filter(|l| {
            l.contains("[demo] submit failed")
                || l.contains("[demo] cannot watch")
                || (l.contains("[webhook] registering") && l.contains("failed"))
        })
        .collect();
    assert!(refusals.is_empty(), "{refusals:?}");
}

/// Without `--auth` a call without a token is an administrator and a token's claims are taken
/// unchecked (README "Run it"), even when the shell exports `CIVICGRID__AUTH__HS256_SECRET`,
/// as docs/grpc.md "Tokens" suggests for `civicgrid token`.
#[tokio::test(flavor = "multi_thread")]
async fn up_without_auth_takes_no_token_as_admin_even_with_a_token_secret_in_the_shell() {
    let suite = tokio::task::spawn_blocking(|| {
        Suite::up_with_env(
            &["--no-demo", "--quiet"],
            &[("CIVICGRID__AUTH__HS256_SECRET", "exported-for-civicgrid-token")],
        )
    })
    .await
    .unwrap();
    let dispatch = suite.dispatch.clone();
    // Only an unscoped caller may list another county's tasks.
    let (ok, answer) = suite.grpcurl(&[
        "-d",
        r#"{"region_code":"411621","page_size":5}"#,
        &dispatch,
        "civicgrid.v1.DispatchService/ListTasks",
    ]);
    assert!(ok, "{answer}");
    // The README's recipe: any secret will do, and the claims count.
    let token = signed(&["--secret", "x", "--role", "department", "--department", "411602001-chengguan"]);
    let header = format!("authorization: Bearer {token}");
    let (ok, answer) = suite.grpcurl(&["-H", &header, "-d", "{}", &dispatch, "civicgrid.v1.DispatchService/ListTasks"]);
    assert!(ok, "{answer}");
    let theirs = r#"{"department_id":"411602001-gongan"}"#;
    refused(
        suite.grpcurl(&["-H", &header, "-d", theirs, &dispatch, "civicgrid.v1.DispatchService/ListTasks"]),
        "PermissionDenied",
    );
}

/// Failed authentications are limited per client address (`auth.failed_per_minute`, 30): past the
/// budget a bad token is answered RESOURCE_EXHAUSTED, while a good token from the same address
/// still works.
#[tokio::test(flavor = "multi_thread")]
async fn failed_authentications_are_limited_per_client_and_good_tokens_still_pass() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--auth", "--no-demo", "--quiet"])).await.unwrap();
    let admin = printed_token(&suite, "tokens: admin");
    let forged = signed(&["--secret", "not-the-suite-secret", "--role", "admin"]);
    let mut intake = IntakeServiceClient::connect(format!("http://{}", suite.intake)).await.unwrap();
    let list = |token: &str| {
        let mut request = Request::new(ListEventsRequest { page_size: 1, ..Default::default() });
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    };
    let mut codes = Vec::new();
    for _ in 0..40 {
        codes.push(intake.list_events(list(&forged)).await.unwrap_err().code());
    }
    let unauthenticated = codes.iter().filter(|c| **c == Code::Unauthenticated).count();
    assert!((30..=32).contains(&unauthenticated), "{codes:?}");
    assert_eq!(codes.last(), Some(&Code::ResourceExhausted), "{codes:?}");
    intake.list_events(list(&admin)).await.expect("a good token passes while the address is over its budget");
}
