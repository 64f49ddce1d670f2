//! `GET /api/live`: server-sent events, one `fact` event per new fact in the caller's scope,
//! after the most recent ones (so a page that opens is not empty). A page that falls behind by
//! more than the channel holds gets a `lagged` event and should reload its figures.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::{Stream, StreamExt, stream};
use tokio_stream::wrappers::{BroadcastStream, errors::BroadcastStreamRecvError};

use super::{AppState, Caller};
use crate::projection::FeedItem;

/// How many recent facts a new page gets first.
const BACKLOG: usize = 50;

fn event(item: &FeedItem) -> Event {
    Event::default().event("fact").id(item.seq.to_string()).json_data(item).unwrap_or_else(|_| Event::default())
}

/// The live feed.
pub async fn live(State(app): State<AppState>, caller: Caller) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let scope = caller.principal.region_scope.clone();
    // Subscribe before reading the backlog, so nothing falls between them; a line in both is
    // dropped by its sequence number.
    let receiver = app.live.subscribe();
    let backlog: Vec<FeedItem> = {
        let state = app.state.read().await;
        let mut lines: Vec<FeedItem> =
            state.recent.iter().rev().filter(|i| i.within(&scope)).take(BACKLOG).cloned().collect();
        lines.reverse();
        lines
    };
    let last = backlog.last().map(|i| i.seq).unwrap_or(0);
    let first = stream::iter(backlog.into_iter().map(|i| Ok(event(&i))));
    let scope_live = scope.clone();
    let rest = BroadcastStream::new(receiver).filter_map(move |r| {
        let out = match r {
            Ok(item) if item.seq > last && item.within(&scope_live) => Some(Ok(event(&item))),
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(n)) => Some(Ok(Event::default().event("lagged").data(n.to_string()))),
        };
        std::future::ready(out)
    });
    let stop = app.shutdown.clone();
    let until_shutdown = first.chain(rest).take_until(async move { stop.cancelled().await });
    Sse::new(until_shutdown).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
