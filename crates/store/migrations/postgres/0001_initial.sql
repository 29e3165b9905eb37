-- Northstar on PostgreSQL: the same tables as on SQLite (raw rows are the
-- source of truth; rollups_daily is derived from them and rebuilt by
-- `northstar rebuild-rollups`), with what several writers need: counters
-- that concurrent upserts add to, a delta log ordered by transaction ids
-- instead of one version row, and data versions spread over shards.

-- Keyed by external_id alone: a surrogate id would cost a second index on
-- every insert (measured: about 15% of the insert).
CREATE TABLE responses (
    external_id    TEXT     PRIMARY KEY,
    customer_id    TEXT,
    submitted_at   TEXT     NOT NULL,  -- as given, RFC 3339
    submitted_unix BIGINT   NOT NULL,  -- seconds since the Unix epoch
    survey         TEXT     NOT NULL DEFAULT '',
    touchpoint     TEXT     NOT NULL DEFAULT '',
    department     TEXT     NOT NULL DEFAULT '',
    segment        TEXT     NOT NULL DEFAULT '',
    channel        TEXT     NOT NULL DEFAULT '',
    nps            SMALLINT CHECK (nps BETWEEN 0 AND 10),
    csat           SMALLINT CHECK (csat BETWEEN 1 AND 5),
    ces            SMALLINT CHECK (ces BETWEEN 1 AND 7),
    fcr            BOOLEAN,
    comment        TEXT,
    order_id       TEXT,
    -- JSON objects as text, as on SQLite: parsing them into JSONB cost a
    -- third of the insert (measured); cast with ::jsonb to query them.
    drivers        TEXT     NOT NULL DEFAULT '{}',  -- driver name -> 1..5
    attributes     TEXT     NOT NULL DEFAULT '{}'   -- unknown columns
);

-- Response summaries per UTC day and dimension combination; see the SQLite
-- migration for the counters. Writers add to them with
-- INSERT … ON CONFLICT DO UPDATE SET c = c + EXCLUDED.c.
CREATE TABLE rollups_daily (
    day        INTEGER NOT NULL,  -- days since 1970-01-01, UTC
    survey     TEXT    NOT NULL,
    touchpoint TEXT    NOT NULL,
    department TEXT    NOT NULL,
    segment    TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    nps_0 BIGINT NOT NULL DEFAULT 0, nps_1 BIGINT NOT NULL DEFAULT 0,
    nps_2 BIGINT NOT NULL DEFAULT 0, nps_3 BIGINT NOT NULL DEFAULT 0,
    nps_4 BIGINT NOT NULL DEFAULT 0, nps_5 BIGINT NOT NULL DEFAULT 0,
    nps_6 BIGINT NOT NULL DEFAULT 0, nps_7 BIGINT NOT NULL DEFAULT 0,
    nps_8 BIGINT NOT NULL DEFAULT 0, nps_9 BIGINT NOT NULL DEFAULT 0,
    nps_10 BIGINT NOT NULL DEFAULT 0,
    csat_1 BIGINT NOT NULL DEFAULT 0, csat_2 BIGINT NOT NULL DEFAULT 0,
    csat_3 BIGINT NOT NULL DEFAULT 0, csat_4 BIGINT NOT NULL DEFAULT 0,
    csat_5 BIGINT NOT NULL DEFAULT 0,
    ces_1 BIGINT NOT NULL DEFAULT 0, ces_2 BIGINT NOT NULL DEFAULT 0,
    ces_3 BIGINT NOT NULL DEFAULT 0, ces_4 BIGINT NOT NULL DEFAULT 0,
    ces_5 BIGINT NOT NULL DEFAULT 0, ces_6 BIGINT NOT NULL DEFAULT 0,
    ces_7 BIGINT NOT NULL DEFAULT 0,
    fcr_yes BIGINT NOT NULL DEFAULT 0, fcr_no BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, survey, touchpoint, department, segment, channel)
)
-- Room on each page for the new version of an updated cell: updates that
-- only change counters then stay on the page (HOT) and skip the index.
WITH (fillfactor = 50);

CREATE TABLE customers (
    customer_id  TEXT PRIMARY KEY,
    segment      TEXT,
    region       TEXT,
    annual_value DOUBLE PRECISION,
    churned      BOOLEAN,
    churned_on   INTEGER,  -- days since 1970-01-01, UTC
    attributes   TEXT NOT NULL DEFAULT '{}'  -- JSON object
);

CREATE TABLE operations (
    department    TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    measure       TEXT NOT NULL,
    customer_id   TEXT,
    occurred_at   TEXT,
    occurred_unix BIGINT,
    value         DOUBLE PRECISION NOT NULL,
    target        DOUBLE PRECISION,
    attributes    TEXT NOT NULL DEFAULT '{}',  -- JSON object
    PRIMARY KEY (department, order_id, measure)
);

-- Customers per segment and churn day (2147483647: no churn date).
CREATE TABLE customer_segment_counts (
    segment     TEXT    NOT NULL,
    churned_day INTEGER NOT NULL,
    customers   BIGINT  NOT NULL,
    PRIMARY KEY (segment, churned_day)
);

-- The rollup delta log. Writers commit concurrently and in any order, so a
-- write is known by its transaction id: a server's cube remembers the
-- snapshot it was read at and replays the deltas whose transactions that
-- snapshot did not see. Payloads of all but the last 64 writes (and of
-- writes older than an hour) are dropped; the rows stay a week, so that a
-- server can tell a gap it must reload for from "nothing new".
CREATE TABLE rollup_deltas (
    xid        XID8        PRIMARY KEY,
    written_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    rebuild    BOOLEAN     NOT NULL DEFAULT false,  -- a rebuild: reload
    cells      BYTEA                                -- see store/src/backend.rs encode_cells
);
CREATE INDEX rollup_deltas_with_cells ON rollup_deltas (xid) WHERE cells IS NOT NULL;

-- Versions of the data cached figures depend on: each write adds one to a
-- shard chosen by its connection, so concurrent writers never wait on one
-- row; a version is the sum over the shards.
CREATE TABLE data_versions (
    kind  TEXT     NOT NULL,  -- 'rollups' or 'customers'
    shard SMALLINT NOT NULL,
    value BIGINT   NOT NULL,
    PRIMARY KEY (kind, shard)
);

-- Rarely written settings: 'delta_floor', the transaction id below which
-- delta rows have been deleted (a cube read before it reloads).
CREATE TABLE store_state (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO store_state (key, value) VALUES ('delta_floor', 0);
