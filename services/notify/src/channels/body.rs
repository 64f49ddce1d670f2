//! What a webhook receives and what an SMS says. One shape for single notifications and
//! digests: `notifications` holds one element or the digest's members.

use civicgrid_kit::time::from_proto;
use civicgrid_proto::v1::{Notification, Priority};
use serde_json::{Value, json};

fn priority_name(p: i32) -> &'static str {
    match Priority::try_from(p).unwrap_or(Priority::Unspecified) {
        Priority::Low => "low",
        Priority::High => "high",
        Priority::Critical => "critical",
        _ => "normal",
    }
}

fn time(ts: Option<&prost_types::Timestamp>) -> Value {
    ts.and_then(from_proto)
        .map(|t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

/// One notification as JSON.
pub fn notification_json(n: &Notification) -> Value {
    let region = n.region.clone().unwrap_or_default();
    json!({
        "id": n.id,
        "recipient": n.recipient,
        "fact": n.fact,
        "rule": n.rule,
        "priority": priority_name(n.priority),
        "locale": n.locale,
        "title": n.title,
        "body": n.body,
        "subject_id": n.subject_id,
        "source_type": n.source_type,
        "source_event_id": n.source_event_id,
        "region": { "city": region.city, "county": region.county, "township": region.township, "village": region.village },
        "created_at": time(n.created_at.as_ref()),
        "ack_required": n.ack_required,
        "ack_due_at": time(n.ack_due_at.as_ref()),
        "data": n.data,
    })
}

/// The webhook body of a delivery.
pub fn webhook_body(
    delivery_id: &str,
    endpoint_id: &str,
    recipient: &str,
    digest: bool,
    notes: &[Notification],
) -> Vec<u8> {
    json!({
        "delivery_id": delivery_id,
        "endpoint_id": endpoint_id,
        "recipient": recipient,
        "digest": digest,
        "notifications": notes.iter().map(notification_json).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes()
}

/// The text of an SMS: "title: body" for one notification; a count and the titles for a digest.
pub fn sms_text(digest: bool, notes: &[Notification]) -> String {
    match notes {
        [one] if !digest => format!("{}：{}", one.title, one.body),
        _ => {
            let titles: Vec<&str> = notes.iter().map(|n| n.title.as_str()).collect();
            let zh = notes.first().is_none_or(|n| n.locale != "en");
            if zh {
                format!("您有{}条新通知：{}", notes.len(), titles.join("；"))
            } else {
                format!("{} notifications: {}", notes.len(), titles.join("; "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let n =
            Notification { id: "n1".into(), title: "T".into(), body: "B".into(), priority: 4, ..Default::default() };
        let body: Value =
            serde_json::from_slice(&webhook_body("d1", "e1", "department:x", false, std::slice::from_ref(&n))).unwrap();
        assert_eq!(body["notifications"][0]["priority"], "critical");
        assert_eq!(body["delivery_id"], "d1");
        assert_eq!(sms_text(false, std::slice::from_ref(&n)), "T：B");
        assert_eq!(sms_text(true, &[n.clone(), n]), "您有2条新通知：T；T");
    }
}
