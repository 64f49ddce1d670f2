SET search_path = dispatch;
TRUNCATE task_changes, task_facts, tasks, outbox, inbox CASCADE;
-- 20,000 tasks already there, so the planner knows the table is not empty and the guard's
-- lookup by event_id uses its index (on empty tables prepared plans settle on seq scans).
INSERT INTO tasks (id, event_id, tracking_number, item_code, city, county, township, village, grid_code, description, address, department_id, state, lead, whistle, center_region, clocks, colour, next_change_at, version, created_at, updated_at)
SELECT gen_random_uuid(), gen_random_uuid(), 'pre-' || g, '01.02.003', '411600', '411602', '411602001', '411602001001', '411602001001001', 'desc', 'addr', '411602001-chengguan', 'assigned', true, 'routine', '411602001', '{}', 1, now() + g * interval '1 minute', 1, now(), now() FROM generate_series(1, 20000) g;
INSERT INTO inbox (consumer, message_id) SELECT 'dispatch-intake', 'pre-' || g FROM generate_series(1, 20000) g;
VACUUM ANALYZE;
