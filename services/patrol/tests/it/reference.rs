//! Teams, key places and routes: put, read, list, page; idempotent retries; fields named when
//! wrong; the caller's region enforced.

use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{
    GetRouteRequest, ListPlacesRequest, ListRoutesRequest, ListTeamsRequest, PutPlaceRequest, PutRouteRequest,
    PutTeamRequest, TeamKind,
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn teams_places_and_routes_are_put_read_listed_and_paged() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    let c = center(COUNTY);
    let t = app.put_team(team("t1", &["m1", "m2"]), &c).await;
    assert_eq!((t.version, t.region.as_ref().unwrap().township.as_str()), (1, TOWNSHIP));
    let t = app.put_team(team("t1", &["m1"]), &c).await;
    assert_eq!((t.version, t.members.len()), (2, 1));
    app.put_team(team("t2", &["m3"]), &c).await;
    app.put_place(place("school", 0.0, 0.0, 50.0), &c).await;
    let r = app.put_route(route("r1", true, vec![cp_place("a", "school"), cp("b", 500.0, 0.0, 30.0)]), &c).await;
    assert_eq!(r.version, 1);
    assert_eq!(r.checkpoints[0].name, "重点场所school", "an unnamed checkpoint takes its place's name");
    let mut client = app.client.clone();
    let got = client.get_route(authed(GetRouteRequest { route_id: "r1".into() }, &member("m1"))).await.unwrap();
    assert_eq!(got.into_inner(), r);

    let first = client
        .list_teams(authed(ListTeamsRequest { page_size: 1, ..Default::default() }, &c))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.teams.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), vec!["t1"]);
    let second = client
        .list_teams(authed(
            ListTeamsRequest { page_size: 1, page_token: first.next_page_token, ..Default::default() },
            &c,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.teams[0].id, "t2");
    assert!(second.next_page_token.is_empty());
    let volunteers = client
        .list_teams(authed(ListTeamsRequest { kind: TeamKind::Volunteer as i32, ..Default::default() }, &c))
        .await
        .unwrap()
        .into_inner();
    assert!(volunteers.teams.is_empty());
    let places = client.list_places(authed(ListPlacesRequest::default(), &c)).await.unwrap().into_inner();
    assert_eq!(places.places.len(), 1);
    let routes = client
        .list_routes(authed(ListRoutesRequest { region_code: VILLAGE.into(), ..Default::default() }, &c))
        .await
        .unwrap()
        .into_inner();
    assert!(routes.routes.is_empty(), "the route lies in the township, not inside the village");
    let routes = client.list_routes(authed(ListRoutesRequest::default(), &c)).await.unwrap().into_inner();
    assert_eq!(routes.routes.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_retried_put_answers_the_same_and_changes_nothing() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    let c = center(COUNTY);
    let mut client = app.client.clone();
    let request = PutTeamRequest { request_id: rid(), team: Some(team("t1", &["m1"])) };
    let a = client.put_team(authed(request.clone(), &c)).await.unwrap().into_inner();
    let b = client.put_team(authed(request, &c)).await.unwrap().into_inner();
    assert_eq!(a, b);
    assert_eq!(b.version, 1);
    app.stop().await;
}

#[tokio::test]
async fn bad_fields_are_named() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    let c = center(COUNTY);
    let mut client = app.client.clone();
    let mut t = team("t 1", &["m1"]);
    t.kind = 0;
    let r = client.put_team(authed(PutTeamRequest { request_id: rid(), team: Some(t.clone()) }, &c)).await;
    expect_invalid(r, "team.kind", "a team without a kind");
    let r = client.put_team(authed(PutTeamRequest { request_id: rid(), team: Some(t) }, &c)).await;
    expect_invalid(r, "team.id", "a team id with a space");
    let r =
        client.put_team(authed(PutTeamRequest { request_id: "short".into(), team: Some(team("t1", &[])) }, &c)).await;
    expect_invalid(r, "request_id", "a short request id");

    let mut p = place("p1", 0.0, 0.0, 60_000.0);
    let r = client.put_place(authed(PutPlaceRequest { request_id: rid(), place: Some(p.clone()) }, &c)).await;
    expect_invalid(r, "place.fence.circle.radius_m", "a 60 km circle");
    p.fence = None;
    let r = client.put_place(authed(PutPlaceRequest { request_id: rid(), place: Some(p) }, &c)).await;
    expect_invalid(r, "place.fence", "a place without a fence");

    let bad = route("r1", false, vec![cp_place("a", "nowhere")]);
    let r = client.put_route(authed(PutRouteRequest { request_id: rid(), route: Some(bad) }, &c)).await;
    expect_invalid(r, "route.checkpoints[0].place_id", "an unknown place");
    let bad = route("r1", false, vec![within(cp("a", 0.0, 0.0, 20.0), 30, 10), cp("a", 0.0, 0.0, 20.0)]);
    let r = client.put_route(authed(PutRouteRequest { request_id: rid(), route: Some(bad.clone()) }, &c)).await;
    expect_invalid(r, "route.checkpoints[0].window.from_start.max_minutes", "a window ending before it opens");
    let r = client.put_route(authed(PutRouteRequest { request_id: rid(), route: Some(bad) }, &c)).await;
    expect_invalid(r, "route.checkpoints[1].id", "a repeated checkpoint id");
    let r = client.get_route(authed(GetRouteRequest { route_id: "nowhere".into() }, &c)).await;
    expect_code(r, Code::NotFound, "an unknown route");
    app.stop().await;
}

#[tokio::test]
async fn a_center_acts_only_in_its_region_and_members_do_not_manage() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    let mut client = app.client.clone();
    let other = center(OTHER_COUNTY);
    let r =
        client.put_team(authed(PutTeamRequest { request_id: rid(), team: Some(team("t1", &["m1"])) }, &other)).await;
    expect_code(r, Code::PermissionDenied, "a team outside the center's county");
    let r = client
        .put_team(authed(PutTeamRequest { request_id: rid(), team: Some(team("t1", &["m1"])) }, &member("m1")))
        .await;
    expect_code(r, Code::PermissionDenied, "a member managing teams");
    app.put_team(team("t1", &["m1"]), &center(COUNTY)).await;
    let r =
        client.list_teams(authed(ListTeamsRequest { region_code: COUNTY.into(), ..Default::default() }, &other)).await;
    expect_code(r, Code::PermissionDenied, "listing another county");
    let mine = client.list_teams(authed(ListTeamsRequest::default(), &other)).await.unwrap().into_inner();
    assert!(mine.teams.is_empty(), "another county's center sees none of this county's teams");
    app.stop().await;
}
