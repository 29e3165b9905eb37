-- API tokens: created by admins, shown once, stored as SHA-256 hashes,
-- scoped like accounts (a role and, for department roles, a department).
CREATE TABLE api_tokens (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    token_hash     TEXT    NOT NULL UNIQUE,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'cx_lead', 'department_lead', 'ambassador', 'finance', 'viewer')),
    department     TEXT,
    created_unix   INTEGER NOT NULL,
    last_used_unix INTEGER,
    revoked_unix   INTEGER
);
