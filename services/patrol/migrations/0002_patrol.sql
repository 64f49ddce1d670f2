-- patrol's tables. Definitions (teams, places, routes) are kept as their protobuf message
-- (`body`) beside the columns listings filter on.

CREATE TABLE requests (
    caller     text        NOT NULL,
    request_id text        NOT NULL,
    response   bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, request_id)
);

CREATE TABLE teams (
    id          text        PRIMARY KEY,
    region_code text        NOT NULL,
    kind        integer     NOT NULL,
    body        bytea       NOT NULL,
    version     bigint      NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX teams_region ON teams (region_code text_pattern_ops, id);

CREATE TABLE places (
    id          text        PRIMARY KEY,
    region_code text        NOT NULL,
    risk        integer     NOT NULL,
    body        bytea       NOT NULL,
    version     bigint      NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX places_region ON places (region_code text_pattern_ops, id);

CREATE TABLE routes (
    id          text        PRIMARY KEY,
    region_code text        NOT NULL,
    body        bytea       NOT NULL,
    version     bigint      NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX routes_region ON routes (region_code text_pattern_ops, id);

-- A shift; `plan` is what it walks (the route resolved at its start, places' fences included),
-- `tour` its progress (domain::route::TourState), both JSON.
CREATE TABLE shifts (
    id            uuid        PRIMARY KEY,
    team_id       text        NOT NULL REFERENCES teams (id),
    route_id      text        NOT NULL REFERENCES routes (id),
    region_code   text        NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    state         text        NOT NULL,
    route_version bigint      NOT NULL,
    started_at    timestamptz,
    started_by    text        NOT NULL DEFAULT '',
    ended_at      timestamptz,
    tour_due_at   timestamptz,
    tour_complete boolean     NOT NULL DEFAULT false,
    late          boolean     NOT NULL DEFAULT false,
    missed        integer     NOT NULL DEFAULT 0,
    reason        text        NOT NULL DEFAULT '',
    plan          jsonb,
    tour          jsonb,
    offline       text[]      NOT NULL DEFAULT '{}',
    next_due_at   timestamptz,
    version       bigint      NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX shifts_listing ON shifts (starts_at DESC, id DESC);
CREATE INDEX shifts_team ON shifts (team_id, starts_at DESC);
CREATE INDEX shifts_active ON shifts (state) WHERE state = 'active';
CREATE INDEX shifts_due ON shifts (next_due_at) WHERE next_due_at IS NOT NULL;

-- Accepted fixes; the key makes a redelivered fix change nothing.
CREATE TABLE positions (
    member_id   text             NOT NULL,
    at          timestamptz      NOT NULL,
    device_id   text             NOT NULL,
    lat         double precision NOT NULL,
    lng         double precision NOT NULL,
    accuracy_m  real             NOT NULL,
    speed_mps   real             NOT NULL,
    PRIMARY KEY (member_id, at)
);
-- Retention deletes by age: a BRIN index costs nothing on insert-ordered rows.
CREATE INDEX positions_at ON positions USING brin (at);

CREATE TABLE check_ins (
    shift_id      uuid        NOT NULL REFERENCES shifts (id),
    checkpoint_id text        NOT NULL,
    member_id     text        NOT NULL,
    at            timestamptz NOT NULL,
    method        integer     NOT NULL,
    evidence      text        NOT NULL DEFAULT '',
    PRIMARY KEY (shift_id, checkpoint_id)
);

CREATE TABLE findings (
    id              uuid        PRIMARY KEY,
    shift_id        uuid        NOT NULL REFERENCES shifts (id),
    member_id       text        NOT NULL,
    event_id        text        NOT NULL,
    tracking_number text        NOT NULL,
    reported_at     timestamptz NOT NULL
);
CREATE INDEX findings_shift ON findings (shift_id);

-- Days whose presence-daily facts were published.
CREATE TABLE presence_days (
    day          date        PRIMARY KEY,
    published_at timestamptz NOT NULL
);
