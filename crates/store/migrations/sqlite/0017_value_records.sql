-- Proving value (issue 11): business cases, each a series of versions
-- (documents the server owns, as JSON text) that finance reviews assumption
-- by assumption and approves or returns; and pilots, each a plan (JSON
-- text) with customers assigned to a pilot or a control group, locked
-- before the pilot starts so the groups cannot be chosen after the fact.
CREATE TABLE pilots (
    id                INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE,
    document          TEXT    NOT NULL,
    created_by        TEXT    NOT NULL,
    created_unix      INTEGER NOT NULL,
    updated_by        TEXT    NOT NULL,
    updated_unix      INTEGER NOT NULL,
    locked_unix       INTEGER,
    locked_by         TEXT,
    assignment_method TEXT,
    seed              INTEGER
);
CREATE TABLE pilot_assignments (
    pilot_id    INTEGER NOT NULL REFERENCES pilots (id),
    customer_id TEXT    NOT NULL,
    pilot_group TEXT    NOT NULL CHECK (pilot_group IN ('pilot', 'control')),
    stratum     TEXT    NOT NULL,
    PRIMARY KEY (pilot_id, customer_id)
);
-- A pilot's responses are read through its assignments by customer.
CREATE INDEX pilot_assignments_by_customer ON pilot_assignments (customer_id);
CREATE TABLE business_cases (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    department   TEXT,
    pilot_id     INTEGER REFERENCES pilots (id),
    created_by   TEXT    NOT NULL,
    created_unix INTEGER NOT NULL
);
CREATE TABLE case_versions (
    case_id          INTEGER NOT NULL REFERENCES business_cases (id),
    version          INTEGER NOT NULL,
    document         TEXT    NOT NULL,
    created_by       TEXT    NOT NULL,
    created_unix     INTEGER NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('awaiting_review', 'approved', 'returned')),
    decided_by       TEXT,
    decided_unix     INTEGER,
    decision_comment TEXT,
    PRIMARY KEY (case_id, version)
);
CREATE TABLE assumption_reviews (
    case_id       INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    assumption    TEXT    NOT NULL,
    verdict       TEXT    NOT NULL CHECK (verdict IN ('accepted', 'challenged')),
    comment       TEXT    NOT NULL,
    reviewer      TEXT    NOT NULL,
    reviewed_unix INTEGER NOT NULL,
    carried_from  INTEGER,  -- the version whose review this carries
    PRIMARY KEY (case_id, version, assumption),
    FOREIGN KEY (case_id, version) REFERENCES case_versions (case_id, version)
);
