-- Each response's day in the organisation's time zone (setting time_zone,
-- default UTC), derived on write by core::calendar::day_in and re-derived
-- when the zone changes; rollups, trends and period filters use it. Until
-- now days were UTC days of submitted_unix, which is what this backfills.
-- Every process must run a binary that writes the column (one that predates
-- it would leave it empty).
ALTER TABLE responses ADD COLUMN day INTEGER;
UPDATE responses SET day = (submitted_unix - ((submitted_unix % 86400) + 86400) % 86400) / 86400;
