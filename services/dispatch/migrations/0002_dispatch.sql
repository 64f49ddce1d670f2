-- dispatch's own tables.

-- One row per task: its current state, what the next ticker visit is due for, and the
-- stage clocks as recorded facts (start, limit, pauses, extensions, stop) from which
-- deadlines and colours are recomputed.
CREATE TABLE tasks (
    id                   uuid PRIMARY KEY,
    event_id             uuid        NOT NULL,
    tracking_number      text        NOT NULL,
    item_code            text        NOT NULL,
    city                 text        NOT NULL,
    county               text        NOT NULL,
    township             text        NOT NULL DEFAULT '',
    village              text        NOT NULL DEFAULT '',
    grid_code            text,
    description          text        NOT NULL DEFAULT '',
    address              text        NOT NULL DEFAULT '',
    department_id        text,
    state                text        NOT NULL,
    resume_to            text,
    lead                 boolean     NOT NULL,
    whistle              text        NOT NULL,
    -- Region code of the coordinating center; escalation goes one level above it.
    center_region        text        NOT NULL,
    rework_count         integer     NOT NULL DEFAULT 0,
    returned_by          text[]      NOT NULL DEFAULT '{}',
    extension_requested  integer,
    clocks               jsonb       NOT NULL DEFAULT '{}',
    -- civicgrid.v1.WarningColour of the running stage.
    colour               smallint    NOT NULL DEFAULT 0,
    escalated            boolean     NOT NULL DEFAULT false,
    escalated_to         text,
    -- The next instant the colour changes (or escalation is due) without a new fact.
    next_change_at       timestamptz,
    result               text,
    result_evidence_urls text[]      NOT NULL DEFAULT '{}',
    version              bigint      NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
-- The ticker's work: cost follows what is due, not the number of open tasks.
CREATE INDEX tasks_due ON tasks (next_change_at) WHERE next_change_at IS NOT NULL;
CREATE INDEX tasks_by_department ON tasks (department_id, id DESC);
CREATE INDEX tasks_by_county ON tasks (county, id DESC);
CREATE INDEX tasks_by_township ON tasks (township, id DESC);
CREATE INDEX tasks_by_event ON tasks (event_id);

-- Every fact about a task, with its actor: the audit trail, and what assessment folds.
CREATE TABLE task_facts (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id    uuid        NOT NULL REFERENCES tasks (id),
    fact       text        NOT NULL,
    -- Assessment facts (domain::kpi::RecordedFact) this fact produced, in order.
    recorded   jsonb       NOT NULL DEFAULT '[]',
    actor      jsonb       NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    version    bigint      NOT NULL,
    at         timestamptz NOT NULL
);
CREATE INDEX task_facts_by_task ON task_facts (task_id, seq);

-- The change feed behind WatchTasks. Rows are appended under a transaction-scoped advisory
-- lock taken just before commit, so seq order is commit order and a reader that has seen
-- seq N can never later find a row below N.
CREATE TABLE task_changes (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id       uuid        NOT NULL,
    fact          text        NOT NULL,
    -- The department holding the task after the change, or the one that just let it go
    -- (a return), so its feed shows that the task left.
    department_id text,
    grid_code     text,
    city          text        NOT NULL,
    county        text        NOT NULL,
    township      text        NOT NULL DEFAULT '',
    village       text        NOT NULL DEFAULT '',
    at            timestamptz NOT NULL
);

-- Idempotency: the first answer to each (caller, request_id).
CREATE TABLE requests (
    caller     text        NOT NULL,
    request_id text        NOT NULL,
    response   bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, request_id)
);
