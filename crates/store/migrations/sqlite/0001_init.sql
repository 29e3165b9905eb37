-- Raw rows are the source of truth; rollups_daily is derived from them and
-- rebuilt by `northstar rebuild-rollups`.

CREATE TABLE responses (
    id             INTEGER PRIMARY KEY,
    external_id    TEXT    NOT NULL UNIQUE,
    customer_id    TEXT,
    submitted_at   TEXT    NOT NULL,  -- as given, RFC 3339
    submitted_unix INTEGER NOT NULL,  -- seconds since the Unix epoch
    survey         TEXT    NOT NULL DEFAULT '',
    touchpoint     TEXT    NOT NULL DEFAULT '',
    department     TEXT    NOT NULL DEFAULT '',
    segment        TEXT    NOT NULL DEFAULT '',
    channel        TEXT    NOT NULL DEFAULT '',
    nps            INTEGER CHECK (nps BETWEEN 0 AND 10),
    csat           INTEGER CHECK (csat BETWEEN 1 AND 5),
    ces            INTEGER CHECK (ces BETWEEN 1 AND 7),
    fcr            INTEGER CHECK (fcr IN (0, 1)),
    comment        TEXT,
    order_id       TEXT,
    drivers        TEXT    NOT NULL DEFAULT '{}',  -- JSON object: driver name -> 1..5
    attributes     TEXT    NOT NULL DEFAULT '{}'   -- JSON object: unknown columns
);


-- Response summaries per UTC day and dimension combination. Counters:
-- nps_0..nps_10, csat_1..csat_5, ces_1..ces_7 (answers per value) and
-- fcr_yes, fcr_no.
CREATE TABLE rollups_daily (
    day        INTEGER NOT NULL,  -- days since 1970-01-01, UTC
    survey     TEXT    NOT NULL,
    touchpoint TEXT    NOT NULL,
    department TEXT    NOT NULL,
    segment    TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    nps_0 INTEGER NOT NULL DEFAULT 0, nps_1 INTEGER NOT NULL DEFAULT 0,
    nps_2 INTEGER NOT NULL DEFAULT 0, nps_3 INTEGER NOT NULL DEFAULT 0,
    nps_4 INTEGER NOT NULL DEFAULT 0, nps_5 INTEGER NOT NULL DEFAULT 0,
    nps_6 INTEGER NOT NULL DEFAULT 0, nps_7 INTEGER NOT NULL DEFAULT 0,
    nps_8 INTEGER NOT NULL DEFAULT 0, nps_9 INTEGER NOT NULL DEFAULT 0,
    nps_10 INTEGER NOT NULL DEFAULT 0,
    csat_1 INTEGER NOT NULL DEFAULT 0, csat_2 INTEGER NOT NULL DEFAULT 0,
    csat_3 INTEGER NOT NULL DEFAULT 0, csat_4 INTEGER NOT NULL DEFAULT 0,
    csat_5 INTEGER NOT NULL DEFAULT 0,
    ces_1 INTEGER NOT NULL DEFAULT 0, ces_2 INTEGER NOT NULL DEFAULT 0,
    ces_3 INTEGER NOT NULL DEFAULT 0, ces_4 INTEGER NOT NULL DEFAULT 0,
    ces_5 INTEGER NOT NULL DEFAULT 0, ces_6 INTEGER NOT NULL DEFAULT 0,
    ces_7 INTEGER NOT NULL DEFAULT 0,
    fcr_yes INTEGER NOT NULL DEFAULT 0, fcr_no INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, survey, touchpoint, department, segment, channel)
) WITHOUT ROWID;

CREATE TABLE customers (
    customer_id  TEXT PRIMARY KEY,
    segment      TEXT,
    region       TEXT,
    annual_value REAL,
    churned      INTEGER CHECK (churned IN (0, 1)),
    attributes   TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE operations (
    department    TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    measure       TEXT NOT NULL,
    customer_id   TEXT,
    occurred_at   TEXT,
    occurred_unix INTEGER,
    value         REAL NOT NULL,
    target        REAL,
    attributes    TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (department, order_id, measure)
);

-- A counter bumped by every write that changes rollups, so that a server's
-- in-memory cube notices writes by other processes (e.g. a CLI import).
CREATE TABLE store_state (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO store_state (key, value) VALUES ('rollup_version', 0);
