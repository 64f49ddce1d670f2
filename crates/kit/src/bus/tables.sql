-- The transactional outbox: written in the same transaction as the state change it reports,
-- published by the relay, marked after JetStream's ack and deleted after the retention period.
CREATE TABLE outbox (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           uuid        NOT NULL UNIQUE,
    subject      text        NOT NULL,
    headers      jsonb       NOT NULL,
    payload      bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- The inbox: the message ids each consumer has applied, written in the same transaction as the
-- effect, so a redelivered message is applied once.
CREATE TABLE inbox (
    consumer   text        NOT NULL,
    message_id text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
