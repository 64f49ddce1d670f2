//! GetStats over a period with known figures: November 2026 in 陈州街道, four cases opened
//! (one transferred in by a court), two accepted (2,000 and 1,000 yuan), one agreement after
//! 10 days and one failure after 4, one refusal; a case opened in December does not count.

use civicgrid_kit::{clock::Clock, time::to_proto};
use civicgrid_proto::v1::{
    CaseReasonRequest, CaseSource, GetMediationStatsRequest, MediationStats, MediationStatsRow, OpenCaseRequest,
    TimeRange,
};

use crate::helpers::*;

impl TestApp {
    async fn stats(&self, region: &str, group_by: &str, token: &str) -> MediationStats {
        let req = GetMediationStatsRequest {
            period: Some(TimeRange {
                from: Some(to_proto(local("2026-11-01 00:00"))),
                to: Some(to_proto(local("2026-12-01 00:00"))),
            }),
            region_code: region.into(),
            group_by: group_by.into(),
        };
        self.client.clone().get_stats(authed(req, token)).await.expect("stats").into_inner()
    }
}

fn row<'a>(stats: &'a MediationStats, key: &str) -> &'a MediationStatsRow {
    stats.rows.iter().find(|r| r.key == key).unwrap_or_else(|| panic!("no row {key}: {stats:?}"))
}

#[tokio::test]
async fn the_figures_of_a_period() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let token = admin();
    let a = app.open(application(VILLAGE), &token).await;
    let b = app.open(OpenCaseRequest { amount_involved: Some(yuan(1000)), ..application(OTHER_VILLAGE) }, &token).await;
    let c = app.open(application(VILLAGE), &token).await;
    let court = OpenCaseRequest {
        source: CaseSource::Court as i32,
        external_reference: "(2026)豫1602民初1234号".into(),
        ..application(OTHER_VILLAGE)
    };
    app.open(court, &token).await;
    app.accept(&a.id, &token).await;
    app.accept(&b.id, &token).await;
    let refuse =
        CaseReasonRequest { request_id: rid(), case_id: c.id.clone(), reason: "不属于人民调解范围".into() };
    app.client.clone().refuse_case(authed(refuse, &token)).await.unwrap();
    app.set_time(local("2026-11-20 09:00"));
    app.fail(&b.id, &token).await;
    app.set_time(local("2026-11-26 09:00"));
    app.hold_session(&a.id, &token).await;
    app.agree(&a.id, &token).await;
    app.set_time(local("2026-12-02 09:00"));
    app.open(application(VILLAGE), &token).await;

    let whole = app.stats(TOWNSHIP, "", &token).await;
    assert_eq!(whole.rows.len(), 1);
    let r = row(&whole, "");
    assert_eq!((r.opened, r.accepted, r.settled, r.failed, r.refused, r.transfers_in), (4, 2, 1, 1, 1, 1));
    assert_eq!(r.success_rate, 0.5);
    assert_eq!(r.mean_days_to_outcome, 7.0);
    assert_eq!(r.overdue, 0);
    assert_eq!(r.amount_involved.as_ref().map(|m| (m.units, m.currency_code.as_str())), Some((3000, "CNY")));

    let by_org = app.stats(TOWNSHIP, "organisation", &token).await;
    let (mine, other) = (row(&by_org, ORGANISATION), row(&by_org, OTHER_ORGANISATION));
    assert_eq!((mine.opened, mine.settled, mine.refused), (2, 1, 1));
    assert_eq!((other.opened, other.failed, other.transfers_in), (2, 1, 1));
    assert!(by_org.zero_report_organisations.contains(&"411602001-tw".to_string()), "{by_org:?}");
    assert!(!by_org.zero_report_organisations.iter().any(|o| o == ORGANISATION || o == OTHER_ORGANISATION));

    let by_village = app.stats(TOWNSHIP, "region", &token).await;
    assert_eq!(by_village.rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), [VILLAGE, OTHER_VILLAGE]);
    let by_township = app.stats("411602", "region", &token).await;
    assert_eq!(row(&by_township, TOWNSHIP).opened, 4);

    // The five cases page newest first, two at a time, none repeated.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let req = civicgrid_proto::v1::ListCasesRequest { page_size: 2, page_token: token, ..Default::default() };
        let page = app.client.clone().list_cases(authed(req, &admin())).await.unwrap().into_inner();
        seen.extend(page.cases.into_iter().map(|c| c.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut newest_first = seen.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!((seen.len(), &seen), (5, &newest_first));

    // An organisation sees its own figures only.
    let own = app.stats("", "", &department(ORGANISATION)).await;
    assert_eq!(row(&own, "").opened, 2);
    app.stop().await;
}
