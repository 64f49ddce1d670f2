//! Tokens for every role, signed with the test notify's secret, and requests that carry them.

use std::time::Duration;

use civicgrid_kit::auth::{Claims, expiry_in, issue_token};
use tonic::{Request, metadata::MetadataValue};

use super::{SECRET, VILLAGE};

pub fn token(sub: &str, role: &str, department: &str, scope: &str) -> String {
    let claims = Claims {
        sub: sub.into(),
        role: role.into(),
        department_id: department.into(),
        region_scope: scope.into(),
        exp: expiry_in(Duration::from_secs(3600)),
        iss: None,
        aud: None,
    };
    issue_token(SECRET, &claims).expect("token")
}

pub fn admin() -> String {
    token("admin-1", "admin", "", "")
}

pub fn department(dept: &str) -> String {
    token(&format!("{dept}-officer"), "department", dept, "")
}

pub fn center(scope: &str) -> String {
    token(&format!("center-{scope}"), "center", "", scope)
}

pub fn grid_worker(sub: &str) -> String {
    token(sub, "grid_worker", "", VILLAGE)
}

pub fn mediator(sub: &str) -> String {
    token(sub, "mediator", "", "")
}

pub fn patrol_member(sub: &str) -> String {
    token(sub, "patrol_member", "", "")
}

pub fn citizen_app() -> String {
    token("citizen-app-1", "citizen_app", "", "")
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert("authorization", MetadataValue::try_from(format!("Bearer {token}")).expect("header"));
    r
}
