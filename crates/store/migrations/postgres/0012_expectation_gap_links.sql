-- Expectation gaps: the response-to-order link maintained on write. Each
-- CSAT answer about an order counts once per operational record of that
-- order, in the cell of (record's department, measure, value) × (the
-- response's day and dimensions), so a gap merges cells instead of joining
-- every response to every record. operation_targets counts records per
-- target, for "the department's own target". Filled from existing rows by
-- the first `migrate` after this one (store_state 'gap_cells_built').
CREATE TABLE gap_cells (
    department TEXT    NOT NULL,
    measure    TEXT    NOT NULL,
    value      FLOAT8  NOT NULL,
    day        BIGINT  NOT NULL,
    survey     TEXT    NOT NULL,
    touchpoint TEXT    NOT NULL,
    rdepartment TEXT   NOT NULL,  -- the response's department
    segment    TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    satisfied  BIGINT  NOT NULL,  -- CSAT 4–5
    answered   BIGINT  NOT NULL,  -- CSAT answers
    PRIMARY KEY (department, measure, value, day, survey, touchpoint, rdepartment, segment, channel)
) WITH (fillfactor = 50);
CREATE TABLE operation_targets (
    department TEXT    NOT NULL,
    measure    TEXT    NOT NULL,
    target     FLOAT8  NOT NULL,
    records    BIGINT  NOT NULL,
    PRIMARY KEY (department, measure, target)
);
-- The link's two directions: a response's records, a record's responses.
CREATE INDEX operations_by_order ON operations (order_id);
CREATE INDEX responses_by_order ON responses (order_id)
    WHERE order_id IS NOT NULL AND csat IS NOT NULL;
INSERT INTO store_state (key, value) VALUES ('gap_cells_built', 0);
