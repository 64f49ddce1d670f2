//! `civicgrid.v1.NotifyService`: validate → check the caller's right to the recipient → store;
//! errors mapped to gRPC status here.

use std::{sync::Arc, time::Duration};

use civicgrid_kit::{
    Shutdown,
    auth::{Principal, principal},
    clock::Clock,
    grpc::{
        REQUEST_ID_RULE, Violations, invalid_field, is_request_id,
        paging::{Page, PageRequest},
        watch::{self, Follow, WatchStream},
    },
    storage::store_status,
};
use civicgrid_proto::v1::{
    self as pb, AcknowledgeRequest, Channel, DeleteWebhookRequest, DeliveryStatus, GetPreferencesRequest,
    ListDeliveriesRequest, ListDeliveriesResponse, ListInboxRequest, ListInboxResponse, ListWebhooksRequest,
    ListWebhooksResponse, MarkReadRequest, MarkReadResponse, Notification, Preferences, RegisterWebhookRequest,
    SetPreferencesRequest, WatchInboxRequest, WebhookEndpoint, notify_service_server::NotifyService,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::{recipients::Recipient, schedule::QuietHours},
    rules::LOCALES,
    store::{NewPrefs, Prefs, Store},
};

/// The gRPC handlers.
pub struct NotifyApi {
    store: Arc<Store>,
    clock: Clock,
    /// How WatchInbox follows the inbox (and ends when the service stops taking calls).
    follow: Follow,
    allow_private_webhooks: bool,
}

impl NotifyApi {
    /// Handlers over `store`; WatchInbox polls every `watch_poll` and ends when `stopping` is
    /// cancelled, so a watching client cannot hold up a shutdown.
    pub fn new(store: Arc<Store>, clock: Clock, watch_poll: Duration, stopping: Shutdown) -> Self {
        let follow = Follow { wake: store.inbox_signal(), poll: watch_poll, stopping, batch: 200 };
        NotifyApi { store, clock, follow, allow_private_webhooks: false }
    }

    /// Accept webhook URLs on loopback, private and link-local addresses.
    pub fn allow_private_webhooks(mut self, allow: bool) -> Self {
        self.allow_private_webhooks = allow;
        self
    }
}

/// Parses `field` as a recipient the caller may see: INVALID_ARGUMENT when malformed,
/// PERMISSION_DENIED when outside the caller's scope.
fn recipient_for(caller: &Principal, field: &str, value: &str) -> Result<Recipient, Status> {
    let r = Recipient::parse(value.trim()).map_err(|e| invalid_field(field, &e))?;
    if !r.visible_to(caller) {
        return Err(Status::permission_denied(format!("{r} is outside the caller's scope")));
    }
    Ok(r)
}

fn parse_id(v: &mut Violations, field: &str, value: &str) -> Option<Uuid> {
    let id = Uuid::parse_str(value.trim()).ok();
    if id.is_none() {
        v.add(field, "must be a UUID");
    }
    id
}

/// Whether `url` names this host, a private network or a link-local address (cloud metadata
/// services live there): a webhook must not make notify call into its own cluster. Names are
/// judged as written; one that resolves to such an address later is the egress policy's to stop
/// (deploy/README.md).
fn is_private_target(url: &reqwest::Url) -> bool {
    use std::net::IpAddr;
    let private = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback() || v4.is_private() || v4.is_link_local())
        }
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) => private(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => private(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => true,
    }
}

fn is_phone(s: &str) -> bool {
    s.len() == 11 && s.starts_with('1') && s.bytes().all(|b| b.is_ascii_digit())
}

fn prefs_proto(p: Prefs) -> Preferences {
    Preferences {
        recipient: p.recipient,
        channels: p.channels.into_iter().map(|c| c as i32).collect(),
        locale: p.locale,
        quiet_hours: p.quiet.map(|(start, end)| pb::QuietHours { start, end }),
        digest_interval_minutes: p.digest_minutes,
        sms_phone: p.phone_masked.unwrap_or_default(),
        defaults: p.defaults,
        updated_at: p.updated_at.map(civicgrid_kit::time::to_proto),
    }
}

#[tonic::async_trait]
impl NotifyService for NotifyApi {
    async fn list_inbox(&self, request: Request<ListInboxRequest>) -> Result<Response<ListInboxResponse>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let recipient = recipient_for(&caller, "recipient", &req.recipient)?.to_string();
        let mut v = Violations::new();
        let page: PageRequest<i64> = PageRequest::parse(&mut v, req.page_size, &req.page_token);
        v.into_result()?;
        let (notifications, unread) = self
            .store
            .inbox_page(&recipient, req.unread_only, page.after.unwrap_or(0), page.fetch())
            .await
            .map_err(|e| store_status("reading the inbox", e))?;
        let page = Page::of(notifications, &page, |n| n.cursor);
        Ok(Response::new(ListInboxResponse {
            notifications: page.items,
            next_page_token: page.next_page_token,
            unread,
        }))
    }

    type WatchInboxStream = WatchStream<Notification>;

    async fn watch_inbox(
        &self,
        request: Request<WatchInboxRequest>,
    ) -> Result<Response<Self::WatchInboxStream>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let recipient = recipient_for(&caller, "recipient", &req.recipient)?.to_string();
        if req.cursor < 0 {
            return Err(invalid_field("cursor", "must not be negative"));
        }
        let cursor = if req.cursor > 0 {
            req.cursor
        } else if req.live_only {
            self.store.last_cursor(&recipient).await.map_err(|e| store_status("reading the inbox", e))?
        } else {
            0
        };
        let store = self.store.clone();
        let stream = watch::follow(cursor, self.follow.clone(), move |after, limit| {
            let (store, recipient) = (store.clone(), recipient.clone());
            async move {
                let batch = store
                    .inbox_after(&recipient, after, limit)
                    .await
                    .map_err(|e| store_status("reading the inbox", e))?;
                Ok(batch.into_iter().map(|n| (n.cursor, Some(n))).collect())
            }
        });
        Ok(Response::new(stream))
    }

    async fn mark_read(&self, request: Request<MarkReadRequest>) -> Result<Response<MarkReadResponse>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let recipient = recipient_for(&caller, "recipient", &req.recipient)?.to_string();
        let mut v = Violations::new();
        v.check(
            (1..=500).contains(&req.notification_ids.len()),
            "notification_ids",
            "must name 1 to 500 notifications",
        );
        let mut ids = Vec::new();
        for (i, id) in req.notification_ids.iter().enumerate() {
            if let Some(id) = parse_id(&mut v, &format!("notification_ids[{i}]"), id) {
                ids.push(id);
            }
        }
        v.into_result()?;
        let (marked, unread) = self
            .store
            .mark_read(&recipient, &ids, self.clock.now())
            .await
            .map_err(|e| store_status("marking read", e))?;
        Ok(Response::new(MarkReadResponse { marked, unread }))
    }

    async fn acknowledge(&self, request: Request<AcknowledgeRequest>) -> Result<Response<Notification>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let id = parse_id(&mut v, "notification_id", &req.notification_id);
        v.check(is_request_id(&req.request_id), "request_id", REQUEST_ID_RULE);
        v.into_result()?;
        let id = id.unwrap_or_default();
        let note = self.store.notification(id).await.map_err(|e| store_status("reading a notification", e))?;
        let Some(note) = note.filter(|n| Recipient::parse(&n.recipient).is_ok_and(|r| r.visible_to(&caller))) else {
            return Err(Status::not_found("no such notification"));
        };
        if !note.ack_required {
            return Err(Status::failed_precondition("this notification does not ask for acknowledgement"));
        }
        self.store
            .acknowledge(id, &req.request_id, self.clock.now())
            .await
            .map_err(|e| store_status("acknowledging", e))?;
        let note = self.store.notification(id).await.map_err(|e| store_status("reading a notification", e))?;
        tracing::info!(notification = %id, "notification acknowledged");
        note.map(Response::new).ok_or_else(|| Status::not_found("no such notification"))
    }

    async fn register_webhook(
        &self,
        request: Request<RegisterWebhookRequest>,
    ) -> Result<Response<WebhookEndpoint>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let recipient = recipient_for(&caller, "recipient", &req.recipient)?;
        let mut v = Violations::new();
        v.check(recipient.takes_webhooks(), "recipient", "webhooks serve departments, centers and leaders");
        let url = reqwest::Url::parse(&req.url)
            .ok()
            .filter(|u| req.url.len() <= 2000 && matches!(u.scheme(), "http" | "https") && u.host().is_some());
        match &url {
            None => v.add("url", "must be an http or https URL with a host, at most 2,000 characters"),
            Some(u) if !self.allow_private_webhooks && is_private_target(u) => v.add(
                "url",
                "must not point at loopback, private or link-local addresses (notify.allow_private_webhooks is off)",
            ),
            Some(_) => {}
        }
        v.check((16..=256).contains(&req.secret.chars().count()), "secret", "must be 16 to 256 characters");
        v.check(!req.secret.chars().any(char::is_control), "secret", "must not contain control characters");
        v.check(
            req.description.chars().count() <= 200 && !req.description.chars().any(char::is_control),
            "description",
            "must be at most 200 characters, without control characters",
        );
        v.check(is_request_id(&req.request_id), "request_id", REQUEST_ID_RULE);
        v.into_result()?;
        let endpoint = self
            .store
            .register_webhook(
                &recipient.to_string(),
                url.as_ref().map(|u| u.as_str()).unwrap_or_default(),
                &req.secret,
                req.description.trim(),
                &req.request_id,
                self.clock.now(),
            )
            .await
            .map_err(|e| store_status("registering a webhook", e))?;
        tracing::info!(endpoint = %endpoint.id, recipient = %endpoint.recipient, "webhook registered");
        Ok(Response::new(endpoint))
    }

    async fn list_webhooks(
        &self,
        request: Request<ListWebhooksRequest>,
    ) -> Result<Response<ListWebhooksResponse>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let recipient = recipient_for(&caller, "recipient", &req.recipient)?.to_string();
        let endpoints = self
            .store
            .webhooks(&recipient, req.include_inactive, self.clock.now())
            .await
            .map_err(|e| store_status("listing webhooks", e))?;
        Ok(Response::new(ListWebhooksResponse { endpoints }))
    }

    async fn delete_webhook(
        &self,
        request: Request<DeleteWebhookRequest>,
    ) -> Result<Response<WebhookEndpoint>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let id = parse_id(&mut v, "endpoint_id", &req.endpoint_id);
        v.into_result()?;
        let id = id.unwrap_or_default();
        let now = self.clock.now();
        let found = self.store.webhook(id, now).await.map_err(|e| store_status("reading a webhook", e))?;
        let Some(_) = found.filter(|e| Recipient::parse(&e.recipient).is_ok_and(|r| r.visible_to(&caller))) else {
            return Err(Status::not_found("no such webhook endpoint"));
        };
        self.store.delete_webhook(id, now).await.map_err(|e| store_status("deleting a webhook", e))?;
        let endpoint = self.store.webhook(id, now).await.map_err(|e| store_status("reading a webhook", e))?;
        endpoint.map(Response::new).ok_or_else(|| Status::not_found("no such webhook endpoint"))
    }

    async fn get_preferences(&self, request: Request<GetPreferencesRequest>) -> Result<Response<Preferences>, Status> {
        let caller = principal(&request)?;
        let recipient = recipient_for(&caller, "recipient", &request.into_inner().recipient)?.to_string();
        let p = self.store.preferences(&recipient).await.map_err(|e| store_status("reading preferences", e))?;
        Ok(Response::new(prefs_proto(p)))
    }

    async fn set_preferences(&self, request: Request<SetPreferencesRequest>) -> Result<Response<Preferences>, Status> {
        let caller = principal(&request)?;
        let Some(p) = request.into_inner().preferences else {
            return Err(invalid_field("preferences", "required"));
        };
        let recipient = recipient_for(&caller, "preferences.recipient", &p.recipient)?.to_string();
        let mut v = Violations::new();
        let mut channels = vec![Channel::Inbox];
        for (i, c) in p.channels.iter().enumerate() {
            match Channel::try_from(*c) {
                Ok(Channel::Unspecified) | Err(_) => v.add(format!("preferences.channels[{i}]"), "not a channel"),
                Ok(c) if !channels.contains(&c) => channels.push(c),
                Ok(_) => {}
            }
        }
        v.check(LOCALES.contains(&p.locale.as_str()), "preferences.locale", "must be zh-CN or en");
        let quiet = match &p.quiet_hours {
            None => None,
            Some(q) if QuietHours::parse(&q.start, &q.end).is_some() => {
                Some((q.start.trim().to_string(), q.end.trim().to_string()))
            }
            Some(_) => {
                v.add("preferences.quiet_hours", "start and end must be times like 22:00 and 07:00");
                None
            }
        };
        v.check(
            (0..=1440).contains(&p.digest_interval_minutes)
                && (p.digest_interval_minutes == 0 || 1440 % p.digest_interval_minutes == 0),
            "preferences.digest_interval_minutes",
            "must be 0 (no digest) or divide a day: 1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 240, 360, 480, 720 or 1440",
        );
        let phone = match p.sms_phone.trim() {
            "" => None,
            "-" => Some(String::new()),
            s if is_phone(s) => Some(s.to_string()),
            _ => {
                v.add("preferences.sms_phone", "must be an 11-digit mobile number starting with 1, or - to remove it");
                None
            }
        };
        v.into_result()?;
        if channels.contains(&Channel::Sms) {
            let stored =
                self.store.preferences(&recipient).await.map_err(|e| store_status("reading preferences", e))?;
            let has_phone = match &phone {
                Some(p) => !p.is_empty(),
                None => stored.phone_masked.is_some(),
            };
            if !has_phone {
                return Err(invalid_field("preferences.sms_phone", "the SMS channel needs a phone number"));
            }
        }
        let new = NewPrefs { channels, locale: p.locale, quiet, digest_minutes: p.digest_interval_minutes, phone };
        let stored = self
            .store
            .set_preferences(&recipient, &new, self.clock.now())
            .await
            .map_err(|e| store_status("storing preferences", e))?;
        Ok(Response::new(prefs_proto(stored)))
    }

    async fn list_deliveries(
        &self,
        request: Request<ListDeliveriesRequest>,
    ) -> Result<Response<ListDeliveriesResponse>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page: PageRequest<Uuid> = PageRequest::parse(&mut v, req.page_size, &req.page_token);
        let notification = (!req.notification_id.is_empty())
            .then(|| parse_id(&mut v, "notification_id", &req.notification_id))
            .flatten();
        v.check(
            !req.notification_id.is_empty() || !req.recipient.is_empty(),
            "recipient",
            "give a recipient or a notification_id",
        );
        let status = match DeliveryStatus::try_from(req.status) {
            Ok(DeliveryStatus::Unspecified) => None,
            Ok(s) => Some(s),
            Err(_) => {
                v.add("status", "not a delivery status");
                None
            }
        };
        v.into_result()?;
        let recipient = if req.recipient.is_empty() {
            None
        } else {
            Some(recipient_for(&caller, "recipient", &req.recipient)?.to_string())
        };
        if let Some(id) = notification {
            let note = self.store.notification(id).await.map_err(|e| store_status("reading a notification", e))?;
            if !note.is_some_and(|n| Recipient::parse(&n.recipient).is_ok_and(|r| r.visible_to(&caller))) {
                return Err(Status::not_found("no such notification"));
            }
        }
        let deliveries = self
            .store
            .deliveries(notification, recipient.as_deref(), status, page.after, page.fetch())
            .await
            .map_err(|e| store_status("listing deliveries", e))?;
        let page = Page::of(deliveries, &page, |d| Uuid::parse_str(&d.id).unwrap_or_default());
        Ok(Response::new(ListDeliveriesResponse { deliveries: page.items, next_page_token: page.next_page_token }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_targets() {
        let p = |s: &str| is_private_target(&reqwest::Url::parse(s).unwrap());
        for private in [
            "http://127.0.0.1:8080/x",
            "http://10.1.2.3/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://localhost:9000/",
        ] {
            assert!(p(private), "{private}");
        }
        for public in ["https://hooks.example.org/civicgrid", "http://203.0.113.7/", "https://[2001:db8::1]/"] {
            assert!(!p(public), "{public}");
        }
    }

    #[test]
    fn phones() {
        assert!(is_phone("13812345678"));
        assert!(!is_phone("2381234567"));
        assert!(!is_phone("1381234567x"));
    }
}
