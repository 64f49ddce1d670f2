-- The earliest deadline that applies to a case now (NULL when none does), kept with every
-- change: `overdue_only` in ListCases and the overdue-cases gauge read it through its index
-- instead of recomputing every case's deadlines.
ALTER TABLE cases ADD COLUMN deadline_at timestamptz;
CREATE INDEX cases_deadline ON cases (deadline_at) WHERE deadline_at IS NOT NULL;

-- The order in which a case's calls to dispatch were written (sign for before resolve).
ALTER TABLE dispatch_calls ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
