-- Failed sign-ins, by account ("account:<e-mail>") and by address
-- ("address:<ip>"), for throttling across every server. Old rows are
-- deleted as new ones are written.
CREATE TABLE sign_in_failures (
    key     TEXT    NOT NULL,
    at_unix INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_by_key ON sign_in_failures (key, at_unix);
