-- The audit trail, second version (crates/kit/src/audit): the outbox trigger records a whole
-- statement's messages at once, so a batch of N messages takes the chain's head once and moves it
-- once, not N times. (Per row, the head row was updated N times in one transaction: N row
-- versions of one row, each with its index entry, and N lock requests; measured as about 3 of a
-- report's 36 row changes in `civicgrid-bench loop`, docs/performance.md.)
--
-- The records are the ones `audit.sql`'s row trigger made: in the outbox's order (`seq`), each
-- recorded at its own clock_timestamp(), hashed as `audit::row_hash` computes it, linked to its
-- aggregate's record before (including earlier ones of the same statement).

CREATE FUNCTION audit_append_statement() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    head      audit_head%ROWTYPE;
    r         record;
    recorded  timestamptz;
    aggr      text;
    before    bigint;
    digest    bytea;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM appended) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO head FROM audit_head FOR UPDATE;
    FOR r IN SELECT id, subject, headers, payload FROM appended ORDER BY seq LOOP
        recorded := date_trunc('microseconds', clock_timestamp());
        aggr := coalesce(r.headers->>'ce-subject', '');
        SELECT max(seq) INTO before FROM audit_log WHERE aggregate = aggr AND aggr <> '';
        digest := sha256(
            head.hash
            || int8send(head.seq + 1)
            || uuid_send(r.id)
            || convert_to(r.subject, 'UTF8') || '\x00'::bytea
            || convert_to(aggr, 'UTF8') || '\x00'::bytea
            || convert_to(to_char(recorded AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8') || '\x00'::bytea
            || convert_to(r.headers::text, 'UTF8') || '\x00'::bytea
            || r.payload);
        INSERT INTO audit_log (seq, at, message_id, subject, aggregate, previous, headers, payload, prev_hash, hash)
            VALUES (head.seq + 1, recorded, r.id, r.subject, aggr, before, r.headers, r.payload, head.hash, digest);
        head.seq := head.seq + 1;
        head.hash := digest;
    END LOOP;
    UPDATE audit_head SET seq = head.seq, hash = head.hash;
    RETURN NULL;
END $$;

DROP TRIGGER outbox_audit ON outbox;
DROP FUNCTION audit_append();
CREATE TRIGGER outbox_audit AFTER INSERT ON outbox REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_statement();
