//! Tokens for every role, signed with the tests' secret, and requests carrying them.

use std::time::Duration;

use civicgrid_kit::auth::{Claims, expiry_in, issue_token};
use tonic::{Request, metadata::MetadataValue};

use super::SECRET;

fn token(sub: &str, role: &str, region_scope: &str) -> String {
    let claims = Claims {
        sub: sub.into(),
        role: role.into(),
        department_id: String::new(),
        region_scope: region_scope.into(),
        exp: expiry_in(Duration::from_secs(3600)),
        iss: None,
        aud: None,
    };
    issue_token(SECRET, &claims).expect("token")
}

/// A city-wide administrator.
pub fn admin() -> String {
    token("admin-1", "admin", "")
}

/// A command center over `scope`.
pub fn center(scope: &str) -> String {
    token(&format!("center-{scope}"), "center", scope)
}

/// Patrol member `id`.
pub fn member(id: &str) -> String {
    token(id, "patrol_member", "")
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
