-- The W3C traceparent of the fact behind a pushed delivery: the worker sends it later, from
-- this queue, and makes the call in a span that is this context's child (docs/operations.md).
-- Nullable with no default: adding it rewrites nothing.
ALTER TABLE deliveries ADD COLUMN traceparent text;
