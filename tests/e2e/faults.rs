//! Faults: the intake process is killed mid-flow while clients keep submitting and retrying.
//! Every accepted report must reach JetStream exactly once.

use std::{collections::HashSet, time::Duration};

use civicgrid_e2e::{Suite, books};
use futures::StreamExt;

/// Submits report `i` until intake answers; a retry reuses the request id.
pub(crate) async fn submit_with_retries(endpoint: String, i: usize) -> String {
    books::submit_with_retries(&mut None, &endpoint, i, Duration::from_secs(120)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_intake_mid_flow_loses_no_accepted_event_and_duplicates_none() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    let endpoint = format!("http://{}", suite.intake);
    const N: usize = 120;

    let mut workers = Vec::new();
    for w in 0..4 {
        let endpoint = endpoint.clone();
        workers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (w..N).step_by(4) {
                ids.push(submit_with_retries(endpoint.clone(), i).await);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ids
        }));
    }
    // Kill intake while the workers are busy; the supervisor starts it again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = suite.service_pid("intake");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGKILL) };

    let mut accepted = HashSet::new();
    for w in workers {
        accepted.extend(w.await.unwrap());
    }
    assert_eq!(accepted.len(), N, "every request accepted once, retries answered with the first answer");
    assert_ne!(suite.service_pid("intake"), pid, "the supervisor restarted intake");

    // Every accepted event is published exactly once.
    let client = suite.nats().await;
    let js = async_nats::jetstream::new(client);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut published = Vec::new();
    while tokio::time::Instant::now() < deadline {
        let mut stream = js.get_stream("CIVICGRID_INTAKE").await.unwrap();
        if stream.info().await.unwrap().state.messages as usize >= N {
            let consumer =
                stream.create_consumer(async_nats::jetstream::consumer::pull::Config::default()).await.unwrap();
            let mut batch =
                consumer.fetch().max_messages(N + 50).expires(Duration::from_secs(2)).messages().await.unwrap();
            while let Some(Ok(m)) = batch.next().await {
                let h = m.headers.clone().unwrap_or_default();
                published.push(h.get("ce-subject").map(|v| v.as_str().to_string()).unwrap_or_default());
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(published.len(), N, "one message per accepted event, no more");
    let published: HashSet<String> = published.into_iter().collect();
    assert_eq!(published, accepted);
}
