//! A feed against a real nats-server: its stream made with the given age limit, batches handed
//! over whole and acked after the handler returns, poison dead-lettered with its reason, and a
//! batch held while the handler's database is away and then applied in order.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_nats::jetstream::{self, consumer::pull};
use civicgrid_contracts::{FactFamily, Feed, Stream, Subjects};
use civicgrid_dev::testing;
use civicgrid_kit::{
    Shutdown,
    bus::{self, FeedHandler, FeedOptions, HandleError, Incoming, Poison, inbox::BoxFuture},
    config::{BusSettings, NatsSettings},
    metrics::Metrics,
};
use civicgrid_proto::v1::TaskEvent;

const SERVICE: &str = "kitfeed";
const FACTS: FactFamily<TaskEvent> = FactFamily::new(SERVICE, &["task-assigned"]);
const STREAM: Stream = Stream { service: SERVICE, published: &[FACTS.published()], subjects: Subjects::Facts };
const FEED: Feed = Feed {
    service: SERVICE,
    name: "CIVICGRID_KITFEED_INPUTS",
    token: "input",
    durable: "kitfeed-inputs",
    message: <TaskEvent as prost::Name>::full_name,
};

/// Records what it applies; `bad` is poison; the first `unavailable` calls fail as if the
/// database were away.
#[derive(Clone, Default)]
struct Recorder {
    applied: Arc<Mutex<Vec<String>>>,
    unavailable: Arc<AtomicUsize>,
}

impl FeedHandler for Recorder {
    fn apply<'a>(&'a self, msgs: &'a [Incoming]) -> BoxFuture<'a, Result<Vec<Poison>, HandleError>> {
        Box::pin(async move {
            if self.unavailable.load(Ordering::SeqCst) > 0 {
                self.unavailable.fetch_sub(1, Ordering::SeqCst);
                return Err(HandleError::Unavailable("database away".into()));
            }
            let mut poison = Vec::new();
            for (index, m) in msgs.iter().enumerate() {
                let text = String::from_utf8_lossy(&m.payload).to_string();
                if text == "bad" {
                    poison.push(Poison { index, reason: "bad payload".into() });
                } else {
                    self.applied.lock().unwrap().push(text);
                }
            }
            Ok(poison)
        })
    }
}

/// The bus tests' settings: small batches and quick retries.
fn settings(url: String) -> (BusSettings, NatsSettings) {
    (crate::bus::bus_settings(), crate::bus::nats_settings(url))
}

#[tokio::test]
async fn a_feed_applies_batches_in_order_holds_them_while_unavailable_and_dead_letters_poison() {
    let server = testing::nats().await.expect("nats-server");
    let js = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let (bus_settings, nats_settings) = settings(server.url());
    bus::ensure_streams(&js, &STREAM, &nats_settings).await.unwrap();
    let recorder = Recorder::default();
    recorder.unavailable.store(2, Ordering::SeqCst);
    let stop = Shutdown::new();
    let options = FeedOptions { max_age: Duration::from_secs(600), batch: 10 };
    // The stream exists (with its age limit) as soon as the feed is started.
    let task = bus::run_feed(
        js.clone(),
        FEED,
        options,
        recorder.clone(),
        (&bus_settings, &nats_settings),
        Metrics::new(SERVICE),
        stop.clone(),
    )
    .await
    .unwrap();
    let info = js.get_stream(FEED.name).await.unwrap().info().await.unwrap().config.clone();
    assert_eq!(
        (info.max_age, info.subjects),
        (Duration::from_secs(600), vec!["civicgrid.kitfeed.input.>".to_string()])
    );
    for payload in ["a", "bad", "b", "c"] {
        js.publish("civicgrid.kitfeed.input.411600.411602._._", payload.into()).await.unwrap().await.unwrap();
    }
    testing::eventually("every good message applied", || async { recorder.applied.lock().unwrap().len() == 3 }).await;
    assert_eq!(*recorder.applied.lock().unwrap(), vec!["a", "b", "c"], "applied once each, in order");
    testing::eventually("the poison dead-lettered with its reason", || async {
        testing::stream::messages(&js, bus::DEADLETTER_STREAM).await.iter().any(|m| {
            m.subject == FEED.deadletter_subject()
                && m.headers.get("civicgrid-dlq-reason").map(String::as_str) == Some("bad payload")
        })
    })
    .await;
    testing::eventually("nothing left unacknowledged", || async {
        let mut consumer = js.get_consumer_from_stream::<pull::Config, _, _>(FEED.durable, FEED.name).await.unwrap();
        let info = consumer.info().await.unwrap();
        info.num_pending == 0 && info.num_ack_pending == 0
    })
    .await;
    assert_eq!(recorder.applied.lock().unwrap().len(), 3, "nothing applied twice");
    stop.cancel();
    task.await.unwrap();
}
