-- The round that claimed a delivery: only that round may record its outcome, so a round that
-- outlived its lease cannot overwrite (or publish after) the round that took the delivery over.
ALTER TABLE deliveries ADD COLUMN claim uuid;
-- DeleteWebhook fails an endpoint's waiting deliveries without a scan.
CREATE INDEX deliveries_endpoint_waiting ON deliveries (endpoint_id) WHERE status IN (1, 2, 3);
-- Due digest members, found by time rather than by reading every waiting member.
CREATE INDEX deliveries_digest_due ON deliveries (next_attempt_at) WHERE status = 3;
-- Facts whose reporters were not known yet (the task fact arrived before intake's): replayed
-- when the event's reporter becomes known.
CREATE TABLE pending_reporter_facts (
    event_id   text NOT NULL,
    source_id  text NOT NULL,
    fact       jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (event_id, source_id)
);
