//! County and township centers on the bus (docs/county-centers.md): `civicgrid tail` prints
//! exactly its region's facts, decoded; a durable consumer resumes where it stopped; `--since`
//! replays exactly the facts since a time; and the docs' nats-py subscriber, run as written with
//! classes generated from `proto/` by grpcio-tools, decodes a task fact of the county.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use civicgrid_dev::testing::python;
use civicgrid_e2e::{Suite, civicgrid_binary, workspace_root};
use civicgrid_proto::v1::{
    EventSource, ListTasksRequest, Location, Reporter, SubmitEventRequest,
    dispatch_service_client::DispatchServiceClient, intake_service_client::IntakeServiceClient,
};
use serde_json::Value;
use tonic::transport::Channel;

use crate::readme::{self, blocks_of};

/// The clients a test reports through.
pub(crate) struct Clients {
    pub(crate) intake: IntakeServiceClient<Channel>,
    pub(crate) dispatch: DispatchServiceClient<Channel>,
}

impl Clients {
    pub(crate) async fn connect(suite: &Suite) -> Clients {
        Clients {
            intake: IntakeServiceClient::connect(format!("http://{}", suite.intake)).await.unwrap(),
            dispatch: DispatchServiceClient::connect(format!("http://{}", suite.dispatch)).await.unwrap(),
        }
    }

    /// Reports `item` at `location` and waits until dispatch made its tasks; returns the event id
    /// and how many facts it put on the fact streams (its `event-reported` and one per task).
    pub(crate) async fn report(&mut self, request_id: &str, item: &str, location: Location) -> (String, usize) {
        let request = SubmitEventRequest {
            request_id: request_id.into(),
            source: EventSource::CitizenApp as i32,
            item_code: item.into(),
            location: Some(location),
            description: format!("{request_id}: 路灯不亮，夜间通行不便"),
            reporter: Some(Reporter { phone: "13812345678".into(), ..Default::default() }),
            ..Default::default()
        };
        let answer = self.intake.submit_event(request).await.unwrap().into_inner();
        assert!(!answer.merged, "{request_id} was merged into {}", answer.event_id);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let tasks = self
                .dispatch
                .list_tasks(ListTasksRequest { event_id: answer.event_id.clone(), ..Default::default() })
                .await
                .unwrap()
                .into_inner()
                .tasks;
            if !tasks.is_empty() {
                return (answer.event_id, 1 + tasks.len());
            }
            assert!(Instant::now() < deadline, "dispatch made no task for {request_id}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub(crate) fn in_grid(grid: &str) -> Location {
    Location { grid_code: grid.into(), ..Default::default() }
}

pub(crate) fn in_region(code: &str) -> Location {
    Location { region_code: code.into(), address: "城关镇人民路 1 号".into(), ..Default::default() }
}

/// What `civicgrid tail` did: its JSON lines, whether it ended by itself, its standard error.
struct Tail {
    lines: Vec<Value>,
    exited: Option<bool>,
    stderr: String,
}

/// Runs `civicgrid tail --nats <suite> args…` until it ends or `limit` passes (then it is
/// killed).
fn tail(suite: &Suite, args: &[&str], limit: Duration) -> Tail {
    let mut child = Command::new(civicgrid_binary())
        .args(["tail", "--nats", &suite.nats_url])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("civicgrid tail");
    let (lines, reader) = collect(child.stdout.take().unwrap());
    let start = Instant::now();
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status.success());
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let lines = lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    Tail { lines, exited, stderr }
}

/// Reads `out` line by line on a thread into the returned vector.
fn collect(out: impl std::io::Read + Send + 'static) -> (Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    (lines, reader)
}

/// Runs tail expecting it to print `count` facts and stop.
async fn tail_count(suite: &Arc<Suite>, args: &[&str], count: usize) -> Vec<Value> {
    let suite = suite.clone();
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.extend(["--count".to_string(), count.to_string()]);
    let run = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tail(&suite, &args, Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert_eq!(run.exited, Some(true), "tail did not print {count} facts and stop: {}", run.stderr);
    assert_eq!(run.lines.len(), count);
    run.lines
}

/// Runs tail for `secs` seconds and returns what it printed.
async fn tail_for(suite: &Arc<Suite>, args: &[&str], secs: u64) -> Vec<Value> {
    let suite = suite.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let run = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tail(&suite, &args, Duration::from_secs(secs))
    })
    .await
    .unwrap();
    assert_eq!(run.exited, None, "tail stopped by itself: {}", run.stderr);
    run.lines
}

/// The event a line is about: an `EventReported`'s event, a `TaskEvent`'s `event_id`.
fn event_of(line: &Value) -> &str {
    let payload = &line["payload"];
    payload["event"]["id"].as_str().or(payload["event_id"].as_str()).unwrap_or_else(|| panic!("no event in {line}"))
}

/// The events the lines are about, each once, sorted.
fn events(lines: &[Value]) -> Vec<&str> {
    let mut ids: Vec<&str> = lines.iter().map(event_of).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Every line is a decoded fact of county 411602, with its headers.
fn all_of_the_county(lines: &[Value]) {
    for line in lines {
        let subject = line["subject"].as_str().unwrap();
        assert!(subject.starts_with("civicgrid.") && subject.contains(".411600.411602."), "{line}");
        assert!(line["seq"].as_u64().unwrap() > 0, "{line}");
        let ce_type = line["headers"]["ce-type"].as_str().unwrap();
        assert!(["civicgrid.v1.EventReported", "civicgrid.v1.TaskEvent"].contains(&ce_type), "{line}");
        assert!(line["headers"]["ce-id"].is_string() && line["headers"]["ce-time"].is_string(), "{line}");
        assert!(line.get("error").is_none(), "{line}");
    }
}

/// Runs `civicgrid tail` expecting it to refuse its arguments; returns its message.
fn refused(suite: &Suite, args: &[&str]) -> String {
    let run = tail(suite, args, Duration::from_secs(20));
    assert_eq!(run.exited, Some(false), "tail {args:?} was not refused");
    assert!(run.lines.is_empty());
    run.stderr
}

#[tokio::test(flavor = "multi_thread")]
async fn tail_prints_its_region_resumes_a_durable_and_replays_since_a_time() {
    let suite = Arc::new(tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap());
    let mut clients = Clients::connect(&suite).await;

    // Wrong arguments are refused before anything is created.
    for (args, says) in [
        (&["--region", "41160"][..], "is not a division code"),
        (&["--region", "411602", "--since", "yesterday"], "is not an RFC 3339 time"),
        (&["--region", "411602", "--since", "2026-11-22T08:00:00Z", "--from-start"], "cannot be used with"),
        (&["--region", "411602", "--durable", "a.b"], "is not a consumer name"),
    ] {
        let message = refused(&suite, args);
        assert!(message.contains(says), "{args:?}: {message}");
    }

    // (a) One report in 川汇区 (411602), one in 扶沟县 (411621): only the first is printed, decoded.
    let (mine, my_facts) = clients.report("center-report-0001", "01.02.003", in_grid("411602001001001")).await;
    let (theirs, _) = clients.report("center-report-0002", "01.02.003", in_region("411621")).await;
    let lines = tail_count(&suite, &["--region", "411602", "--from-start"], my_facts).await;
    all_of_the_county(&lines);
    assert_eq!(events(&lines), [mine.as_str()]);
    let reported = lines.iter().find(|l| l["headers"]["ce-type"] == "civicgrid.v1.EventReported").expect("reported");
    assert_eq!(reported["stream"], "CIVICGRID_INTAKE");
    assert_eq!(reported["payload"]["event"]["item_code"], "01.02.003");
    assert_eq!(reported["payload"]["event"]["status"], "EVENT_STATUS_REPORTED");
    let task = lines.iter().find(|l| l["headers"]["ce-type"] == "civicgrid.v1.TaskEvent").expect("a task fact");
    assert_eq!(task["payload"]["fact"], task["subject"].as_str().unwrap().split('.').nth(2).unwrap());
    assert!(task["payload"]["status"].as_str().unwrap().starts_with("TASK_STATUS_"), "{task}");
    // Nothing else comes, in particular nothing of 411621, which is on the bus all the same.
    let everything = tail_for(&suite, &["--region", "411602", "--from-start"], 3).await;
    assert_eq!(everything.len(), my_facts, "{everything:?}");
    let other = tail_count(&suite, &["--region", "411621", "--from-start", "--service", "intake"], 1).await;
    assert_eq!(event_of(&other[0]), theirs);
    // A township's filter is one level deeper: the report in 411602001 is its.
    let township = tail_count(&suite, &["--region", "411602001", "--from-start"], my_facts).await;
    assert_eq!(events(&township), [mine.as_str()]);

    // (b) A durable consumer prints everything once, then after a stop only what came since.
    let durable = ["--region", "411602", "--durable", "center-e2e"];
    let first = tail_count(&suite, &[&durable[..], &["--from-start"][..]].concat(), my_facts).await;
    assert_eq!(events(&first), [mine.as_str()]);

    // (c) is from here on: facts stored from `since` on.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (later, later_facts) = clients.report("center-report-0003", "01.01.001", in_grid("411602001001002")).await;

    let resumed = tail_count(&suite, &durable, later_facts).await;
    all_of_the_county(&resumed);
    assert_eq!(events(&resumed), [later.as_str()], "the durable resumed after the facts it had printed");
    assert!(tail_for(&suite, &durable, 3).await.is_empty(), "what was printed was acknowledged");
    // A replay asked of the existing durable is refused, not silently ignored.
    let message = refused(&suite, &[&durable[..], &["--since", since.as_str()][..]].concat());
    assert!(
        message.contains("already exists with deliver policy") && message.contains("new --durable name"),
        "{message}"
    );
    // The same start it was made with resumes it.
    assert!(tail_for(&suite, &[&durable[..], &["--from-start"][..]].concat(), 2).await.is_empty());

    // (c) --since returns exactly the facts since that time, with a new durable too.
    let replayed = tail_for(&suite, &["--region", "411602", "--since", &since], 3).await;
    all_of_the_county(&replayed);
    assert_eq!(replayed.len(), later_facts, "{replayed:?}");
    assert_eq!(events(&replayed), [later.as_str()]);
    let audit =
        tail_count(&suite, &["--region", "411602", "--durable", "audit-e2e", "--since", &since], later_facts).await;
    assert_eq!(events(&audit), [later.as_str()]);

    // The docs' first example, as written, against this suite.
    let block = &blocks_of("docs/county-centers.md", "### Trying it", "sh")[0];
    let state = format!("{}/", suite.state.path().display());
    let script =
        block.replace(".civicgrid/", &state).replace("127.0.0.1:14222", suite.nats_addr.trim_start_matches("nats://"));
    let out = readme::run(&suite, &script);
    let printed: Vec<Value> =
        out.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(printed.len(), 3);
    all_of_the_county(&printed);
}

/// Runs center.py with each pull subscription's first two fetches timing out, once with a
/// bare `asyncio.TimeoutError` and once with `nats.errors.TimeoutError`.
const TIMEOUTS_FIRST: &str = r#"
import asyncio, runpy
import nats
from nats.js.client import JetStreamContext

real_fetch = JetStreamContext.PullSubscription.fetch
calls = {}

async def fetch(self, *args, **kwargs):
    calls[id(self)] = calls.get(id(self), 0) + 1
    if calls[id(self)] == 1:
        raise asyncio.TimeoutError
    if calls[id(self)] == 2:
        raise nats.errors.TimeoutError
    return await real_fetch(self, *args, **kwargs)

JetStreamContext.PullSubscription.fetch = fetch
runpy.run_path("center.py", run_name="__main__")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_nats_py_subscriber_of_the_docs_decodes_its_countys_task_facts() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    let mut clients = Clients::connect(&suite).await;
    let section = "### A subscriber in Python";
    let (sh, python) =
        (blocks_of("docs/county-centers.md", section, "sh"), blocks_of("docs/county-centers.md", section, "python"));
    assert_eq!((sh.len(), python.len()), (1, 1), "{sh:?} {python:?}");

    // As a center's developer would: the pinned PyPI packages, the classes generated from proto/
    // by the docs' command, center.py as written.
    let (tools, pythonpath) = tokio::task::spawn_blocking(|| {
        (python::python_path(&["grpcio-tools"]), python::python_path(&["nats-py", "grpcio-tools"]))
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(workspace_root().join("proto"), dir.path().join("proto")).unwrap();
    let generated = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{}", sh[0]))
        .current_dir(dir.path())
        .env("PYTHONPATH", &tools)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    std::fs::write(dir.path().join("center.py"), &python[0]).unwrap();
    // nats-py's fetch raises either nats.errors.TimeoutError or, in some races, a bare
    // asyncio.TimeoutError when nothing comes; make each subscription meet both first.
    std::fs::write(dir.path().join("run_center.py"), TIMEOUTS_FIRST).unwrap();
    let mut path = vec![dir.path().join("gen")];
    path.extend(std::env::split_paths(&pythonpath));
    let pythonpath = std::env::join_paths(path).unwrap();
    let mut center = Command::new("python3")
        .args(["-u", "run_center.py"])
        .current_dir(dir.path())
        .env("PYTHONPATH", pythonpath)
        // As the county center it is: its own user, which may read only its county.
        .env("NATS_URL", &suite.nats_addr)
        .env("NATS_USER", "county-411602")
        .env("NATS_PASSWORD", suite.nats_password("county-411602"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, _reader) = collect(center.stdout.take().unwrap());
    let (errors, _errors_reader) = collect(center.stderr.take().unwrap());

    // Longer than its fetch timeout (5 s) with nothing to read: it must survive the timeouts.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(center.try_wait().unwrap().is_none(), "center.py died: {}", errors.lock().unwrap().join("\n"));
    let (mine, my_facts) = clients.report("center-py-0001", "01.02.003", in_grid("411602001001001")).await;
    let (theirs, _) = clients.report("center-py-0002", "01.02.003", in_region("411621")).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let printed: Vec<Value> = loop {
        let printed: Vec<Value> = lines.lock().unwrap().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        if printed.len() >= my_facts {
            break printed;
        }
        assert!(center.try_wait().unwrap().is_none(), "center.py died: {}", errors.lock().unwrap().join("\n"));
        assert!(Instant::now() < deadline, "center.py printed {printed:?}; {}", errors.lock().unwrap().join("\n"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Nothing of 411621 arrives later either.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let alive = center.try_wait().unwrap().is_none();
    center.kill().unwrap();
    center.wait().unwrap();
    assert!(alive, "center.py died: {}", errors.lock().unwrap().join("\n"));
    assert_eq!(lines.lock().unwrap().len(), my_facts, "{:?}", lines.lock().unwrap());

    let task = printed
        .iter()
        .find(|l| l["ce_type"] == "civicgrid.v1.TaskEvent")
        .unwrap_or_else(|| panic!("no TaskEvent in {printed:?}"));
    assert_eq!(task["stream"], "CIVICGRID_DISPATCH");
    assert!(task["subject"].as_str().unwrap().starts_with("civicgrid.dispatch.task-"), "{task}");
    assert!(task["subject"].as_str().unwrap().contains(".411600.411602.411602001."), "{task}");
    assert_eq!(task["payload"]["event_id"], mine.as_str());
    assert_eq!(task["payload"]["region"]["county"], "411602");
    assert!(task["payload"]["status"].as_str().unwrap().starts_with("TASK_STATUS_"), "{task}");
    assert!(task["ce_id"].is_string() && task["ce_time"].is_string(), "{task}");
    let reported = printed.iter().find(|l| l["ce_type"] == "civicgrid.v1.EventReported").expect("event-reported");
    assert_eq!(reported["payload"]["event"]["id"], mine.as_str());
    assert!(printed.iter().all(|l| !l.to_string().contains(&theirs)), "{printed:?}");
}
