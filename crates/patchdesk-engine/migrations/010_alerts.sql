-- Schema 10: alerts computed incrementally (classify::new_alerts, issue #16).
-- Each alert announced once (was one ever-growing JSON set in settings "notified-alerts", moved
-- here by new_alerts the first time it runs on an older database).
CREATE TABLE announced_alerts (
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    package TEXT NOT NULL,
    candidate_version TEXT NOT NULL,
    PRIMARY KEY (kind, host, package, candidate_version)
) WITHOUT ROWID;

-- Per host: what its alerts were last computed from (its last good scan, its name, the
-- advisory feeds and the policy as a fingerprint) and the next instant one of its deadlines
-- crosses a threshold (24 h before, or the deadline itself). A host is computed again only when
-- one of these moved.
CREATE TABLE alert_checks (
    host_id INTEGER PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
    scan_id INTEGER,
    host_name TEXT NOT NULL,
    inputs TEXT NOT NULL,
    next_check TEXT
);
