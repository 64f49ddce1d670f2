-- The audit trail, third version (crates/kit/src/audit): the relay seals the chain. A message
-- is recorded when the relay removes it from the outbox after JetStream's ack, by the statement
-- and in the transaction of that removal (`audit::seal`), no longer by a trigger in the
-- transaction that wrote it. Why: the trigger ran plpgsql for every statement that wrote to the
-- outbox and held the chain's head locked until that writer's commit, so a service's writers
-- queued behind each other's fsync; the relay records a whole claim with one statement, and only
-- the relay's transactions take the head. The message is in the outbox from the writer's commit
-- on, so a change that commits is still recorded and one that rolls back is not.
--
-- The rows in the outbox now were recorded by the trigger when they were written; the head
-- remembers the last of them (`recorded_through`), and the relay does not record them again. The
-- lock keeps writers out meanwhile, so every later row has a greater `seq` (the identity's
-- sequence hands out increasing numbers: its default CACHE 1). It is the strongest lock at once
-- because the DROPs below need it: a weaker one upgraded later deadlocks with a relay of the
-- release before that holds a claim while it waits for acks.
LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE;
ALTER TABLE audit_head ADD COLUMN recorded_through bigint NOT NULL DEFAULT 0;
UPDATE audit_head SET recorded_through = coalesce((SELECT max(seq) FROM outbox), 0);
DROP TRIGGER outbox_audit ON outbox;
DROP FUNCTION audit_append_statement();

-- A release before this one removes published rows without recording them, and its reveals
-- write a record to the outbox and remove it. Such removals are refused: only a transaction that
-- took the chain's head through `audit::seal` (which sets `civicgrid.audit_sealing`) removes
-- outbox rows. During a rolling update an older relay's round fails and a relay of this release
-- publishes the rows again (JetStream drops the repeats by Nats-Msg-Id) and records them.
CREATE FUNCTION outbox_removal_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('civicgrid.audit_sealing', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'outbox rows are removed only by a relay that records them in the audit trail (civicgrid audit::seal)';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_sealed_removal BEFORE DELETE ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_removal_guard();

-- Rows are deleted once published (never marked), so the pending rows are the primary key's
-- and nothing is ever published: two indexes each insert and vacuum paid for nothing.
DROP INDEX outbox_pending;
DROP INDEX outbox_published;
