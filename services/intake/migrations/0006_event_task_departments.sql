-- The department of each task of an event, as dispatch's task facts last named it (empty while
-- awaiting triage): a department reads only the events of its own tasks (docs/grpc.md,
-- "Who may read which events"). Rows recorded before this column existed stay '' until the
-- task's next fact.
ALTER TABLE event_tasks ADD COLUMN department_id text NOT NULL DEFAULT '';
CREATE INDEX event_tasks_by_department ON event_tasks (department_id, event_id);
