//! mediation's stream, case facts and consumer.

use civicgrid_proto::v1::{MediationCaseEvent, PiiRevealed};

use crate::{Consumer, Fact, FactFamily, Stream, Subjects, Subscription, dispatch};

/// The service name.
pub const SERVICE: &str = "mediation";

/// Every case fact (docs/mediation.md); each carries a `civicgrid.v1.MediationCaseEvent`
/// whose `fact` field repeats the name.
pub const CASE_FACTS: FactFamily<MediationCaseEvent> = FactFamily::new(
    SERVICE,
    &[
        "case-opened",
        "case-amended",
        "case-accepted",
        "case-refused",
        "case-assigned",
        "case-risk-changed",
        "case-escalated",
        "case-session-scheduled",
        "case-session-held",
        "case-session-adjourned",
        "case-extended",
        "case-agreement-reached",
        "case-failed",
        "case-withdrawn",
        "case-transferred",
        "case-confirmation-applied",
        "case-confirmation-accepted",
        "case-confirmation-extended",
        "case-confirmation-ruled",
        "case-followed-up",
        "case-reopened",
        "case-closed",
        "case-warning",
    ],
);

/// Parties' personal data answered in clear (GetAgreementDocument): who, which case, which
/// fields of which parties, when and why. Recorded in mediation's audit trail only
/// (`civicgrid_kit::audit::record`), never published: nobody on the bus needs it, and notify,
/// the console and every county center of the region would receive it; so it is not in
/// [`STREAM`]'s facts.
pub const PII_REVEALED: Fact<PiiRevealed> = Fact::new(SERVICE, "pii-revealed");

/// `CIVICGRID_MEDIATION`.
pub const STREAM: Stream =
    Stream { service: SERVICE, published: &[CASE_FACTS.published()], subjects: Subjects::Service };

/// Disputes dispatched to a justice office open cases.
pub const DISPATCH: Consumer = Consumer {
    service: SERVICE,
    durable: "mediation-dispatch",
    source: dispatch::SERVICE,
    subscription: Subscription::Facts(&["task-assigned"]),
};
