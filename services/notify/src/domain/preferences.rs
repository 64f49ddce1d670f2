//! A recipient's preferences: channels, language, quiet hours, digests and the masked phone,
//! with the defaults of a recipient who never stored any.

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::Channel;

use super::{
    recipients::Recipient,
    schedule::{QuietHours, Timing},
};

/// A recipient's preferences as stored (or the defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Prefs {
    /// The recipient.
    pub recipient: String,
    /// Channels (the inbox is always used).
    pub channels: Vec<Channel>,
    /// "zh-CN" or "en".
    pub locale: String,
    /// Quiet hours as "HH:MM" pairs.
    pub quiet: Option<(String, String)>,
    /// Digest interval in minutes; 0 for none.
    pub digest_minutes: i32,
    /// The masked phone, if one is stored.
    pub phone_masked: Option<String>,
    /// True when nothing was ever stored.
    pub defaults: bool,
    /// When they were last stored.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Prefs {
    /// The defaults for `recipient`: organisations get the inbox and their webhooks, people
    /// the inbox.
    pub fn defaults(recipient: &str, locale: &str) -> Prefs {
        let organisation = Recipient::parse(recipient).map(|r| r.takes_webhooks()).unwrap_or(false);
        Prefs {
            recipient: recipient.to_string(),
            channels: if organisation { vec![Channel::Inbox, Channel::Webhook] } else { vec![Channel::Inbox] },
            locale: locale.to_string(),
            quiet: None,
            digest_minutes: 0,
            phone_masked: None,
            defaults: true,
            updated_at: None,
        }
    }

    /// The timing part.
    pub fn timing(&self) -> Timing {
        Timing {
            quiet: self.quiet.as_ref().and_then(|(s, e)| QuietHours::parse(s, e)),
            digest_minutes: self.digest_minutes,
        }
    }
}

/// New preferences to store.
#[derive(Debug, Clone)]
pub struct NewPrefs {
    /// Channels.
    pub channels: Vec<Channel>,
    /// Locale.
    pub locale: String,
    /// Quiet hours.
    pub quiet: Option<(String, String)>,
    /// Digest interval.
    pub digest_minutes: i32,
    /// `None` keeps the stored phone, `Some("")` removes it, otherwise the new number.
    pub phone: Option<String>,
}

/// `138****5678` for an 11-digit number; other lengths keep only the last four digits.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() == 11 {
        format!("{}****{}", chars[..3].iter().collect::<String>(), chars[7..].iter().collect::<String>())
    } else {
        let tail: String = chars.iter().rev().take(4).rev().collect();
        format!("****{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisations_default_to_their_webhooks_people_to_the_inbox() {
        let desk = Prefs::defaults("department:cg-411602", "zh-CN");
        assert_eq!(desk.channels, [Channel::Inbox, Channel::Webhook]);
        assert!(desk.defaults);
        let reporter = Prefs::defaults("reporter:r1", "en");
        assert_eq!((reporter.channels.as_slice(), reporter.locale.as_str()), ([Channel::Inbox].as_slice(), "en"));
        assert_eq!(Prefs::defaults("nonsense", "zh-CN").channels, [Channel::Inbox], "unparsable: a person");
    }

    #[test]
    fn timing_reads_quiet_hours_and_digests() {
        let mut p = Prefs::defaults("reporter:r1", "zh-CN");
        assert_eq!(p.timing(), Timing::default());
        p.quiet = Some(("22:00".into(), "07:00".into()));
        p.digest_minutes = 60;
        assert_eq!(p.timing(), Timing { quiet: QuietHours::parse("22:00", "07:00"), digest_minutes: 60 });
        p.quiet = Some(("late".into(), "07:00".into()));
        assert_eq!(p.timing().quiet, None, "unreadable quiet hours hold nothing");
    }

    #[test]
    fn phones_are_masked() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("+8613812345678"), "****5678");
        assert_eq!(mask_phone("12"), "****12");
    }
}
