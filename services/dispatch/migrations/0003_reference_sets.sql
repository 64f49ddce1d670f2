-- Every set of reference data ever put in force, with its versions and who loaded it. The
-- newest row is the set in force; the first one is seeded from the configured files.
CREATE TABLE reference_sets (
    seq                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    catalog_version     text        NOT NULL,
    regions_version     text        NOT NULL,
    departments_version text        NOT NULL,
    calendar_version    text        NOT NULL,
    catalog_toml        text        NOT NULL,
    regions_toml        text        NOT NULL,
    departments_toml    text        NOT NULL,
    calendar_toml       text        NOT NULL,
    loaded_by           text        NOT NULL,
    loaded_at           timestamptz NOT NULL
);
