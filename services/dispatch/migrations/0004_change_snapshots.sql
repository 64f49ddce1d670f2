-- Each change-feed row keeps the task as it was right after the change (an encoded
-- civicgrid.v1.Task), so a replayed feed shows history, never a later state of a task that may
-- since belong to another department.
ALTER TABLE task_changes ADD COLUMN task bytea;
