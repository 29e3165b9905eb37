-- The audit log is append-only for whoever reaches the database through
-- SQL, not only for the application: changes and deletions abort. Anyone
-- holding the file can still drop the triggers: they guard against
-- mistakes and casual edits, not against the file's owner.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
-- INSERT OR REPLACE would delete an entry without firing the delete
-- trigger (recursive_triggers is off): an insert under an existing id is
-- dropped instead (RAISE(IGNORE) keeps copy's INSERT OR IGNORE working).
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN
    SELECT RAISE(IGNORE);
END;
