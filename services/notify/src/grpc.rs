//! `civicgrid.v1.NotifyService`: validate → check the caller's right to the recipient → store;
//! errors mapped to gRPC status here.

use std::{pin::Pin, sync::Arc, time::Duration};

use base64::Engine;
use civicgrid_kit::{
    Shutdown,
    auth::{Principal, principal},
    clock::Clock,
    grpc::{REQUEST_ID_RULE, Violations, decode_page_token, encode_page_token, internal, invalid_field, is_request_id},
};
use civicgrid_proto::v1::{
    self as pb, AcknowledgeRequest, Channel, DeleteWebhookRequest, DeliveryStatus, GetPreferencesRequest,
    ListDeliveriesRequest, ListDeliveriesResponse, ListInboxRequest, ListInboxResponse, ListWebhooksRequest,
    ListWebhooksResponse, MarkReadRequest, MarkReadResponse, Notification, Preferences, RegisterWebhookRequest,
    SetPreferencesRequest, WatchInboxRequest, WebhookEndpoint, notify_service_server::NotifyService,
};
use futures::Stream;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::{recipients::Recipient, schedule::QuietHours},
    rules::LOCALES,
    store::{NewPrefs, Prefs, Store, StoreError},
};

/// The gRPC handlers.
pub struct NotifyApi {
    store: Arc<Store>,
    clock: Clock,
    watch_poll: Duration,
    /// Ends open WatchInbox streams, so a watching client cannot hold up a shutdown.
    shutdown: Shutdown,
    allow_private_webhooks: bool,
}

impl NotifyApi {
    /// Handlers over `store`.
    pub fn new(store: Arc<Store>, clock: Clock, watch_poll: Duration, shutdown: Shutdown) -> Self {
        NotifyApi { store, clock, watch_poll, shutdown, allow_private_webhooks: false }
    }

    /// Accept webhook URLs on loopback, private and link-local addresses.
    pub fn allow_private_webhooks(mut self, allow: bool) -> Self {
        self.allow_private_webhooks = allow;
        self
    }
}

fn store_status(context: &str, e: StoreError) -> Status {
    internal(context, e)
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

fn page_size(v: &mut Violations, size: i32) -> i64 {
    v.check((0..=500).contains(&size), "page_size", "must be between 0 and 500");
    if size <= 0 { 50 } else { i64::from(size.min(500)) }
}

fn encode_cursor_token(cursor: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("inbox:{cursor}"))
}

fn decode_cursor_token(token: &str) -> Option<i64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("inbox:")?.parse().ok().filter(|c| *c > 0)
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

type Streamed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl NotifyService for NotifyApi {
    async fn list_inbox(&self, request: Request<ListInboxRequest>) -> Result<Response<ListInboxResponse>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let recipient = recipient_for(&caller, "recipient", &req.recipient)?.to_string();
        let mut v = Violations::new();
        let limit = page_size(&mut v, req.page_size);
        let before = if req.page_token.is_empty() {
            0
        } else {
            decode_cursor_token(&req.page_token).unwrap_or_else(|| {
                v.add("page_token", "not a token this service issued");
                0
            })
        };
        v.into_result()?;
        let (notifications, unread) = self
            .store
            .inbox_page(&recipient, req.unread_only, before, limit)
            .await
            .map_err(|e| store_status("reading the inbox", e))?;
        let next_page_token = match notifications.last() {
            Some(last) if notifications.len() as i64 == limit => encode_cursor_token(last.cursor),
            _ => String::new(),
        };
        Ok(Response::new(ListInboxResponse { notifications, next_page_token, unread }))
    }

    type WatchInboxStream = Streamed<Notification>;

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
        let mut cursor = if req.cursor > 0 {
            req.cursor
        } else if req.live_only {
            self.store.last_cursor(&recipient).await.map_err(|e| store_status("reading the inbox", e))?
        } else {
            0
        };
        let (tx, rx) = mpsc::channel::<Result<Notification, Status>>(256);
        let store = self.store.clone();
        let poll = self.watch_poll;
        let wake = store.work_signal();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                // Registered before reading, so a commit between the read and the wait wakes us.
                let notified = wake.notified();
                let batch = match store.inbox_after(&recipient, cursor, 200).await {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(store_status("reading the inbox", e))).await;
                        return;
                    }
                };
                for n in &batch {
                    cursor = n.cursor;
                    if tx.send(Ok(n.clone())).await.is_err() {
                        return;
                    }
                }
                if batch.is_empty() {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(poll) => {}
                        _ = tx.closed() => return,
                        _ = shutdown.cancelled() => {
                            let _ = tx.send(Err(Status::unavailable("notify is shutting down; resume from the last cursor"))).await;
                            return;
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
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
        let limit = page_size(&mut v, req.page_size);
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
        let before = if req.page_token.is_empty() {
            None
        } else {
            let t = decode_page_token(&req.page_token);
            v.check(t.is_some(), "page_token", "not a token this service issued");
            t
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
            .deliveries(notification, recipient.as_deref(), status, before, limit)
            .await
            .map_err(|e| store_status("listing deliveries", e))?;
        let next_page_token = match deliveries.last() {
            Some(last) if deliveries.len() as i64 == limit => {
                Uuid::parse_str(&last.id).map(encode_page_token).unwrap_or_default()
            }
            _ => String::new(),
        };
        Ok(Response::new(ListDeliveriesResponse { deliveries, next_page_token }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_tokens_round_trip_and_refuse_others() {
        assert_eq!(decode_cursor_token(&encode_cursor_token(42)), Some(42));
        assert_eq!(decode_cursor_token("garbage!"), None);
        assert_eq!(decode_cursor_token(&encode_page_token(Uuid::now_v7())), None);
    }

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
