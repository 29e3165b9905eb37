-- The audit log is append-only for whoever reaches the database through
-- SQL, not only for the application: changes, deletions and TRUNCATE
-- abort. The table's owner (the application's role) can still drop the
-- trigger: that guards against mistakes and casual edits, not against
-- someone holding the owner's credentials.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
