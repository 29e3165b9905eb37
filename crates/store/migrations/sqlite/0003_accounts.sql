-- Accounts and server-side sessions (see store/src/accounts.rs).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,  -- trimmed, lower-case
    password_hash TEXT    NOT NULL,         -- argon2id, PHC string
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'cx_lead', 'department_lead', 'ambassador', 'finance', 'viewer')),
    department    TEXT,                     -- department_lead and ambassador only
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_unix  INTEGER NOT NULL,
    updated_unix  INTEGER NOT NULL
);

-- A session is known by the SHA-256 of its token: the token itself is only
-- in the browser's cookie, so a copy of the database signs nobody in.
CREATE TABLE sessions (
    token_hash     TEXT    PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token     TEXT    NOT NULL,
    created_unix   INTEGER NOT NULL,
    last_seen_unix INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
