//! A notification before its row is written ([`Draft`]), and the deliveries it fans out to
//! ([`Draft::deliveries`]): which channels, which endpoints, and when each goes out.
//!
//! The inbox delivery has no row of its own: the notification is the inbox entry, delivered by
//! the commit that writes it — or, for a notice that asks for acknowledgement, when it is
//! acknowledged, and failed ([`NOT_ACKNOWLEDGED`]) when it was not in time. Listings and facts
//! show it under the notification's id ([`INBOX_ATTEMPTS`], `store/deliveries.rs`).

use chrono::{DateTime, FixedOffset, Utc};
use civicgrid_proto::v1::{Channel, DeliveryStatus};
use uuid::Uuid;

use super::{
    preferences::Prefs,
    schedule::{Plan, Priority, plan},
};

/// A notification being written, before its row exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The fact it is about: its index in the batch being recorded.
    pub fact: usize,
    /// Its id.
    pub id: Uuid,
    /// `<ce-id>/<rule>/<recipient>`: one notification per fact, rule and recipient, however
    /// often the fact arrives.
    pub dedup_key: String,
    /// Its recipient.
    pub recipient: String,
    /// The rule that wrote it.
    pub rule: String,
    /// The template it was written with.
    pub template: String,
    /// How urgent.
    pub priority: Priority,
    /// The language it was written in.
    pub locale: String,
    /// The title.
    pub title: String,
    /// The body.
    pub body: String,
    /// When it must be acknowledged by, for a rule that asks for acknowledgement.
    pub ack_due_at: Option<DateTime<Utc>>,
}

/// A delivery being written.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// The fact of its notification: its index in the batch being recorded.
    pub fact: usize,
    /// Its id.
    pub id: Uuid,
    /// Its notification.
    pub notification_id: Uuid,
    /// The recipient.
    pub recipient: String,
    /// The channel.
    pub channel: Channel,
    /// The webhook endpoint, for a webhook delivery.
    pub endpoint_id: Option<Uuid>,
    /// Pending, deferred (quiet hours) or in a digest.
    pub status: DeliveryStatus,
    /// When it is next due.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// The attempts an inbox delivery counts: one, the commit that wrote its notification.
pub const INBOX_ATTEMPTS: i32 = 1;

/// The error of the inbox delivery of a notice nobody acknowledged in time (`notify-failed`).
pub const NOT_ACKNOWLEDGED: &str = "not acknowledged in time";

impl Draft {
    /// The pushed deliveries of this notification, written at `now`: one per active webhook
    /// `endpoints` of the recipient, when their channels include webhooks; and an SMS, when they
    /// include SMS and a phone is stored. They go out when [`plan`] says: at once, after quiet
    /// hours, or with the digest. (Its inbox delivery is the notification itself.)
    pub fn deliveries(
        &self,
        prefs: &Prefs,
        endpoints: &[Uuid],
        now: DateTime<Utc>,
        offset: FixedOffset,
    ) -> Vec<NewDelivery> {
        let (status, next) = match plan(self.priority, &prefs.timing(), now, offset) {
            Plan::Now => (DeliveryStatus::Pending, Some(now)),
            Plan::Defer(at) => (DeliveryStatus::Deferred, Some(at)),
            Plan::Digest(at) => (DeliveryStatus::InDigest, Some(at)),
        };
        let delivery = |channel: Channel, endpoint_id: Option<Uuid>| NewDelivery {
            fact: self.fact,
            id: Uuid::now_v7(),
            notification_id: self.id,
            recipient: self.recipient.clone(),
            channel,
            endpoint_id,
            status,
            next_attempt_at: next,
        };
        let mut out = Vec::new();
        if prefs.channels.contains(&Channel::Webhook) {
            for e in endpoints {
                out.push(delivery(Channel::Webhook, Some(*e)));
            }
        }
        if prefs.channels.contains(&Channel::Sms) && prefs.phone_masked.is_some() {
            out.push(delivery(Channel::Sms, None));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    /// 23:00 in Beijing.
    fn night() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T23:00:00+08:00").unwrap().to_utc()
    }

    fn draft(recipient: &str, priority: Priority) -> Draft {
        Draft {
            fact: 3,
            id: Uuid::now_v7(),
            dedup_key: format!("ce/rule/{recipient}"),
            recipient: recipient.into(),
            rule: "rule".into(),
            template: "t".into(),
            priority,
            locale: "zh-CN".into(),
            title: "title".into(),
            body: "body".into(),
            ack_due_at: None,
        }
    }

    /// What tells deliveries apart: channel, endpoint, status and when due.
    type Shape = (Channel, Option<Uuid>, DeliveryStatus, Option<DateTime<Utc>>);

    fn shape(d: &[NewDelivery]) -> Vec<Shape> {
        d.iter().map(|d| (d.channel, d.endpoint_id, d.status, d.next_attempt_at)).collect()
    }

    #[test]
    fn webhooks_go_to_every_endpoint_and_the_inbox_needs_no_delivery_row() {
        let d = draft("department:cg", Priority::High);
        let prefs = Prefs::defaults("department:cg", "zh-CN");
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let out = d.deliveries(&prefs, &[a, b], night(), offset());
        assert_eq!(
            shape(&out),
            [
                (Channel::Webhook, Some(a), DeliveryStatus::Pending, Some(night())),
                (Channel::Webhook, Some(b), DeliveryStatus::Pending, Some(night())),
            ]
        );
        assert!(out.iter().all(|o| o.fact == 3 && o.notification_id == d.id && o.recipient == "department:cg"));
        let person = Prefs::defaults("reporter:r1", "zh-CN");
        assert!(d.deliveries(&person, &[a], night(), offset()).is_empty(), "no webhook channel: the inbox only");
    }

    #[test]
    fn quiet_hours_and_digests_hold_pushes_not_the_inbox() {
        let mut prefs = Prefs::defaults("reporter:r1", "zh-CN");
        prefs.channels = vec![Channel::Inbox, Channel::Sms];
        prefs.quiet = Some(("22:00".into(), "07:00".into()));
        let normal = draft("reporter:r1", Priority::Normal);
        assert!(normal.deliveries(&prefs, &[], night(), offset()).is_empty(), "SMS needs a stored phone");
        prefs.phone_masked = Some("138****5678".into());
        let morning = DateTime::parse_from_rfc3339("2026-11-23T07:00:00+08:00").unwrap().to_utc();
        assert_eq!(
            shape(&normal.deliveries(&prefs, &[], night(), offset())),
            [(Channel::Sms, None, DeliveryStatus::Deferred, Some(morning))]
        );
        prefs.digest_minutes = 60;
        let low = draft("reporter:r1", Priority::Low).deliveries(&prefs, &[], night(), offset());
        assert_eq!(low[0].status, DeliveryStatus::InDigest);
        let critical = draft("reporter:r1", Priority::Critical).deliveries(&prefs, &[], night(), offset());
        assert_eq!(critical[0].status, DeliveryStatus::Pending, "critical ones are never held");
    }
}
