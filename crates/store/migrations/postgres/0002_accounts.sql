-- Accounts and server-side sessions (see store/src/accounts.rs).
CREATE TABLE users (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,  -- trimmed, lower-case
    password_hash TEXT    NOT NULL,         -- argon2id, PHC string
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'cx_lead', 'department_lead', 'ambassador', 'finance', 'viewer')),
    department    TEXT,                     -- department_lead and ambassador only
    disabled      BOOLEAN NOT NULL DEFAULT false,
    created_unix  BIGINT  NOT NULL,
    updated_unix  BIGINT  NOT NULL
);

-- A session is known by the SHA-256 of its token: the token itself is only
-- in the browser's cookie, so a copy of the database signs nobody in.
CREATE TABLE sessions (
    token_hash     TEXT    PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token     TEXT    NOT NULL,
    created_unix   BIGINT  NOT NULL,
    last_seen_unix BIGINT  NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
