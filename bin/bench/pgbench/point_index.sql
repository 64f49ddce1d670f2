-- The index the *_point_query scripts assume: open events of an item in a county, by latitude,
-- with what the duplicate check reads, so a report's 50 m box is an index range scan.
CREATE INDEX IF NOT EXISTS events_open_by_item_lat ON intake.events (item_code, county, lat)
    INCLUDE (lng, reported_at, grid_code) WHERE status <> 6;
