-- Jobs (issue #11): the runner's history (what ran, when, for whom, how it ended), the schedules
-- it runs, the automation policies per group and what the auto-canary policy did about each
-- critical patch it found. Add-only.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('scan', 'feed-sync', 'deployment-advance', 'weekly-report', 'auto-canary')),
    scope TEXT NOT NULL,                -- all | group:NAME | deployment:ID
    rule TEXT,                          -- the schedule that made it due (NULL: asked for, or a policy)
    who TEXT NOT NULL CHECK (who IN ('schedule', 'user', 'policy')),
    due TEXT NOT NULL,                  -- the slot it runs for (schedules) or when it was asked for
    started TEXT,
    finished TEXT,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    result TEXT,                        -- one line for people
    error TEXT,                         -- the error sentence, with its next step
    error_code TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    runner TEXT                         -- which process ran it: app / service PID
);
CREATE INDEX jobs_by_rule ON jobs(rule, due);
CREATE INDEX jobs_by_state ON jobs(state);

-- What runs by itself and when (`When` as JSON: daily at a local time, or weekly on a day).
CREATE TABLE job_schedules (
    rule TEXT PRIMARY KEY,              -- scan | scan:GROUP | feed-sync | weekly-report
    kind TEXT NOT NULL CHECK (kind IN ('scan', 'feed-sync', 'weekly-report')),
    scope TEXT NOT NULL,
    spec TEXT NOT NULL,
    jitter_secs INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    since TEXT NOT NULL                 -- slots before this instant are not owed
);

-- Automation per group (off unless a row says so).
CREATE TABLE automation_policies (
    group_name TEXT PRIMARY KEY,
    auto_canary INTEGER NOT NULL,       -- a new critical patch is planned and started on the canary
    soak_hours INTEGER NOT NULL,
    waves TEXT NOT NULL,                -- JSON array of cumulative production percents
    rollback_on_no_go INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- What the auto-canary policy did about the critical patches it found (one row per decision),
-- and the end-to-end times measured: disclosure → canary patched → last host patched.
CREATE TABLE policy_actions (
    id INTEGER PRIMARY KEY,
    group_name TEXT NOT NULL,
    packages TEXT NOT NULL,             -- JSON array of binary package names
    cves TEXT NOT NULL,                 -- JSON array
    disclosed_at TEXT,                  -- earliest disclosure among the CVEs
    found_at TEXT NOT NULL,
    job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    deployment_id INTEGER REFERENCES deployments(id) ON DELETE SET NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('started', 'blocked', 'failed')),
    reason TEXT,
    canary_at TEXT,                     -- the canary stage was applied (seen by the runner)
    finished_at TEXT,                   -- the deployment finished: every host patched
    halted_at TEXT,
    halt_reason TEXT
);

-- Each critical patch the policy has seen, so that it acts once per (group, package, version).
CREATE TABLE policy_seen (
    group_name TEXT NOT NULL,
    package TEXT NOT NULL,
    version TEXT NOT NULL,
    action_id INTEGER NOT NULL REFERENCES policy_actions(id) ON DELETE CASCADE,
    PRIMARY KEY (group_name, package, version)
) WITHOUT ROWID;
