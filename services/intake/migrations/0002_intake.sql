-- intake's own tables. Reporter PII lives apart (reporters), encrypted; events and reports
-- refer to reporters by an opaque id.

CREATE TABLE reporters (
    id           uuid PRIMARY KEY,
    account_id   text        NOT NULL DEFAULT '',
    name_sealed  bytea,
    phone_sealed bytea,
    phone_masked text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
    id              uuid PRIMARY KEY,
    tracking_number text             NOT NULL UNIQUE,
    source          smallint         NOT NULL,
    item_code       text             NOT NULL,
    city            text             NOT NULL,
    county          text             NOT NULL,
    township        text             NOT NULL DEFAULT '',
    village         text             NOT NULL DEFAULT '',
    grid_code       text,
    lat             double precision,
    lng             double precision,
    address         text             NOT NULL DEFAULT '',
    description     text             NOT NULL,
    evidence_urls   text[]           NOT NULL DEFAULT '{}',
    occurred_at     timestamptz      NOT NULL,
    reported_at     timestamptz      NOT NULL,
    -- civicgrid.v1.EventStatus; 6 = CLOSED
    status          smallint         NOT NULL,
    report_count    integer          NOT NULL DEFAULT 1,
    version         bigint           NOT NULL DEFAULT 1
);
-- Duplicate search: open events of one item in one county, recent first.
CREATE INDEX events_open_by_item ON events (item_code, county, reported_at) WHERE status <> 6;
-- Listing by region, newest first (ids are UUIDv7, so id order is time order).
CREATE INDEX events_by_county ON events (county, id DESC);
CREATE INDEX events_by_township ON events (township, id DESC);
CREATE INDEX events_by_village ON events (village, id DESC);

CREATE TABLE reports (
    id            uuid PRIMARY KEY,
    event_id      uuid        NOT NULL REFERENCES events (id),
    source        smallint    NOT NULL,
    reporter_id   uuid        NOT NULL REFERENCES reporters (id),
    description   text        NOT NULL,
    evidence_urls text[]      NOT NULL DEFAULT '{}',
    lat           double precision,
    lng           double precision,
    reported_at   timestamptz NOT NULL
);
CREATE INDEX reports_by_event ON reports (event_id, reported_at);

-- Idempotency: the first answer to each (caller, request_id).
CREATE TABLE submissions (
    caller     text        NOT NULL,
    request_id text        NOT NULL,
    response   bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, request_id)
);

-- The last applied fact of each dispatch task, so an older fact never undoes a newer one.
CREATE TABLE event_tasks (
    event_id uuid    NOT NULL REFERENCES events (id),
    task_id  text    NOT NULL,
    version  bigint  NOT NULL,
    status   smallint NOT NULL,
    lead     boolean NOT NULL,
    PRIMARY KEY (event_id, task_id)
);

-- Public status changes, oldest first.
CREATE TABLE status_history (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      uuid        NOT NULL REFERENCES events (id),
    status        smallint    NOT NULL,
    fact          text        NOT NULL,
    task_id       text        NOT NULL,
    department_id text        NOT NULL DEFAULT '',
    at            timestamptz NOT NULL
);
CREATE INDEX status_history_by_event ON status_history (event_id, seq);
