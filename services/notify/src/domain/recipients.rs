//! Recipients (`<kind>:<id>`), who may read or manage them, and the region a center's
//! notice escalates to.

use civicgrid_kit::{
    auth::Principal,
    region::{self, Level},
};
use civicgrid_proto::v1::Role;

/// The kinds of recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A department's duty desk; id = department id.
    Department,
    /// A grid worker; id = account id.
    GridWorker,
    /// The command center of a region; id = region code.
    Center,
    /// The leaders of a region; id = region code.
    Leaders,
    /// An event's reporter; id = intake's opaque reporter id.
    Reporter,
    /// A mediator; id = account id.
    Mediator,
    /// A party to a dispute; id = mediation's party id.
    Party,
    /// A patrol supervisor; id = account id.
    PatrolSupervisor,
}

impl Kind {
    /// The prefix before the colon.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Department => "department",
            Kind::GridWorker => "grid-worker",
            Kind::Center => "center",
            Kind::Leaders => "leaders",
            Kind::Reporter => "reporter",
            Kind::Mediator => "mediator",
            Kind::Party => "party",
            Kind::PatrolSupervisor => "patrol-supervisor",
        }
    }

    const ALL: [Kind; 8] = [
        Kind::Department,
        Kind::GridWorker,
        Kind::Center,
        Kind::Leaders,
        Kind::Reporter,
        Kind::Mediator,
        Kind::Party,
        Kind::PatrolSupervisor,
    ];
}

/// A parsed recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Its kind.
    pub kind: Kind,
    /// Its id within the kind.
    pub id: String,
}

impl Recipient {
    /// A recipient of `kind`.
    pub fn new(kind: Kind, id: impl Into<String>) -> Self {
        Recipient { kind, id: id.into() }
    }

    /// Parses `<kind>:<id>`: a known kind, an id of 1–128 printable characters without spaces, and
    /// a valid region code for centers and leaders.
    pub fn parse(s: &str) -> Result<Recipient, String> {
        let Some((prefix, id)) = s.split_once(':') else {
            return Err("must be `<kind>:<id>`, e.g. `department:chengguan-411602`".into());
        };
        let Some(kind) = Kind::ALL.into_iter().find(|k| k.prefix() == prefix) else {
            let kinds: Vec<_> = Kind::ALL.iter().map(|k| k.prefix()).collect();
            return Err(format!("unknown kind `{prefix}`; one of {}", kinds.join(", ")));
        };
        if id.is_empty() || id.chars().count() > 128 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the id must be 1–128 characters without spaces".into());
        }
        if matches!(kind, Kind::Center | Kind::Leaders) {
            region::level(id).map_err(|e| format!("region code {e}"))?;
        }
        Ok(Recipient { kind, id: id.to_string() })
    }

    /// Whether a webhook endpoint may be registered for it (organisations, not people).
    pub fn takes_webhooks(&self) -> bool {
        matches!(self.kind, Kind::Department | Kind::Center | Kind::Leaders)
    }

    /// The region of an organisation recipient: a center's or leaders' code, or the region code
    /// a department's id starts with (`411602-gongan`); `None` for people.
    fn region(&self) -> Option<&str> {
        match self.kind {
            Kind::Center | Kind::Leaders => Some(&self.id),
            Kind::Department => {
                self.id.split('-').next().filter(|code| !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()))
            }
            _ => None,
        }
    }

    /// Whether `caller` may read this recipient's inbox, deliveries and preferences and change them.
    pub fn visible_to(&self, caller: &Principal) -> bool {
        match caller.role {
            Role::Admin if caller.region_scope.is_empty() => true,
            // A scoped administrator: the organisations of its region.
            Role::Admin => self.region().is_some_and(|code| caller.covers_code(code)),
            // A supervisor is a person who may hold any person's role (a police officer, a grid
            // worker, a team's leader, a center's operator): the account is what counts.
            _ if self.kind == Kind::PatrolSupervisor => is_person(caller.role) && self.id == caller.subject,
            Role::Department => self.kind == Kind::Department && self.id == caller.department_id,
            Role::GridWorker => self.kind == Kind::GridWorker && self.id == caller.subject,
            Role::Mediator => self.kind == Kind::Mediator && self.id == caller.subject,
            // A member who supervises no team has no inbox of their own.
            Role::PatrolMember => false,
            Role::Center | Role::CountyCenter => {
                matches!(self.kind, Kind::Center | Kind::Leaders) && caller.covers_code(&self.id)
            }
            // The citizens' app speaks for the reporters who use it.
            Role::CitizenApp => self.kind == Kind::Reporter,
            Role::Unspecified => false,
        }
    }
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.prefix(), self.id)
    }
}

/// Whether tokens of `role` are held by a person, whose `sub` is their account id. A county
/// center's subscribing system and a citizens' app speak for no one account.
fn is_person(role: Role) -> bool {
    matches!(role, Role::Department | Role::GridWorker | Role::Mediator | Role::PatrolMember | Role::Center)
}

/// The region one level above `code` (village → township → county → city); `None` for a city.
pub fn parent_region(code: &str) -> Option<String> {
    match region::level(code).ok()? {
        Level::Village => Some(code[..9].to_string()),
        Level::Township => Some(code[..6].to_string()),
        Level::County => Some(format!("{}00", &code[..4])),
        Level::City => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, sub: &str, dept: &str, scope: &str) -> Principal {
        Principal { subject: sub.into(), role, department_id: dept.into(), region_scope: scope.into() }
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(Recipient::parse("department:cg-411602").unwrap(), Recipient::new(Kind::Department, "cg-411602"));
        assert_eq!(Recipient::parse("center:411602001").unwrap().to_string(), "center:411602001");
        assert!(Recipient::parse("center:4116").unwrap_err().contains("region code"));
        assert!(Recipient::parse("boss:1").unwrap_err().contains("unknown kind"));
        assert!(Recipient::parse("department").is_err());
        assert!(Recipient::parse("department:").is_err());
        assert!(Recipient::parse("grid-worker:a b").is_err());
    }

    #[test]
    fn who_sees_whom() {
        let desk = Recipient::parse("department:cg").unwrap();
        assert!(desk.visible_to(&caller(Role::Department, "x", "cg", "")));
        assert!(!desk.visible_to(&caller(Role::Department, "x", "hb", "")));
        assert!(desk.visible_to(&caller(Role::Admin, "x", "", "")));
        // A scoped administrator reads the organisations of its region only.
        let admin = caller(Role::Admin, "x", "", "411602");
        assert!(!desk.visible_to(&admin), "a department id without a region code");
        assert!(Recipient::parse("department:411602002-chengguan").unwrap().visible_to(&admin));
        assert!(!Recipient::parse("department:411621-gongan").unwrap().visible_to(&admin));
        assert!(Recipient::parse("center:411602001").unwrap().visible_to(&admin));
        assert!(!Recipient::parse("grid-worker:gw-1").unwrap().visible_to(&admin), "people are their own");
        let township = Recipient::parse("center:411602001").unwrap();
        assert!(township.visible_to(&caller(Role::Center, "c", "", "411602")));
        assert!(!township.visible_to(&caller(Role::Center, "c", "", "411603")));
        assert!(township.visible_to(&caller(Role::Center, "c", "", "411600")), "a city scope covers its townships");
        let grid_scoped = caller(Role::Center, "c", "", "411602001001003");
        assert!(!township.visible_to(&grid_scoped), "a grid scope does not reach the township above it");
        assert!(!desk.visible_to(&caller(Role::Center, "c", "", "")), "centers read centers, not desks");
        let gw = Recipient::parse("grid-worker:gw-1").unwrap();
        assert!(gw.visible_to(&caller(Role::GridWorker, "gw-1", "", "411602001001")));
        assert!(!gw.visible_to(&caller(Role::GridWorker, "gw-2", "", "411602001001")));
        assert!(Recipient::parse("reporter:r1").unwrap().visible_to(&caller(Role::CitizenApp, "app", "", "")));
        assert!(!gw.visible_to(&caller(Role::CitizenApp, "app", "", "")));
    }

    #[test]
    fn mediators_and_organisations_read_their_own() {
        let mediator = Recipient::parse("mediator:med-1").unwrap();
        assert!(mediator.visible_to(&caller(Role::Mediator, "med-1", "", "")));
        assert!(!mediator.visible_to(&caller(Role::Mediator, "med-2", "", "")));
        assert!(!mediator.visible_to(&caller(Role::Department, "med-1", "411602001-tw", "")));
        assert!(!mediator.takes_webhooks(), "a person: inbox and SMS, no webhooks");
        // An organisation's system or desk holds a department token whose department_id is its id.
        let organisation = Recipient::parse("department:411602001-tw").unwrap();
        assert!(organisation.visible_to(&caller(Role::Department, "tw-desk", "411602001-tw", "")));
        assert!(!organisation.visible_to(&caller(Role::Department, "sifa", "411602001-sifa", "")));
        assert!(!organisation.visible_to(&caller(Role::Mediator, "411602001-tw", "", "")));
        assert!(organisation.takes_webhooks());
    }

    #[test]
    fn a_patrol_supervisor_reads_their_own_under_any_persons_role() {
        let sup = Recipient::parse("patrol-supervisor:sup-1").unwrap();
        for role in [Role::PatrolMember, Role::GridWorker, Role::Department, Role::Mediator, Role::Center] {
            assert!(sup.visible_to(&caller(role, "sup-1", "411602-gongan", "411602")), "{role:?} sup-1");
            assert!(!sup.visible_to(&caller(role, "sup-2", "411602-gongan", "411602")), "{role:?} sup-2");
        }
        // Systems speak for no account, even one whose sub happens to be the id.
        for role in [Role::CountyCenter, Role::CitizenApp, Role::Unspecified] {
            assert!(!sup.visible_to(&caller(role, "sup-1", "", "")), "{role:?}");
        }
        assert!(sup.visible_to(&caller(Role::Admin, "admin-1", "", "")));
        // The unit's desk and the region's center read their own notices, not the supervisor's.
        assert!(
            !sup.visible_to(&caller(Role::Department, "desk", "sup-1", "")),
            "the department_id is not the account"
        );
        assert!(!sup.visible_to(&caller(Role::Center, "center-411602", "", "411602")));
        assert!(!sup.visible_to(&caller(Role::Center, "center-all", "", "")), "not even a center of everywhere");
        // A supervisor holding a member's token reads nothing else.
        let member = caller(Role::PatrolMember, "sup-1", "", "");
        for other in ["grid-worker:sup-1", "mediator:sup-1", "department:sup-1", "center:411602"] {
            assert!(!Recipient::parse(other).unwrap().visible_to(&member), "{other}");
        }
        assert!(!sup.takes_webhooks(), "a person: inbox and SMS, no webhooks");
    }

    #[test]
    fn parents() {
        assert_eq!(parent_region("411602001001").as_deref(), Some("411602001"));
        assert_eq!(parent_region("411602001").as_deref(), Some("411602"));
        assert_eq!(parent_region("411602").as_deref(), Some("411600"));
        assert_eq!(parent_region("411600"), None);
    }
}
