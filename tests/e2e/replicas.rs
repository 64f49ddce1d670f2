//! Replicas: `civicgrid up --replicas 2` runs two processes of every service against one NATS
//! and one database. Reports go to both intake replicas (a client moves to the other when its
//! replica fails, as behind a load balancer) while one process of every service is killed with
//! SIGKILL mid-flow — intake's second, dispatch's first, notify's second, mediation's second, and
//! patrol's leader. Then the books must balance (every report one event, one task, one
//! `task-assigned`, one notification; no outbox left), both replicas of intake, dispatch and
//! notify must have done part of the work, and patrol's standby must have taken over.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use civicgrid_dev::testing::{metrics, raw};
use civicgrid_e2e::{
    Suite,
    books::{self},
    fuzz::serving,
};
use civicgrid_proto::v1::intake_service_client::IntakeServiceClient;
use tonic::transport::Channel;

const REPORTS: usize = 240;
const CLIENTS: usize = 4;

/// The address of replica 2 of the service at `first` (its ports plus 100).
fn second(first: &str) -> String {
    let (host, port) = first.rsplit_once(':').unwrap();
    format!("{host}:{}", port.parse::<u16>().unwrap() + 100)
}

/// Submits report `i`, starting at replica `prefer` of `intakes` and moving to the other
/// whenever a call fails; a retry keeps the request id.
async fn submit(intakes: &[String; 2], prefer: usize, i: usize) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut at = prefer;
    let mut last = String::new();
    while Instant::now() < deadline {
        let endpoint = format!("http://{}", intakes[at]);
        match IntakeServiceClient::<Channel>::connect(endpoint).await {
            Ok(mut client) => match client.submit_event(books::report(i)).await {
                Ok(answer) => return Ok(answer.into_inner().event_id),
                Err(status) => last = status.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        at = 1 - at;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("report {i} not accepted: {last}"))
}

/// What the health service at `addr` says of the process: `Some(true)` SERVING, `Some(false)`
/// NOT_SERVING, `None` no answer.
async fn health(addr: &str) -> Option<bool> {
    let channel = Channel::from_shared(format!("http://{addr}")).ok()?.connect().await.ok()?;
    // HealthCheckResponse { status } is the two bytes 08 <status>: 1 SERVING, 2 NOT_SERVING.
    let answer = raw::unary(channel, "/grpc.health.v1.Health/Check", Vec::new(), "").await.ok()?;
    Some(answer.as_ref() == [8, 1])
}

/// The sum of a counter family's samples at `addr`'s `/metrics`.
async fn counted(addr: &str, family: &str) -> f64 {
    let scrape = metrics::scrape(addr.parse::<SocketAddr>().unwrap()).await;
    scrape
        .family(family)
        .map(|f| f.samples.iter().filter(|s| s.name.ends_with("_total")).map(|s| s.value).sum())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_of_every_service_share_the_work_and_survive_losing_one() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet", "--replicas", "2"])).await.unwrap();
    let patrol_standby = second(&suite.patrol);
    // Two patrol processes, one leading: the second answers health, NOT_SERVING.
    assert!(serving(&suite.patrol).await, "patrol's first process leads");
    let deadline = Instant::now() + Duration::from_secs(30);
    while health(&patrol_standby).await.is_none() {
        assert!(Instant::now() < deadline, "patrol's second process never answered health");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(health(&patrol_standby).await, Some(false), "patrol's second process stands by");

    let intakes = [suite.intake.clone(), second(&suite.intake)];
    let answered = Arc::new(AtomicUsize::new(0));
    let submitters: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (intakes, answered) = (intakes.clone(), answered.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                for i in (c..REPORTS).step_by(CLIENTS) {
                    out.push(submit(&intakes, c % 2, 50_000 + i).await);
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                out
            })
        })
        .collect();
    // One process of each service dies a third of the way through.
    while answered.load(Ordering::SeqCst) < REPORTS / 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for name in ["intake-2", "dispatch", "notify-2", "mediation-2", "patrol"] {
        let pid = suite.service_pid(name);
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        eprintln!("replicas: killed {name} ({pid})");
    }
    let mut accepted = Vec::new();
    for s in submitters {
        for result in s.await.unwrap() {
            accepted.push(result.expect("every report is accepted by one replica or the other"));
        }
    }

    let books = books::count(&suite, &accepted, Duration::from_secs(120)).await.unwrap();
    println!("replicas: the books after losing one process of each service\n{books}");
    assert!(books.balanced(), "the books do not balance:\n{books}");

    // Both replicas worked: intake's answered calls, dispatch's and notify's consumers.
    for (service, family) in [
        ("intake", "civicgrid_grpc_requests"),
        ("dispatch", "civicgrid_consumer_deliveries"),
        ("notify", "civicgrid_consumer_deliveries"),
    ] {
        let first = &suite.metrics[service];
        let (one, two) = (counted(first, family).await, counted(&second(first), family).await);
        println!("replicas: {service}: {family} {one} on the first process, {two} on the second");
        assert!(one > 0.0 && two > 0.0, "{service}: both replicas take part ({one}, {two})");
    }

    // patrol's standby leads within seconds of the leader's death; the restarted first process
    // stands by.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !serving(&patrol_standby).await {
        assert!(Instant::now() < deadline, "patrol's standby did not take over");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while health(&suite.patrol).await.is_none() {
        assert!(Instant::now() < deadline, "patrol's first process was not restarted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(health(&suite.patrol).await, Some(false), "patrol's restarted first process stands by");
}
