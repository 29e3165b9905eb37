-- API tokens: created by admins, shown once, stored as SHA-256 hashes,
-- scoped like accounts (a role and, for department roles, a department).
CREATE TABLE api_tokens (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           TEXT   NOT NULL UNIQUE,
    token_hash     TEXT   NOT NULL UNIQUE,
    role           TEXT   NOT NULL CHECK (role IN ('admin', 'cx_lead', 'department_lead', 'ambassador', 'finance', 'viewer')),
    department     TEXT,
    created_unix   BIGINT NOT NULL,
    last_used_unix BIGINT,
    revoked_unix   BIGINT
);
