//! The demo city and its life, as `civicgrid up` shows them: the generated city 周口市 loaded
//! into the services ([`city`]), the traffic generator that plays reports and the people who
//! work them ([`traffic`]), mediation committees and mediators ([`mediation`]), patrols
//! ([`patrol`]), duty desks' webhooks ([`webhooks`]), and a live line for every message on the
//! bus ([`bus`]). All of it goes through the suite's public gRPC and NATS interfaces.

use std::time::Duration;

use civicgrid_kit::auth;

mod bus;
pub mod city;
mod mediation;
mod patrol;
pub mod traffic;
mod webhooks;

pub use bus::tail_bus;
pub use mediation::work_cases;
pub use patrol::ride_patrols;
pub use webhooks::duty_desk_webhooks;

/// Connects to the suite's NATS with the login in `url` (`nats://user:password@host:port`).
async fn connect_nats(url: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    let mut options = async_nats::ConnectOptions::new();
    if let Some((user, password)) = civicgrid_kit::bus::url_login(url) {
        options =
            options.custom_inbox_prefix(civicgrid_kit::bus::inbox_prefix(&user)).user_and_password(user, password);
    }
    match civicgrid_kit::bus::servers(url) {
        Ok(servers) => options.connect(servers.as_slice()).await,
        Err(_) => options.connect(url).await,
    }
}

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

/// A grid worker's token: their account `gw-<grid>`, scoped to their village.
pub fn grid_worker_token(secret: &str, grid: &str, village: &str) -> String {
    let claims = auth::Claims {
        sub: format!("gw-{grid}"),
        role: "grid_worker".into(),
        department_id: String::new(),
        region_scope: village.into(),
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

/// `message` with `token` as its bearer token.
fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(v) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", v);
    }
    request
}
