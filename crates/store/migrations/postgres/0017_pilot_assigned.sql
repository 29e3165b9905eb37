-- When a pilot's groups were last given: a pilot whose groups were fixed on
-- or after its first day is retrospective (not pre-registered).
ALTER TABLE pilots ADD COLUMN assigned_unix BIGINT;
