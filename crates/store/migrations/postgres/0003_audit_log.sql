-- Who did what and when. Append-only for the application: no code path
-- updates or deletes a row (erasure writes an entry that names no one).
CREATE TABLE audit_log (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_unix BIGINT NOT NULL,
    actor   TEXT   NOT NULL,  -- an account's e-mail, "cli", or "system"
    action  TEXT   NOT NULL,  -- e.g. user.add, sign_in.failed, export
    target  TEXT   NOT NULL DEFAULT '',
    detail  TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_time ON audit_log (at_unix);
