//! Ratings (回访): the reporter's rating of an event's outcome, once per outcome round, kept in
//! `ratings` with its idempotency answer in `rating_requests`.

use chrono::{DateTime, Utc};
use civicgrid_kit::{
    auth::Principal,
    bus::{self, Envelope},
    time::to_proto,
};
use civicgrid_proto::v1::{EventRated, EventStatus, RateOutcomeResponse, RegionPath};
use prost::Message;
use uuid::Uuid;

use super::{Store, StoreError};
use crate::{
    SERVICE,
    domain::{rating::NewRating, status},
};
use civicgrid_contracts::intake::EVENT_RATED;

/// Why an outcome cannot be rated (answered FAILED_PRECONDITION).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRatable {
    /// The event is neither RESOLVED nor CLOSED.
    NotResolved,
    /// The event's current outcome round already has its rating.
    AlreadyRated,
}

/// What [`Store::rate`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum RateAnswer {
    /// Recorded now, or recorded by the first call with this `(caller, request_id)`.
    Rated(RateOutcomeResponse),
    /// Nothing recorded.
    NotRatable(NotRatable),
}

impl Store {
    /// Records the reporter's rating of the event's current outcome round (回访): the rating,
    /// the event's new version and its `event-rated` fact, in one transaction. Returns the first
    /// answer again for a repeated `(caller, request_id)`; a refusal stores nothing, so its
    /// request id stays free for a later attempt.
    pub async fn rate(
        &self,
        event_id: Uuid,
        rating: &NewRating,
        caller: &Principal,
        now: DateTime<Utc>,
    ) -> Result<RateAnswer, StoreError> {
        let mut tx = self.pool.begin().await?;
        let fresh =
            sqlx::query("INSERT INTO rating_requests (caller, request_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&caller.subject)
                .bind(&rating.request_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if !fresh {
            tx.rollback().await?;
            return Ok(RateAnswer::Rated(
                self.previous_answer("rating_requests", &caller.subject, &rating.request_id).await?,
            ));
        }

        // The task-status consumer takes the same row lock, so status and round are read as of
        // the last applied task fact and cannot move until this commits.
        let current: Option<(i16, i32)> =
            sqlx::query_as("SELECT status, outcome_round FROM events WHERE id = $1 FOR UPDATE")
                .bind(event_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((current, round)) = current else {
            return Err(StoreError::Corrupt(format!("event {event_id} vanished")));
        };
        let current = EventStatus::try_from(current as i32).unwrap_or(EventStatus::Unspecified);
        if !status::is_outcome(current) {
            tx.rollback().await?;
            return Ok(RateAnswer::NotRatable(NotRatable::NotResolved));
        }

        let rating_id = Uuid::now_v7();
        let inserted = sqlx::query(
            "INSERT INTO ratings (id, event_id, outcome_round, rating, comment, actor_subject, actor_role, rated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT ON CONSTRAINT ratings_one_per_outcome DO NOTHING",
        )
        .bind(rating_id)
        .bind(event_id)
        .bind(round)
        .bind(rating.rating as i16)
        .bind(&rating.comment)
        .bind(&caller.subject)
        .bind(caller.role as i16)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            tx.rollback().await?;
            return Ok(RateAnswer::NotRatable(NotRatable::AlreadyRated));
        }

        let (tracking_number, version, city, county, township, village): (String, i64, String, String, String, String) =
            sqlx::query_as(
                "UPDATE events SET version = version + 1 WHERE id = $1 \
                 RETURNING tracking_number, version, city, county, township, village",
            )
            .bind(event_id)
            .fetch_one(&mut *tx)
            .await?;
        let region = RegionPath { city, county, township, village };
        let rated = EventRated {
            event_id: event_id.to_string(),
            tracking_number,
            rating: rating.rating as i32,
            comment: rating.comment.clone(),
            region: Some(region.clone()),
            version,
            rated_at: Some(to_proto(now)),
            actor: Some(caller.actor()),
            rating_id: rating_id.to_string(),
        };
        let envelope = Envelope::fact(&EVENT_RATED, &region, event_id, &rated);
        bus::enqueue(&mut tx, SERVICE, &envelope, now).await?;

        let response = RateOutcomeResponse { event_id: event_id.to_string(), rating_id: rating_id.to_string() };
        sqlx::query("UPDATE rating_requests SET response = $3 WHERE caller = $1 AND request_id = $2")
            .bind(&caller.subject)
            .bind(&rating.request_id)
            .bind(response.encode_to_vec())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.signal.wake();
        Ok(RateAnswer::Rated(response))
    }
}
