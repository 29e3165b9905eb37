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
    value      REAL    NOT NULL,
    day        INTEGER NOT NULL,
    survey     TEXT    NOT NULL,
    touchpoint TEXT    NOT NULL,
    rdepartment TEXT   NOT NULL,  -- the response's department
    segment    TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    satisfied  INTEGER NOT NULL,  -- CSAT 4–5
    answered   INTEGER NOT NULL,  -- CSAT answers
    PRIMARY KEY (department, measure, value, day, survey, touchpoint, rdepartment, segment, channel)
) WITHOUT ROWID;
CREATE TABLE operation_targets (
    department TEXT    NOT NULL,
    measure    TEXT    NOT NULL,
    target     REAL    NOT NULL,
    records    INTEGER NOT NULL,
    PRIMARY KEY (department, measure, target)
) WITHOUT ROWID;
-- The link's two directions: a response's records, a record's responses.
CREATE INDEX operations_by_order ON operations (order_id);
CREATE INDEX responses_by_order ON responses (order_id)
    WHERE order_id IS NOT NULL AND csat IS NOT NULL;
INSERT INTO store_state (key, value) VALUES ('gap_cells_built', 0), ('operations_version', 0);
