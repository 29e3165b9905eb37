-- The weekly digest (issue 10): who receives a department's digest (its
-- leader and ambassadors, subscribed when first sent to; an unsubscribe
-- sticks) with the unguessable token of their unsubscribe link, and one
-- row per department and week sent, so a scheduled send happens once per
-- week even with several processes (the first to insert the row sends).
CREATE TABLE digest_subscriptions (
    department        TEXT    NOT NULL,
    email             TEXT    NOT NULL,
    token             TEXT    NOT NULL UNIQUE,  -- 32 random bytes, hex
    unsubscribed_unix BIGINT,
    created_unix      BIGINT  NOT NULL,
    PRIMARY KEY (department, email)
);
CREATE TABLE digest_sends (
    department TEXT    NOT NULL,
    week_start BIGINT  NOT NULL,  -- the week's Monday, days since 1970-01-01
    sent_unix  BIGINT  NOT NULL,
    recipients BIGINT  NOT NULL,
    PRIMARY KEY (department, week_start)
);
