-- Each response's day in the organisation's time zone (setting time_zone,
-- default UTC), derived on write by core::calendar::day_in and re-derived
-- when the zone changes; rollups, trends and period filters use it. Until
-- now days were UTC days of submitted_unix, which is what this backfills.
ALTER TABLE responses ADD COLUMN day INTEGER;
UPDATE responses SET day = floor(submitted_unix / 86400.0)::int4;
ALTER TABLE responses ALTER COLUMN day SET NOT NULL;
