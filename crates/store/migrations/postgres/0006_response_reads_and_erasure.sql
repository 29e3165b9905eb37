-- Comments newest first (the comments page and API page by this key), and
-- a customer's rows found at once for erasure.
CREATE INDEX responses_newest ON responses (submitted_unix, external_id);
CREATE INDEX responses_by_customer ON responses (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX operations_by_customer ON operations (customer_id) WHERE customer_id IS NOT NULL;
