-- Imports keep their pace (issue 3's 100,000 rows/s; bench/RESULTS.md):
-- an index on every response's time cost 30% of an import of 1,000,000
-- rows, so the newest-first index holds only responses with a comment (the
-- comments page and API default); listing every response scans. Erasure
-- scans for a customer's rows (~25 ms per 300,000 rows on SQLite; erasures
-- are rare) and retention walks the primary key, so neither needs one.
DROP INDEX IF EXISTS responses_by_customer;
DROP INDEX IF EXISTS responses_newest;
CREATE INDEX responses_with_comment ON responses (submitted_unix)
    WHERE comment IS NOT NULL AND comment <> '';
