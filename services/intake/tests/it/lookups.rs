//! Guessing by tracking number is limited: failed lookups (NOT_FOUND of GetEventByTrackingNumber
//! and RateOutcome, 404 of Open311's reads by number) spend a budget per client address and,
//! with a proof, per tracking number; past it every lookup is RESOURCE_EXHAUSTED (429) before
//! anything is looked up — the right proof too — while other clients and numbers go on. The
//! clients connect from distinct loopback addresses, as distinct hosts would.

use std::net::IpAddr;

use civicgrid_dev::infra::free_port;
use civicgrid_proto::v1::{
    GetEventByTrackingNumberRequest, RateOutcomeRequest, Rating, intake_service_client::IntakeServiceClient,
};
use tonic::{
    Code,
    transport::{Channel, Endpoint},
};

use crate::{
    helpers::{TestApp, report, spawn_app_with},
    security::{SECRET, authed, token},
};

/// A client of `app` connecting from `127.0.0.<host>`.
async fn client_from(app: &TestApp, host: u8) -> IntakeServiceClient<Channel> {
    let endpoint = Endpoint::from_shared(format!("http://{}", app.addr)).unwrap();
    let channel = endpoint.local_address(Some(IpAddr::from([127, 0, 0, host]))).connect().await.unwrap();
    IntakeServiceClient::new(channel)
}

fn lookup(number: &str, proof: &str) -> GetEventByTrackingNumberRequest {
    GetEventByTrackingNumberRequest { tracking_number: number.into(), phone_last4: proof.into() }
}

/// The number after `number` (not given out yet).
fn next(number: &str, by: u32) -> String {
    let (day, seq) = number.split_at(number.len() - 6);
    format!("{day}{:06}", seq.parse::<u32>().unwrap() + by)
}

#[tokio::test]
async fn failed_lookups_are_limited_per_number_and_per_client_address() {
    let limits = "[intake]\nfailed_lookups_per_minute = 4\nfailed_lookups_per_number_per_hour = 3\n";
    let app = spawn_app_with(&format!("[auth]\nhs256_secret = \"{SECRET}\"\n{limits}")).await;
    let citizen = token("citizen_app", "");
    let mut first = client_from(&app, 2).await;
    let number = first.submit_event(authed(report("guess-0001", "01.02.003", 32.98, 114.02), &citizen)).await;
    let number = number.unwrap().into_inner().tracking_number;

    // Hosts 3, 4 and 5 each guess the number's proof once, wrongly: NOT_FOUND three times
    // (the number's budget), then RESOURCE_EXHAUSTED, for host 6's wrong guess and for the
    // reporter's right proof alike, in GetEventByTrackingNumber and RateOutcome.
    for (host, proof) in [(3, "0001"), (4, "0002"), (5, "0003")] {
        let mut guesser = client_from(&app, host).await;
        let status = guesser.get_event_by_tracking_number(authed(lookup(&number, proof), &citizen)).await;
        assert_eq!(status.unwrap_err().code(), Code::NotFound, "guess {proof}");
    }
    let mut sixth = client_from(&app, 6).await;
    let status = sixth.get_event_by_tracking_number(authed(lookup(&number, "0004"), &citizen)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("tracking number"), "{}", status.message());
    let status = sixth.get_event_by_tracking_number(authed(lookup(&number, "5678"), &citizen)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "the right proof is refused too, or guessing would go on");
    let rate = RateOutcomeRequest {
        request_id: "guess-rate-1".into(),
        tracking_number: number.clone(),
        rating: Rating::Dissatisfied as i32,
        comment: String::new(),
        phone_last4: "5678".into(),
    };
    let status = sixth.rate_outcome(authed(rate, &citizen)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    // Staff give no proof: the number's budget does not hold them up.
    let by_staff = sixth.get_event_by_tracking_number(authed(lookup(&number, ""), &token("center", "411602")));
    assert_eq!(by_staff.await.unwrap().into_inner().tracking_number, number);

    // Host 7 counts numbers: four misses (its budget), then RESOURCE_EXHAUSTED whatever it
    // asks, even as staff. Host 8 is not held up by host 7.
    let mut seventh = client_from(&app, 7).await;
    for by in 1..=4 {
        let miss = seventh.get_event_by_tracking_number(authed(lookup(&next(&number, by), "5678"), &citizen));
        assert_eq!(miss.await.unwrap_err().code(), Code::NotFound, "miss {by}");
    }
    let status = seventh.get_event_by_tracking_number(authed(lookup(&next(&number, 5), "5678"), &citizen)).await;
    let status = status.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("address"), "{}", status.message());
    let by_staff = seventh.get_event_by_tracking_number(authed(lookup(&number, ""), &token("center", "411602")));
    assert_eq!(by_staff.await.unwrap_err().code(), Code::ResourceExhausted);
    let mut eighth = client_from(&app, 8).await;
    let miss = eighth.get_event_by_tracking_number(authed(lookup(&next(&number, 9), "5678"), &citizen)).await;
    assert_eq!(miss.unwrap_err().code(), Code::NotFound);
    app.stop().await;
}

#[tokio::test]
async fn open311_reads_by_number_spend_the_same_budget() {
    let port = free_port().unwrap();
    let app = spawn_app_with(&format!(
        "[intake]\nfailed_lookups_per_minute = 3\n[intake.open311]\nlisten = \"127.0.0.1:{port}\"\n\
         default_region = \"411602001\"\n"
    ))
    .await;
    let number = app.client.clone().submit_event(report("o311-guess-1", "01.02.003", 32.98, 114.02)).await;
    let number = number.unwrap().into_inner().tracking_number;
    let http_from = |host: u8| {
        let local = IpAddr::from([127, 0, 0, host]);
        reqwest::Client::builder().local_address(local).build().unwrap()
    };
    let get = |client: reqwest::Client, path: String| async move {
        let url = format!("http://127.0.0.1:{port}/open311/v2/{path}");
        let r = client.get(url).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };

    // Host 2: three unknown numbers are 404, the fourth 429; then a number that exists too.
    for by in 1..=3 {
        assert_eq!(get(http_from(2), format!("requests/{}.json", next(&number, by))).await.0, 404);
    }
    let (status, body) = get(http_from(2), format!("requests/{}.json", next(&number, 4))).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("\"code\":429") && body.contains("failed lookups"), "{body}");
    assert_eq!(get(http_from(2), format!("requests/{number}.json")).await.0, 429);
    // One budget for both doors: host 2's gRPC lookups wait too.
    let mut grpc = client_from(&app, 2).await;
    let status = grpc.get_event_by_tracking_number(lookup(&number, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);

    // Host 3 reads the request; a listing by number spends one failure per number not found.
    assert_eq!(get(http_from(3), format!("requests/{number}.json")).await.0, 200);
    let ids = [number.clone(), next(&number, 1), next(&number, 2), next(&number, 3)].join(",");
    let (status, body) = get(http_from(3), format!("requests.json?service_request_id={ids}")).await;
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (status, _) = get(http_from(3), format!("requests.json?service_request_id={}", next(&number, 4))).await;
    assert_eq!(status, 429, "the fourth miss of host 3");
    // Listings without numbers are not lookups by number.
    assert_eq!(get(http_from(4), "requests.json".into()).await.0, 200);
    app.stop().await;
}
