//! A department's system from outside Rust, as docs/departments.md shows it: the Python client
//! (stubs generated from `proto/` with grpcio-tools) watches, signs for with a retried call,
//! sees an invalid call's field named, and resolves; then the doc's grpcurl session. Both are
//! taken from the doc as written.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use civicgrid_dev::testing::python;
use civicgrid_e2e::{Suite, workspace_root};
use civicgrid_proto::v1::{
    EventSource, ListTasksRequest, Location, Reporter, SubmitEventRequest, TaskStatus,
    dispatch_service_client::DispatchServiceClient, intake_service_client::IntakeServiceClient,
};

use crate::common::{as_, token};
use crate::readme::{blocks_of, run, sh_blocks_of};

const DEPARTMENT: &str = "411602001-chengguan";

fn report(request_id: &str, item: &str, grid: &str) -> SubmitEventRequest {
    SubmitEventRequest {
        request_id: request_id.into(),
        source: EventSource::GridWorker as i32,
        item_code: item.into(),
        location: Some(Location { grid_code: grid.into(), ..Default::default() }),
        description: "街面设施损坏，请尽快处理".into(),
        reporter: Some(Reporter { name: "网格员".into(), phone: "13800003333".into(), account_id: String::new() }),
        ..Default::default()
    }
}

/// Waits until `lines` holds one containing `needle`, or `limit` passes.
fn wait_line(lines: &Mutex<Vec<String>>, needle: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if lines.lock().unwrap().iter().any(|l| l.contains(needle)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn a_department_client_in_python_and_the_grpcurl_session_of_the_docs_work() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    let script = blocks_of("docs/departments.md", "## 6. A complete client in Python", "python");
    assert_eq!(script.len(), 1, "one Python client in the doc");
    let pythonpath =
        tokio::task::spawn_blocking(|| python::python_path(&["grpcio-status", "grpcio-tools"])).await.unwrap();
    let mut client = Command::new("python3")
        .arg("-c")
        .arg(&script[0])
        .current_dir(workspace_root())
        .env("PYTHONPATH", pythonpath)
        .env("CIVICGRID_DISPATCH", &suite.dispatch)
        .env("CIVICGRID_TOKEN", token("department", DEPARTMENT))
        .env("CIVICGRID_TASKS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let stdout = client.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let ready = lines.clone();
    assert!(
        tokio::task::spawn_blocking(move || wait_line(&ready, "watching", Duration::from_secs(120))).await.unwrap(),
        "the client did not start"
    );
    // The watch starts live once its call reaches dispatch, a moment after "watching".
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut intake = IntakeServiceClient::connect(format!("http://{}", suite.intake)).await.unwrap();
    let first = intake.submit_event(report("dept-py-0001", "01.02.003", "411602001001002")).await.unwrap().into_inner();
    let mut numbers = vec![first.tracking_number.clone()];
    let seen = lines.clone();
    let wanted = numbers[0].clone();
    if !tokio::task::spawn_blocking(move || wait_line(&seen, &wanted, Duration::from_secs(20))).await.unwrap() {
        // On a slow machine the watch may have begun after the first report: a second one.
        let second =
            intake.submit_event(report("dept-py-0002", "01.01.002", "411602001001001")).await.unwrap().into_inner();
        numbers.push(second.tracking_number);
    }
    let status = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        loop {
            if let Some(status) = client.try_wait().unwrap() {
                return Some((status, client));
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = client.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    let out = lines.lock().unwrap().join("\n");
    let (status, client) = status.unwrap_or_else(|| panic!("the client did not finish:\n{out}"));
    let mut err = String::new();
    if let Some(mut stderr) = client.stderr {
        std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    }
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("refused: INVALID_ARGUMENT ['result']"), "{out}");
    let resolved = numbers.iter().find(|n| out.contains(&format!("{n} TASK_STATUS_SIGNED TASK_STATUS_RESOLVED")));
    assert!(resolved.is_some(), "{out}");

    // dispatch agrees: the task is resolved, by the department.
    let mut dispatch = DispatchServiceClient::connect(format!("http://{}", suite.dispatch)).await.unwrap();
    let mine = dispatch
        .list_tasks(as_(
            ListTasksRequest { statuses: vec![TaskStatus::Resolved as i32], ..Default::default() },
            &token("department", DEPARTMENT),
        ))
        .await
        .unwrap()
        .into_inner()
        .tasks;
    assert!(mine.iter().any(|t| Some(&t.tracking_number) == resolved), "{mine:?}");

    // The grpcurl session, as written.
    let session = sh_blocks_of("docs/departments.md", "## 7. The same with grpcurl");
    assert_eq!(session.len(), 1);
    let printed = run(&suite, &session[0]);
    assert_eq!(printed.matches("\"status\": \"TASK_STATUS_SIGNED\"").count(), 2, "{printed}");
    let versions: Vec<&str> = printed.lines().filter(|l| l.contains("\"version\"")).collect();
    assert!(versions.len() == 2 && versions[0] == versions[1], "{printed}");
    assert!(printed.contains("Code: InvalidArgument") && printed.contains("\"field\":\"result\""), "{printed}");
    assert!(printed.contains("\"status\": \"TASK_STATUS_RESOLVED\""), "{printed}");
}
