//! Bearer tokens and region scopes.

use civicgrid_kit::auth::{Claims, expiry_in, issue_token};
use civicgrid_proto::v1::{
    GetEventByTrackingNumberRequest, GetEventRequest, ListEventsRequest, intake_service_client::IntakeServiceClient,
};
use tonic::{Code, Request, metadata::MetadataValue, transport::Channel};

use crate::helpers::{report, spawn_app_with};

pub const SECRET: &str = "test-secret-0123456789";

pub fn token(role: &str, scope: &str) -> String {
    issue_token(
        SECRET,
        &Claims {
            sub: format!("{role}-1"),
            role: role.into(),
            department_id: String::new(),
            region_scope: scope.into(),
            exp: expiry_in(std::time::Duration::from_secs(600)),
            iss: None,
            aud: None,
        },
    )
    .unwrap()
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert("authorization", MetadataValue::try_from(format!("Bearer {token}")).unwrap());
    r
}

#[tokio::test]
async fn tokens_roles_and_region_scopes_are_enforced() {
    let app = spawn_app_with(&format!("[auth]\nhs256_secret = \"{SECRET}\"\n")).await;
    let mut client: IntakeServiceClient<Channel> = app.client.clone();

    let status = client.submit_event(report("auth-0001", "01.02.003", 32.98, 114.02)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .submit_event(authed(report("auth-0001", "01.02.003", 32.98, 114.02), "Bearer nonsense"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let citizen = token("citizen_app", "");
    let answer = client
        .submit_event(authed(report("auth-0002", "01.02.003", 32.98, 114.02), &citizen))
        .await
        .unwrap()
        .into_inner();
    // A citizen app follows its reports by tracking number, but cannot browse.
    let by_number = GetEventByTrackingNumberRequest { tracking_number: answer.tracking_number.clone() };
    assert!(client.get_event_by_tracking_number(authed(by_number, &citizen)).await.is_ok());
    let status = client.list_events(authed(ListEventsRequest::default(), &citizen)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // A grid worker of township 411602002 cannot report into 411602001, nor read it.
    let worker = token("grid_worker", "411602002");
    let status =
        client.submit_event(authed(report("auth-0003", "01.02.003", 32.98, 114.02), &worker)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let get = GetEventRequest { event_id: answer.event_id.clone() };
    assert_eq!(client.get_event(authed(get.clone(), &worker)).await.unwrap_err().code(), Code::PermissionDenied);

    // A county center sees its county, and only its county.
    let county = token("county_center", "411602");
    assert!(client.get_event(authed(get, &county)).await.is_ok());
    let mine = client.list_events(authed(ListEventsRequest::default(), &county)).await.unwrap().into_inner();
    assert_eq!(mine.events.len(), 1);
    let other = ListEventsRequest { region_code: "411603".into(), ..Default::default() };
    assert_eq!(client.list_events(authed(other, &county)).await.unwrap_err().code(), Code::PermissionDenied);

    // Health and reflection stay open for probes.
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr)).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let served =
        health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    assert_eq!(served.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    app.stop().await;
}
