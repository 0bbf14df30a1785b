-- Schema 3: deployments (the rollout state machine), their stages, hosts, exact targets and
-- recorded rollback paths. Every transition is one transaction: a restart resumes where it stopped.
CREATE TABLE deployments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('planned', 'running', 'halted', 'rolled-back', 'finished')),
    current_stage INTEGER NOT NULL DEFAULT 0,
    mode TEXT NOT NULL CHECK (mode IN ('manual', 'auto')),
    canary_soak_secs INTEGER NOT NULL,
    smoke_commands TEXT NOT NULL,       -- JSON array of shell commands whose exit status decides
    warnings TEXT NOT NULL,             -- JSON: anti-pattern warnings shown in the plan
    overrides TEXT NOT NULL             -- JSON: guards overridden, each with its written reason
);

CREATE TABLE deployment_stages (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'applied', 'soaking', 'gate', 'done', 'failed')),
    started_at TEXT,
    applied_at TEXT,
    soak_until TEXT,
    decision TEXT,                      -- go | no-go
    reasons TEXT,                       -- JSON array of rollout::GateReason (schema 7; strings before)
    decided_at TEXT,
    decided_by TEXT,
    PRIMARY KEY (deployment_id, idx)
) WITHOUT ROWID;

CREATE TABLE deployment_hosts (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    stage_idx INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'applying', 'applied', 'failed', 'attention', 'rolling-back', 'rolled-back')),
    baseline TEXT,                      -- JSON health before the stage
    health TEXT,                        -- JSON health after
    error TEXT,
    PRIMARY KEY (deployment_id, host_id)
) WITHOUT ROWID;

CREATE TABLE deployment_targets (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    package TEXT NOT NULL,
    from_version TEXT NOT NULL,
    to_version TEXT NOT NULL,
    PRIMARY KEY (deployment_id, host_id, package)
) WITHOUT ROWID;

CREATE TABLE rollback_paths (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,                 -- downgrade | pin | snapshot | none (rollout::RollbackKind)
    ok INTEGER NOT NULL,
    detail TEXT NOT NULL,
    override_reason TEXT,
    PRIMARY KEY (deployment_id, host_id)
) WITHOUT ROWID;
