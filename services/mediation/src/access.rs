//! Who may call each mediation RPC (enforced by the kit's edge; see docs/access.md). Which
//! cases a caller reaches, and what it may do on each, is the caller's
//! [`Visibility`](crate::domain::visibility::Visibility) and standing: a mediator their own
//! cases, an organisation or justice office its own, a center its region.

use civicgrid_kit::access::{Rule, Scoping, Table};
use civicgrid_proto::v1::Role::{self, *};

/// Roles that read cases and act on them, each within its visibility.
const ACTING: &[Role] = &[Admin, Center, CountyCenter, Department, Mediator];
/// Who opens a case by hand: a center, a justice office or organisation, or a party's app
/// (an application); EVENT cases open themselves from dispatched reports.
const OPENERS: &[Role] = &[Admin, Center, CountyCenter, Department, CitizenApp];
/// Anyone: organisations and reference versions are public.
const ANYONE: &[Role] = &[Admin, Center, CountyCenter, Department, GridWorker, Mediator, PatrolMember, CitizenApp];

const fn hidden(method: &'static str, what: &'static str) -> Rule {
    Rule { method, roles: ACTING, scoping: Scoping::Hidden, what }
}

/// mediation's table.
pub const ACCESS: Table = Table {
    service: "civicgrid.v1.MediationService",
    rules: &[
        Rule { method: "OpenCase", roles: OPENERS, scoping: Scoping::Placed, what: "open cases" },
        hidden("AmendCase", "amend cases"),
        hidden("GetCase", "read cases"),
        Rule { method: "ListCases", roles: ACTING, scoping: Scoping::Filtered, what: "list cases" },
        hidden("AcceptCase", "act on mediation cases"),
        hidden("RefuseCase", "act on mediation cases"),
        hidden("AssignMediator", "act on mediation cases"),
        hidden("SetRisk", "act on mediation cases"),
        hidden("ScheduleSession", "act on mediation cases"),
        hidden("RecordSession", "act on mediation cases"),
        hidden("ExtendMediation", "act on mediation cases"),
        hidden("RecordAgreement", "act on mediation cases"),
        hidden("RecordNoAgreement", "act on mediation cases"),
        hidden("WithdrawCase", "act on mediation cases"),
        hidden("TransferCase", "act on mediation cases"),
        hidden("ApplyConfirmation", "act on mediation cases"),
        hidden("RecordConfirmation", "act on mediation cases"),
        hidden("RecordFollowUp", "act on mediation cases"),
        hidden("CloseCase", "act on mediation cases"),
        hidden("GetAgreementDocument", "read agreement documents"),
        Rule { method: "GetStats", roles: ACTING, scoping: Scoping::Filtered, what: "read mediation statistics" },
        Rule { method: "ListOrganisations", roles: ANYONE, scoping: Scoping::Filtered, what: "list organisations" },
        Rule { method: "ListMediators", roles: ACTING, scoping: Scoping::Filtered, what: "list mediators" },
        Rule {
            method: "GetMediationReferenceVersions",
            roles: ANYONE,
            scoping: Scoping::Open,
            what: "read reference versions",
        },
        Rule {
            method: "LoadMediationReferenceData",
            roles: &[Admin],
            scoping: Scoping::Open,
            what: "load reference data",
        },
    ],
};
