\set item random(1, 10)
\set lat 33.58 + random(0, 50000) * 0.000001
\set lng 114.58 + random(0, 60000) * 0.000001
\set lat0 :lat - 0.00045
\set lat1 :lat + 0.00045
\set lng0 :lng - 0.00054
\set lng1 :lng + 0.00054
\set r random(1, 9000000000000)
BEGIN;
INSERT INTO submissions (caller, request_id) VALUES ('dev-admin', 'req-' || :client_id || '-' || :r) ON CONFLICT DO NOTHING;
SELECT pg_advisory_xact_lock(hashtextextended('intake-dedupe:0' || :item || '.01.001:411602', 0));
SELECT id, lat, lng, grid_code FROM events WHERE item_code = '0' || :item || '.01.001' AND county = '411602' AND status <> 6 AND reported_at >= now() - interval '72 hours' AND (:lat0::float8 IS NULL OR (lat BETWEEN :lat0::float8 AND :lat1::float8 AND lng BETWEEN :lng0::float8 AND :lng1::float8)) AND (:lat0::float8 IS NOT NULL OR grid_code = '411602001001001') ORDER BY reported_at DESC LIMIT 50;
INSERT INTO reporters (id, account_id, name_sealed, phone_sealed, phone_masked) VALUES (gen_random_uuid(), 'acc', decode(repeat('ab', 40), 'hex'), decode(repeat('cd', 45), 'hex'), '138****5678') RETURNING id AS rep \gset
SELECT nextval('tracking_seq') AS seq \gset
INSERT INTO events (id, tracking_number, source, item_code, city, county, township, village, grid_code, lat, lng, address, description, evidence_urls, occurred_at, reported_at, status, version) VALUES (gen_random_uuid(), '411602-20261122-' || :seq, 1, '0' || :item || '.01.001', '411600', '411602', '411602001', '411602001001', '411602001001001', :lat::float8, :lng::float8, '陈州街道 七一路社区 第1网格', '井盖缺失或破损，行人易跌落', ARRAY['https://img.example.org/bench/x.jpg'], now(), now(), 1, 1) RETURNING id AS ev \gset
INSERT INTO reports (id, event_id, source, reporter_id, description, evidence_urls, lat, lng, reported_at) VALUES (gen_random_uuid(), :ev::uuid, 1, :rep::uuid, '井盖缺失或破损，行人易跌落', ARRAY['https://img.example.org/bench/x.jpg'], :lat::float8, :lng::float8, now());
INSERT INTO outbox (id, subject, headers, payload) VALUES (gen_random_uuid(), 'civicgrid.intake.event-reported.411600.411602.411602001.411602001001', '{"ce-specversion":"1.0","ce-id":"01a204a5-b918-7274-9c3e-1234567890ab","Nats-Msg-Id":"01a204a5-b918-7274-9c3e-1234567890ab","ce-type":"civicgrid.v1.EventReported","ce-source":"civicgrid/intake","ce-time":"2026-11-22T19:00:00.000000Z","ce-subject":"01a204a5-b918-7274-9c3e-1234567890ab","content-type":"application/protobuf","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}', decode(repeat('ef', 600), 'hex'));
UPDATE submissions SET response = decode(repeat('12', 120), 'hex') WHERE caller = 'dev-admin' AND request_id = 'req-' || :client_id || '-' || :r;
END;
