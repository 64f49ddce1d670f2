SET search_path = intake;
TRUNCATE reports, events, reporters, submissions, outbox CASCADE;
INSERT INTO events (id, tracking_number, source, item_code, city, county, township, village, grid_code, lat, lng, address, description, evidence_urls, occurred_at, reported_at, status, version)
SELECT gen_random_uuid(), 'pre-' || g, 1, '0' || (1 + g % 10) || '.01.001', '411600', '411602', '411602001', '411602001001', '411602001001001', 33.58 + random() * 0.05, 114.58 + random() * 0.06, 'addr', 'desc', '{}', now(), now() - (random() * interval '1 hour'), 1, 1 FROM generate_series(1, 10000) g;
-- A reporter and a report for each, so that every table has statistics: planned against an
-- empty table, the foreign-key checks of `reports` scan it, and their cost grows with the run.
INSERT INTO reporters (id, account_id, phone_masked) SELECT id, 'acc', '138****5678' FROM events;
INSERT INTO reports (id, event_id, source, reporter_id, description, reported_at) SELECT gen_random_uuid(), id, 1, id, 'desc', reported_at FROM events;
VACUUM ANALYZE;
