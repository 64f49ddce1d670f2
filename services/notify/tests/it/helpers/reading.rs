//! Reading notify through its API, its published facts, its dead letters and its database,
//! and waiting until what is read is as expected.

use std::time::Duration;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use civicgrid_dev::testing;
use civicgrid_proto::v1::{ListDeliveriesRequest, ListInboxRequest, Notification, NotifyEvent};
use prost::Message;

use super::{TestApp, WITHIN, admin, authed};

impl TestApp {
    /// `recipient`'s inbox as `token` sees it, newest first.
    pub async fn inbox(&self, recipient: &str, token: &str) -> Vec<Notification> {
        let mut c = self.client.clone();
        let req = ListInboxRequest { recipient: recipient.into(), page_size: 500, ..Default::default() };
        c.list_inbox(authed(req, token)).await.expect("list inbox").into_inner().notifications
    }

    /// Waits until `recipient`'s inbox holds at least `n` notifications; returns them oldest first.
    pub async fn wait_inbox(&self, recipient: &str, n: usize) -> Vec<Notification> {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let mut got = self.inbox(recipient, &admin()).await;
            if got.len() >= n {
                got.reverse();
                return got;
            }
            assert!(tokio::time::Instant::now() < deadline, "{recipient} has {} of {n} notifications", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The deliveries of a notification.
    pub async fn deliveries_of(&self, notification_id: &str) -> Vec<civicgrid_proto::v1::Delivery> {
        let mut c = self.client.clone();
        let req =
            ListDeliveriesRequest { notification_id: notification_id.into(), page_size: 500, ..Default::default() };
        c.list_deliveries(authed(req, &admin())).await.expect("list deliveries").into_inner().deliveries
    }

    /// Waits until `check` accepts the deliveries of a notification; returns them.
    pub async fn wait_deliveries(
        &self,
        notification_id: &str,
        what: &str,
        check: impl Fn(&[civicgrid_proto::v1::Delivery]) -> bool,
    ) -> Vec<civicgrid_proto::v1::Delivery> {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let d = self.deliveries_of(notification_id).await;
            if check(&d) {
                return d;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: deliveries are {d:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every message notify published on CIVICGRID_NOTIFY so far.
    pub async fn published(&self) -> Vec<(String, NotifyEvent)> {
        testing::stream::messages(&self.js, "CIVICGRID_NOTIFY")
            .await
            .into_iter()
            .map(|m| (m.subject.clone(), NotifyEvent::decode(m.payload.clone()).expect("NotifyEvent")))
            .collect()
    }

    /// Waits for a published notify fact that `wanted` accepts.
    pub async fn wait_published(&self, what: &str, wanted: impl Fn(&str, &NotifyEvent) -> bool) -> NotifyEvent {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            if let Some((_, e)) = self.published().await.into_iter().find(|(s, e)| wanted(s, e)) {
                return e;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {what} published");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Polls `probe` until it answers `Ok`, for up to [`WITHIN`]; fails with `what` and the last
/// `Err` (what was seen instead).
pub async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        match probe().await {
            Ok(t) => return t,
            Err(seen) => assert!(tokio::time::Instant::now() < deadline, "{what}: {seen}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The webhook delivery among a notification's deliveries.
pub fn webhook_delivery(d: &[civicgrid_proto::v1::Delivery]) -> Option<&civicgrid_proto::v1::Delivery> {
    d.iter().find(|d| d.channel == civicgrid_proto::v1::Channel::Webhook as i32)
}

/// The instant of a protobuf timestamp.
pub fn at(ts: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    ts.and_then(civicgrid_kit::time::from_proto).expect("a timestamp")
}

impl TestApp {
    /// Waits until the delivery of `notification_id` on `channel` satisfies `check`; returns it.
    pub async fn wait_channel(
        &self,
        notification_id: &str,
        channel: civicgrid_proto::v1::Channel,
        what: &str,
        check: impl Fn(&civicgrid_proto::v1::Delivery) -> bool,
    ) -> civicgrid_proto::v1::Delivery {
        let d = self
            .wait_deliveries(notification_id, what, |d| d.iter().any(|d| d.channel == channel as i32 && check(d)))
            .await;
        d.into_iter().find(|d| d.channel == channel as i32 && check(d)).expect("checked")
    }

    /// Waits until the webhook delivery of `notification_id` satisfies `check`; returns it.
    pub async fn wait_webhook(
        &self,
        notification_id: &str,
        what: &str,
        check: impl Fn(&civicgrid_proto::v1::Delivery) -> bool,
    ) -> civicgrid_proto::v1::Delivery {
        self.wait_channel(notification_id, civicgrid_proto::v1::Channel::Webhook, what, check).await
    }

    /// `recipient`'s webhook endpoints as an administrator sees them.
    pub async fn webhooks(&self, recipient: &str, include_inactive: bool) -> Vec<civicgrid_proto::v1::WebhookEndpoint> {
        let mut c = self.client.clone();
        let req = civicgrid_proto::v1::ListWebhooksRequest { recipient: recipient.into(), include_inactive };
        c.list_webhooks(authed(req, &admin())).await.expect("list webhooks").into_inner().endpoints
    }

    /// Waits until `recipient`'s only endpoint satisfies `check`; returns it.
    pub async fn wait_endpoint(
        &self,
        recipient: &str,
        what: &str,
        check: impl Fn(&civicgrid_proto::v1::WebhookEndpoint) -> bool,
    ) -> civicgrid_proto::v1::WebhookEndpoint {
        eventually(what, async || {
            let mut e = self.webhooks(recipient, false).await;
            assert_eq!(e.len(), 1, "{recipient} has one endpoint");
            if check(&e[0]) { Ok(e.remove(0)) } else { Err(format!("the endpoint is {e:#?}")) }
        })
        .await
    }

    /// Stores preferences as an administrator.
    pub async fn set_prefs(&self, p: civicgrid_proto::v1::Preferences) -> civicgrid_proto::v1::Preferences {
        let mut c = self.client.clone();
        let req = civicgrid_proto::v1::SetPreferencesRequest { preferences: Some(p) };
        c.set_preferences(authed(req, &admin())).await.expect("set preferences").into_inner()
    }

    /// Waits for the last dead letter on `subject`.
    pub async fn wait_dead_letter(&self, subject: &str) -> jetstream::message::StreamMessage {
        eventually(&format!("a dead letter on {subject}"), async || {
            let stream = self.js.get_stream("CIVICGRID_DEADLETTER").await.map_err(|e| e.to_string())?;
            stream.get_last_raw_message_by_subject(subject).await.map_err(|e| e.to_string())
        })
        .await
    }

    /// A pool on notify's schema, to look at what is stored.
    pub async fn db(&self) -> sqlx::PgPool {
        civicgrid_kit::db::connect(&self.settings.common.database, civicgrid_notify::SERVICE).await.expect("db")
    }
}
