//! The demo city and the traffic `civicgrid up` shows: a few grids of 周口市川汇区 (411600 /
//! 411602) and common catalog items, reports submitted through intake's gRPC API as a grid
//! worker or a citizen would, the people who work them (departments, the center, reporters,
//! mediation committees and mediators, duty desks' webhooks), and a live line for every
//! message on the bus.

use std::time::Duration;

use civicgrid_kit::{Shutdown, auth};
use civicgrid_proto::v1::{
    EventSource, GeoPoint, Location, Reporter, SubmitEventRequest, intake_service_client::IntakeServiceClient,
};
use rand::{Rng, SeedableRng};

mod bus;
mod mediation;
mod patrol;
mod tasks;
mod webhooks;

pub use bus::tail_bus;
pub use mediation::work_cases;
pub use patrol::ride_patrols;
pub use tasks::work_tasks;
pub use webhooks::duty_desk_webhooks;

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
    ("06.01.004", "借款到期不还，双方多次争执"),
    ("06.02.007", "房东拒退租房押金，租户情绪激动"),
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

/// A demo token for one person (a mediator, a patrol member): their account id is the `sub`.
pub fn person_token(secret: &str, role: &str, sub: &str) -> String {
    let claims = auth::Claims {
        sub: sub.into(),
        role: role.into(),
        department_id: String::new(),
        region_scope: String::new(),
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

/// `message` with `token` as its bearer token.
fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(v) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", v);
    }
    request
}
