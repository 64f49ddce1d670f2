//! The api keys of POST requests (`intake.open311.api_keys`) and the idempotency key a POST
//! gets from its content.
//!
//! The setting is one string, so it can come from one environment variable or Secret:
//! comma-separated `<channel>:<source>:<key>` entries, e.g.
//! `zhoukou-app:citizen_app:4f0c…,hotline:hotline_12345:9a1e…`. The channel names the caller
//! (its reports are submitted as `open311:<channel>`, the subject of intake's idempotency);
//! the source is the `EventSource` its reports carry.

use civicgrid_kit::auth::Principal;
use civicgrid_proto::v1::{EventSource, Role};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The sources a key may report as, by their name in the setting.
const SOURCES: &[(&str, EventSource)] = &[
    ("citizen_app", EventSource::CitizenApp),
    ("hotline_12345", EventSource::Hotline12345),
    ("grid_worker", EventSource::GridWorker),
    ("patrol", EventSource::Patrol),
    ("video_alarm", EventSource::VideoAlarm),
    ("department_referral", EventSource::DepartmentReferral),
];

/// One configured key.
#[derive(Clone)]
pub struct ApiKey {
    /// Who uses it, e.g. `zhoukou-app`.
    pub channel: String,
    /// The source of its reports.
    pub source: EventSource,
    key: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey").field("channel", &self.channel).field("source", &self.source).finish_non_exhaustive()
    }
}

/// Every configured key.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys(Vec<ApiKey>);

fn is_channel(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_key(s: &str) -> bool {
    (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=".contains(&b))
}

/// Constant-time equality of two byte strings of the same length (the length is not secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ApiKeys {
    /// Parses the setting; an error says which entry is wrong (without its key).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys: Vec<ApiKey> = Vec::new();
        for (n, entry) in text.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let mut parts = entry.splitn(3, ':');
            let (channel, source, key) = (parts.next(), parts.next(), parts.next());
            let (Some(channel), Some(source), Some(key)) = (channel, source, key) else {
                return Err(format!("entry {}: write it as <channel>:<source>:<key>", n + 1));
            };
            if !is_channel(channel) {
                return Err(format!("entry {}: the channel must be 1-32 of a-z 0-9 -", n + 1));
            }
            let Some(&(_, source)) = SOURCES.iter().find(|(name, _)| *name == source) else {
                let names: Vec<&str> = SOURCES.iter().map(|(name, _)| *name).collect();
                return Err(format!("entry {} ({channel}): the source must be one of {}", n + 1, names.join(", ")));
            };
            if !is_key(key) {
                return Err(format!(
                    "entry {} ({channel}): the key must be 16-128 of A-Z a-z 0-9 - _ . ~ + / =",
                    n + 1
                ));
            }
            if keys.iter().any(|k| k.channel == channel || same(k.key.as_bytes(), key.as_bytes())) {
                return Err(format!("entry {} ({channel}): channel or key repeated", n + 1));
            }
            keys.push(ApiKey { channel: channel.to_string(), source, key: key.to_string() });
        }
        Ok(ApiKeys(keys))
    }

    /// The key `given`, if configured.
    pub fn find(&self, given: &str) -> Option<&ApiKey> {
        self.0.iter().find(|k| same(k.key.as_bytes(), given.as_bytes()))
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True without keys (every POST is refused).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ApiKey {
    /// The caller its reports are submitted as: a citizen app named `open311:<channel>`.
    pub fn principal(&self) -> Principal {
        Principal {
            subject: format!("open311:{}", self.channel),
            role: Role::CitizenApp,
            department_id: String::new(),
            region_scope: String::new(),
        }
    }

    /// The idempotency key (`request_id`) of a POST with these form `fields` (`api_key` left
    /// out): the same content from the same key gives the same id, whatever the order of the
    /// fields, so a retried POST is answered from intake's stored first answer. An HMAC under
    /// the api key, so the stored id reveals nothing of the content to whoever lacks the key.
    pub fn request_id(&self, fields: &[(String, String)]) -> String {
        let mut sorted: Vec<&(String, String)> = fields.iter().filter(|(k, _)| k != "api_key").collect();
        sorted.sort();
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.key.as_bytes()) else {
            // HMAC takes keys of any length; unreachable.
            return format!("o311-{}", self.channel);
        };
        for (k, v) in sorted {
            for part in [k.as_bytes(), b"\x1f", v.as_bytes(), b"\x1e"] {
                mac.update(part);
            }
        }
        let digest = mac.finalize().into_bytes();
        format!("o311-{}", hex::encode(&digest[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "zhoukou-app:citizen_app:app-key-0123456789, hotline:hotline_12345:hotline-key-012345";

    #[test]
    fn keys_parse_and_are_found() {
        let keys = ApiKeys::parse(TEXT).unwrap();
        assert_eq!(keys.len(), 2);
        let app = keys.find("app-key-0123456789").unwrap();
        assert_eq!((app.channel.as_str(), app.source), ("zhoukou-app", EventSource::CitizenApp));
        assert_eq!(app.principal().subject, "open311:zhoukou-app");
        assert_eq!(keys.find("hotline-key-012345").unwrap().source, EventSource::Hotline12345);
        assert!(keys.find("app-key-012345678").is_none());
        assert!(keys.find("").is_none());
        assert!(ApiKeys::parse("").unwrap().is_empty());
        assert!(!format!("{keys:?}").contains("app-key"), "keys never print");
    }

    #[test]
    fn bad_entries_are_refused_without_showing_the_key() {
        for (text, says) in [
            ("app:citizen_app", "entry 1"),
            ("App:citizen_app:app-key-0123456789", "channel"),
            ("app:citizens:app-key-0123456789", "source"),
            ("app:citizen_app:short", "key"),
            ("a:citizen_app:app-key-0123456789,b:patrol:app-key-0123456789", "repeated"),
        ] {
            let err = ApiKeys::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
            assert!(!err.contains("app-key"), "{err}");
        }
    }

    #[test]
    fn the_request_id_follows_the_content_and_the_key() {
        let keys = ApiKeys::parse(TEXT).unwrap();
        let app = keys.find("app-key-0123456789").unwrap();
        let f = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let a = app.request_id(&f(&[("service_code", "01.02.003"), ("lat", "33.6"), ("api_key", "x")]));
        let b = app.request_id(&f(&[("lat", "33.6"), ("service_code", "01.02.003"), ("api_key", "y")]));
        assert_eq!(a, b, "order and api_key do not matter");
        assert!(civicgrid_kit::grpc::is_request_id(&a), "{a}");
        let c = app.request_id(&f(&[("service_code", "01.02.003"), ("lat", "33.7")]));
        assert_ne!(a, c);
        let hotline = keys.find("hotline-key-012345").unwrap();
        assert_ne!(a, hotline.request_id(&f(&[("service_code", "01.02.003"), ("lat", "33.6")])));
    }
}
