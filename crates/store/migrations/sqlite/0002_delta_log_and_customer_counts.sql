-- The rollup delta log: each write that changes rollups stores its deltas
-- under the version it produced, so that other processes replay them instead
-- of reloading the whole rollup table. Pruned after an hour.
CREATE TABLE rollup_deltas (
    version      INTEGER PRIMARY KEY,
    written_unix INTEGER NOT NULL,
    cells        BLOB    NOT NULL  -- see store/src/backend.rs encode_cells
);
CREATE INDEX rollup_deltas_by_time ON rollup_deltas (written_unix);

-- The day a customer churned, when known (days since 1970-01-01, UTC).
ALTER TABLE customers ADD COLUMN churned_on INTEGER;

-- Customers per segment and churn day (2147483647: no churn date), kept on
-- write so that the customer base of a period is one small read.
CREATE TABLE customer_segment_counts (
    segment     TEXT    NOT NULL,
    churned_day INTEGER NOT NULL,
    customers   INTEGER NOT NULL,
    PRIMARY KEY (segment, churned_day)
) WITHOUT ROWID;
INSERT INTO customer_segment_counts (segment, churned_day, customers)
SELECT segment, 2147483647, COUNT(*) FROM customers
WHERE segment IS NOT NULL GROUP BY segment;

-- Bumped by every customer write that changes something, so that cached
-- figures over customers (who answered) know when to recompute.
INSERT INTO store_state (key, value) VALUES ('customers_version', 0);
