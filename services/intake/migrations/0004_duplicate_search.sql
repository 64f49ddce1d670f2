-- The duplicate search, indexed for what it asks: open events of one item in one county near
-- a point (a latitude range, then longitude and time from the index itself), or in one grid.
-- The earlier index on (item_code, county, reported_at) made every search read the whole
-- recent history of the item, which grew slower as the table grew.
DROP INDEX IF EXISTS events_open_by_item;
CREATE INDEX events_open_near ON events (item_code, county, lat) INCLUDE (lng, reported_at, grid_code) WHERE status <> 6;
CREATE INDEX events_open_in_grid ON events (item_code, grid_code) INCLUDE (county, reported_at) WHERE status <> 6;
