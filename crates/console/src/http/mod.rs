//! The console's HTTP side: the page, its JSON API and the live feed.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` (`/app.js`, `/i18n.js`, `/app.css`) | the page, built into the binary |
//! | `GET /api/session` | who the token is, and whether tokens are checked |
//! | `GET /api/regions/{code}` (`/api/regions` for the top) | a region, its path and its children with polygons and figures |
//! | `GET /api/tasks?list=&region=&department=&item=&colour=&since=&limit=` | triage, overdue, escalated or open tasks |
//! | `POST /api/triage` | assign tasks of the triage queue by hand (dispatch `Triage`) |
//! | `GET /api/departments?region=` | departments seen in a county |
//! | `GET /api/kpis?region=&period=` | the KPI tiles, from dispatch, mediation and patrol |
//! | `GET /api/track/{number}` | an event's history across the services |
//! | `GET /api/live` | server-sent events: every new fact in the caller's scope |
//! | `GET /healthz` | 200 while NATS is connected, 503 otherwise (no token needed: for probes) |
//!
//! Every `/api` route takes the caller's bearer token (`Authorization`, or `?token=` where a
//! browser cannot set headers, as for `EventSource`), checks it as the services do, and passes it
//! on to the services it calls, so the services' own rules decide what the caller may see and do.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{FromRequestParts, Query},
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use civicgrid_kit::auth::{Authenticator, Principal};
use civicgrid_proto::v1::Role;
use serde::Deserialize;
use tokio::sync::{RwLock, broadcast};

use crate::{atlas::Atlas, clients::Clients, projection::FeedItem, projection::State};

mod api;
mod assets;
mod live;
mod track;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The read model.
    pub state: Arc<RwLock<State>>,
    /// The city's geometry.
    pub atlas: Arc<Atlas>,
    /// New feed lines as they are folded in.
    pub live: broadcast::Sender<FeedItem>,
    /// gRPC clients of the services.
    pub clients: Clients,
    /// Checks bearer tokens.
    pub auth: Authenticator,
    /// The NATS connection, whose state is the console's health.
    pub nats: async_nats::Client,
    /// Ends the live feeds at shutdown (a graceful stop waits for open connections).
    pub shutdown: civicgrid_kit::Shutdown,
}

/// The routes.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/app.js", get(assets::script))
        .route("/app.css", get(assets::style))
        .route("/i18n.js", get(assets::labels))
        .route("/api/session", get(api::session))
        .route("/api/regions", get(api::top_region))
        .route("/api/regions/{code}", get(api::region))
        .route("/api/tasks", get(api::tasks))
        .route("/api/triage", post(api::triage))
        .route("/api/departments", get(api::departments))
        .route("/api/kpis", get(api::kpis))
        .route("/api/track/{number}", get(track::track))
        .route("/api/live", get(live::live))
        .route("/healthz", get(health))
        .with_state(app)
}

/// `GET /healthz`: the console can show the bus only while NATS is connected; the services it
/// calls have their own health.
async fn health(axum::extract::State(app): axum::extract::State<AppState>) -> (StatusCode, &'static str) {
    match app.nats.connection_state() {
        async_nats::connection::State::Connected => (StatusCode::OK, "serving\n"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "nats not connected\n"),
    }
}

/// An API error: a status and a message the page shows.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    /// 400 naming the wrong parameter.
    pub fn bad(field: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, format!("{field}: {why}"))
    }

    /// 404.
    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, what.to_string())
    }
}

impl From<tonic::Status> for ApiError {
    /// A service's answer, passed on with the nearest HTTP status.
    fn from(s: tonic::Status) -> ApiError {
        use tonic::Code;
        let status = match s.code() {
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::Unavailable | Code::DeadlineExceeded => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        };
        ApiError(status, s.message().to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

/// The caller of an API route: who the token says, and the token to pass on.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// The bearer token as given, if any.
    pub token: Option<String>,
}

/// Roles that may use the console: the command centers and administrators.
const CONSOLE_ROLES: &[Role] = &[Role::Center, Role::CountyCenter, Role::Admin];

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Caller, ApiError> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        let query = Query::<TokenQuery>::try_from_uri(&parts.uri).ok().and_then(|q| q.0.token);
        let header = header.or_else(|| query.map(|t| format!("Bearer {t}")));
        let principal = app
            .auth
            .authenticate(header.as_deref())
            .map_err(|s| ApiError(StatusCode::UNAUTHORIZED, s.message().into()))?;
        if !principal.has_role(CONSOLE_ROLES) {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                format!("the console is for command centers; role {} may not use it", principal.role.as_str_name()),
            ));
        }
        let token = header.and_then(|h| h.strip_prefix("Bearer ").map(str::trim).map(str::to_string));
        Ok(Caller { principal, token })
    }
}

impl Caller {
    /// NOT_FOUND (so scopes do not tell what exists) unless the region or grid `code` is
    /// within the caller's scope, by the kit's one scope rule (`Principal::covers_code`).
    pub fn check_region(&self, code: &str) -> Result<(), ApiError> {
        if self.principal.covers_code(code) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("region {code} is outside your scope")))
        }
    }

    /// `request` carrying the caller's token.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(t) = &self.token
            && let Ok(v) = format!("Bearer {t}").parse()
        {
            request.metadata_mut().insert("authorization", v);
        }
        request
    }
}
