//! Tokens for every role, signed with the test dispatch's secret, and requests carrying them.

use std::time::Duration;

use civicgrid_kit::auth::{Claims, expiry_in, issue_token};
use tonic::{Request, metadata::MetadataValue};

use super::SECRET;

fn token(sub: &str, role: &str, department_id: &str, region_scope: &str) -> String {
    issue_token(
        SECRET,
        &Claims {
            sub: sub.into(),
            role: role.into(),
            department_id: department_id.into(),
            region_scope: region_scope.into(),
            exp: expiry_in(Duration::from_secs(3600)),
            iss: None,
            aud: None,
        },
    )
    .expect("token")
}

/// A user of department `id`.
pub fn department(id: &str) -> String {
    token(&format!("user-of-{id}"), "department", id, "")
}

/// A center operator whose authority covers `scope`.
pub fn center(scope: &str) -> String {
    token(&format!("center-{scope}"), "center", "", scope)
}

/// A grid worker `sub` whose scope is `scope` (a grid code or a village code).
pub fn grid_worker(sub: &str, scope: &str) -> String {
    token(sub, "grid_worker", "", scope)
}

/// A city-wide administrator.
pub fn admin() -> String {
    token("admin-1", "admin", "", "")
}

/// Another city-wide administrator, with subject `sub` (its own idempotency key space).
pub fn admin_as(sub: &str) -> String {
    token(sub, "admin", "", "")
}

/// A citizen app (may not read tasks at all).
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
