-- notify's tables. Timestamps are UTC; ids UUIDv7.

-- Reporters of each intake event (opaque ids only), so a task's closure reaches every reporter.
CREATE TABLE event_reporters (
    event_id    text NOT NULL,
    reporter_id text NOT NULL,
    PRIMARY KEY (event_id, reporter_id)
);

-- One notification = one recipient told about one fact by one rule. `dedup_key` makes a
-- redelivered fact (or a replayed one) produce nothing new.
CREATE SEQUENCE inbox_seq;
CREATE TABLE notifications (
    id              uuid PRIMARY KEY,
    dedup_key       text NOT NULL UNIQUE,
    recipient       text NOT NULL,
    rule            text NOT NULL,
    template        text NOT NULL,
    priority        smallint NOT NULL,
    locale          text NOT NULL,
    title           text NOT NULL,
    body            text NOT NULL,
    source_type     text NOT NULL,
    source_event_id text NOT NULL,
    fact            text NOT NULL,
    subject_id      text NOT NULL,
    city            text NOT NULL DEFAULT '',
    county          text NOT NULL DEFAULT '',
    township        text NOT NULL DEFAULT '',
    village         text NOT NULL DEFAULT '',
    data            jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    read_at         timestamptz,
    ack_required    boolean NOT NULL DEFAULT false,
    ack_due_at      timestamptz,
    acked_at        timestamptz,
    ack_request_id  text,
    reescalated_at  timestamptz,
    -- The inbox position (WatchInbox cursor), taken under `INBOX_LOCK` so it is committed in order.
    cursor          bigint NOT NULL UNIQUE
);
CREATE INDEX notifications_inbox ON notifications (recipient, cursor);
CREATE INDEX notifications_unread ON notifications (recipient) WHERE read_at IS NULL;
-- Due re-escalations: only unacknowledged notices that have not escalated yet.
CREATE INDEX notifications_ack_due ON notifications (ack_due_at)
    WHERE ack_required AND acked_at IS NULL AND reescalated_at IS NULL;

-- Webhook endpoints, with their circuit breaker's state.
CREATE TABLE webhook_endpoints (
    id                   uuid PRIMARY KEY,
    recipient            text NOT NULL,
    url                  text NOT NULL,
    secret_sealed        bytea NOT NULL,
    description          text NOT NULL DEFAULT '',
    active               boolean NOT NULL DEFAULT true,
    consecutive_failures integer NOT NULL DEFAULT 0,
    open_until           timestamptz,
    created_at           timestamptz NOT NULL,
    request_id           text NOT NULL UNIQUE
);
CREATE INDEX webhook_endpoints_recipient ON webhook_endpoints (recipient) WHERE active;

-- Recipient preferences. The phone is sealed (AES-256-GCM, `notify.contact_key`).
CREATE TABLE preferences (
    recipient       text PRIMARY KEY,
    channels        smallint[] NOT NULL,
    locale          text NOT NULL,
    quiet_start     text,
    quiet_end       text,
    digest_minutes  integer NOT NULL DEFAULT 0,
    phone_sealed    bytea,
    phone_masked    text,
    seal_owner      uuid NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- One notification on one channel (a webhook delivery per endpoint). status: 1 pending,
-- 2 deferred (quiet hours), 3 in digest, 4 delivered, 5 failed, 6 digested (sent in a digest).
-- kind: 'single' or 'digest' (a delivery that carries several digested ones).
CREATE TABLE deliveries (
    id              uuid PRIMARY KEY,
    notification_id uuid REFERENCES notifications (id),
    recipient       text NOT NULL,
    channel         smallint NOT NULL,
    endpoint_id     uuid REFERENCES webhook_endpoints (id),
    status          smallint NOT NULL,
    fact            text NOT NULL,
    attempt_count   integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    claimed_until   timestamptz,
    delivered_at    timestamptz,
    last_error      text NOT NULL DEFAULT '',
    digest_id       uuid,
    digest_size     integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    city            text NOT NULL DEFAULT '',
    county          text NOT NULL DEFAULT '',
    township        text NOT NULL DEFAULT '',
    village         text NOT NULL DEFAULT ''
);
-- The worker's queue: cost follows the work due, not the table's size.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN (1, 2);
CREATE INDEX deliveries_digest ON deliveries (recipient, channel, endpoint_id, next_attempt_at) WHERE status = 3;
CREATE INDEX deliveries_notification ON deliveries (notification_id);
CREATE INDEX deliveries_recipient ON deliveries (recipient, id);
CREATE INDEX deliveries_digest_members ON deliveries (digest_id) WHERE digest_id IS NOT NULL;

-- Every attempt, for the delivery records.
CREATE TABLE delivery_attempts (
    delivery_id uuid NOT NULL REFERENCES deliveries (id),
    number      integer NOT NULL,
    at          timestamptz NOT NULL,
    outcome     text NOT NULL,
    http_status integer NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT '',
    duration_ms bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (delivery_id, number)
);
