-- Customers' acquisition day (customers file column acquired_at), for
-- acquisition and retention rates per segment and period (executive view).
ALTER TABLE customers ADD COLUMN acquired_on INTEGER;  -- days since 1970-01-01, UTC
