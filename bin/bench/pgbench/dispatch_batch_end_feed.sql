-- The end of a batch whose events left their change-feed rows for last: the lock, once, just
-- before COMMIT, then the batch's 200 change-feed rows in one statement.
SELECT pg_advisory_xact_lock(7305002);
INSERT INTO task_changes (task_id, fact, department_id, grid_code, city, county, township, village, at, task) SELECT gen_random_uuid(), 'task-assigned', '411602001-chengguan', '411602001001001', '411600', '411602', '411602001', '411602001001', now(), decode(repeat('cd', 700), 'hex') FROM generate_series(1, 200);
