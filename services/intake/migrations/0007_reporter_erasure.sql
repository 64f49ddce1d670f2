-- Retention of personal data (docs/reliability.md, "Personal data"): the housekeeping job erases
-- the reporters of events closed longer ago than intake.pii_retention_days, and records when.
ALTER TABLE reporters ADD COLUMN erased_at timestamptz;
-- Events by when they were closed, for that job.
CREATE INDEX status_history_closed ON status_history (event_id, at) WHERE status = 6;
