//! The audit trail through `civicgrid up` and `civicgrid audit`, as docs/reliability.md shows it:
//! after a report, every service's chain verifies, intake's records export decoded, and a task's
//! history links each record to the one before.

use std::time::Duration;

use civicgrid_e2e::Suite;
use civicgrid_proto::v1::ListTasksRequest;
use serde_json::Value;

use crate::{
    centers::{Clients, in_grid},
    readme::{self, blocks_of},
};

#[tokio::test(flavor = "multi_thread")]
async fn every_services_trail_verifies_and_a_tasks_history_exports() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    let mut clients = Clients::connect(&suite).await;
    let (event, _) = clients.report("trail-0001", "01.02.003", in_grid("411602001001001")).await;
    let tasks = clients
        .dispatch
        .list_tasks(ListTasksRequest { event_id: event.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .tasks;
    let task = tasks[0].id.clone();

    // The docs' commands, against this suite's PostgreSQL.
    let printed = suite.wait_for_line("  PostgreSQL        ", Duration::from_secs(1));
    let url = printed.split_whitespace().nth(1).unwrap().to_string();
    let host = url.split('@').nth(1).unwrap().split('/').next().unwrap().to_string();
    let block = &blocks_of("docs/reliability.md", "## The audit trail", "sh")[0];
    // A fact is recorded when its service's relay takes it out of the outbox, a moment after
    // it is published: the report's record may be a moment behind the task.
    let out =
        until(|| readme::run(&suite, &block.replace("127.0.0.1:15432", &host)), |out| out.contains(event.as_str()));
    for service in ["dispatch", "intake", "mediation", "notify", "patrol"] {
        assert!(out.lines().any(|l| l.starts_with(service) && l.ends_with("chain intact")), "{service}: {out}");
    }
    let exported: Vec<Value> =
        out.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    let reported = exported.iter().find(|r| r["payload"]["event"]["id"] == event.as_str());
    let reported = reported.unwrap_or_else(|| panic!("no record of {event}: {out}"));
    assert_eq!(reported["headers"]["ce-type"], "civicgrid.v1.EventReported");
    assert_eq!(reported["hash"].as_str().unwrap().len(), 64);

    // One task's history: each record points at the one before.
    let history = until(
        || {
            readme::run(
                &suite,
                &format!("civicgrid audit export --database-url {url} --service dispatch --aggregate {task}"),
            )
        },
        |history| !history.trim().is_empty(),
    );
    let records: Vec<Value> = history.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!records.is_empty(), "{history}");
    assert_eq!(records[0]["previous"], Value::Null);
    for pair in records.windows(2) {
        assert_eq!(pair[1]["previous"], pair[0]["seq"], "{history}");
    }
    assert!(records.iter().all(|r| r["payload"]["task_id"] == task.as_str()), "{history}");
}

/// The output of `run` once `done` says it is complete, tried for up to 10 s.
fn until(mut run: impl FnMut() -> String, done: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    for _ in 0..40 {
        out = run();
        if done(&out) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("not recorded within 10 s; last output:\n{out}")
}
