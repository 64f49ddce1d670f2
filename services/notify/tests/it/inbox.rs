//! The in-app inbox: pages, a live stream resumable from a cursor, read marks and
//! acknowledgements.

use std::time::Duration;

use civicgrid_kit::{clock::Clock, grpc::field_violations};
use civicgrid_proto::v1::{AcknowledgeRequest, ListInboxRequest, MarkReadRequest, WatchInboxRequest};
use futures::StreamExt;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn the_live_inbox_resumes_from_its_cursor_with_nothing_missed() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let desk = format!("department:{DEPT}");
    let mut c = app.client.clone();
    let watch = |cursor: i64| WatchInboxRequest { recipient: desk.clone(), cursor, live_only: false };
    let mut stream = c.watch_inbox(authed(watch(0), &department(DEPT))).await.expect("watch").into_inner();

    let mut seen = Vec::new();
    for _ in 0..3 {
        app.publish_task(&task_fact("task-assigned", &new_id(), &new_id())).await;
    }
    while seen.len() < 3 {
        let n = tokio::time::timeout(WITHIN, stream.next()).await.expect("in time").expect("open").expect("ok");
        seen.push(n);
    }
    drop(stream);
    // Disconnected: two more arrive meanwhile.
    for _ in 0..2 {
        app.publish_task(&task_fact("task-assigned", &new_id(), &new_id())).await;
    }
    app.wait_inbox(&desk, 5).await;
    let last = seen.last().map(|n| n.cursor).unwrap_or_default();
    let mut resumed = c.watch_inbox(authed(watch(last), &department(DEPT))).await.expect("resume").into_inner();
    for _ in 0..2 {
        let n = tokio::time::timeout(WITHIN, resumed.next()).await.expect("in time").expect("open").expect("ok");
        seen.push(n);
    }
    let cursors: Vec<i64> = seen.iter().map(|n| n.cursor).collect();
    let mut sorted = cursors.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(cursors, sorted, "increasing, no repeats");
    let all: Vec<String> = app.wait_inbox(&desk, 5).await.into_iter().map(|n| n.id).collect();
    assert_eq!(seen.iter().map(|n| n.id.clone()).collect::<Vec<_>>(), all, "every notification, in order");

    let err = c
        .watch_inbox(authed(
            WatchInboxRequest { recipient: desk.clone(), cursor: 0, live_only: false },
            &department(OTHER_DEPT),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn pages_and_read_marks() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let desk = format!("department:{DEPT}");
    for _ in 0..5 {
        app.publish_task(&task_fact("task-assigned", &new_id(), &new_id())).await;
    }
    let all = app.wait_inbox(&desk, 5).await;
    let mut c = app.client.clone();
    let mut token = String::new();
    let mut paged = Vec::new();
    loop {
        let req =
            ListInboxRequest { recipient: desk.clone(), page_size: 2, page_token: token.clone(), unread_only: false };
        let page = c.list_inbox(authed(req, &department(DEPT))).await.expect("page").into_inner();
        assert_eq!(page.unread, 5);
        paged.extend(page.notifications.into_iter().map(|n| n.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut newest_first: Vec<String> = all.iter().map(|n| n.id.clone()).collect();
    newest_first.reverse();
    assert_eq!(paged, newest_first);

    let ids = vec![all[0].id.clone(), all[1].id.clone()];
    let marked = c
        .mark_read(authed(
            MarkReadRequest { recipient: desk.clone(), notification_ids: ids.clone() },
            &department(DEPT),
        ))
        .await
        .expect("mark")
        .into_inner();
    assert_eq!((marked.marked, marked.unread), (2, 3));
    let again = c
        .mark_read(authed(MarkReadRequest { recipient: desk.clone(), notification_ids: ids }, &department(DEPT)))
        .await
        .expect("mark again")
        .into_inner();
    assert_eq!((again.marked, again.unread), (0, 3), "marking twice changes nothing");
    let unread = c
        .list_inbox(authed(
            ListInboxRequest { recipient: desk.clone(), unread_only: true, ..Default::default() },
            &department(DEPT),
        ))
        .await
        .expect("unread")
        .into_inner();
    assert_eq!(unread.notifications.len(), 3);
    let err = c
        .mark_read(authed(
            MarkReadRequest { recipient: desk, notification_ids: vec!["nope".into()] },
            &department(DEPT),
        ))
        .await
        .unwrap_err();
    assert_eq!(field_violations(&err)[0].0, "notification_ids[0]");
}

#[tokio::test]
async fn acknowledgement_is_idempotent_and_only_for_notices_that_ask() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let mut escalated = task_fact("task-escalated", &new_id(), &new_id());
    escalated.escalated_to = COUNTY.into();
    app.publish_task(&escalated).await;
    let notice = app.wait_inbox(&format!("center:{COUNTY}"), 1).await.remove(0);
    let mut c = app.client.clone();
    let ack = |id: &str, rid: &str| AcknowledgeRequest { notification_id: id.into(), request_id: rid.into() };
    let first =
        c.acknowledge(authed(ack(&notice.id, "ack-request-1"), &center(COUNTY))).await.expect("ack").into_inner();
    assert!(first.acked_at.is_some() && first.read_at.is_some());
    app.advance(chrono::Duration::minutes(1));
    let second =
        c.acknowledge(authed(ack(&notice.id, "ack-request-2"), &center(COUNTY))).await.expect("ack again").into_inner();
    assert_eq!(second.acked_at, first.acked_at, "the first acknowledgement stands");

    let err = c.acknowledge(authed(ack(&notice.id, "ack-request-3"), &center("411621"))).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "outside the caller's scope");
    let desk_notice = app.wait_inbox(&format!("department:{DEPT}"), 1).await.remove(0);
    let err = c.acknowledge(authed(ack(&desk_notice.id, "ack-request-4"), &department(DEPT))).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let err = c.acknowledge(authed(ack("x", "short"), &admin())).await.unwrap_err();
    let fields: Vec<String> = field_violations(&err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["notification_id", "request_id"]);
    tokio::time::sleep(Duration::from_millis(1)).await;
}
