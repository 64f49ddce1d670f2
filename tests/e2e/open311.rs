//! The Open311 GeoReport v2 facade of the running suite, through a plain HTTP client: a citizen
//! app posts a report, lists it, and sees it closed with its notes once dispatch's department
//! and center have handled it (through dispatch's gRPC API, as closed_loop.rs does); then the
//! curl walkthrough of docs/open311.md, run as written.

use std::{process::Command, time::Duration};

use civicgrid_e2e::Suite;
use civicgrid_proto::v1::{ResolveRequest, TaskRequest, TaskStatus, dispatch_service_client::DispatchServiceClient};
use serde_json::Value;

use crate::{
    closed_loop::lead_task,
    common::{as_, token},
    readme::sh_blocks_of,
};

/// The demo api key `civicgrid up` gives intake (bin/civicgrid/src/registry.rs).
const DEMO_KEY: &str = "civicgrid-demo-open311-key";

/// The address the docs use for the facade.
const DOCS_ADDR: &str = "127.0.0.1:8311";

/// `civicgrid up` (its facade on a free port, `--open311-port`); returns the suite and the
/// facade's address.
fn suite_with_open311(flags: &'static [&'static str]) -> (Suite, String) {
    let suite = Suite::up(flags);
    let addr = suite.open311.clone();
    (suite, addr)
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    let r = http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open311_report_is_listed_and_closes_when_dispatch_closes_it() {
    let (suite, addr) = tokio::task::spawn_blocking(|| suite_with_open311(&["--no-demo", "--quiet"])).await.unwrap();
    let base = format!("http://{addr}/open311/v2");
    let http = reqwest::Client::new();

    // A citizen at grid 411602001001001 (七一路社区), so dispatch routes it to 陈州街道's 城管.
    let form = [
        ("api_key", DEMO_KEY),
        ("service_code", "01.02.003"),
        ("address_id", "411602001001001"),
        ("lat", "33.6261"),
        ("long", "114.6421"),
        ("description", "井盖缺失，夜间行人易跌落"),
        ("first_name", "四"),
        ("last_name", "李"),
        ("phone", "13912345678"),
    ];
    let r = http.post(format!("{base}/requests.json")).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let answer: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let id = answer[0]["service_request_id"].as_str().unwrap().to_string();
    let event_id = answer[0]["token"].as_str().unwrap().to_string();

    // Listed, open.
    let listed = get_json(&http, &format!("{base}/requests.json?service_code=01.02.003")).await;
    let mine = listed.as_array().unwrap().iter().find(|r| r["service_request_id"] == id.as_str()).unwrap().clone();
    assert_eq!(mine["status"], "open");
    assert!(!mine.to_string().contains("13912345678") && !mine.to_string().contains("李四"), "{mine}");

    // Dispatch routes it; the department handles it; the center verifies and closes it.
    let mut dispatch = DispatchServiceClient::connect(format!("http://{}", suite.dispatch)).await.unwrap();
    let task = lead_task(&mut dispatch, &event_id, TaskStatus::Assigned).await;
    let department = token("department", &task.department_id);
    let center = token("center", "");
    let step = |name: &str| TaskRequest { request_id: format!("o311-{name}-0001"), task_id: task.id.clone() };
    dispatch.sign_for(as_(step("sign"), &department)).await.unwrap();
    let resolve = ResolveRequest {
        request_id: "o311-resolve-0001".into(),
        task_id: task.id.clone(),
        result: "已补装井盖".into(),
        evidence_urls: vec![],
    };
    dispatch.resolve(as_(resolve, &department)).await.unwrap();
    dispatch.verify(as_(step("verify"), &center)).await.unwrap();
    dispatch.close(as_(step("close"), &center)).await.unwrap();

    // The facade shows it closed, with its notes and the department.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let closed = loop {
        let list = get_json(&http, &format!("{base}/requests.json?status=closed")).await;
        if let Some(r) = list.as_array().unwrap().iter().find(|r| r["service_request_id"] == id.as_str()) {
            break r.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{id} never listed as closed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(closed["status_notes"], "Verified and closed (已办结).");
    assert_eq!(closed["agency_responsible"], task.department_id.as_str());
    let by_id = get_json(&http, &format!("{base}/requests/{id}.json")).await;
    assert_eq!(by_id[0]["status"], "closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_curl_walkthrough_of_docs_open311_md_runs_as_written() {
    let (_suite, addr) = tokio::task::spawn_blocking(|| suite_with_open311(&["--no-demo", "--quiet"])).await.unwrap();
    let blocks = sh_blocks_of("docs/open311.md", "### A walkthrough with curl");
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    // `curl` aimed at this suite's facade.
    let prelude = format!(
        "set -euo pipefail\ncurl() {{\n  local a=()\n  for x in \"$@\"; do a+=(\"${{x//{DOCS_ADDR}/{addr}}}\"); done\n  \
         command curl --max-time 20 \"${{a[@]}}\"\n}}\n"
    );
    let out = Command::new("bash").arg("-c").arg(format!("{prelude}{}", blocks[0])).output().expect("bash");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "docs/open311.md walkthrough failed:\n{text}");
    assert!(text.contains("432 services; 01.02.003 井盖缺失"), "{text}");
    assert!(text.contains("<code>occurred_at</code>"), "{text}");
    assert!(text.contains("tracking number 411602-"), "{text}");
    // Received, or already dispatched if dispatch was quick.
    assert!(text.contains("\nopen: "), "{text}");
    assert!(text.contains("\"description\":\"service_code: is required\""), "{text}");
    assert!(text.contains("HTTP 400"), "{text}");
    assert!(text.contains("HTTP 403"), "{text}");
}
