-- Callback ratings (回访): the reporter's judgement of an outcome, one per outcome round.
--
-- The outcome round. An event's `outcome_round` counts how many times its public status has
-- ENTERED an outcome state (RESOLVED = 5 or CLOSED = 6) from a state without one. The
-- task-status consumer (store.rs, apply_task_event; the rule is
-- domain::status::starts_outcome_round) raises it in the same transaction as the status change:
--
--   REPORTED → DISPATCHED → IN_PROGRESS → RESOLVED      round 1
--   RESOLVED → CLOSED                                   still round 1 (the same outcome, archived)
--   RESOLVED/CLOSED → DISPATCHED/IN_PROGRESS (rework)   still round 1, but not ratable now
--   → RESOLVED again                                    round 2: may be rated again
--
-- 0 means the event was never resolved. A rating belongs to the event's round at the time it is
-- recorded, and UNIQUE (event_id, outcome_round) makes "one rating per outcome" a database rule,
-- whatever races between callers.
ALTER TABLE events ADD COLUMN outcome_round integer NOT NULL DEFAULT 0;

-- Events resolved before this migration: the same rule, replayed over their status history.
UPDATE events e
   SET outcome_round = r.rounds
  FROM (SELECT event_id,
               (count(*) FILTER (WHERE status IN (5, 6) AND (prev IS NULL OR prev NOT IN (5, 6))))::integer AS rounds
          FROM (SELECT event_id, status, lag(status) OVER (PARTITION BY event_id ORDER BY seq) AS prev
                  FROM status_history) h
         GROUP BY event_id) r
 WHERE r.event_id = e.id AND r.rounds > 0;

CREATE TABLE ratings (
    -- UUIDv7.
    id            uuid PRIMARY KEY,
    event_id      uuid        NOT NULL REFERENCES events (id),
    -- events.outcome_round when the rating was recorded.
    outcome_round integer     NOT NULL CHECK (outcome_round >= 1),
    -- civicgrid.v1.Rating: 1 satisfied, 2 basically satisfied, 3 dissatisfied.
    rating        smallint    NOT NULL CHECK (rating BETWEEN 1 AND 3),
    comment       text        NOT NULL DEFAULT '',
    -- Who recorded it: the token's `sub` and civicgrid.v1.Role.
    actor_subject text        NOT NULL,
    actor_role    smallint    NOT NULL,
    rated_at      timestamptz NOT NULL,
    CONSTRAINT ratings_one_per_outcome UNIQUE (event_id, outcome_round)
);

-- Idempotency of RateOutcome: the first answer to each (caller, request_id). Apart from
-- `submissions`, so a key reused across RPCs never returns another RPC's answer.
CREATE TABLE rating_requests (
    caller     text        NOT NULL,
    request_id text        NOT NULL,
    response   bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, request_id)
);
