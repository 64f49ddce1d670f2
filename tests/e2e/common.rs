//! What several end-to-end tests share: tokens, requests with a token, waiting for an inbox.

use std::time::Duration;

use civicgrid_kit::auth::{Claims, expiry_in, issue_token};
use civicgrid_proto::v1::{ListInboxRequest, notify_service_client::NotifyServiceClient};
use tonic::{Request, transport::Channel};

/// `civicgrid up` runs without token checking, so claims are taken as given: enough to act
/// as a department or a center.
pub(crate) fn token(role: &str, department: &str) -> String {
    let claims = Claims {
        sub: format!("e2e-{role}-{department}"),
        role: role.into(),
        department_id: department.into(),
        region_scope: String::new(),
        exp: expiry_in(Duration::from_secs(3600)),
        iss: None,
        aud: None,
    };
    issue_token("unchecked", &claims).unwrap()
}

/// A mediator's token: their id is the `sub`.
pub(crate) fn mediator_token(mediator_id: &str) -> String {
    person_token("mediator", mediator_id)
}

/// A token for one person in `role` (a mediator, a patrol member): their id is the `sub`.
pub(crate) fn person_token(role: &str, sub: &str) -> String {
    let claims = Claims {
        sub: sub.into(),
        role: role.into(),
        department_id: String::new(),
        region_scope: String::new(),
        exp: expiry_in(Duration::from_secs(3600)),
        iss: None,
        aud: None,
    };
    issue_token("unchecked", &claims).unwrap()
}

/// `message` with `token` as its bearer token.
pub(crate) fn as_<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// Waits until `recipient`'s inbox holds a notification about each of `facts`.
pub(crate) async fn inbox_has(notify: &mut NotifyServiceClient<Channel>, recipient: &str, facts: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let req = ListInboxRequest { recipient: recipient.into(), page_size: 100, ..Default::default() };
        let inbox = notify.list_inbox(req).await.unwrap().into_inner().notifications;
        if facts.iter().all(|f| inbox.iter().any(|n| n.fact == *f)) {
            return;
        }
        let got: Vec<&str> = inbox.iter().map(|n| n.fact.as_str()).collect();
        assert!(tokio::time::Instant::now() < deadline, "{recipient} was told of {got:?}, not all of {facts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
