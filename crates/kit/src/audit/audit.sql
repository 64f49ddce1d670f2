-- The audit trail (crates/kit/src/audit): every message a service writes to its outbox — every
-- state change it makes public — is recorded here by a trigger, in the same transaction, in an
-- append-only, hash-chained log. Each row's hash covers the previous row's hash and the row's own
-- content, so a changed, removed or inserted row breaks the chain at that point
-- (`civicgrid audit verify`).

CREATE TABLE audit_log (
    seq        bigint      PRIMARY KEY,          -- 1, 2, 3 … in commit order of the appends
    at         timestamptz NOT NULL,             -- when the change was recorded
    message_id uuid        NOT NULL,             -- the fact's ce-id
    subject    text        NOT NULL,             -- the fact's subject (service, fact, region)
    aggregate  text        NOT NULL,             -- the fact's ce-subject: the task, event, case …
    previous   bigint,                           -- this aggregate's record before (its "before")
    headers    jsonb       NOT NULL,             -- ce-type, ce-time, traceparent (the request) …
    payload    bytea       NOT NULL,             -- the fact: actor, the state after
    prev_hash  bytea       NOT NULL,             -- the hash of row seq - 1 (32 zero bytes for 1)
    hash       bytea       NOT NULL              -- sha256 of prev_hash and this row (audit::row_hash)
);
CREATE INDEX audit_log_aggregate ON audit_log (aggregate, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- The chain's head: one row, locked by each append so the chain has one order.
CREATE TABLE audit_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq      bigint  NOT NULL,
    hash     bytea   NOT NULL
);
INSERT INTO audit_head (seq, hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- What the hash covers, in this order: prev_hash, seq (8 bytes, big-endian), message_id (16
-- bytes), then subject, aggregate, at (UTC, microseconds, as text), the headers' jsonb text,
-- each followed by a zero byte, then the payload. audit::row_hash computes the same.
CREATE FUNCTION audit_append() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    head      audit_head%ROWTYPE;
    next_seq  bigint;
    recorded  timestamptz := date_trunc('microseconds', clock_timestamp());
    aggr      text := coalesce(NEW.headers->>'ce-subject', '');
    before    bigint;
    digest    bytea;
BEGIN
    SELECT * INTO head FROM audit_head FOR UPDATE;
    next_seq := head.seq + 1;
    SELECT max(seq) INTO before FROM audit_log WHERE aggregate = aggr AND aggr <> '';
    digest := sha256(
        head.hash
        || int8send(next_seq)
        || uuid_send(NEW.id)
        || convert_to(NEW.subject, 'UTF8') || '\x00'::bytea
        || convert_to(aggr, 'UTF8') || '\x00'::bytea
        || convert_to(to_char(recorded AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8') || '\x00'::bytea
        || convert_to(NEW.headers::text, 'UTF8') || '\x00'::bytea
        || NEW.payload);
    INSERT INTO audit_log (seq, at, message_id, subject, aggregate, previous, headers, payload, prev_hash, hash)
        VALUES (next_seq, recorded, NEW.id, NEW.subject, aggr, before, NEW.headers, NEW.payload, head.hash, digest);
    UPDATE audit_head SET seq = next_seq, hash = digest;
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_audit AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION audit_append();

-- Append-only: no row is changed; a row is removed only once older than 180 days (retention,
-- audit::purge), oldest first, so what remains is still a chain from its first row.
CREATE FUNCTION audit_guard() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.at < now() - interval '180 days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only (% of seq %)', TG_OP, OLD.seq;
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_guard();
