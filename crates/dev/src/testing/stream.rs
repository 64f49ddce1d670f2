//! Reading what a JetStream stream holds, for assertions.

use std::time::Duration;

use async_nats::jetstream;
use civicgrid_kit::bus::Incoming;
use futures::StreamExt;

/// Every message on `stream` so far, in stream order (none when the stream does not exist).
/// Reads through an ephemeral consumer that acknowledges nothing and disappears by itself.
pub async fn messages(js: &jetstream::Context, stream: &str) -> Vec<Incoming> {
    let Ok(mut s) = js.get_stream(stream).await else { return vec![] };
    let count = s.info().await.map(|i| i.state.messages).unwrap_or(0) as usize;
    if count == 0 {
        return vec![];
    }
    let consumer = s
        .create_consumer(jetstream::consumer::pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(5),
            ..Default::default()
        })
        .await
        .expect("an ephemeral consumer");
    let mut out = Vec::with_capacity(count);
    let mut batch = consumer.fetch().max_messages(count).messages().await.expect("fetch");
    while let Some(Ok(m)) = batch.next().await {
        out.push(Incoming::from_jetstream(&m));
        if out.len() >= count {
            break;
        }
    }
    out
}

/// The messages on `stream` whose subject matches `filter` (a NATS subject pattern).
pub async fn messages_on(js: &jetstream::Context, stream: &str, filter: &str) -> Vec<Incoming> {
    messages(js, stream).await.into_iter().filter(|m| subject_matches(filter, &m.subject)).collect()
}

/// NATS subject matching: `*` is one token, a final `>` one or more.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn wildcards() {
        assert!(subject_matches("civicgrid.*.*.411600.411602.>", "civicgrid.intake.event-reported.411600.411602._._"));
        assert!(!subject_matches("civicgrid.*.*.411600.411603.>", "civicgrid.intake.event-reported.411600.411602._._"));
        assert!(!subject_matches("a.>", "a"));
        assert!(subject_matches("a.b", "a.b"));
    }
}
