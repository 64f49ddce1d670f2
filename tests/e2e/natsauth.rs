//! NATS authorization in `civicgrid up`'s own setup: the users it makes from the topology and
//! the city's regions hold. A county center's credentials receive their county's facts, live and
//! through their durable consumer, and are refused another county's subjects, consumers other
//! than their own or filtered wider than their county, and every publish; a township center is
//! held to its township; a service cannot read another service's replies.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, consumer::pull};
use civicgrid_e2e::Suite;
use futures::StreamExt;

use crate::centers::{Clients, in_grid, in_region};

/// A client logged in as one user, with the server errors it was sent.
struct Login {
    client: async_nats::Client,
    js: jetstream::Context,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Login {
    /// Logs in as `user` with `up`'s password for it and the inbox prefix it is allowed.
    async fn as_user(suite: &Suite, user: &str) -> Login {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        let client =
            async_nats::ConnectOptions::new()
                .user_and_password(user.into(), suite.nats_password(user))
                .custom_inbox_prefix(format!("_INBOX_{user}"))
                .event_callback(move |event| {
                    let sink = sink.clone();
                    async move {
                        sink.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{event:?}").replace('\\', ""))
                    }
                })
                .connect(&suite.nats_addr)
                .await
                .unwrap_or_else(|e| panic!("{user} logs in: {e}"));
        let mut js = jetstream::new(client.clone());
        // A refused API call gets no answer; do not wait the default 5 s for each.
        js.set_timeout(Duration::from_secs(2));
        Login { client, js, errors }
    }

    /// Waits until the server has told this client it may not `what` (`Publish to` or
    /// `Subscription to`) `subject`.
    async fn refused(&self, what: &str, subject: &str) {
        let needle = format!("Permissions Violation for {what} \"{subject}\"");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.errors.lock().unwrap().iter().any(|e| e.contains(&needle)) {
                return;
            }
            assert!(Instant::now() < deadline, "no `{needle}`; the server said {:?}", self.errors.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates (or binds to) a pull consumer on `stream`.
    async fn consumer(&self, stream: &str, config: pull::Config) -> Result<jetstream::consumer::PullConsumer, String> {
        let stream = self.js.get_stream(stream).await.map_err(|e| e.to_string())?;
        stream.create_consumer(config).await.map_err(|e| e.to_string())
    }
}

/// Runs `civicgrid tail --nats <url> args…` (at most 30 s) and returns what it did.
async fn tail_as(url: &str, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new("timeout");
    command.arg("30").arg(civicgrid_e2e::civicgrid_binary()).args(["tail", "--nats", url]).args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

/// A durable consumer's configuration: `name`, filtered to `filter`.
fn durable(name: &str, filter: &str) -> pull::Config {
    pull::Config { durable_name: Some(name.into()), filter_subject: filter.into(), ..Default::default() }
}

const COUNTY: &str = "civicgrid.*.*.411600.411602.>";
const OTHER_COUNTY: &str = "civicgrid.*.*.411600.411621.>";

#[tokio::test(flavor = "multi_thread")]
async fn a_county_centers_credentials_reach_its_county_and_nothing_else() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    // `up` prints a center's credentials, and the command that follows its county with them.
    let printed = suite.wait_for_line("county center     user county-411602", Duration::from_secs(1));
    assert!(printed.contains(&suite.nats_password("county-411602")), "{printed}");
    suite.wait_for_line("civicgrid tail --nats nats://county-411602:", Duration::from_secs(1));

    let county = Login::as_user(&suite, "county-411602").await;
    // Without credentials, or with a wrong password, nobody gets in.
    assert!(async_nats::connect(&suite.nats_addr).await.is_err(), "an anonymous client was let in");
    let wrong = async_nats::ConnectOptions::new().user_and_password("county-411602".into(), "nope".into());
    assert!(wrong.connect(&suite.nats_addr).await.is_err(), "a wrong password was let in");

    // Its own county, live and through its durable consumer.
    let mut live = county.client.subscribe(COUNTY).await.unwrap();
    let mine = county.consumer("CIVICGRID_DISPATCH", durable("county-411602", COUNTY)).await.unwrap();
    // A narrower (township) filter is its own too.
    county
        .consumer("CIVICGRID_INTAKE", durable("county-411602", "civicgrid.*.*.411600.411602.411602001.>"))
        .await
        .unwrap();

    // Another county's subjects, and everything, are refused.
    let _theirs = county.client.subscribe(OTHER_COUNTY).await.unwrap();
    county.refused("Subscription to", OTHER_COUNTY).await;
    let _all = county.client.subscribe("civicgrid.>").await.unwrap();
    county.refused("Subscription to", "civicgrid.>").await;
    // A consumer filtered to another county, wider than its county, or of another name.
    for (config, what) in [
        (durable("county-411602", OTHER_COUNTY), "filtered to another county"),
        (durable("county-411602", "civicgrid.>"), "filtered to every region"),
        (durable("county-411621", OTHER_COUNTY), "of another county's name"),
        (durable("dispatch-audit", COUNTY), "of another name"),
        (pull::Config { filter_subject: OTHER_COUNTY.into(), ..Default::default() }, "without a name"),
    ] {
        let r = county.consumer("CIVICGRID_NOTIFY", config).await;
        assert!(r.is_err(), "county-411602 created a consumer {what}");
    }
    county.refused("Publish to", "$JS.API.CONSUMER.CREATE.CIVICGRID_NOTIFY.county-411602.civicgrid.>").await;
    county.refused("Publish to", "$JS.API.CONSUMER.CREATE.CIVICGRID_NOTIFY").await;
    // Reading another service's durable (intake's, which the operator sees), or deleting a stream.
    let operator = jetstream::new(suite.nats().await);
    let intakes = "intake-task-status";
    operator.get_stream("CIVICGRID_DISPATCH").await.unwrap().consumer_info(intakes).await.unwrap();
    let peek = county.js.get_stream("CIVICGRID_DISPATCH").await.unwrap().consumer_info(intakes).await;
    assert!(peek.is_err(), "county-411602 read intake's durable consumer");
    assert!(county.js.delete_stream("CIVICGRID_DISPATCH").await.is_err(), "county-411602 deleted a stream");
    // Any publish: a fact in its own county, a dead letter, a position.
    for subject in [
        "civicgrid.dispatch.task-closed.411600.411602.411602001._",
        "civicgrid.deadletter.dispatch.x",
        "civicgrid.patrol.position.411600.411602.411602001._",
    ] {
        county.client.publish(subject, "forged".into()).await.unwrap();
        county.client.flush().await.unwrap();
        county.refused("Publish to", subject).await;
    }

    // Reports in both counties: only its own county's facts come, live and pulled.
    let mut clients = Clients::connect(&suite).await;
    let (own, _) = clients.report("natsauth-0001", "01.02.003", in_grid("411602001001001")).await;
    let (other, _) = clients.report("natsauth-0002", "01.02.003", in_region("411621")).await;
    let (last, _) = clients.report("natsauth-0003", "01.01.001", in_grid("411602001002001")).await;
    let mut pulled = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pulled.iter().any(|s: &String| s.contains("task-assigned")) || pulled.len() < 2 {
        assert!(Instant::now() < deadline, "pulled only {pulled:?}");
        let mut batch = mine.fetch().max_messages(10).expires(Duration::from_secs(1)).messages().await.unwrap();
        while let Some(Ok(m)) = batch.next().await {
            pulled.push(m.subject.to_string());
            m.ack().await.unwrap();
        }
    }
    assert!(pulled.iter().all(|s| s.contains(".411600.411602.")), "{pulled:?}");
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let m = tokio::time::timeout(Duration::from_secs(20), live.next()).await.expect("a live fact").unwrap();
        seen.push(m.subject.to_string());
    }
    assert!(seen.iter().all(|s| s.contains(".411600.411602.")), "{seen:?} (events {own}, {other}, {last})");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_township_center_and_a_service_are_held_to_their_own() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    let township = Login::as_user(&suite, "township-411602001").await;
    let own = "civicgrid.*.*.411600.411602.411602001.>";
    let _sub = township.client.subscribe(own).await.unwrap();
    township.consumer("CIVICGRID_DISPATCH", durable("township-411602001", own)).await.unwrap();
    let _county = township.client.subscribe(COUNTY).await.unwrap();
    township.refused("Subscription to", COUNTY).await;
    let wider = township.consumer("CIVICGRID_DISPATCH", durable("township-411602001", COUNTY)).await;
    assert!(wider.is_err(), "a township center widened its filter to the county");
    township.client.publish("civicgrid.intake.event-reported.411600.411602.411602001._", "x".into()).await.unwrap();
    township.refused("Publish to", "civicgrid.intake.event-reported.411600.411602.411602001._").await;

    // `civicgrid tail` as the township center: its own durable works, an ephemeral consumer is
    // refused with the remedy.
    let mut clients = Clients::connect(&suite).await;
    let (event, _) = clients.report("natsauth-0101", "01.02.003", in_grid("411602001001001")).await;
    let url = suite.nats_url_as("township-411602001");
    let args = ["--region", "411602001", "--service", "intake", "--from-start", "--count", "1"];
    let own = tail_as(&url, &[&args[..], &["--durable", "township-411602001"]].concat()).await;
    assert!(own.status.success(), "{}", String::from_utf8_lossy(&own.stderr));
    let line: serde_json::Value = serde_json::from_slice(&own.stdout).unwrap();
    assert_eq!(line["payload"]["event"]["id"], event.as_str(), "{line}");
    let ephemeral = tail_as(&url, &args).await;
    let stderr = String::from_utf8_lossy(&ephemeral.stderr);
    assert!(!ephemeral.status.success() && stderr.contains("--durable township-411602001"), "{stderr}");

    // A service reads its own replies only, and publishes only its own facts.
    let intake = Login::as_user(&suite, "intake").await;
    let _replies = intake.client.subscribe("_INBOX_dispatch.>").await.unwrap();
    intake.refused("Subscription to", "_INBOX_dispatch.>").await;
    intake.client.publish("civicgrid.dispatch.task-closed.411600.411602.411602001._", "x".into()).await.unwrap();
    intake.refused("Publish to", "civicgrid.dispatch.task-closed.411600.411602.411602001._").await;
    // The console reads, and publishes nothing.
    let console = Login::as_user(&suite, "console").await;
    console.client.publish("civicgrid.intake.event-reported.411600.411602.411602001._", "x".into()).await.unwrap();
    console.refused("Publish to", "civicgrid.intake.event-reported.411600.411602.411602001._").await;
}
