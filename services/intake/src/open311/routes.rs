//! The routes of GeoReport v2 under `/open311/v2`, each with a `.json` or `.xml` suffix:
//!
//! | route | what |
//! | --- | --- |
//! | `GET services.{fmt}` | the service list (the catalog's items) |
//! | `GET services/{code}.{fmt}` | a service's definition (its attributes) |
//! | `POST requests.{fmt}` | a new request (form-encoded, with `api_key`) |
//! | `GET requests.{fmt}` | public requests: filters, a date range of at most 90 days, pages |
//! | `GET requests/{id}.{fmt}` | one request by its tracking number |
//! | `GET tokens/{token}.{fmt}` | the tracking number of a POST's token |
//!
//! Reads by tracking number (`requests/{id}`, `requests?service_request_id=…`) spend the
//! client's failed-lookup budget for every number not found, and are answered 429 while it is
//! spent (crate::lookups). Tokens are UUIDv7 event ids: not guessable by counting.

use std::{collections::HashSet, net::SocketAddr, sync::Arc};

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, Path, RawQuery, State},
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use civicgrid_kit::region::{self, Level};
use serde::Serialize;

use super::{
    Facade,
    errors::Open311Error,
    model::{self, PostAnswer, TokenAnswer},
    post::{self, PostContext, field},
    query::{self, Format, MAX_IDS, comma_list, split_format},
    xml,
};
use crate::{
    domain::tracking,
    store::{ListFilter, Submission},
};

type Pairs = Vec<(String, String)>;

/// The routes over `facade`.
pub fn router(facade: Arc<Facade>) -> Router {
    Router::new()
        .route("/open311/v2/{file}", get(get_top).post(post_top))
        .route("/open311/v2/services/{file}", get(get_service))
        .route("/open311/v2/requests/{file}", get(get_request))
        .route("/open311/v2/tokens/{file}", get(get_token))
        .fallback(unknown)
        .with_state(facade)
}

/// `value` in `format`, with status 200.
fn answer<T: Serialize>(
    format: Format,
    value: &T,
    as_xml: impl FnOnce() -> Result<String, xml::XmlError>,
) -> Result<Response, Open311Error> {
    let broken = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "open311: writing an answer failed");
        Open311Error::Internal("writing the answer failed".into())
    };
    Ok(match format {
        Format::Json => {
            let body = serde_json::to_vec(value).map_err(|e| broken(&e))?;
            ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response()
        }
        Format::Xml => {
            let body = as_xml().map_err(|e| broken(&e))?;
            ([(header::CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response()
        }
    })
}

/// A list `items`, in `format`: a JSON array, or `<root><item>…</item></root>`.
fn answer_list<T: Serialize>(format: Format, root: &str, item: &str, items: &[T]) -> Result<Response, Open311Error> {
    answer(format, &items, || xml::list(root, item, items))
}

/// The answer of `result`: itself, or its error in `format` with its status.
fn finish(format: Format, result: Result<Response, Open311Error>) -> Response {
    let e = match result {
        Ok(r) => return r,
        Err(e) => e,
    };
    let items = e.items();
    let body = answer(format, &items, || xml::errors(&items));
    let mut response = body.unwrap_or_else(|_| (StatusCode::INTERNAL_SERVER_ERROR, "").into_response());
    *response.status_mut() = e.status();
    response
}

fn pairs_of(text: &[u8], what: &str) -> Result<Pairs, Open311Error> {
    serde_urlencoded::from_bytes(text).map_err(|_| Open311Error::bad(what, "is not form-urlencoded"))
}

/// The `jurisdiction_id` of a request: absent, or a city code.
fn jurisdiction(pairs: &Pairs) -> Result<Option<String>, Open311Error> {
    match field(pairs, "jurisdiction_id").map(str::trim).filter(|j| !j.is_empty()) {
        None => Ok(None),
        Some(j) if region::level(j) == Ok(Level::City) => Ok(Some(j.to_string())),
        Some(_) => Err(Open311Error::bad("jurisdiction_id", "must be the city code this server serves, e.g. 411600")),
    }
}

fn not_found(what: &str) -> Open311Error {
    Open311Error::NotFound(format!("{what} not found"))
}

async fn unknown(uri: Uri) -> Response {
    finish(query::format_of_path(uri.path()), Err(not_found("no such resource: use /open311/v2/… with .json or .xml;")))
}

async fn get_top(
    State(f): State<Arc<Facade>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some((name, format)) = split_format(&file) else { return finish(Format::Json, Err(not_found(&file))) };
    let result = match pairs_of(q.unwrap_or_default().as_bytes(), "query") {
        Err(e) => Err(e),
        Ok(pairs) => match name {
            "services" => services(&f, format, &pairs),
            "requests" => list_requests(&f, format, &pairs, peer).await,
            _ => Err(not_found(name)),
        },
    };
    finish(format, result)
}

fn services(f: &Facade, format: Format, pairs: &Pairs) -> Result<Response, Open311Error> {
    jurisdiction(pairs)?;
    let list: Vec<model::ServiceInfo> = f.catalog.services().iter().map(model::service_info).collect();
    answer_list(format, "services", "service", &list)
}

async fn get_service(State(f): State<Arc<Facade>>, Path(file): Path<String>) -> Response {
    let Some((code, format)) = split_format(&file) else { return finish(Format::Json, Err(not_found(&file))) };
    let result = match f.catalog.get(code) {
        None => Err(not_found(&format!("service {code}"))),
        Some(service) => {
            let d = model::definition(service);
            answer(format, &d, || xml::definition(&d))
        }
    };
    finish(format, result)
}

async fn post_top(
    State(f): State<Arc<Facade>>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((name, format)) = split_format(&file) else { return finish(Format::Json, Err(not_found(&file))) };
    let result = match name {
        "requests" => post_request(&f, format, q.as_deref().unwrap_or_default(), &headers, &body).await,
        _ => Err(not_found(name)),
    };
    finish(format, result)
}

async fn post_request(
    f: &Facade,
    format: Format,
    q: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Open311Error> {
    let form_type = "application/x-www-form-urlencoded";
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or(form_type);
    if !content_type.trim_start().starts_with(form_type) {
        return Err(Open311Error::bad("Content-Type", format!("must be {form_type}")));
    }
    let mut form = pairs_of(q.as_bytes(), "query")?;
    form.extend(pairs_of(body, "body")?);
    let key = field(&form, "api_key")
        .and_then(|k| f.keys.find(k.trim()))
        .ok_or_else(|| Open311Error::Forbidden("api_key: missing or invalid".into()))?;
    let now = f.clock.now();
    let ctx = PostContext { catalog: &f.catalog, default_region: f.default_region.as_deref(), offset: f.offset, now };
    let report = post::report(&form, key, &ctx)?;
    let submission = Submission { report, caller: key.principal(), now, span: tracing::Span::current() };
    let done = f.submitter.submit(submission).await?;
    tracing::info!(channel = %key.channel, event_id = %done.event_id, tracking = %done.tracking_number, merged = done.merged, "open311 request accepted");
    let notice = if done.merged {
        "Added to an open request about the same problem nearby (已合并); follow it with this number."
    } else {
        "Received (已受理); follow it with this number."
    };
    let answers = [PostAnswer {
        service_request_id: done.tracking_number,
        service_notice: Some(notice.to_string()),
        account_id: None,
        token: done.event_id,
    }];
    answer_list(format, "service_requests", "request", &answers)
}

/// The value of `r`, or `None` with its problems added to `problems`.
fn keep<T>(r: Result<T, Open311Error>, problems: &mut Vec<(String, String)>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(Open311Error::BadRequest(p)) => {
            problems.extend(p);
            None
        }
        Err(e) => {
            problems.push(("request".into(), e.to_string()));
            None
        }
    }
}

async fn list_requests(f: &Facade, format: Format, pairs: &Pairs, peer: SocketAddr) -> Result<Response, Open311Error> {
    let get = |name: &str| field(pairs, name);
    let mut problems = Vec::new();
    let city = keep(jurisdiction(pairs), &mut problems).flatten();
    let paging = keep(query::paging(get("page"), get("page_size")), &mut problems);
    let ids = comma_list(get("service_request_id"));
    let mut filter = ListFilter { city, ..Default::default() };
    if !ids.is_empty() {
        // Asked by number, as GeoReport v2 allows: the other filters are ignored.
        if ids.len() > MAX_IDS {
            problems.push(("service_request_id".into(), format!("at most {MAX_IDS} ids")));
        }
        filter.tracking_numbers = Some(ids);
    }
    // Private categories are never shown to this anonymous interface, not even by number:
    // numbers are sequential, and the category, department and dates of a dispute or a
    // public-order report are not public. Their reporters follow them in the citizens' app,
    // which proves the reporter's phone (GetEventByTrackingNumber).
    let private = f.catalog.private_categories();
    filter.hidden_categories = (!private.is_empty()).then_some(private);
    if filter.tracking_numbers.is_none() {
        let range = keep(query::date_range(get("start_date"), get("end_date"), f.clock.now(), f.offset), &mut problems);
        (filter.from, filter.to) = range.map_or((None, None), |(from, to)| (Some(from), Some(to)));
        let codes = comma_list(get("service_code"));
        filter.item_codes = (!codes.is_empty()).then_some(codes);
        let states = keep(query::statuses(get("status")), &mut problems).unwrap_or_default();
        let statuses: Vec<i16> = states.iter().flat_map(|s| s.event_statuses()).map(|s| *s as i16).collect();
        filter.statuses = (!statuses.is_empty()).then_some(statuses);
    }
    let Some((limit, offset)) = paging.filter(|_| problems.is_empty()) else {
        return Err(Open311Error::BadRequest(problems));
    };
    let events = match &filter.tracking_numbers {
        None => {
            filter.offset = offset;
            f.store.list_events(&filter, limit).await.map_err(|e| Open311Error::store("listing requests", e))?
        }
        Some(asked) => {
            // Asked by number: every number not found is a failed lookup, whatever the page,
            // so all of them (at most MAX_IDS) are read and the page is cut here.
            let attempt = f.lookups.admit(Some(peer.ip()), None)?;
            let all = f.store.list_events(&filter, MAX_IDS as i64).await;
            let all = all.map_err(|e| Open311Error::store("listing requests", e))?;
            let found: HashSet<&str> = all.iter().map(|e| e.tracking_number.as_str()).collect();
            let asked: HashSet<&str> = asked.iter().map(String::as_str).collect();
            for _ in asked.difference(&found) {
                attempt.failed()?;
            }
            all.into_iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(0))
                .collect()
        }
    };
    let ids: Vec<uuid::Uuid> = events.iter().filter_map(|e| uuid::Uuid::parse_str(&e.id).ok()).collect();
    let latest = f.store.latest_changes(&ids).await.map_err(|e| Open311Error::store("listing requests", e))?;
    let requests: Vec<model::ServiceRequest> = events
        .iter()
        .map(|e| {
            let last = uuid::Uuid::parse_str(&e.id).ok().and_then(|id| latest.get(&id));
            model::service_request(e, last, &f.catalog, f.offset)
        })
        .collect();
    answer_list(format, "service_requests", "request", &requests)
}

async fn get_request(
    State(f): State<Arc<Facade>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some((id, format)) = split_format(&file) else { return finish(Format::Json, Err(not_found(&file))) };
    let result = match f.lookups.admit(Some(peer.ip()), None) {
        Err(e) => Err(e.into()),
        Ok(attempt) => match one_request(&f, format, id, q.as_deref().unwrap_or_default()).await {
            // A number not found is a failed lookup; the one that spends the budget is a 429.
            Err(Open311Error::NotFound(m)) => {
                Err(attempt.failed().map_or_else(Into::into, |()| Open311Error::NotFound(m)))
            }
            other => other,
        },
    };
    finish(format, result)
}

async fn one_request(f: &Facade, format: Format, id: &str, q: &str) -> Result<Response, Open311Error> {
    let city = jurisdiction(&pairs_of(q.as_bytes(), "query")?)?;
    let missing = || not_found(&format!("request {id}"));
    if !tracking::is_tracking_number(id) {
        return Err(missing());
    }
    let read = |e| Open311Error::store("reading the request", e);
    let event_id = f.store.event_id_by_tracking_number(id).await.map_err(read)?.ok_or_else(missing)?;
    let event = f.store.get_event(event_id).await.map_err(read)?.ok_or_else(missing)?;
    // A private category's request answers as a missing one (see list_requests).
    if f.catalog.is_private(&event.item_code) {
        return Err(missing());
    }
    let region = event.location.as_ref().and_then(|l| l.region.clone()).unwrap_or_default();
    if city.is_some_and(|c| !region::contains(&c, &region)) {
        return Err(missing());
    }
    let last = model::latest_of(event_id, &event.history);
    let request = model::service_request(&event, last.as_ref(), &f.catalog, f.offset);
    answer_list(format, "service_requests", "request", &[request])
}

async fn get_token(State(f): State<Arc<Facade>>, Path(file): Path<String>) -> Response {
    let Some((token, format)) = split_format(&file) else { return finish(Format::Json, Err(not_found(&file))) };
    let missing = || not_found(&format!("token {token}"));
    let result = match uuid::Uuid::parse_str(token) {
        Err(_) => Err(missing()),
        Ok(id) => match f.store.get_event(id).await {
            Err(e) => Err(Open311Error::store("reading the token", e)),
            Ok(None) => Err(missing()),
            Ok(Some(event)) => {
                let answers = [TokenAnswer { service_request_id: event.tracking_number, token: token.to_string() }];
                answer_list(format, "service_requests", "request", &answers)
            }
        },
    };
    finish(format, result)
}
