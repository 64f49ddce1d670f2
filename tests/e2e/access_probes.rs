//! The requests tests/e2e/access.rs sends to probe each RPC's scope: one per RPC that is not
//! `open`, in proto JSON, naming the records the test made in county 411602 by placeholder.
//! An outsider (a token of every admitted role, scoped to county 110101 and a department of
//! its own) sends each; what it must get back follows from the RPC's scoping in the table.

/// Placeholders: `{rid}` a fresh request id; `{event}`, `{tracking}`, `{task}`, `{dept}` the
/// test's report, its tracking number, its task and the task's department; `{case}`, `{org}`,
/// `{mediator}`, `{party}` the test's mediation case, its organisation, a mediator of it and
/// a party to it; `{shift}`,
/// `{route}`, `{team}`, `{place}` patrol's; `{webhook}`, `{notification}` notify's; `{from}`,
/// `{to}` a period around now; `{soon}` three hours from now; `{today}` today's date.
pub(crate) const PROBES: &[(&str, &str)] = &[
    // intake
    (
        "SubmitEvent",
        r#"{"request_id":"{rid}","source":"EVENT_SOURCE_GRID_WORKER","item_code":"03.01.002",
            "location":{"point":{"latitude":30.5,"longitude":114.6},"grid_code":"411602002001001"},
            "description":"access probe","reporter":{"phone":"13900004321"}}"#,
    ),
    ("GetEvent", r#"{"event_id":"{event}"}"#),
    ("GetEventByTrackingNumber", r#"{"tracking_number":"{tracking}","phone_last4":"0000"}"#),
    ("ListEvents", r#"{}"#),
    (
        "RateOutcome",
        r#"{"request_id":"{rid}","tracking_number":"{tracking}","rating":"RATING_SATISFIED","phone_last4":"0000"}"#,
    ),
    // dispatch
    ("ListTasks", r#"{}"#),
    ("GetTask", r#"{"task_id":"{task}"}"#),
    ("WatchTasks", r#"{}"#),
    ("Triage", r#"{"request_id":"{rid}","task_id":"{task}","department_id":"{dept}"}"#),
    ("Dismiss", r#"{"request_id":"{rid}","task_id":"{task}","reason":"access probe"}"#),
    ("SignFor", r#"{"request_id":"{rid}","task_id":"{task}"}"#),
    ("ReturnTask", r#"{"request_id":"{rid}","task_id":"{task}","reason":"access probe"}"#),
    ("RequestExtension", r#"{"request_id":"{rid}","task_id":"{task}","amount":1,"reason":"access probe"}"#),
    ("ApproveExtension", r#"{"request_id":"{rid}","task_id":"{task}","amount":1}"#),
    ("RefuseExtension", r#"{"request_id":"{rid}","task_id":"{task}","reason":"access probe"}"#),
    ("Suspend", r#"{"request_id":"{rid}","task_id":"{task}","reason":"access probe"}"#),
    ("Resume", r#"{"request_id":"{rid}","task_id":"{task}"}"#),
    ("Resolve", r#"{"request_id":"{rid}","task_id":"{task}","result":"access probe"}"#),
    ("Verify", r#"{"request_id":"{rid}","task_id":"{task}"}"#),
    ("RejectVerification", r#"{"request_id":"{rid}","task_id":"{task}","reason":"access probe"}"#),
    ("Close", r#"{"request_id":"{rid}","task_id":"{task}"}"#),
    ("GetKpis", r#"{"period":{"from":"{from}","to":"{to}"}}"#),
    ("GetGridWorkerKpis", r#"{"period":{"from":"{from}","to":"{to}"},"grid_worker_id":"gw-411602002001001"}"#),
    // mediation
    (
        "OpenCase",
        r#"{"request_id":"{rid}","source":"CASE_SOURCE_APPLICATION","dispute_type":"DISPUTE_TYPE_DEBT",
            "facts":"借款两万元到期未还，双方协商未果","region_code":"411602001001",
            "parties":[{"role":"PARTY_ROLE_APPLICANT","name":"王芳","phone":"13900004321"},
                       {"role":"PARTY_ROLE_RESPONDENT","name":"刘强"}]}"#,
    ),
    ("AmendCase", r#"{"request_id":"{rid}","case_id":"{case}","facts":"access probe facts"}"#),
    ("GetCase", r#"{"case_id":"{case}"}"#),
    ("ListCases", r#"{}"#),
    ("AcceptCase", r#"{"request_id":"{rid}","case_id":"{case}"}"#),
    ("RefuseCase", r#"{"request_id":"{rid}","case_id":"{case}","reason":"access probe"}"#),
    ("AssignMediator", r#"{"request_id":"{rid}","case_id":"{case}","mediator_id":"{mediator}"}"#),
    ("SetRisk", r#"{"request_id":"{rid}","case_id":"{case}","risk":"RISK_LEVEL_HIGH","reason":"access probe"}"#),
    ("ScheduleSession", r#"{"request_id":"{rid}","case_id":"{case}","scheduled_at":"{soon}","place":"村委会"}"#),
    (
        "RecordSession",
        r#"{"request_id":"{rid}","case_id":"{case}","session_id":"{rid}","record":"access probe","attended_party_ids":["{party}"]}"#,
    ),
    ("ExtendMediation", r#"{"request_id":"{rid}","case_id":"{case}","days":10,"consent":"双方同意延期"}"#),
    (
        "RecordAgreement",
        r#"{"request_id":"{rid}","case_id":"{case}","signed_and_sealed":true,
            "agreement":{"facts":"借款","responsibilities":"还款","terms":"一个月内还清","performance":"分期"}}"#,
    ),
    ("RecordNoAgreement", r#"{"request_id":"{rid}","case_id":"{case}","reason":"access probe"}"#),
    ("WithdrawCase", r#"{"request_id":"{rid}","case_id":"{case}","reason":"access probe"}"#),
    (
        "TransferCase",
        r#"{"request_id":"{rid}","case_id":"{case}","target":"TRANSFER_TARGET_COURT","reason":"access probe"}"#,
    ),
    ("ApplyConfirmation", r#"{"request_id":"{rid}","case_id":"{case}","court":"魏都区人民法院"}"#),
    ("RecordConfirmation", r#"{"request_id":"{rid}","case_id":"{case}","step":"accepted","note":"access probe"}"#),
    ("RecordFollowUp", r#"{"request_id":"{rid}","case_id":"{case}","performance":"performing","note":"access probe"}"#),
    ("CloseCase", r#"{"request_id":"{rid}","case_id":"{case}"}"#),
    ("GetAgreementDocument", r#"{"case_id":"{case}","request_id":"{rid}","purpose":"access probe"}"#),
    ("GetStats", r#"{"period":{"from":"{from}","to":"{to}"}}"#),
    ("ListOrganisations", r#"{}"#),
    ("ListMediators", r#"{}"#),
    // patrol
    (
        "PutTeam",
        r#"{"request_id":"{rid}","team":{"id":"probe-team","name":"巡逻队","kind":"TEAM_KIND_VOLUNTEER",
            "region_code":"411602001001","unit_id":"411602-gongan",
            "members":[{"member_id":"probe-member","name":"王","leader":true}]}}"#,
    ),
    ("ListTeams", r#"{}"#),
    (
        "PutPlace",
        r#"{"request_id":"{rid}","place":{"id":"probe-place","name":"小学","kind":"PLACE_KIND_SCHOOL",
            "risk":"PLACE_RISK_HIGH","region_code":"411602001001",
            "fence":{"circle":{"center":{"latitude":33.6262,"longitude":114.6428},"radius_m":40}}}}"#,
    ),
    ("ListPlaces", r#"{}"#),
    (
        "PutRoute",
        r#"{"request_id":"{rid}","route":{"id":"probe-route","name":"路线","region_code":"411602001001",
            "checkpoints":[{"id":"cp","place_id":"{place}"}],"tour_minutes":30}}"#,
    ),
    ("GetRoute", r#"{"route_id":"{route}"}"#),
    ("ListRoutes", r#"{}"#),
    (
        "ScheduleShift",
        r#"{"request_id":"{rid}","team_id":"{team}","route_id":"{route}","starts_at":"{to}","ends_at":"{soon}"}"#,
    ),
    ("CancelShift", r#"{"request_id":"{rid}","shift_id":"{shift}","reason":"access probe"}"#),
    ("StartShift", r#"{"request_id":"{rid}","shift_id":"{shift}"}"#),
    ("EndShift", r#"{"request_id":"{rid}","shift_id":"{shift}"}"#),
    ("GetShift", r#"{"shift_id":"{shift}"}"#),
    ("ListShifts", r#"{}"#),
    (
        "SendPositions",
        r#"{"fixes":[{"member_id":"e2e-wang","device_id":"d1","at":"{to}","point":{"latitude":33.6262,"longitude":114.6428}}]}"#,
    ),
    (
        "CheckIn",
        r#"{"request_id":"{rid}","shift_id":"{shift}","checkpoint_id":"cp-school","method":"CHECK_IN_METHOD_QR_CODE","evidence":"access probe"}"#,
    ),
    (
        "ReportFinding",
        r#"{"request_id":"{rid}","shift_id":"{shift}","item_code":"03.01.002","description":"access probe",
            "point":{"latitude":33.6262,"longitude":114.6428}}"#,
    ),
    ("GetTrack", r#"{"member_id":"e2e-wang","shift_id":"{shift}"}"#),
    ("GetCoverage", r#"{"period":{"from":"{from}","to":"{to}"}}"#),
    ("GetPresence", r#"{"date":"{today}"}"#),
    // notify: the test's department's own
    ("ListInbox", r#"{"recipient":"department:{dept}"}"#),
    ("WatchInbox", r#"{"recipient":"department:{dept}"}"#),
    ("MarkRead", r#"{"recipient":"department:{dept}","notification_ids":["{notification}"]}"#),
    ("Acknowledge", r#"{"notification_id":"{notification}","request_id":"{rid}"}"#),
    (
        "RegisterWebhook",
        r#"{"recipient":"department:{dept}","url":"https://example.org/hook","secret":"0123456789abcdef0123","request_id":"{rid}"}"#,
    ),
    ("ListWebhooks", r#"{"recipient":"department:{dept}"}"#),
    ("DeleteWebhook", r#"{"endpoint_id":"{webhook}"}"#),
    ("GetPreferences", r#"{"recipient":"department:{dept}"}"#),
    ("SetPreferences", r#"{"preferences":{"recipient":"department:{dept}","locale":"zh-CN"}}"#),
    ("ListDeliveries", r#"{"recipient":"department:{dept}"}"#),
];

/// What an outsider's list or figure must not hold, by RPC: the test's record (or, for
/// figures, county 411602's code).
pub(crate) const MARKERS: &[(&str, &str)] = &[
    ("ListEvents", "{event}"),
    ("ListTasks", "{task}"),
    ("WatchTasks", "{task}"),
    ("GetKpis", "411602"),
    ("ListCases", "{case}"),
    ("GetStats", "411602"),
    ("ListOrganisations", "{org}"),
    ("ListMediators", "{mediator}"),
    ("ListTeams", "{team}"),
    ("ListPlaces", "{place}"),
    ("ListRoutes", "{route}"),
    ("ListShifts", "{shift}"),
    ("GetCoverage", "411602"),
    ("GetPresence", "411602"),
];
