-- Collecting feedback (issue 12): survey programs, each a series of versions
-- (documents the server owns, as JSON text); invitations with one-time
-- links (only the SHA-256 of a link's token is kept); and opt-outs, kept
-- as the SHA-256 of the lower-cased address only, so that an opt-out
-- outlives the customer's erasure without keeping the address. An
-- invitation is answered when a response's external_id is its response_id
-- (a join, never a second write).
CREATE TABLE surveys (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    status          TEXT    NOT NULL CHECK (status IN ('draft', 'live', 'closed')),
    current_version INTEGER NOT NULL,
    public_slug     TEXT    NOT NULL UNIQUE,
    created_by      TEXT    NOT NULL,
    created_unix    INTEGER NOT NULL,
    updated_by      TEXT    NOT NULL,
    updated_unix    INTEGER NOT NULL
);
CREATE TABLE survey_versions (
    survey_id    INTEGER NOT NULL REFERENCES surveys (id),
    version      INTEGER NOT NULL,
    document     TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_unix INTEGER NOT NULL,
    PRIMARY KEY (survey_id, version)
);
CREATE TABLE invitations (
    id            INTEGER PRIMARY KEY,
    survey_id     INTEGER NOT NULL REFERENCES surveys (id),
    customer_id   TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    email_hash    TEXT    NOT NULL,  -- hex SHA-256 of the lower-cased, trimmed address
    language      TEXT    NOT NULL,
    segment       TEXT    NOT NULL,
    channel       TEXT    NOT NULL,
    response_id   TEXT    NOT NULL UNIQUE,
    token_hash    TEXT    NOT NULL UNIQUE,
    created_unix  INTEGER NOT NULL,
    expires_unix  INTEGER NOT NULL,
    sent_unix     INTEGER,
    reminded_unix INTEGER,
    reminders     INTEGER NOT NULL DEFAULT 0,
    opened_unix   INTEGER,
    UNIQUE (survey_id, customer_id)
);
-- What to send: a survey's unsent invitations by id.
CREATE INDEX invitations_unsent ON invitations (survey_id, id) WHERE sent_unix IS NULL;
-- What to remind: a survey's invitations by their last contact.
CREATE INDEX invitations_by_last_contact
    ON invitations (survey_id, COALESCE(reminded_unix, sent_unix)) WHERE sent_unix IS NOT NULL;
-- Response rates: a survey's invitations by when they were made.
CREATE INDEX invitations_by_created ON invitations (survey_id, created_unix);
-- Erasure: a customer's invitations.
CREATE INDEX invitations_by_customer ON invitations (customer_id);
CREATE TABLE opt_outs (
    email_hash   TEXT    PRIMARY KEY,  -- hex SHA-256 of the lower-cased, trimmed address
    created_unix INTEGER NOT NULL
);
