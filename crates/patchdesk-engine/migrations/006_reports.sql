-- Reports: weekly snapshots per scope (what trends read: never recomputed once the week has
-- ended), their per-bucket figures, and the history of generated report files.
CREATE TABLE report_snapshots (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,                -- fleet | group:NAME | env:prod | env:non-prod
    week TEXT NOT NULL,                 -- ISO week, 2026-W48
    as_of TEXT NOT NULL,                -- the instant measured (the week's last second once ended)
    taken_at TEXT NOT NULL,
    final INTEGER NOT NULL,             -- 1: taken after the week ended; never written again
    hosts INTEGER NOT NULL,
    scanned INTEGER NOT NULL,           -- good scan within 24 h
    stale INTEGER NOT NULL,
    unreachable INTEGER NOT NULL,
    never_scanned INTEGER NOT NULL,
    reboot_pending INTEGER NOT NULL,
    with_deadline INTEGER NOT NULL,
    compliant INTEGER NOT NULL,
    percent REAL,                       -- NULL: nothing had a deadline
    overdue INTEGER NOT NULL,
    summary TEXT NOT NULL,              -- JSON: the report's summary as measured (figures, freshness, groups)
    UNIQUE (scope, week)
);

CREATE TABLE report_snapshot_buckets (
    snapshot_id INTEGER NOT NULL REFERENCES report_snapshots(id) ON DELETE CASCADE,
    bucket TEXT NOT NULL CHECK (bucket IN ('critical', 'high', 'moderate', 'low')),
    open INTEGER NOT NULL,
    overdue INTEGER NOT NULL,
    patched INTEGER NOT NULL,
    mean_hours REAL,
    median_hours REAL,
    PRIMARY KEY (snapshot_id, bucket)
) WITHOUT ROWID;

CREATE TABLE report_history (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,
    week TEXT NOT NULL,
    generated_at TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('cli', 'app', 'scheduled')),
    format TEXT NOT NULL CHECK (format IN ('pdf', 'csv', 'json')),
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    percent REAL
);
CREATE INDEX report_history_by_scope ON report_history(scope, week);
