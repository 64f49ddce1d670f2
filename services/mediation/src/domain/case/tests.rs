//! Every action from every state: the legal transitions, and NotNow for all the others; then
//! the preconditions beyond the state, and who may do what.

use chrono::{Duration, TimeZone, Utc};
use civicgrid_proto::v1::{RiskLevel, TransferTarget};

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 16, 2, 0, 0).unwrap()
}

fn actions() -> Vec<Action> {
    vec![
        Action::Amend,
        Action::Accept,
        Action::Refuse,
        Action::Assign,
        Action::SetRisk(RiskLevel::High),
        Action::ScheduleSession,
        Action::RecordSession { adjourned: false },
        Action::Extend(5),
        Action::RecordAgreement,
        Action::RecordNoAgreement,
        Action::Withdraw,
        Action::Transfer(TransferTarget::Court),
        Action::ApplyConfirmation,
        Action::Court(CourtStep::Accepted),
        Action::FollowUp { performance: Performance::Performing, reopen: false },
        Action::Close,
    ]
}

/// A case in `state` whose other facts allow `action`.
fn view(state: State, action: &Action) -> CaseView {
    CaseView {
        state: Some(state),
        risk: RiskLevel::Low,
        extension_days: 0,
        has_open_session: true,
        confirmation_apply_by: Some(now() + Duration::days(10)),
        confirmation_applied: matches!(action, Action::Court(_)),
        court_accepted: false,
        court_extended: false,
        court_ruled: false,
        performed: true,
        parties_missing: false,
    }
}

/// The legal transitions: (from, action name) → to.
fn legal(from: State, action: &Action) -> Option<State> {
    use State::*;
    let open = matches!(from, Accepted | InMediation);
    let live = !from.is_final();
    Some(match action.name() {
        "amend" if matches!(from, Applied | Accepted | InMediation) => from,
        "accept" if from == Applied => Accepted,
        "refuse" if from == Applied => Refused,
        "assign" | "set_risk" if live => from,
        "schedule_session" if open => InMediation,
        "record_session" if from == InMediation => InMediation,
        "extend" if open => from,
        "record_agreement" if open => Agreed,
        "record_no_agreement" if open => Failed,
        "withdraw" if matches!(from, Applied | Accepted | InMediation) => Withdrawn,
        "transfer" if matches!(from, Applied | Accepted | InMediation | Failed) => Transferred,
        "apply_confirmation" | "record_confirmation" | "record_follow_up" if from == Agreed => Agreed,
        "close" if matches!(from, Agreed | Failed) => Closed,
        _ => return None,
    })
}

#[test]
fn every_action_from_every_state() {
    let mut legal_count = 0;
    for from in State::ALL {
        for action in actions() {
            let got = decide(&view(from, &action), Standing::Admin, &action, now());
            match legal(from, &action) {
                Some(to) => {
                    let d = got.unwrap_or_else(|e| panic!("{} from {}: {e}", action.name(), from.as_str()));
                    assert_eq!(d.to, to, "{} from {}", action.name(), from.as_str());
                    assert!(!d.facts.is_empty());
                    legal_count += 1;
                }
                None => assert!(
                    matches!(got, Err(CaseError::NotNow { .. })),
                    "{} from {} should be refused as not now, got {got:?}",
                    action.name(),
                    from.as_str()
                ),
            }
        }
    }
    assert_eq!(legal_count, 36);
}

#[test]
fn the_facts_of_each_transition() {
    let facts =
        |state: State, action: Action| decide(&view(state, &action), Standing::Admin, &action, now()).unwrap().facts;
    assert_eq!(facts(State::Applied, Action::Accept), ["case-accepted"]);
    assert_eq!(facts(State::Accepted, Action::SetRisk(RiskLevel::High)), ["case-risk-changed", "case-escalated"]);
    assert_eq!(facts(State::Accepted, Action::SetRisk(RiskLevel::Medium)), ["case-risk-changed"]);
    assert_eq!(facts(State::InMediation, Action::RecordSession { adjourned: true }), ["case-session-adjourned"]);
    assert_eq!(facts(State::InMediation, Action::RecordAgreement), ["case-agreement-reached"]);
    assert_eq!(
        facts(State::Agreed, Action::FollowUp { performance: Performance::Breached, reopen: true }),
        ["case-followed-up", "case-reopened"]
    );
}

#[test]
fn preconditions_beyond_the_state() {
    let agreed = |f: &dyn Fn(&mut CaseView)| {
        let mut v = view(State::Agreed, &Action::Close);
        v.confirmation_applied = false;
        f(&mut v);
        v
    };
    let run = |v: &CaseView, a: Action| decide(v, Standing::Mediator, &a, now());
    // The confirmation window.
    let closed = agreed(&|v| v.confirmation_apply_by = Some(now() - Duration::seconds(1)));
    assert!(matches!(run(&closed, Action::ApplyConfirmation), Err(CaseError::NotNow { .. })));
    let applied = agreed(&|v| v.confirmation_applied = true);
    assert!(matches!(run(&applied, Action::ApplyConfirmation), Err(CaseError::NotNow { .. })));
    // The court's steps in order.
    assert!(matches!(run(&applied, Action::Court(CourtStep::Confirmed)), Err(CaseError::NotNow { .. })));
    let accepted = agreed(&|v| {
        v.confirmation_applied = true;
        v.court_accepted = true;
    });
    assert_eq!(run(&accepted, Action::Court(CourtStep::Extended)).unwrap().facts, ["case-confirmation-extended"]);
    assert_eq!(run(&accepted, Action::Court(CourtStep::Invalid)).unwrap().to, State::InMediation);
    let extended = agreed(&|v| {
        v.confirmation_applied = true;
        v.court_accepted = true;
        v.court_extended = true;
    });
    assert!(matches!(run(&extended, Action::Court(CourtStep::Extended)), Err(CaseError::NotNow { .. })));
    let ruled = agreed(&|v| {
        v.confirmation_applied = true;
        v.court_accepted = true;
        v.court_ruled = true;
    });
    assert!(matches!(run(&ruled, Action::Court(CourtStep::Confirmed)), Err(CaseError::NotNow { .. })));
    // Closing an agreement waits for a follow-up that found it performed.
    let unperformed = agreed(&|v| v.performed = false);
    assert!(matches!(decide(&unperformed, Standing::Admin, &Action::Close, now()), Err(CaseError::NotNow { .. })));
    // Only a breach reopens.
    let f = Action::FollowUp { performance: Performance::Performed, reopen: true };
    assert!(matches!(run(&agreed(&|_| {}), f), Err(CaseError::Invalid { field: "reopen", .. })));
    // A session must be waiting to be recorded.
    let mut v = view(State::InMediation, &Action::RecordSession { adjourned: false });
    v.has_open_session = false;
    assert!(matches!(run(&v, Action::RecordSession { adjourned: false }), Err(CaseError::NotNow { .. })));
    // Extensions: 1 to 30 days at a time, 60 in all.
    let mut v = view(State::InMediation, &Action::Extend(1));
    assert!(matches!(run(&v, Action::Extend(31)), Err(CaseError::Invalid { field: "days", .. })));
    v.extension_days = 50;
    assert!(matches!(run(&v, Action::Extend(11)), Err(CaseError::Invalid { field: "days", .. })));
    assert!(run(&v, Action::Extend(10)).is_ok());
    // A case without its parties is not accepted.
    let mut v = view(State::Applied, &Action::Accept);
    v.parties_missing = true;
    assert!(matches!(decide(&v, Standing::Admin, &Action::Accept, now()), Err(CaseError::NotNow { .. })));
    assert_eq!(run(&v, Action::Amend).unwrap().facts, ["case-amended"]);
    // The same risk again, or none, is not a change.
    let v = view(State::Accepted, &Action::Assign);
    assert!(matches!(run(&v, Action::SetRisk(RiskLevel::Low)), Err(CaseError::Invalid { field: "risk", .. })));
    assert!(matches!(run(&v, Action::SetRisk(RiskLevel::Unspecified)), Err(CaseError::Invalid { .. })));
}

#[test]
fn who_may_do_what() {
    let v = |a: &Action| view(State::InMediation, a);
    for standing in [Standing::Admin, Standing::Organisation, Standing::JusticeOffice] {
        for action in actions() {
            let got = decide(&v(&action), standing, &action, now());
            assert!(!matches!(got, Err(CaseError::NotAllowed { .. })), "{standing:?} {}", action.name());
        }
    }
    let mediator_may_not = ["accept", "refuse", "assign", "transfer", "close"];
    for action in actions() {
        let got = decide(&v(&action), Standing::Mediator, &action, now());
        assert_eq!(
            matches!(got, Err(CaseError::NotAllowed { .. })),
            mediator_may_not.contains(&action.name()),
            "mediator {}",
            action.name()
        );
        let got = decide(&v(&action), Standing::Center, &action, now());
        assert_eq!(
            matches!(got, Err(CaseError::NotAllowed { .. })),
            action.name() != "set_risk",
            "center {}",
            action.name()
        );
        assert!(matches!(decide(&v(&action), Standing::Reader, &action, now()), Err(CaseError::NotAllowed { .. })));
    }
}

#[test]
fn states_round_trip() {
    for s in State::ALL {
        assert_eq!(State::parse(s.as_str()), Some(s));
        assert_eq!(State::from_proto(s.to_proto()), Some(s));
    }
}
