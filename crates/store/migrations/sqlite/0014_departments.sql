-- Departments as partners (issue 10): each department's record (mission,
-- leader, ambassadors, touchpoints, surveys and goals, as the JSON of
-- northstar_core::department::Department), values of external KPIs per
-- period, wins credited to departments, and the North Star (one row).
CREATE TABLE departments (
    name         TEXT    PRIMARY KEY,
    document     TEXT    NOT NULL,
    updated_unix INTEGER NOT NULL,
    updated_by   TEXT    NOT NULL
);
CREATE TABLE kpi_values (
    department   TEXT    NOT NULL,
    measure      TEXT    NOT NULL,
    period_start INTEGER NOT NULL,  -- days since 1970-01-01
    period_end   INTEGER NOT NULL,
    value        REAL    NOT NULL,
    entered_by   TEXT    NOT NULL,
    entered_unix INTEGER NOT NULL,
    PRIMARY KEY (department, measure, period_start)
);
CREATE TABLE wins (
    id            INTEGER PRIMARY KEY,
    department    TEXT    NOT NULL,
    document      TEXT    NOT NULL,  -- northstar_core::department::NewWin
    recorded_by   TEXT    NOT NULL,
    recorded_unix INTEGER NOT NULL
);
CREATE INDEX wins_by_department ON wins (department, id);
CREATE TABLE north_star (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    document     TEXT    NOT NULL,
    updated_unix INTEGER NOT NULL,
    updated_by   TEXT    NOT NULL
);
