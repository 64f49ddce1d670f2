-- mediation's own tables.

-- Every reference set ever in force; the newest is in force.
CREATE TABLE reference_sets (
    seq                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organisations_toml  text        NOT NULL,
    mediators_toml      text        NOT NULL,
    calendar_toml       text        NOT NULL,
    organisations_version text      NOT NULL,
    mediators_version   text        NOT NULL,
    calendar_version    text        NOT NULL,
    loaded_by           text        NOT NULL,
    loaded_at           timestamptz NOT NULL DEFAULT now()
);

-- Case numbers: 调<county>-<yyyymmdd>-<seq>, one sequence for all (no hot counter row).
CREATE SEQUENCE case_numbers;

-- One row per case: its current state and what the deadlines are computed from.
CREATE TABLE cases (
    id                    uuid PRIMARY KEY,
    case_number           text        NOT NULL UNIQUE,
    source                smallint    NOT NULL,
    dispute_type          smallint    NOT NULL,
    facts                 text        NOT NULL,
    amount_nanos          numeric(30, 0) NOT NULL DEFAULT 0,
    city                  text        NOT NULL,
    county                text        NOT NULL,
    township              text        NOT NULL DEFAULT '',
    village               text        NOT NULL DEFAULT '',
    grid_code             text,
    risk                  smallint    NOT NULL DEFAULT 1,
    state                 text        NOT NULL,
    organisation_id       text        NOT NULL,
    mediator_id           text        NOT NULL DEFAULT '',
    reason                text        NOT NULL DEFAULT '',
    transferred_to        smallint    NOT NULL DEFAULT 0,
    external_reference    text        NOT NULL DEFAULT '',
    -- A case opened from a dispatch task: the task, its department (the justice office acting
    -- for the case in dispatch), the event and its tracking number. One case per task.
    task_id               uuid UNIQUE,
    task_department       text,
    event_id              uuid,
    tracking_number       text        NOT NULL DEFAULT '',
    -- The clocks (docs/mediation.md#deadlines).
    opened_at             timestamptz NOT NULL,
    accepted_at           timestamptz,
    extension_days        integer     NOT NULL DEFAULT 0,
    agreement             jsonb,
    agreement_effective_at timestamptz,
    confirmation          jsonb,
    follow_ups            jsonb       NOT NULL DEFAULT '[]',
    -- Warnings given ("mediation-soon" …), and the next instant one falls due (indexed: the
    -- warning job's cost follows what is due, not the number of cases).
    warnings_given        text[]      NOT NULL DEFAULT '{}',
    next_warning_at       timestamptz,
    version               bigint      NOT NULL DEFAULT 1,
    updated_at            timestamptz NOT NULL,
    closed_at             timestamptz
);
CREATE INDEX cases_warning_due ON cases (next_warning_at) WHERE next_warning_at IS NOT NULL;
CREATE INDEX cases_by_organisation ON cases (organisation_id, id DESC);
CREATE INDEX cases_by_mediator ON cases (mediator_id, id DESC) WHERE mediator_id <> '';
CREATE INDEX cases_by_county ON cases (county, id DESC);
CREATE INDEX cases_by_township ON cases (township, id DESC);
CREATE INDEX cases_open_by_mediator ON cases (mediator_id) WHERE closed_at IS NULL AND mediator_id <> '';

-- The parties, their personal data sealed with mediation.pii_key (bound to the party id);
-- only masked forms in clear.
CREATE TABLE parties (
    id               uuid PRIMARY KEY,
    case_id          uuid        NOT NULL REFERENCES cases (id),
    position         integer     NOT NULL,
    role             smallint    NOT NULL,
    name_sealed      bytea       NOT NULL,
    phone_sealed     bytea,
    id_number_sealed bytea,
    address_sealed   bytea,
    name_masked      text        NOT NULL,
    phone_masked     text        NOT NULL DEFAULT '',
    id_number_masked text        NOT NULL DEFAULT ''
);
CREATE INDEX parties_by_case ON parties (case_id, position);

-- Mediation sessions.
CREATE TABLE sessions (
    id                 uuid PRIMARY KEY,
    case_id            uuid        NOT NULL REFERENCES cases (id),
    scheduled_at       timestamptz NOT NULL,
    place              text        NOT NULL,
    status             text        NOT NULL,
    attended_party_ids uuid[]      NOT NULL DEFAULT '{}',
    record             text        NOT NULL DEFAULT '',
    recorded_at        timestamptz
);
CREATE INDEX sessions_by_case ON sessions (case_id, scheduled_at);

-- Every fact of every case with its actor: the audit trail, and what the statistics fold
-- (`recorded`: the case as the figures need it at that moment, domain::stats::RecordedFact).
CREATE TABLE case_facts (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id   uuid        NOT NULL REFERENCES cases (id),
    fact      text        NOT NULL,
    actor     jsonb       NOT NULL,
    reason    text        NOT NULL DEFAULT '',
    version   bigint      NOT NULL,
    at        timestamptz NOT NULL,
    county    text        NOT NULL,
    recorded  jsonb       NOT NULL
);
CREATE INDEX case_facts_by_case ON case_facts (case_id, seq);
CREATE INDEX case_facts_by_time ON case_facts (at);

-- (caller, request_id) → the encoded first answer of a mutating call.
CREATE TABLE requests (
    caller      text        NOT NULL,
    request_id  text        NOT NULL,
    response    bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, request_id)
);

-- Calls to dispatch that keep a case's task in step, written in the case's transaction and
-- made by the dispatch link job until dispatch answers.
CREATE TABLE dispatch_calls (
    id          uuid PRIMARY KEY,
    case_id     uuid        NOT NULL REFERENCES cases (id),
    task_id     uuid        NOT NULL,
    department  text        NOT NULL,
    action      text        NOT NULL,
    request_id  text        NOT NULL,
    result      text        NOT NULL DEFAULT '',
    due_at      timestamptz NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text        NOT NULL DEFAULT '',
    done_at     timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE INDEX dispatch_calls_due ON dispatch_calls (due_at) WHERE done_at IS NULL;
