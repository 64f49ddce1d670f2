//! The demo city and the traffic `civicgrid up` shows: a few grids of 周口市川汇区 (411600 /
//! 411602) and common catalog items, reports submitted through intake's gRPC API as a grid
//! worker or a citizen would, and a live line for every message on the bus.

use std::time::Duration;

use civicgrid_kit::{Shutdown, auth};
use civicgrid_proto::v1::{
    Channel, EventMerged, EventReported, EventSource, GeoPoint, Location, NotifyEvent, Reporter, SubmitEventRequest,
    TaskEvent, intake_service_client::IntakeServiceClient,
};
use futures::StreamExt;
use prost::Message;
use rand::{Rng, SeedableRng};

/// A grid of the demo city: code, name and a centre point.
pub struct DemoGrid {
    /// 15-digit grid code.
    pub code: &'static str,
    /// Where it is.
    pub name: &'static str,
    /// Centre (lat, lng).
    pub center: (f64, f64),
}

/// Grids of the demo city.
pub const GRIDS: &[DemoGrid] = &[
    DemoGrid { code: "411602001001001", name: "陈州街道 七一路社区 第1网格", center: (33.6260, 114.6420) },
    DemoGrid { code: "411602001001002", name: "陈州街道 七一路社区 第2网格", center: (33.6285, 114.6455) },
    DemoGrid { code: "411602001002001", name: "陈州街道 文昌社区 第1网格", center: (33.6310, 114.6390) },
    DemoGrid { code: "411602002001001", name: "人和街道 人和社区 第1网格", center: (33.6180, 114.6600) },
    DemoGrid { code: "411602002003001", name: "人和街道 东方社区 第1网格", center: (33.6150, 114.6650) },
    DemoGrid { code: "411602003001001", name: "小桥街道 小桥社区 第1网格", center: (33.6400, 114.6300) },
];

/// Catalog items the demo reports (code, what the reporter writes).
pub const ITEMS: &[(&str, &str)] = &[
    ("01.01.001", "道路路面破损，坑洼积水"),
    ("01.02.003", "井盖缺失或破损，行人易跌落"),
    ("01.03.002", "路灯不亮，夜间照明不足"),
    ("02.01.001", "占道经营，流动摊贩堵塞人行道"),
    ("02.03.004", "乱贴乱画小广告"),
    ("03.01.002", "垃圾桶满溢未及时清运"),
    ("03.02.001", "建筑垃圾乱堆乱放"),
    ("04.01.003", "施工噪声扰民（夜间）"),
    ("05.02.001", "楼道堆放杂物，消防通道堵塞"),
    ("06.01.002", "邻里纠纷，需调解"),
];

/// A demo token signed with the suite's secret.
pub fn token(secret: &str, role: &str, scope: &str) -> String {
    department_token(secret, role, "", scope)
}

/// A demo token for a role, department and region scope.
pub fn department_token(secret: &str, role: &str, department: &str, scope: &str) -> String {
    let claims = auth::Claims {
        sub: if department.is_empty() { format!("demo-{role}") } else { format!("demo-{department}") },
        role: role.into(),
        department_id: department.into(),
        region_scope: scope.into(),
        exp: auth::expiry_in(Duration::from_secs(7 * 24 * 3600)),
        iss: None,
        aud: None,
    };
    auth::issue_token(secret, &claims).unwrap_or_default()
}

/// A random demo report; one in four repeats an earlier spot, to show duplicate merging.
fn demo_report(rng: &mut impl Rng, n: u64, last: &mut Option<(usize, usize, (f64, f64))>) -> SubmitEventRequest {
    let (grid_i, item_i, point) = match *last {
        Some((g, i, p)) if rng.random_bool(0.25) => (g, i, (p.0 + 0.00005, p.1 + 0.00005)),
        _ => {
            let g = rng.random_range(0..GRIDS.len());
            let c = GRIDS[g].center;
            (
                g,
                rng.random_range(0..ITEMS.len()),
                (c.0 + rng.random_range(-0.002..0.002), c.1 + rng.random_range(-0.002..0.002)),
            )
        }
    };
    *last = Some((grid_i, item_i, point));
    let grid_worker = rng.random_bool(0.6);
    SubmitEventRequest {
        request_id: format!("demo-{}-{n}", std::process::id()),
        source: if grid_worker { EventSource::GridWorker } else { EventSource::CitizenApp } as i32,
        item_code: ITEMS[item_i].0.into(),
        location: Some(Location {
            point: Some(GeoPoint { latitude: point.0, longitude: point.1 }),
            grid_code: GRIDS[grid_i].code.into(),
            region_code: String::new(),
            address: GRIDS[grid_i].name.into(),
            region: None,
        }),
        description: ITEMS[item_i].1.into(),
        evidence_urls: vec![],
        occurred_at: None,
        reporter: Some(Reporter {
            name: if grid_worker { "网格员".into() } else { "市民".into() },
            phone: format!("1{}{:09}", rng.random_range(3..10), rng.random_range(0..1_000_000_000u32)),
            account_id: String::new(),
        }),
    }
}

/// Submits a demo report every `every` until shutdown.
pub async fn generate(endpoint: String, token: Option<String>, every: Duration, shutdown: Shutdown) {
    let mut client = loop {
        match IntakeServiceClient::connect(endpoint.clone()).await {
            Ok(c) => break c,
            Err(_) => tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => return,
            },
        }
    };
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut last = None;
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        n += 1;
        let report = demo_report(&mut rng, n, &mut last);
        let mut request = tonic::Request::new(report.clone());
        if let Some(t) = &token
            && let Ok(v) = format!("Bearer {t}").parse()
        {
            request.metadata_mut().insert("authorization", v);
        }
        match client.submit_event(request).await {
            Ok(r) => {
                let r = r.into_inner();
                println!(
                    "[demo] {} reported {} {} -> {}{}",
                    EventSource::try_from(report.source).map(|s| s.as_str_name()).unwrap_or("?"),
                    report.item_code,
                    report.description,
                    r.tracking_number,
                    if r.merged { " (merged into the open event)" } else { "" }
                );
            }
            Err(e) => println!("[demo] submit failed: {} {}", e.code(), e.message()),
        }
    }
}

/// Prints one line for every message published under `civicgrid.>`.
pub async fn tail_bus(url: String, shutdown: Shutdown) {
    let Ok(client) = async_nats::connect(&url).await else {
        println!("[bus] cannot connect to {url} to show messages");
        return;
    };
    let Ok(mut sub) = client.subscribe("civicgrid.>").await else { return };
    loop {
        let msg = tokio::select! {
            m = sub.next() => m,
            _ = shutdown.cancelled() => return,
        };
        let Some(msg) = msg else { return };
        let ce_type =
            msg.headers.as_ref().and_then(|h| h.get("ce-type")).map(|v| v.as_str().to_string()).unwrap_or_default();
        let summary = match ce_type.as_str() {
            "civicgrid.v1.EventReported" => EventReported::decode(msg.payload.clone())
                .ok()
                .and_then(|e| e.event)
                .map(|e| format!("{} item {} status REPORTED", e.tracking_number, e.item_code)),
            "civicgrid.v1.EventMerged" => EventMerged::decode(msg.payload.clone())
                .ok()
                .map(|e| format!("{} now has {} reports", e.tracking_number, e.report_count)),
            "civicgrid.v1.TaskEvent" => TaskEvent::decode(msg.payload.clone())
                .ok()
                .map(|t| format!("task {} of event {} -> {}", t.task_id, t.event_id, t.fact)),
            "civicgrid.v1.NotifyEvent" => NotifyEvent::decode(msg.payload.clone()).ok().map(|n| {
                let channel = Channel::try_from(n.channel).map(|c| c.as_str_name()).unwrap_or("?");
                let outcome =
                    if n.fact == "notify-delivered" { "delivered".to_string() } else { format!("FAILED: {}", n.error) };
                format!("notice about {} -> {} by {channel}: {outcome}", n.source_fact, n.recipient)
            }),
            _ => None,
        };
        println!("[bus] {} {}", msg.subject, summary.unwrap_or(ce_type));
    }
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(v) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", v);
    }
    request
}

/// Plays the other people of the closed loop: each newly assigned task is signed for and
/// resolved by its department, verified by the center (one in five is sent back for rework
/// first), closed, and rated by the reporter through intake's callback (one in six
/// dissatisfied, which reopens it). Tasks nobody serves stay in the triage queue.
pub async fn work_tasks(dispatch: String, intake: String, secret: String, every: Duration, shutdown: Shutdown) {
    use civicgrid_proto::v1::{
        RateOutcomeRequest, Rating, ResolveRequest, TaskReasonRequest, TaskRequest, WatchTasksRequest,
        dispatch_service_client::DispatchServiceClient,
    };
    let admin = token(&secret, "admin", "");
    let mut client = loop {
        match DispatchServiceClient::connect(dispatch.clone()).await {
            Ok(c) => break c,
            Err(_) => tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => return,
            },
        }
    };
    let mut feed = match client
        .watch_tasks(with_token(WatchTasksRequest { from_now: true, ..Default::default() }, &admin))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(e) => {
            println!("[demo] cannot watch tasks: {}", e.message());
            return;
        }
    };
    loop {
        let change = tokio::select! {
            c = feed.next() => c,
            _ = shutdown.cancelled() => return,
        };
        let Some(Ok(change)) = change else { return };
        let Some(task) = change.task else { continue };
        if change.fact != "task-assigned" && change.fact != "task-reopened" {
            continue;
        }
        let (mut client, intake, secret, admin, shutdown) =
            (client.clone(), intake.clone(), secret.clone(), admin.clone(), shutdown.clone());
        tokio::spawn(async move {
            let department = department_token(&secret, "department", &task.department_id, "");
            let id = task.id.clone();
            let step = |n: &str| format!("demo-{n}-{}-{}", &id[24..], task.version);
            let pause = || tokio::time::sleep(every);
            let rework = rand::random::<u8>().is_multiple_of(5);
            tokio::select! { _ = pause() => {}, _ = shutdown.cancelled() => return }
            let sign = TaskRequest { request_id: step("sign"), task_id: id.clone() };
            if client.sign_for(with_token(sign, &department)).await.is_err() {
                return;
            }
            println!("[demo] {} signed for {} ({})", task.department_id, task.tracking_number, task.item_name);
            for round in 0..=(rework as u8) {
                tokio::select! { _ = pause() => {}, _ = shutdown.cancelled() => return }
                let resolve = ResolveRequest {
                    request_id: step(&format!("resolve{round}")),
                    task_id: id.clone(),
                    result: "已到场处置完毕".into(),
                    evidence_urls: vec!["https://evidence.example.org/after.jpg".into()],
                };
                if client.resolve(with_token(resolve, &department)).await.is_err() {
                    return;
                }
                if rework && round == 0 {
                    let reject = TaskReasonRequest {
                        request_id: step("reject"),
                        task_id: id.clone(),
                        reason: "复核未通过，现场仍有问题".into(),
                    };
                    let _ = client.reject_verification(with_token(reject, &admin)).await;
                    println!(
                        "[demo] verification of {} failed: back to {} for rework",
                        task.tracking_number, task.department_id
                    );
                }
            }
            let verify = TaskRequest { request_id: step("verify"), task_id: id.clone() };
            let close = TaskRequest { request_id: step("close"), task_id: id.clone() };
            if client.verify(with_token(verify, &admin)).await.is_err()
                || client.close(with_token(close, &admin)).await.is_err()
            {
                return;
            }
            println!("[demo] {} closed", task.tracking_number);
            if !task.lead {
                return;
            }
            let Ok(mut intake) = civicgrid_proto::v1::intake_service_client::IntakeServiceClient::connect(intake).await
            else {
                return;
            };
            let rating = if rand::random::<u8>().is_multiple_of(6) { Rating::Dissatisfied } else { Rating::Satisfied };
            // The public status follows the task a moment later; retry until it does.
            for attempt in 0..10 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let rate = RateOutcomeRequest {
                    request_id: step(&format!("rate{attempt}")),
                    tracking_number: task.tracking_number.clone(),
                    rating: rating as i32,
                    comment: if rating == Rating::Dissatisfied {
                        "问题没有真正解决".into()
                    } else {
                        "处理及时".into()
                    },
                };
                if intake.rate_outcome(with_token(rate, &admin)).await.is_ok() {
                    println!("[demo] reporter of {} rated {}", task.tracking_number, rating.as_str_name());
                    break;
                }
            }
        });
    }
}

/// Plays the departments' own systems for notify: a webhook receiver on loopback, registered
/// for each department's duty desk as soon as a task is assigned to it; every signed call it
/// receives is checked and printed, so the console shows notifications going out.
pub async fn duty_desk_webhooks(notify: String, nats_url: String, secret: String, shutdown: Shutdown) {
    use civicgrid_notify::{
        channels::webhook::{SIGNATURE, TIMESTAMP},
        domain::signature,
    };
    use civicgrid_proto::v1::{RegisterWebhookRequest, notify_service_client::NotifyServiceClient};

    let hook_secret = format!("demo-webhook-{:032x}", rand::random::<u128>());
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            println!("[webhook] cannot listen for the demo receiver: {e}");
            return;
        }
    };
    let url = match listener.local_addr() {
        Ok(a) => format!("http://{a}/civicgrid"),
        Err(_) => return,
    };
    let checked = hook_secret.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
        let secret = checked.clone();
        async move {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let timestamp = header(TIMESTAMP).parse::<i64>().unwrap_or_default();
            let valid = signature::verify(
                secret.as_bytes(),
                &header(SIGNATURE),
                timestamp,
                &body,
                chrono::Utc::now().timestamp(),
                300,
            );
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let recipient = json["recipient"].as_str().unwrap_or_default();
            for n in json["notifications"].as_array().into_iter().flatten() {
                println!(
                    "[webhook] {recipient} <- {} ({}, signature {})",
                    n["title"].as_str().unwrap_or_default(),
                    n["priority"].as_str().unwrap_or_default(),
                    if valid { "valid" } else { "INVALID" }
                );
            }
            if valid { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNAUTHORIZED }
        }
    });
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await;
    });

    let Ok(nats) = async_nats::connect(&nats_url).await else { return };
    let Ok(mut assigned) = nats.subscribe("civicgrid.dispatch.task-assigned.>").await else { return };
    let admin = token(&secret, "admin", "");
    let mut registered = std::collections::HashSet::new();
    loop {
        let msg = tokio::select! {
            m = assigned.next() => m,
            _ = shutdown.cancelled() => return,
        };
        let Some(msg) = msg else { return };
        let Ok(task) = TaskEvent::decode(msg.payload.clone()) else { continue };
        if task.department_id.is_empty() || !registered.insert(task.department_id.clone()) {
            continue;
        }
        let Ok(mut client) = NotifyServiceClient::connect(notify.clone()).await else { continue };
        let request = RegisterWebhookRequest {
            recipient: format!("department:{}", task.department_id),
            url: url.clone(),
            secret: hook_secret.clone(),
            description: "civicgrid up demo receiver".into(),
            // One endpoint per department and run of `up`.
            request_id: format!("demo-{}-{}", std::process::id(), task.department_id).chars().take(64).collect(),
        };
        match client.register_webhook(with_token(request, &admin)).await {
            Ok(_) => println!("[webhook] registered {url} for department:{}", task.department_id),
            Err(e) => println!("[webhook] registering for {} failed: {}", task.department_id, e.message()),
        }
    }
}
