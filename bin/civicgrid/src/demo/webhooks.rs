//! The departments' duty desks as webhook receivers of notify, played for the demo.

use civicgrid_kit::Shutdown;
use civicgrid_proto::v1::TaskEvent;
use futures::StreamExt;
use prost::Message;

use super::{token, with_token};

/// Plays the departments' own systems for notify: a webhook receiver on loopback, registered
/// for each department's duty desk as soon as a task is assigned to it; every signed call it
/// receives is checked and printed, so the console shows notifications going out.
pub async fn duty_desk_webhooks(notify: String, nats_url: String, secret: String, shutdown: Shutdown) {
    use civicgrid_notify::{
        channels::webhook::{SIGNATURE, TIMESTAMP},
        domain::signature,
    };
    use civicgrid_proto::v1::{RegisterWebhookRequest, notify_service_client::NotifyServiceClient};

    let hook_secret = format!("demo-webhook-{:032x}", rand::random::<u128>());
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            println!("[webhook] cannot listen for the demo receiver: {e}");
            return;
        }
    };
    let url = match listener.local_addr() {
        Ok(a) => format!("http://{a}/civicgrid"),
        Err(_) => return,
    };
    let checked = hook_secret.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
        let secret = checked.clone();
        async move {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let timestamp = header(TIMESTAMP).parse::<i64>().unwrap_or_default();
            let valid = signature::verify(
                secret.as_bytes(),
                &header(SIGNATURE),
                timestamp,
                &body,
                chrono::Utc::now().timestamp(),
                300,
            );
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let recipient = json["recipient"].as_str().unwrap_or_default();
            for n in json["notifications"].as_array().into_iter().flatten() {
                println!(
                    "[webhook] {recipient} <- {} ({}, signature {})",
                    n["title"].as_str().unwrap_or_default(),
                    n["priority"].as_str().unwrap_or_default(),
                    if valid { "valid" } else { "INVALID" }
                );
            }
            if valid { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNAUTHORIZED }
        }
    });
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await;
    });

    let Ok(nats) = super::connect_nats(&nats_url).await else { return };
    let Ok(mut assigned) = nats.subscribe("civicgrid.dispatch.task-assigned.>").await else { return };
    let admin = token(&secret, "admin", "");
    let mut registered = std::collections::HashSet::new();
    loop {
        let msg = tokio::select! {
            m = assigned.next() => m,
            _ = shutdown.cancelled() => return,
        };
        let Some(msg) = msg else { return };
        let Ok(task) = TaskEvent::decode(msg.payload.clone()) else { continue };
        if task.department_id.is_empty() || !registered.insert(task.department_id.clone()) {
            continue;
        }
        let Ok(mut client) = NotifyServiceClient::connect(notify.clone()).await else { continue };
        let request = RegisterWebhookRequest {
            recipient: format!("department:{}", task.department_id),
            url: url.clone(),
            secret: hook_secret.clone(),
            description: "civicgrid up demo receiver".into(),
            // One endpoint per department and run of `up`.
            request_id: format!("demo-{}-{}", std::process::id(), task.department_id).chars().take(64).collect(),
        };
        match client.register_webhook(with_token(request, &admin)).await {
            Ok(_) => println!("[webhook] registered {url} for department:{}", task.department_id),
            Err(e) => println!("[webhook] registering for {} failed: {}", task.department_id, e.message()),
        }
    }
}
