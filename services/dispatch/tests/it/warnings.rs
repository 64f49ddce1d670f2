//! 督办: four-colour warnings at the right instants of the business calendar, escalation past
//! the grace, and clocks paused by suspension and moved by extensions — on a manual clock, with
//! no sleeping until deadlines.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use civicgrid_dispatch::domain::sla::StageClock as DomainClock;
use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{
    ApproveExtensionRequest, ListTasksRequest, RequestExtensionRequest, Stage, Task, TaskReasonRequest, TaskRequest,
    TaskStatus, WarningColour,
};

use crate::helpers::*;

fn clock_of(task: &Task, stage: Stage) -> &civicgrid_proto::v1::StageClock {
    task.clocks.iter().find(|c| c.stage == stage as i32).unwrap_or_else(|| panic!("no {stage:?} clock"))
}

impl TestApp {
    /// Moves the clock to `at` and waits for the `task-warning` of `colour` about `task_id`,
    /// which must come within [`WITHIN`]; returns how long it took.
    async fn warned_at(&self, task_id: &str, at: DateTime<Utc>, colour: WarningColour) -> Duration {
        let before = self.published_for(task_id).await.len();
        let started = Instant::now();
        self.set_time(at);
        let deadline = tokio::time::Instant::now() + WITHIN;
        let p = loop {
            let new: Vec<Published> = self.published_for(task_id).await.into_iter().skip(before).collect();
            if let Some(p) = new.into_iter().find(|p| p.event.fact == "task-warning" && p.event.colour == colour as i32)
            {
                break p;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {colour:?} warning within {WITHIN:?} of {at}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let took = started.elapsed();
        assert_eq!(p.event.reason, colour.as_str_name());
        let after = self.published_for(task_id).await;
        assert_eq!(after.len(), before + 1, "one fact for one colour change: {:?}", names(&after));
        assert_eq!(self.task(task_id).await.colour, colour as i32);
        took
    }

    /// Moves the clock to `at`, lets the ticker run many rounds, and checks nothing was
    /// published and the colour is still `colour`.
    async fn quiet_at(&self, task_id: &str, at: DateTime<Utc>, colour: WarningColour) {
        let before = self.facts_of(task_id).await;
        self.set_time(at);
        // The ticker runs every 20 ms: 15 rounds.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = self.facts_of(task_id).await;
        assert_eq!(after, before, "nothing should be published at {at}");
        let task = self.task(task_id).await;
        assert_eq!(WarningColour::try_from(task.colour).unwrap(), colour, "colour at {at}");
    }
}

fn names(p: &[Published]) -> Vec<&str> {
    p.iter().map(|p| p.event.fact.as_str()).collect()
}

#[tokio::test]
async fn sign_for_warnings_turn_yellow_orange_and_red_on_working_hours() {
    // Monday 11:00, 2 working hours to sign for: one hour before lunch, one after.
    let app = spawn_app(Clock::manual(local("2026-11-16 11:00"))).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let task = app.report(&item.code, &grid, 1).await.1.remove(0);
    assert_eq!(task.colour, WarningColour::Blue as i32);

    // The instants, from the task's clock on the business calendar…
    let cal = &app.refdata.calendar.calendar;
    let clock = DomainClock::new(local("2026-11-16 11:00"), item.sign_for);
    let yellow = clock.instant_at_fraction(cal, 0.8).unwrap();
    let deadline = clock.deadline(cal).unwrap();
    let red = clock.instant_at_fraction(cal, 1.0 + app.settings.dispatch.escalation_grace).unwrap();
    // …and by hand: 80% of 2 h is 1 h 36 min, 11:00–12:00 then 14:30–15:06; the deadline is
    // 15:30; the grace of half the limit (1 h) ends at 16:30.
    assert_eq!(yellow, local("2026-11-16 15:06"));
    assert_eq!(deadline, local("2026-11-16 15:30"));
    assert_eq!(red, local("2026-11-16 16:30"));
    assert_eq!(deadline_of(clock_of(&task, Stage::SignFor)), Some(deadline));

    // Lunch: time stands still.
    app.quiet_at(&task.id, local("2026-11-16 13:30"), WarningColour::Blue).await;
    let lunch = app.task(&task.id).await;
    assert_eq!(clock_of(&lunch, Stage::SignFor).used_fraction, 0.5);
    // Just before 80%: still blue; at 80%: yellow, published within a second or so.
    app.quiet_at(&task.id, yellow - chrono::Duration::seconds(1), WarningColour::Blue).await;
    let took = app.warned_at(&task.id, yellow, WarningColour::Yellow).await;
    println!("yellow published {took:?} after its instant");
    app.quiet_at(&task.id, deadline - chrono::Duration::seconds(1), WarningColour::Yellow).await;
    let took = app.warned_at(&task.id, deadline, WarningColour::Orange).await;
    println!("orange published {took:?} after its instant");
    // Overdue, but within the grace: orange, not escalated.
    app.quiet_at(&task.id, red - chrono::Duration::seconds(1), WarningColour::Orange).await;
    assert!(!app.task(&task.id).await.escalated);

    // Past the grace: red, escalated to the township's county.
    let started = Instant::now();
    app.set_time(red);
    let escalated = app
        .wait_published("task-escalated", WITHIN, |p| p.event.task_id == task.id && p.event.fact == "task-escalated")
        .await;
    println!("escalation published {:?} after its instant", started.elapsed());
    assert_eq!(escalated.event.escalated_to, COUNTY);
    assert_eq!(escalated.event.colour, WarningColour::Red as i32);
    assert_eq!(escalated.event.reason, "overdue");
    assert!(escalated.event.escalated);
    assert_eq!(escalated.event.department_id, route.lead);
    let now = app.task(&task.id).await;
    assert_eq!(now.colour, WarningColour::Red as i32);
    assert!(now.escalated);
    assert_eq!(now.status, TaskStatus::Assigned as i32);

    // A red task is found by colour.
    let mut client = app.client.clone();
    let reds = client
        .list_tasks(authed(
            ListTasksRequest { colour: WarningColour::Red as i32, ..Default::default() },
            &center(COUNTY),
        ))
        .await
        .unwrap()
        .into_inner()
        .tasks;
    assert_eq!(reds.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [task.id.as_str()]);

    // Much later, nothing more happens until somebody acts.
    app.quiet_at(&task.id, local("2026-11-17 10:00"), WarningColour::Red).await;
    let published = app.published_for(&task.id).await;
    assert_eq!(names(&published), ["task-assigned", "task-warning", "task-warning", "task-escalated"]);
    let versions: Vec<i64> = published.iter().map(|p| p.event.version).collect();
    assert_eq!(versions, [1, 2, 3, 4]);

    // Signing for it at last starts a new stage with a clock of its own: blue again.
    let signed = client
        .sign_for(authed(TaskRequest { request_id: rid(), task_id: task.id.clone() }, &department(&route.lead)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(signed.colour, WarningColour::Blue as i32);
    // The sign-for stage took 6 working hours (Monday 11:00–12:00 and 14:30–18:00, Tuesday
    // 08:30–10:00): three times its limit, nights not counted.
    let sign_for = clock_of(&signed, Stage::SignFor);
    assert_eq!(stopped_at(sign_for), Some(local("2026-11-17 10:00")));
    assert_eq!(sign_for.used_fraction, 3.0);
    app.stop().await;
}

#[tokio::test]
async fn suspension_pauses_the_clock_and_extensions_move_the_deadline() {
    // Urgent item: 1 continuous hour to sign for, 4 to handle.
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.urgent_item(&grid.path);
    let task = app.report(&item.code, &grid, 1).await.1.remove(0);
    let dept = department(&route.lead);
    let centre = center(TOWNSHIP);
    let mut client = app.client.clone();
    let id = task.id.clone();
    let req = || TaskRequest { request_id: rid(), task_id: id.clone() };
    let why = |r: &str| TaskReasonRequest { request_id: rid(), task_id: id.clone(), reason: r.into() };

    app.set_time(local("2026-11-16 09:10"));
    let signed = client.sign_for(authed(req(), &dept)).await.unwrap().into_inner();
    // 4 h from 09:10.
    assert_eq!(deadline_of(clock_of(&signed, Stage::Handle)), Some(local("2026-11-16 13:10")));

    // Suspended at 10:10 with 1 h used: the clock pauses, there is no deadline while it lasts.
    app.set_time(local("2026-11-16 10:10"));
    expect_code(
        client.suspend(authed(why("长期挂账：待上级批复"), &dept)).await,
        tonic::Code::PermissionDenied,
        "a department suspends its own task",
    );
    let suspended = client.suspend(authed(why("长期挂账：待上级批复"), &centre)).await.unwrap().into_inner();
    assert_eq!(suspended.status, TaskStatus::Suspended as i32);
    let handle = clock_of(&suspended, Stage::Handle);
    assert!(handle.paused);
    assert_eq!(handle.deadline, None, "no deadline while paused");
    expect_code(
        client
            .resolve(authed(
                civicgrid_proto::v1::ResolveRequest {
                    request_id: rid(),
                    task_id: id.clone(),
                    result: "已修复".into(),
                    evidence_urls: vec![],
                },
                &dept,
            ))
            .await,
        tonic::Code::FailedPrecondition,
        "resolving a suspended task",
    );

    // The old 80% instant (12:22) and the old deadline (13:10) pass: nothing happens.
    app.quiet_at(&id, local("2026-11-16 12:30"), WarningColour::Blue).await;
    app.quiet_at(&id, local("2026-11-16 14:00"), WarningColour::Blue).await;
    let still = app.task(&id).await;
    assert_eq!(clock_of(&still, Stage::Handle).used_fraction, 0.25, "1 h of 4 used, frozen");

    // Resumed at 14:00 after 3 h 50 min: the deadline moves by as much, to 17:00.
    let resumed = client.resume(authed(req(), &centre)).await.unwrap().into_inner();
    assert_eq!(resumed.status, TaskStatus::Signed as i32, "back to the state it was suspended in");
    let handle = clock_of(&resumed, Stage::Handle);
    assert!(!handle.paused);
    assert_eq!(deadline_of(handle), Some(local("2026-11-16 17:00")));
    // 80% (3 h 12 min) is reached 2 h 12 min after resuming.
    app.quiet_at(&id, local("2026-11-16 16:11:59"), WarningColour::Blue).await;
    app.warned_at(&id, local("2026-11-16 16:12"), WarningColour::Yellow).await;

    // An extension of 2 h, approved: the deadline moves to 19:00 and the colour follows.
    app.set_time(local("2026-11-16 16:20"));
    let asked = client
        .request_extension(authed(
            RequestExtensionRequest {
                request_id: rid(),
                task_id: id.clone(),
                amount: 2,
                reason: "需协调供电部门".into(),
            },
            &dept,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(asked.extension_requested, 2);
    assert_eq!(deadline_of(clock_of(&asked, Stage::Handle)), Some(local("2026-11-16 17:00")), "not before approval");
    let extended = client
        .approve_extension(authed(
            ApproveExtensionRequest { request_id: rid(), task_id: id.clone(), amount: 0 },
            &centre,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(extended.extension_requested, 0);
    let handle = clock_of(&extended, Stage::Handle);
    assert_eq!(handle.limit, 6, "4 h and 2 h granted");
    assert_eq!(deadline_of(handle), Some(local("2026-11-16 19:00")));
    assert_eq!(extended.colour, WarningColour::Blue as i32, "3 h 20 min of 6 h used");

    // The old deadline passes quietly; 80% of 6 h (4 h 48 min) falls at 17:48, the deadline at 19:00.
    app.quiet_at(&id, local("2026-11-16 17:00"), WarningColour::Blue).await;
    app.quiet_at(&id, local("2026-11-16 17:47:59"), WarningColour::Blue).await;
    app.warned_at(&id, local("2026-11-16 17:48"), WarningColour::Yellow).await;
    app.quiet_at(&id, local("2026-11-16 18:59:59"), WarningColour::Yellow).await;
    app.warned_at(&id, local("2026-11-16 19:00"), WarningColour::Orange).await;

    let published = app.published_for(&id).await;
    assert_eq!(
        names(&published),
        [
            "task-assigned",
            "task-signed",
            "task-suspended",
            "task-resumed",
            "task-warning",
            "task-extension-requested",
            "task-extended",
            "task-warning",
            "task-warning"
        ]
    );
    let colours: Vec<i32> = published.iter().map(|p| p.event.colour).collect();
    use WarningColour as C;
    assert_eq!(
        colours,
        [C::Blue, C::Blue, C::Blue, C::Blue, C::Yellow, C::Yellow, C::Blue, C::Yellow, C::Orange].map(|c| c as i32)
    );
    app.stop().await;
}

/// Two replicas share the ticker's work (and the intake consumer's): every colour change is
/// published once, every event makes its task once.
#[tokio::test]
async fn two_replicas_warn_once_per_colour_change() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let replica = app.spawn_replica().await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, _) = app.urgent_item(&grid.path);
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let r = reported(&item.code, &grid, app.clock.now());
        app.publish_reported(&r).await;
        tasks.push(event_id(&r));
    }
    let mut ids = Vec::new();
    for event in &tasks {
        let t = app.tasks_of(event, 1).await;
        assert_eq!(t.len(), 1, "one task per event with two consumers");
        ids.push(t[0].id.clone());
    }
    // 80% of an hour: 09:48; the deadline 10:00.
    for (at, colour) in [("2026-11-16 09:48", WarningColour::Yellow), ("2026-11-16 10:00", WarningColour::Orange)] {
        app.set_time(local(at));
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let warned = app
                .published()
                .await
                .into_iter()
                .filter(|p| p.event.fact == "task-warning" && p.event.colour == colour as i32)
                .count();
            if warned >= ids.len() {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{warned} of {} {colour:?} warnings", ids.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Either replica answers for the same tasks.
    let mut via_replica = replica.client.clone();
    let seen = via_replica
        .get_task(authed(civicgrid_proto::v1::GetTaskRequest { task_id: ids[0].clone() }, &admin()))
        .await
        .expect("the replica reads the task")
        .into_inner();
    assert_eq!(seen.colour, WarningColour::Orange as i32);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in &ids {
        let facts = app.facts_of(id).await;
        assert_eq!(facts, ["task-assigned", "task-warning", "task-warning"], "task {id}");
        let versions: Vec<i64> = app.published_for(id).await.iter().map(|p| p.event.version).collect();
        assert_eq!(versions, [1, 2, 3]);
    }
    replica.stop().await;
    app.stop().await;
}

/// A burst: 40 tasks reach their thresholds at the same instants, the ticker takes 7 a round
/// (set-based rounds), and two replicas share the rounds. Every task gets each change once, in
/// order (yellow; then orange and the overdue escalation together), and the change feed holds
/// them all with increasing cursors.
#[tokio::test]
async fn a_burst_is_drained_in_rounds_shared_by_replicas_each_change_once() {
    let app = spawn_app_with(Clock::manual(monday_9am()), "[dispatch]\nticker_batch = 7\n").await;
    let replica = app.spawn_replica().await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, _) = app.urgent_item(&grid.path);
    let mut events = Vec::new();
    for _ in 0..40 {
        let r = reported(&item.code, &grid, app.clock.now());
        app.publish_reported(&r).await;
        events.push(event_id(&r));
    }
    let mut ids = Vec::new();
    for event in &events {
        ids.push(app.tasks_of(event, 1).await.remove(0).id);
    }
    let mut client = app.client.clone();
    let mut feed = client
        .watch_tasks(authed(civicgrid_proto::v1::WatchTasksRequest { from_now: true, ..Default::default() }, &admin()))
        .await
        .unwrap()
        .into_inner();
    // 80% of the hour at 09:48; at 10:30 it is overdue by half its limit: orange, then escalated (red).
    let steps = [("2026-11-16 09:48", 1), ("2026-11-16 10:30", 3)];
    for (at, facts) in steps {
        app.set_time(local(at));
        eventually(&format!("every task's changes at {at}"), || async {
            let published = app.published().await;
            ids.iter().all(|id| published.iter().filter(|p| &p.event.task_id == id).count() > facts)
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in &ids {
        let published = app.published_for(id).await;
        assert_eq!(names(&published), ["task-assigned", "task-warning", "task-warning", "task-escalated"], "task {id}");
        let versions: Vec<i64> = published.iter().map(|p| p.event.version).collect();
        assert_eq!(versions, [1, 2, 3, 4], "task {id}");
        let colours: Vec<i32> = published.iter().skip(1).map(|p| p.event.colour).collect();
        use WarningColour as C;
        assert_eq!(colours, [C::Yellow, C::Orange, C::Red].map(|c| c as i32), "task {id}");
        assert_eq!(published[3].event.reason, "overdue");
    }
    // The feed: 3 changes per task, each once, cursors increasing, a task's in its order.
    let mut last = 0;
    let mut per_task: std::collections::HashMap<String, Vec<i64>> = Default::default();
    for _ in 0..ids.len() * 3 {
        let c = next_change(&mut feed).await;
        assert!(c.cursor > last, "cursor {} after {last}", c.cursor);
        last = c.cursor;
        let task = c.task.expect("task");
        per_task.entry(task.id).or_default().push(task.version);
    }
    assert_eq!(per_task.len(), ids.len());
    assert!(per_task.values().all(|v| v == &[2, 3, 4]), "{per_task:?}");
    replica.stop().await;
    app.stop().await;
}
