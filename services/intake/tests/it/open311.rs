//! The Open311 GeoReport v2 facade, through a plain HTTP client: services in JSON and XML,
//! requests posted by point and by address, read back by id, token and listing (filters, pages,
//! the 90-day range), a retried POST not doubled, reporters' data sealed and never shown, a
//! private category kept out of the list, the status following dispatch's facts, and every
//! error in the standard body with its HTTP code and the field named.

use civicgrid_dev::infra::free_port;
use civicgrid_proto::v1::TaskStatus;
use serde::Deserialize;
use serde_json::Value;

use crate::{
    bus::{dispatch_stream, fact, publish_fact},
    helpers::{TestApp, eventually, spawn_app_with},
};

const KEY: &str = "test-open311-key-0001";

struct Open311 {
    base: String,
    http: reqwest::Client,
}

impl Open311 {
    async fn get(&self, path: &str) -> (u16, String) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn post(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self.http.post(format!("{}requests.json", self.base)).form(form).send().await.unwrap();
        let status = r.status().as_u16();
        (status, serde_json::from_str(&r.text().await.unwrap()).unwrap())
    }
}

async fn spawn() -> (TestApp, Open311) {
    let port = free_port().unwrap();
    let app = spawn_app_with(&format!(
        "[intake.open311]\nlisten = \"127.0.0.1:{port}\"\napi_keys = \"test-app:citizen_app:{KEY}\"\n\
         default_region = \"411602001\"\nprivate_categories = \"06\"\n"
    ))
    .await;
    (app, Open311 { base: format!("http://127.0.0.1:{port}/open311/v2/"), http: reqwest::Client::new() })
}

fn manhole() -> Vec<(&'static str, &'static str)> {
    vec![
        ("api_key", KEY),
        ("service_code", "01.02.003"),
        ("lat", "33.6261"),
        ("long", "114.6421"),
        ("address_id", "411602001001001"),
        ("address_string", "七一路 88 号门前"),
        ("description", "井盖缺失，夜间行人易跌落"),
        ("media_url", "https://img.example.org/manhole.jpg"),
        ("first_name", "三"),
        ("last_name", "张"),
        ("phone", "13812345678"),
        ("email", "zhangsan@example.org"),
        ("device_id", "device-0001"),
    ]
}

/// The one error of a 4xx answer: (HTTP status, its description).
fn the_error(status: u16, body: &Value) -> (u16, String) {
    let errors = body.as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["code"].as_u64(), Some(u64::from(status)), "{body}");
    (status, errors[0]["description"].as_str().unwrap().to_string())
}

#[derive(Debug, Deserialize)]
struct XmlServices {
    service: Vec<XmlService>,
}

#[derive(Debug, Deserialize)]
struct XmlService {
    service_code: String,
    service_name: String,
    metadata: bool,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct XmlRequests {
    request: Vec<XmlRequest>,
}

#[derive(Debug, Deserialize)]
struct XmlRequest {
    service_request_id: String,
    status: String,
    status_notes: String,
    lat: String,
    media_url: String,
}

#[derive(Debug, Deserialize)]
struct XmlErrors {
    error: Vec<XmlError>,
}

#[derive(Debug, Deserialize)]
struct XmlError {
    code: u16,
    description: String,
}

#[tokio::test]
async fn open311_serves_the_catalog_and_takes_requests_in_json_and_xml() {
    let (app, o) = spawn().await;

    // The services: the catalog's items, in both formats.
    let services = o.get_json("services.json").await;
    let list = services.as_array().unwrap();
    assert_eq!(list.len(), 432);
    let manhole_service = list.iter().find(|s| s["service_code"] == "01.02.003").unwrap();
    assert_eq!(manhole_service["service_name"], "井盖缺失");
    assert_eq!(
        (manhole_service["type"].as_str(), manhole_service["metadata"].as_bool()),
        (Some("realtime"), Some(true))
    );
    assert_eq!(manhole_service["group"], "市政设施");
    let (status, xml) = o.get("services.xml").await;
    assert_eq!(status, 200);
    let parsed: XmlServices = quick_xml::de::from_str(&xml).unwrap();
    assert_eq!(parsed.service.len(), 432);
    let s = parsed.service.iter().find(|s| s.service_code == "01.02.003").unwrap();
    assert_eq!((s.service_name.as_str(), s.metadata, s.kind.as_str()), ("井盖缺失", true, "realtime"));
    let definition = o.get_json("services/01.02.003.json").await;
    assert_eq!(definition["attributes"][0]["code"], "occurred_at");
    assert_eq!(definition["attributes"][0]["datatype"], "datetime");
    let (status, xml) = o.get("services/01.02.003.xml").await;
    assert!(status == 200 && xml.contains("<code>occurred_at</code>"), "{xml}");

    // A request by point, answered with its tracking number at once.
    let (status, answer) = o.post(&manhole()).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer[0]["service_request_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("411602-") && id.len() == 22, "{id}");
    assert!(answer[0]["account_id"].is_null());
    let token = answer[0]["token"].as_str().unwrap().to_string();

    // The same POST again (a retry) is answered the same and stores nothing new.
    let (status, again) = o.post(&manhole()).await;
    assert_eq!((status, &again), (200, &answer));
    let db = app.db().await;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&db).await.unwrap() }
    };
    assert_eq!(count("SELECT count(*) FROM events").await, 1);
    assert_eq!(count("SELECT count(*) FROM reports").await, 1);
    // The reporter's name and phone are sealed; email and device id are not kept.
    let (name, phone, masked): (Option<Vec<u8>>, Option<Vec<u8>>, String) =
        sqlx::query_as("SELECT name_sealed, phone_sealed, phone_masked FROM reporters").fetch_one(&db).await.unwrap();
    assert!(name.is_some() && phone.is_some());
    assert_eq!(masked, "138****5678");
    let stored: String =
        sqlx::query_scalar("SELECT row_to_json(r)::text FROM reporters r").fetch_one(&db).await.unwrap();
    assert!(!stored.contains("张三") && !stored.contains("zhangsan") && !stored.contains("device-0001"), "{stored}");
    let caller: String = sqlx::query_scalar("SELECT caller FROM submissions").fetch_one(&db).await.unwrap();
    assert_eq!(caller, "open311:test-app");

    // A request by address only: the default region places it.
    let mut by_address: Vec<(&str, &str)> =
        manhole().into_iter().filter(|(k, _)| !matches!(*k, "lat" | "long" | "address_id")).collect();
    by_address[1] = ("service_code", "03.01.001");
    by_address.push(("attribute[occurred_at]", "2000-01-01"));
    let (status, body) = o.post(&by_address).await;
    assert_eq!(status, 400, "an occurred_at older than a year is refused: {body}");
    assert!(the_error(400, &body).1.starts_with("attribute[occurred_at]: "), "{body}");
    by_address.pop();
    let (status, answer) = o.post(&by_address).await;
    assert_eq!(status, 200, "{answer}");
    let second = answer[0]["service_request_id"].as_str().unwrap().to_string();
    assert_ne!(second, id);

    // By id, JSON and XML: public fields only.
    let (status, body) = o.get(&format!("requests/{id}.json")).await;
    assert_eq!(status, 200);
    for secret in ["138", "张三", "zhangsan", "device-0001"] {
        assert!(!body.contains(secret), "{secret} shown: {body}");
    }
    let one: Value = serde_json::from_str(&body).unwrap();
    let r = &one[0];
    assert_eq!((r["status"].as_str(), r["service_code"].as_str()), (Some("open"), Some("01.02.003")));
    assert!(r["status_notes"].as_str().unwrap().starts_with("Received"), "{r}");
    assert_eq!((r["lat"].as_f64(), r["long"].as_f64()), (Some(33.6261), Some(114.6421)));
    assert_eq!(r["address"], "七一路 88 号门前");
    assert_eq!(r["address_id"], "411602001001001");
    assert_eq!(r["media_url"], "https://img.example.org/manhole.jpg");
    assert!(r["requested_datetime"].as_str().unwrap().ends_with("+08:00"), "{r}");
    let (status, xml) = o.get(&format!("requests/{id}.xml")).await;
    assert_eq!(status, 200);
    let parsed: XmlRequests = quick_xml::de::from_str(&xml).unwrap();
    let x = &parsed.request[0];
    assert_eq!((x.service_request_id.as_str(), x.status.as_str(), x.lat.as_str()), (id.as_str(), "open", "33.6261"));
    assert!(x.status_notes.starts_with("Received") && x.media_url.ends_with("manhole.jpg"));
    let addressed = &o.get_json(&format!("requests/{second}.json")).await[0];
    assert!(addressed["lat"].is_null() && addressed["address_id"] == "411602001", "{addressed}");

    // The token of a POST gives its tracking number.
    let t = o.get_json(&format!("tokens/{token}.json")).await;
    assert_eq!(t[0]["service_request_id"], id.as_str());

    // A private category is taken, but never shown: not listed, and by its number it answers
    // as a number that does not exist (404), in a listing by numbers too.
    let mut dispute = manhole();
    dispute[1] = ("service_code", "06.01.001");
    let (status, answer) = o.post(&dispute).await;
    assert_eq!(status, 200, "{answer}");
    let private_id = answer[0]["service_request_id"].as_str().unwrap().to_string();
    let (status, hidden) = o.get(&format!("requests/{private_id}.json")).await;
    let (absent_status, absent) = o.get("requests/411602-20200101-999999.json").await;
    assert_eq!((status, absent_status), (404, 404), "{hidden} / {absent}");
    assert_eq!(hidden.replace(&private_id, "N"), absent.replace("411602-20200101-999999", "N"));
    let listed = o.get_json(&format!("requests.json?service_request_id={private_id},{id}")).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // The listing: newest first, filters, pages.
    let ids = |v: Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(o.get_json("requests.json").await), [second.clone(), id.clone()]);
    assert_eq!(ids(o.get_json("requests.json?service_code=01.02.003,01.01.001").await), vec![id.as_str()]);
    assert_eq!(ids(o.get_json("requests.json?status=open").await).len(), 2);
    assert!(ids(o.get_json("requests.json?status=closed").await).is_empty());
    assert_eq!(ids(o.get_json("requests.json?page_size=1").await), vec![second.as_str()]);
    assert_eq!(ids(o.get_json("requests.json?page_size=1&page=2").await), vec![id.as_str()]);
    assert!(ids(o.get_json("requests.json?page_size=1&page=3").await).is_empty());
    let by_ids = format!("requests.json?service_request_id={id},{second}");
    assert_eq!(ids(o.get_json(&by_ids).await), [second.clone(), id.clone()]);
    assert!(ids(o.get_json("requests.json?start_date=2020-01-01&end_date=2020-03-01").await).is_empty());
    assert_eq!(ids(o.get_json("requests.json?jurisdiction_id=411600").await).len(), 2);
    let (status, xml) = o.get("requests.xml?page_size=5").await;
    assert_eq!(status, 200);
    assert_eq!(quick_xml::de::from_str::<XmlRequests>(&xml).unwrap().request.len(), 2);

    app.stop().await;
}

#[tokio::test]
async fn open311_errors_are_the_standard_body_with_the_right_code() {
    let (app, o) = spawn().await;
    let without = |name: &str| -> Vec<(&'static str, &'static str)> {
        manhole().into_iter().filter(|(k, _)| *k != name).collect()
    };
    let with = |name: &'static str, value: &'static str| -> Vec<(&'static str, &'static str)> {
        manhole().into_iter().map(|(k, v)| if k == name { (k, value) } else { (k, v) }).collect()
    };
    for (form, status, starts) in [
        (without("service_code"), 400, "service_code: is required"),
        (with("service_code", "99.99.999"), 400, "service_code: "),
        (with("lat", "91"), 400, "lat: "),
        (with("lat", "north"), 400, "lat: must be a number"),
        (without("phone"), 400, "phone: "),
        (with("api_key", "wrong-key-0000000000"), 403, "api_key"),
        (without("api_key"), 403, "api_key"),
    ] {
        let (got, body) = o.post(&form).await;
        let (code, description) = the_error(got, &body);
        assert_eq!(code, status, "{body}");
        assert!(description.starts_with(starts), "{description} should start with {starts}");
    }
    // Every problem at once.
    let (got, body) = o.post(&[("api_key", KEY), ("lat", "33.6")]).await;
    assert_eq!(got, 400);
    let fields: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["description"].as_str().unwrap().split(':').next().unwrap())
        .collect();
    assert_eq!(fields, ["service_code", "long", "description", "phone"]);

    let (status, body) = o.get("requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z").await;
    let (_, description) = the_error(status, &serde_json::from_str(&body).unwrap());
    assert_eq!(status, 400);
    assert!(description.starts_with("end_date: ") && description.contains("90 days"), "{description}");
    let (status, body) = o.get("requests.json?page=0&status=pending").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap().as_array().unwrap().len(), 2);
    for path in [
        "requests/411602-20261122-999999.json",
        "requests/not-a-number.json",
        "services/99.99.999.json",
        "tokens/01900000-0000-7000-8000-000000000000.json",
        "nothing.json",
    ] {
        let (status, body) = o.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        the_error(404, &serde_json::from_str(&body).unwrap());
    }
    // Errors in XML when XML was asked for.
    let (status, xml) = o.get("requests/411602-20261122-999999.xml").await;
    assert_eq!(status, 404);
    let errors: XmlErrors = quick_xml::de::from_str(&xml).unwrap();
    assert_eq!(errors.error[0].code, 404);
    assert!(errors.error[0].description.contains("411602-20261122-999999"));
    let r = o.http.post(format!("{}requests.xml", o.base)).form(&without("service_code")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let errors: XmlErrors = quick_xml::de::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!((errors.error[0].code, errors.error[0].description.as_str()), (400, "service_code: is required"));
    app.stop().await;
}

#[tokio::test]
async fn open311_status_follows_dispatch_to_closed() {
    let (app, o) = spawn().await;
    dispatch_stream(&app).await;
    let (_, answer) = o.post(&manhole()).await;
    let id = answer[0]["service_request_id"].as_str().unwrap().to_string();
    let event_id = answer[0]["token"].as_str().unwrap().to_string();
    publish_fact(&app.js, "o311-f1", "o311-n1", &fact(&event_id, "task-assigned", TaskStatus::Assigned, 1)).await;
    publish_fact(&app.js, "o311-f2", "o311-n2", &fact(&event_id, "task-closed", TaskStatus::Closed, 2)).await;
    let path = format!("requests.json?status=closed&service_request_id={id}");
    let client = &o;
    eventually("the request shows closed", || async move {
        let list = client.get_json("requests.json?status=closed").await;
        list.as_array().unwrap().len() == 1
    })
    .await;
    let closed = &o.get_json(&path).await[0];
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["status_notes"], "Verified and closed (已办结).");
    assert_eq!(closed["agency_responsible"], "chengguan");
    assert!(closed["updated_datetime"].as_str() >= closed["requested_datetime"].as_str(), "{closed}");
    app.stop().await;
}
