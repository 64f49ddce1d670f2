//! The Open311 GeoReport v2 facade (docs/open311.md): an HTTP server inside intake, on
//! `intake.open311.listen`, for citizens' apps that speak Open311.
//!
//! It is a door, not a second intake: a POST is validated by intake's own rules
//! (`domain::validate`) and goes through the same group-commit queue as `SubmitEvent`
//! ([`crate::batcher`]), with its idempotency, duplicate merging and PII sealing; the reads use
//! the store's event reads. What it adds is Open311's shape:
//!
//! | module | holds |
//! | --- | --- |
//! | `routes` | the axum routes and handlers |
//! | `catalog` | the services: the items of a `catalog.toml` |
//! | `keys` | the api keys and the idempotency key of a POST |
//! | `post` | a POST's form as a `SubmitEventRequest`, problems named by Open311 field |
//! | `query` | format suffix, date range, paging and filters of a GET (pure) |
//! | `status` | civicgrid's public status as `open`/`closed` with notes (pure) |
//! | `model` | the answers, and an event as a public service request (pure) |
//! | `xml` | the XML form of the answers |
//! | `errors` | Open311's error answers |

mod catalog;
mod errors;
mod keys;
mod model;
mod post;
mod query;
mod routes;
mod status;
mod xml;

use std::sync::Arc;

use chrono::FixedOffset;
use civicgrid_kit::{
    Shutdown,
    clock::Clock,
    config::{ConfigError, ExposeSecret},
    region,
    runtime::StartError,
};
use tokio::net::TcpListener;

pub use catalog::{SHIPPED as SHIPPED_CATALOG, ServiceCatalog};
pub use errors::Open311Error;
pub use keys::ApiKeys;
pub use status::{Open311Status, open311_status, status_notes};

use crate::{batcher::Submitter, config::Open311Settings, lookups::FailedLookups, store::Store};

/// What the handlers share.
pub struct Facade {
    store: Arc<Store>,
    submitter: Submitter,
    clock: Clock,
    catalog: ServiceCatalog,
    keys: ApiKeys,
    default_region: Option<String>,
    offset: FixedOffset,
    /// The failed-lookup budgets, shared with the gRPC API: a request asked by number and not
    /// found spends the client's.
    lookups: Arc<FailedLookups>,
}

/// The settings' parts that need checking, checked: the api keys, the default region and the
/// private categories. Errors name the key.
pub fn check(s: &Open311Settings) -> Result<(ApiKeys, Option<String>, Vec<String>), ConfigError> {
    let keys_text = s.api_keys.as_ref().map(|k| k.expose_secret()).unwrap_or_default();
    let keys =
        ApiKeys::parse(keys_text).map_err(|reason| ConfigError::Invalid { key: "intake.open311.api_keys", reason })?;
    let default_region = Some(s.default_region.trim()).filter(|r| !r.is_empty()).map(str::to_string);
    if let Some(r) = &default_region {
        region::path_of(r).map_err(|e| ConfigError::Invalid {
            key: "intake.open311.default_region",
            reason: format!("`{r}`: {e}; give a county, township or village code"),
        })?;
    }
    let private = catalog::parse_categories(&s.private_categories)
        .map_err(|reason| ConfigError::Invalid { key: "intake.open311.private_categories", reason })?;
    Ok((keys, default_region, private))
}

impl Facade {
    /// The facade over intake's `store` and `submitter`, as `s` configures it, spending failed
    /// lookups from `lookups`; the catalog is read here (a file that does not read stops
    /// start-up).
    pub fn new(
        s: &Open311Settings,
        offset: FixedOffset,
        store: Arc<Store>,
        submitter: Submitter,
        clock: Clock,
        lookups: Arc<FailedLookups>,
    ) -> Result<Self, StartError> {
        let (keys, default_region, private) = check(s)?;
        let path = s.catalog_file.trim();
        let text = if path.is_empty() {
            catalog::SHIPPED.to_string()
        } else {
            std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
                key: "intake.open311.catalog_file",
                reason: format!("reading {path}: {e}"),
            })?
        };
        let catalog = ServiceCatalog::from_toml(&text, &private)
            .map_err(|reason| ConfigError::Invalid { key: "intake.open311.catalog_file", reason })?;
        if keys.is_empty() {
            tracing::warn!("open311: no api keys (intake.open311.api_keys): every POST answers 403");
        }
        Ok(Facade { store, submitter, clock, catalog, keys, default_region, offset, lookups })
    }
}

/// Binds `intake.open311.listen`; `None` when it is empty (the facade is off).
pub async fn bind(s: &Open311Settings) -> Result<Option<TcpListener>, StartError> {
    let listen = s.listen.trim();
    if listen.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind(listen).await.map_err(|source| StartError::Bind {
        what: "intake.open311.listen",
        addr: listen.to_string(),
        source,
    })?;
    Ok(Some(listener))
}

/// Serves the facade on `listener` until `stop` (the service stops taking calls), then
/// finishes the requests in flight.
pub async fn serve(listener: TcpListener, facade: Arc<Facade>, stop: Shutdown) {
    use axum::serve::ListenerExt;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, services = facade.catalog.services().len(), "open311 serving");
    }
    let listener = listener.tap_io(|tcp| {
        // A lone small answer must not wait for the client's delayed ACK.
        let _ = tcp.set_nodelay(true);
    });
    // The client's address: failed lookups are limited per address.
    let app = routes::router(facade).into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await {
        tracing::error!(error = %e, "open311 server failed");
    }
}
