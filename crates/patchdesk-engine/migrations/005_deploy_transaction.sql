-- Schema 5: the whole apt transaction of a deployment per host (every package it upgrades,
-- newly installs or removes, with the exact versions on both sides), gate overrides with their
-- reason, and hosts excluded from a deployment with their reason. Add-only.
CREATE TABLE deployment_changes (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    package TEXT NOT NULL,              -- binary package, `name` or `name:arch` as apt prints it
    from_version TEXT,                  -- NULL: newly installed by the transaction
    to_version TEXT,                    -- NULL: removed by the transaction
    requested INTEGER NOT NULL,         -- named in the plan (else apt pulled it in)
    was_auto INTEGER NOT NULL,          -- apt's "automatically installed" mark before the deployment
    rollback_ok INTEGER NOT NULL,       -- its rollback path was checked on the host at plan time
    CHECK (from_version IS NOT NULL OR to_version IS NOT NULL),
    PRIMARY KEY (deployment_id, host_id, package)
) WITHOUT ROWID;

-- 1: the plan recorded the whole transaction (deployment_changes); 0: older plans, whose named
-- targets (deployment_targets) are all that is known.
ALTER TABLE deployments ADD COLUMN transaction_planned INTEGER NOT NULL DEFAULT 0;

-- A go given at a gate the engine judged no-go: the written reason (decided_by says who).
ALTER TABLE deployment_stages ADD COLUMN override_reason TEXT;

-- A host left out of the rest of a deployment (e.g. in attention after an interrupted apply):
-- it no longer blocks the deployment from finishing, and rollback skips it unless named.
ALTER TABLE deployment_hosts ADD COLUMN excluded_reason TEXT;
ALTER TABLE deployment_hosts ADD COLUMN excluded_at TEXT;
ALTER TABLE deployment_hosts ADD COLUMN excluded_by TEXT;
