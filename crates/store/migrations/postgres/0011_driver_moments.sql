-- Key drivers: n, Σ and Σ of products of (outcome, driver ratings…) over the
-- complete rows of each rollup cell, outcome and driver set, kept beside the
-- rollups in the same transaction, so a key-driver analysis merges cells
-- instead of reading every response. `drivers` is the JSON array of the set's
-- driver names in order ('[]': the outcome alone; '*': more drivers than an
-- analysis takes); `moments` the sums then the upper triangle of products row
-- by row (northstar_core::drivers::MomentSummary); concurrent writers add to
-- it element by element. Filled from existing responses by the first
-- `migrate` after this one (store_state 'driver_moments_built').
CREATE TABLE driver_moments_daily (
    day        INTEGER  NOT NULL,
    survey     TEXT     NOT NULL,
    touchpoint TEXT     NOT NULL,
    department TEXT     NOT NULL,
    segment    TEXT     NOT NULL,
    channel    TEXT     NOT NULL,
    outcome    TEXT     NOT NULL CHECK (outcome IN ('nps', 'csat')),
    drivers    TEXT     NOT NULL,
    n          BIGINT   NOT NULL,
    moments    FLOAT8[] NOT NULL,
    PRIMARY KEY (day, survey, touchpoint, department, segment, channel, outcome, drivers)
) WITH (fillfactor = 50);
INSERT INTO store_state (key, value) VALUES ('driver_moments_built', 0);
-- Each write appends its moment deltas here as one row (however many cells
-- it touched), so concurrent writers never wait on moment rows; every
-- MOMENT_LOG_FOLD rows a write folds the log into driver_moments_daily (one
-- folder at a time, by an advisory lock). Readers add the log to the table.
CREATE TABLE driver_moment_log (
    seq   BIGSERIAL PRIMARY KEY,
    cells TEXT      NOT NULL  -- JSON, see store/src/schema.rs encode_moment_log
);
