//! Tokens for every role, signed with the tests' secret, and requests carrying them.

use std::time::Duration;

use civicgrid_kit::auth::{Claims, expiry_in, issue_token};
use tonic::{Request, metadata::MetadataValue};

use super::SECRET;

fn token(sub: &str, role: &str, department_id: &str, region_scope: &str) -> String {
    let claims = Claims {
        sub: sub.into(),
        role: role.into(),
        department_id: department_id.into(),
        region_scope: region_scope.into(),
        exp: expiry_in(Duration::from_secs(3600)),
        iss: None,
        aud: None,
    };
    issue_token(SECRET, &claims).expect("token")
}

/// A city-wide administrator.
pub fn admin() -> String {
    token("admin-1", "admin", "", "")
}

/// Mediator `id` (the `sub` of their tokens).
pub fn mediator(id: &str) -> String {
    token(id, "mediator", "", "")
}

/// A user of department `id`: an organisation (`411602001001-cw`) or a justice office
/// (`411602001-sifa`).
pub fn department(id: &str) -> String {
    token(&format!("user-of-{id}"), "department", id, "")
}

/// A command center over `scope`.
pub fn center(scope: &str) -> String {
    token(&format!("center-{scope}"), "center", "", scope)
}

/// A county center over `scope` (reads, does not act).
pub fn county_center(scope: &str) -> String {
    token(&format!("county-center-{scope}"), "county_center", "", scope)
}

/// A party's app.
pub fn citizen() -> String {
    token("citizen-app-1", "citizen_app", "", "")
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert("authorization", MetadataValue::try_from(format!("Bearer {token}")).unwrap());
    r
}

/// A fresh idempotency key.
pub fn rid() -> String {
    format!("req-{}", uuid::Uuid::now_v7().simple())
}
