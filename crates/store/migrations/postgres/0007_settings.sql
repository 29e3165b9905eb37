-- Settings an admin changes at run time (redaction before storage,
-- retention); every change is also in the audit log, in the same
-- transaction.
CREATE TABLE settings (
    key          TEXT   PRIMARY KEY,
    value        TEXT   NOT NULL,
    updated_unix BIGINT NOT NULL,
    updated_by   TEXT   NOT NULL  -- an account's e-mail, "cli" or "system"
);
