//! The reference data: the versions in force, a new set loaded by an administrator (checked as
//! a whole, idempotent by request id) and put in force at once, organisations and mediators
//! listed from it with their load.

use civicgrid_kit::{clock::Clock, grpc::field_violations};
use civicgrid_mediation::reference::ReferenceFiles;
use civicgrid_proto::v1::{
    GetMediationReferenceVersionsRequest, ListMediatorsRequest, ListOrganisationsRequest,
    LoadMediationReferenceDataRequest,
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn reference_data_loads_and_lists() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let mut client = app.client.clone();
    let versions = client
        .get_mediation_reference_versions(authed(GetMediationReferenceVersionsRequest {}, &mediator(MEDIATOR)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((versions.organisations.as_str(), versions.mediators.as_str()), ("2026.12.1", "2026.12.1"));
    assert!(versions.loaded_at.is_some());

    // Organisations of the township: its committee, its villages', the county's professional ones.
    let orgs = client
        .list_organisations(authed(ListOrganisationsRequest { region_code: TOWNSHIP.into() }, &citizen()))
        .await
        .unwrap()
        .into_inner()
        .organisations;
    let ids: Vec<&str> = orgs.iter().map(|o| o.id.as_str()).collect();
    for id in ["411602001-tw", ORGANISATION, OTHER_ORGANISATION, "411602-labour"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert!(!ids.iter().any(|id| id.starts_with("411602002")), "{ids:?}");

    // A new set with one more mediator.
    let mut files = ReferenceFiles::shipped();
    files.mediators = files.mediators.replace("version = \"2026.12.1\"", "version = \"2026.12.2\"");
    files.mediators.push_str(
        "\n[[mediators]]\nid = \"med-411602001001-cw-09\"\nname = \"赵新民\"\norganisation = \"411602001001-cw\"\nspecialties = [\"neighbour\"]\n",
    );
    let load = LoadMediationReferenceDataRequest {
        request_id: rid(),
        organisations_toml: files.organisations.clone(),
        mediators_toml: files.mediators.clone(),
        calendar_toml: files.calendar.clone(),
    };
    expect_code(
        client.load_mediation_reference_data(authed(load.clone(), &department(ORGANISATION))).await,
        Code::PermissionDenied,
        "a department loads",
    );
    let loaded = client.load_mediation_reference_data(authed(load.clone(), &admin())).await.unwrap().into_inner();
    assert_eq!(loaded.mediators, "2026.12.2");
    // A retry answers the first load, even with other files.
    let retry = LoadMediationReferenceDataRequest { mediators_toml: ReferenceFiles::shipped().mediators, ..load };
    let again = client.load_mediation_reference_data(authed(retry, &admin())).await.unwrap().into_inner();
    assert_eq!(again, loaded);
    let now = client
        .get_mediation_reference_versions(authed(GetMediationReferenceVersionsRequest {}, &admin()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.mediators, "2026.12.2");

    // The new mediator is listed, with the organisation's load.
    app.open(application(VILLAGE), &admin()).await;
    let listed = client
        .list_mediators(authed(
            ListMediatorsRequest { organisation_id: ORGANISATION.into(), ..Default::default() },
            &admin(),
        ))
        .await
        .unwrap()
        .into_inner()
        .mediators;
    let load_of = |id: &str| listed.iter().find(|m| m.id == id).map(|m| m.open_cases);
    assert_eq!(load_of("med-411602001001-cw-09"), Some(0));
    assert_eq!(load_of(MEDIATOR), Some(1));

    // A set that does not check names the file of each problem; nothing changes.
    let mut broken = ReferenceFiles::shipped();
    broken.mediators.push_str("\n[[mediators]]\nid = \"m-x\"\nname = \"x\"\norganisation = \"nowhere\"\n");
    broken
        .organisations
        .push_str("\n[[organisations]]\nid = \"x\"\nname = \"x\"\nkind = \"club\"\nregion = \"411602\"\n");
    let bad = LoadMediationReferenceDataRequest {
        request_id: rid(),
        organisations_toml: broken.organisations,
        mediators_toml: broken.mediators,
        calendar_toml: broken.calendar,
    };
    let status = expect_code(
        client.load_mediation_reference_data(authed(bad, &admin())).await,
        Code::InvalidArgument,
        "broken set",
    );
    let fields: Vec<String> = field_violations(&status).into_iter().map(|(f, _)| f).collect();
    assert!(
        fields.contains(&"mediators_toml".to_string()) && fields.contains(&"organisations_toml".to_string()),
        "{fields:?}"
    );
    let still = client
        .get_mediation_reference_versions(authed(GetMediationReferenceVersionsRequest {}, &admin()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still.mediators, "2026.12.2");
    app.stop().await;
}
