//! Access, as the tables say (docs/access.md): under `civicgrid up --auth`, every RPC of every
//! service is called with a token of every role, and
//! - a role the RPC's row does not list is refused at the edge (PERMISSION_DENIED, "role … may
//!   not …"), a listed one reaches the handler;
//! - an outsider (every listed role, scoped to another county and department) asking for the
//!   records this test made in county 411602 gets what the row's scoping promises: `hidden`
//!   NOT_FOUND, `own` and `placed` PERMISSION_DENIED or NOT_FOUND, `filtered` an answer without
//!   the record (access_probes.rs holds the requests);
//! - insiders (a center of the county, the task's department, the reporter's app with the
//!   phone's last digits) do read those records, so the outsider's NOT_FOUND is not vacuous.
//!
//! The table is read from `civicgrid access --json`, the one the services enforce.

use std::{collections::HashMap, process::Command, time::Duration};

use civicgrid_dev::testing::raw;
use civicgrid_e2e::{Suite, civicgrid_binary};
use civicgrid_kit::auth::{Claims, expiry_in, issue_token};
use civicgrid_proto::v1::{
    CaseSource, DisputeType, EventSource, GeoPoint, ListInboxRequest, ListMediatorsRequest, ListTasksRequest, Location,
    OpenCaseRequest, RegisterWebhookRequest, Reporter, ScheduleShiftRequest, SubmitEventRequest,
    dispatch_service_client::DispatchServiceClient, intake_service_client::IntakeServiceClient,
    mediation_service_client::MediationServiceClient, notify_service_client::NotifyServiceClient,
    patrol_service_client::PatrolServiceClient,
};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use tonic::{Code, Status, transport::Channel};

use crate::{
    access_probes::{MARKERS, PROBES},
    common::as_,
};

/// One row of `civicgrid access --json`.
struct Row {
    service: String,
    rpc: String,
    roles: Vec<String>,
    scoping: String,
}

fn table() -> Vec<Row> {
    let out = Command::new(civicgrid_binary()).args(["access", "--json"]).output().expect("civicgrid access");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    let text = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    rows.iter()
        .map(|r| Row {
            service: text(&r["service"]),
            rpc: text(&r["rpc"]),
            roles: r["roles"].as_array().unwrap().iter().map(text).collect(),
            scoping: text(&r["scoping"]),
        })
        .collect()
}

const ROLES: [&str; 8] =
    ["admin", "center", "county_center", "department", "grid_worker", "mediator", "patrol_member", "citizen_app"];

/// Tokens signed with the suite's secret.
struct Tokens(String);

impl Tokens {
    fn sign(&self, role: &str, sub: &str, department: &str, scope: &str) -> String {
        let claims = Claims {
            sub: sub.into(),
            role: role.into(),
            department_id: department.into(),
            region_scope: scope.into(),
            exp: expiry_in(Duration::from_secs(3600)),
            iss: None,
            aud: None,
        };
        issue_token(&self.0, &claims).unwrap()
    }
}

/// What a call ended with: the answer's bytes, a status, or (a watch) nothing yet.
enum Answer {
    Ok(Vec<u8>),
    Status(Status),
    Quiet,
}

async fn call(method: &MethodDescriptor, channel: Channel, body: Vec<u8>, token: &str) -> Answer {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    if method.is_server_streaming() {
        return match tokio::time::timeout(Duration::from_secs(2), raw::first_streamed(channel, &path, body, token))
            .await
        {
            Ok(Ok(first)) => Answer::Ok(first.map(|b| b.to_vec()).unwrap_or_default()),
            Ok(Err(status)) => Answer::Status(status),
            Err(_) => Answer::Quiet,
        };
    }
    match tokio::time::timeout(Duration::from_secs(10), raw::unary(channel, &path, body, token)).await {
        Ok(Ok(bytes)) => Answer::Ok(bytes.to_vec()),
        Ok(Err(status)) => Answer::Status(status),
        Err(_) => panic!("{path}: no answer within 10 s"),
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Ok(bytes) => write!(f, "OK ({} bytes)", bytes.len()),
            Answer::Status(s) => write!(f, "{:?}: {}", s.code(), s.message()),
            Answer::Quiet => write!(f, "a watch, quiet"),
        }
    }
}

/// Whether `answer` is the edge's refusal of `role` ("role ROLE_CENTER may not …").
fn refused_by_role(answer: &Answer, role: &str) -> bool {
    let refusal = format!("role ROLE_{} may not ", role.to_uppercase());
    matches!(answer, Answer::Status(s) if s.code() == Code::PermissionDenied && s.message().starts_with(&refusal))
}

/// The records the test made in county 411602, by placeholder name.
async fn make_records(suite: &Suite, admin: &str, center: &str) -> HashMap<&'static str, String> {
    let mut vars = HashMap::new();
    let connect = |address: &str| Channel::from_shared(format!("http://{address}")).unwrap().connect_lazy();

    let mut intake = IntakeServiceClient::new(connect(&suite.intake));
    let report = SubmitEventRequest {
        request_id: "access-report-1".into(),
        source: EventSource::GridWorker as i32,
        item_code: "03.01.002".into(),
        location: Some(Location {
            point: Some(GeoPoint { latitude: 30.2, longitude: 114.6 }),
            grid_code: "411602002001001".into(),
            ..Default::default()
        }),
        description: "垃圾桶满溢未及时清运".into(),
        reporter: Some(Reporter { phone: "13900004321".into(), ..Default::default() }),
        ..Default::default()
    };
    let accepted = intake.submit_event(as_(report, admin)).await.unwrap().into_inner();
    vars.insert("event", accepted.event_id.clone());
    vars.insert("tracking", accepted.tracking_number.clone());

    let mut dispatch = DispatchServiceClient::new(connect(&suite.dispatch));
    let task = loop {
        let req = ListTasksRequest { event_id: accepted.event_id.clone(), ..Default::default() };
        if let Some(t) = dispatch.list_tasks(as_(req, admin)).await.unwrap().into_inner().tasks.pop() {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!task.department_id.is_empty(), "the report's task was assigned: {task:?}");
    vars.insert("task", task.id.clone());
    vars.insert("dept", task.department_id.clone());

    let mut mediation = MediationServiceClient::new(connect(&suite.mediation));
    let open = OpenCaseRequest {
        request_id: "access-case-1".into(),
        source: CaseSource::Application as i32,
        dispute_type: DisputeType::Debt as i32,
        facts: "借款两万元到期未还，双方协商未果".into(),
        parties: crate::mediation::parties(),
        region_code: "411602001001".into(),
        ..Default::default()
    };
    let case = mediation.open_case(as_(open, admin)).await.unwrap().into_inner();
    vars.insert("case", case.id.clone());
    vars.insert("org", case.organisation_id.clone());
    vars.insert("party", case.parties.first().expect("the case has parties").party_id.clone());
    let mediators = mediation
        .list_mediators(as_(
            ListMediatorsRequest { organisation_id: case.organisation_id, ..Default::default() },
            admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .mediators;
    vars.insert("mediator", mediators.first().expect("the organisation has mediators").id.clone());

    let mut patrol = PatrolServiceClient::new(connect(&suite.patrol));
    crate::patrol::set_up(&mut patrol, center).await;
    let now = chrono::Utc::now();
    let shift = patrol
        .schedule_shift(as_(
            ScheduleShiftRequest {
                request_id: "access-shift-1".into(),
                team_id: "e2e-team".into(),
                route_id: "e2e-route".into(),
                starts_at: Some(civicgrid_kit::time::to_proto(now + chrono::Duration::hours(1))),
                ends_at: Some(civicgrid_kit::time::to_proto(now + chrono::Duration::hours(2))),
            },
            center,
        ))
        .await
        .unwrap()
        .into_inner();
    vars.insert("shift", shift.id);
    vars.insert("route", "e2e-route".into());
    vars.insert("team", "e2e-team".into());
    vars.insert("place", "e2e-school".into());

    let mut notify = NotifyServiceClient::new(connect(&suite.notify));
    let recipient = format!("department:{}", task.department_id);
    let hook = RegisterWebhookRequest {
        recipient: recipient.clone(),
        url: "https://example.org/hook".into(),
        secret: "0123456789abcdef0123".into(),
        request_id: "access-hook-1".into(),
        ..Default::default()
    };
    vars.insert("webhook", notify.register_webhook(as_(hook, admin)).await.unwrap().into_inner().id);
    let notification = loop {
        let req = ListInboxRequest { recipient: recipient.clone(), ..Default::default() };
        if let Some(n) = notify.list_inbox(as_(req, admin)).await.unwrap().into_inner().notifications.pop() {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    vars.insert("notification", notification.id);
    vars.insert("from", (now - chrono::Duration::days(1)).to_rfc3339());
    vars.insert("to", (now + chrono::Duration::minutes(30)).to_rfc3339());
    vars.insert("soon", (now + chrono::Duration::hours(3)).to_rfc3339());
    vars.insert("today", now.date_naive().to_string());
    vars
}

/// `vars` with every record replaced by one that does not exist.
fn missing_records(vars: &HashMap<&'static str, String>) -> HashMap<&'static str, String> {
    let mut missing = vars.clone();
    for name in ["event", "task", "case", "shift", "notification", "webhook"] {
        missing.insert(name, uuid::Uuid::now_v7().to_string());
    }
    missing.insert("tracking", "411602-20200101-999999".into());
    missing.insert("route", "no-such-route".into());
    missing
}

/// Whether two answers are the same once each names its own record.
fn same_answer(
    a: &Answer,
    b: &Answer,
    vars: &HashMap<&'static str, String>,
    missing: &HashMap<&'static str, String>,
) -> bool {
    let text = |answer: &Answer, names: &HashMap<&'static str, String>| {
        let mut text = format!("{answer:?}");
        for (name, value) in names {
            if !value.is_empty() {
                text = text.replace(value.as_str(), name);
            }
        }
        text
    };
    text(a, vars) == text(b, missing)
}

fn fill(template: &str, vars: &HashMap<&'static str, String>) -> String {
    let mut text = template.replace("{rid}", &uuid::Uuid::now_v7().to_string());
    for (name, value) in vars {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

fn encode(method: &MethodDescriptor, json: &str) -> Vec<u8> {
    let mut de = serde_json::Deserializer::from_str(json);
    let message = DynamicMessage::deserialize(method.input(), &mut de)
        .unwrap_or_else(|e| panic!("probe of {} is not a {}: {e}\n{json}", method.name(), method.input().name()));
    message.encode_to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rpc_answers_every_role_and_scope_as_its_table_says() {
    // The outsiders' lookups by tracking number fail on purpose, dozens of them from one
    // address: intake's budgets of failed lookups (tested on their own) are lifted here.
    let suite = tokio::task::spawn_blocking(|| {
        Suite::up_with_env(
            &["--auth", "--no-demo", "--quiet"],
            &[
                ("CIVICGRID__INTAKE__FAILED_LOOKUPS_PER_MINUTE", "0"),
                ("CIVICGRID__INTAKE__FAILED_LOOKUPS_PER_NUMBER_PER_HOUR", "0"),
            ],
        )
    })
    .await
    .unwrap();
    let secrets = std::fs::read_to_string(suite.state.path().join("secrets.env")).unwrap();
    let tokens = Tokens(secrets.lines().find_map(|l| l.strip_prefix("AUTH_SECRET=")).unwrap().to_string());
    let admin = tokens.sign("admin", "access-admin", "", "");
    let center = tokens.sign("center", "access-center", "", "411602");
    let vars = make_records(&suite, &admin, &center).await;
    let rows = table();
    let pool = DescriptorPool::decode(civicgrid_proto::FILE_DESCRIPTOR_SET).unwrap();
    let address = |service: &str| match service {
        "civicgrid.v1.IntakeService" => &suite.intake,
        "civicgrid.v1.DispatchService" => &suite.dispatch,
        "civicgrid.v1.NotifyService" => &suite.notify,
        "civicgrid.v1.MediationService" => &suite.mediation,
        "civicgrid.v1.PatrolService" => &suite.patrol,
        other => panic!("no address for {other}"),
    };
    let channels: HashMap<String, Channel> = rows
        .iter()
        .map(|r| {
            (r.service.clone(), Channel::from_shared(format!("http://{}", address(&r.service))).unwrap().connect_lazy())
        })
        .collect();
    let total: usize = pool.services().filter(|s| s.package_name() == "civicgrid.v1").map(|s| s.methods().len()).sum();
    assert_eq!(rows.len(), total, "the table has a row for every RPC of every service");
    let probes: HashMap<&str, &str> = PROBES.iter().copied().collect();
    let missing = missing_records(&vars);
    let markers: HashMap<&str, &str> = MARKERS.iter().copied().collect();
    let mut failures = Vec::new();
    let (mut calls, mut outsider_calls) = (0, 0);

    for row in &rows {
        let method = pool
            .get_service_by_name(&row.service)
            .and_then(|s| s.methods().find(|m| m.name() == row.rpc))
            .unwrap_or_else(|| panic!("{}/{} is in no .proto", row.service, row.rpc));
        let channel = channels[&row.service].clone();
        // Every role, in scope, with an empty request: admitted or refused at the edge.
        for role in ROLES {
            let token = tokens.sign(role, &format!("access-{role}"), &vars["dept"], "411602");
            let answer = call(&method, channel.clone(), Vec::new(), &token).await;
            calls += 1;
            let allowed = row.roles.iter().any(|r| r == role);
            if allowed == refused_by_role(&answer, role)
                || matches!(&answer, Answer::Status(s) if s.code() == Code::Unauthenticated)
            {
                failures.push(format!("{} as {role} (allowed: {allowed}): {answer:?}", row.rpc));
            }
        }
        // Every admitted role, out of scope, asking for this test's records.
        if row.scoping == "open" {
            continue;
        }
        let Some(template) = probes.get(row.rpc.as_str()) else {
            failures.push(format!("{}: no probe in access_probes.rs for a `{}` RPC", row.rpc, row.scoping));
            continue;
        };
        for role in &row.roles {
            let outsider = tokens.sign(role, &format!("outsider-{role}"), "110101-outsider", "110101");
            let answer = call(&method, channel.clone(), encode(&method, &fill(template, &vars)), &outsider).await;
            outsider_calls += 1;
            let code = match &answer {
                Answer::Status(s) => Some(s.code()),
                _ => None,
            };
            let fine = match row.scoping.as_str() {
                // Exactly what a record that does not exist gets (the caller's own refusal, or
                // NOT_FOUND): the answer tells nothing of the record.
                "hidden" => {
                    let absent =
                        call(&method, channel.clone(), encode(&method, &fill(template, &missing)), &outsider).await;
                    matches!(code, Some(Code::NotFound | Code::PermissionDenied))
                        && same_answer(&answer, &absent, &vars, &missing)
                }
                "own" | "placed" => matches!(code, Some(Code::PermissionDenied | Code::NotFound)),
                "filtered" => {
                    let marker = fill(markers.get(row.rpc.as_str()).copied().unwrap_or("{event}"), &vars);
                    match &answer {
                        Answer::Ok(bytes) => !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                        Answer::Quiet => true,
                        Answer::Status(s) => s.code() == Code::PermissionDenied,
                    }
                }
                other => panic!("unknown scoping {other}"),
            };
            if !fine {
                failures.push(format!("{} ({}) as an outsider {role}: {answer:?}", row.rpc, row.scoping));
            }
        }
    }
    insiders_read_the_records(&suite, &tokens, &vars, &mut failures).await;
    println!("access: {calls} calls of {} RPCs × {} roles, {outsider_calls} outsider probes", rows.len(), ROLES.len());
    assert!(failures.is_empty(), "{} answers differ from the table:\n{}", failures.len(), failures.join("\n"));
}

/// The records exist and their insiders read them.
async fn insiders_read_the_records(
    suite: &Suite,
    tokens: &Tokens,
    vars: &HashMap<&'static str, String>,
    failures: &mut Vec<String>,
) {
    let pool = DescriptorPool::decode(civicgrid_proto::FILE_DESCRIPTOR_SET).unwrap();
    let center = tokens.sign("center", "insider-center", "", "411602");
    let department = tokens.sign("department", "insider-dept", &vars["dept"], "");
    let app = tokens.sign("citizen_app", "insider-app", "", "");
    let reads: [(&str, &str, &str, &str, &str); 8] = [
        ("IntakeService", "GetEvent", r#"{"event_id":"{event}"}"#, &center, "{event}"),
        ("IntakeService", "GetEvent", r#"{"event_id":"{event}"}"#, &department, "{event}"),
        (
            "IntakeService",
            "GetEventByTrackingNumber",
            r#"{"tracking_number":"{tracking}","phone_last4":"4321"}"#,
            &app,
            "{tracking}",
        ),
        ("DispatchService", "GetTask", r#"{"task_id":"{task}"}"#, &department, "{task}"),
        ("DispatchService", "ListTasks", r#"{}"#, &center, "{task}"),
        ("MediationService", "GetCase", r#"{"case_id":"{case}"}"#, &center, "{case}"),
        ("PatrolService", "GetShift", r#"{"shift_id":"{shift}"}"#, &center, "{shift}"),
        ("NotifyService", "ListInbox", r#"{"recipient":"department:{dept}"}"#, &department, "{notification}"),
    ];
    for (service, rpc, template, token, marker) in reads {
        let method = pool
            .get_service_by_name(&format!("civicgrid.v1.{service}"))
            .and_then(|s| s.methods().find(|m| m.name() == rpc))
            .unwrap();
        let address = match service {
            "IntakeService" => &suite.intake,
            "DispatchService" => &suite.dispatch,
            "MediationService" => &suite.mediation,
            "PatrolService" => &suite.patrol,
            _ => &suite.notify,
        };
        let channel = Channel::from_shared(format!("http://{address}")).unwrap().connect_lazy();
        let answer = call(&method, channel, encode(&method, &fill(template, vars)), token).await;
        let marker = fill(marker, vars);
        let found = matches!(&answer, Answer::Ok(b) if b.windows(marker.len()).any(|w| w == marker.as_bytes()));
        if !found {
            failures.push(format!("insider {rpc}: {answer:?}"));
        }
    }
}
