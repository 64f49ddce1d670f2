//! `civicgrid up` supervises its own nats-server and PostgreSQL as it does the services: one
//! killed with SIGKILL is reaped (no zombie) and started again on its port with its data, the
//! services carry on, and `up` still stops promptly on SIGTERM.

use std::time::{Duration, Instant};

use civicgrid_e2e::Suite;
use civicgrid_proto::v1::{ListTasksRequest, dispatch_service_client::DispatchServiceClient};

use crate::faults::submit_with_retries;

/// Reports request `i` (retrying while the suite recovers) and waits until dispatch made its task.
async fn report_reaches_dispatch(suite: &Suite, i: usize) {
    let event_id = submit_with_retries(format!("http://{}", suite.intake), i).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(mut dispatch) = DispatchServiceClient::connect(format!("http://{}", suite.dispatch)).await
            && let Ok(answer) =
                dispatch.list_tasks(ListTasksRequest { event_id: event_id.clone(), ..Default::default() }).await
            && !answer.into_inner().tasks.is_empty()
        {
            return;
        }
        assert!(Instant::now() < deadline, "report {i} ({event_id}) got no task");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Kills `name` (`nats-server` or `postgres`) with SIGKILL and waits until `up` has reaped it and
/// runs a new one.
fn kill_and_wait_for_restart(suite: &Suite, name: &str) {
    let old = suite.service_pid(name);
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(old, libc::SIGKILL) }, 0, "killing {name} ({old})");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reaped = !std::path::Path::new(&format!("/proc/{old}")).exists();
        let new = std::fs::read_to_string(suite.state.path().join(format!("logs/{name}.pid")))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        if reaped && let Some(new) = new.filter(|p| *p != old && std::path::Path::new(&format!("/proc/{p}")).exists()) {
            eprintln!("{name}: {old} killed, {new} runs");
            return;
        }
        assert!(Instant::now() < deadline, "{name} was not restarted (reaped: {reaped}, pid file: {new:?})");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn up_restarts_a_killed_nats_server_and_postgres_and_stops_promptly() {
    let mut suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    report_reaches_dispatch(&suite, 501).await;

    let suite_ref = &suite;
    tokio::task::block_in_place(|| kill_and_wait_for_restart(suite_ref, "nats-server"));
    report_reaches_dispatch(&suite, 502).await;

    tokio::task::block_in_place(|| kill_and_wait_for_restart(suite_ref, "postgres"));
    report_reaches_dispatch(&suite, 503).await;

    let stopped = tokio::task::block_in_place(|| suite.terminate(Duration::from_secs(30)));
    assert!(stopped, "`civicgrid up` did not exit within 30 s of SIGTERM");
}
