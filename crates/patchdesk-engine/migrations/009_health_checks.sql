-- Schema: gates that decide on evidence (issue #13).
-- Per group: the health checks (HTTP probe, error rate, service, PromQL, Alertmanager) and the
-- reboot policy, as one JSON document validated by rollout::checks::validate.
CREATE TABLE group_health_checks (
    group_name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
) WITHOUT ROWID;

-- Per stage and host: what the checks measured before the stage (baseline, kept once taken)
-- and after it (replaced by each re-measurement).
CREATE TABLE stage_measurements (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    stage_idx INTEGER NOT NULL,
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    phase TEXT NOT NULL CHECK (phase IN ('baseline', 'after')),
    taken_at TEXT NOT NULL,
    measured TEXT NOT NULL,
    PRIMARY KEY (deployment_id, stage_idx, host_id, phase)
) WITHOUT ROWID;

-- The checks a deployment uses (the scope group's, copied when it is planned: a later change
-- of the group's checks does not move the goalposts of a running deployment).
ALTER TABLE deployments ADD COLUMN health_checks TEXT;
-- Each host's checklist at its gate (JSON list of rollout::checks::CheckResult).
ALTER TABLE deployment_hosts ADD COLUMN checks TEXT;
-- Reboots: planned when the plan saw the host will need one and the policy reboots it; when it
-- was rebooted and what it runs after.
ALTER TABLE deployment_hosts ADD COLUMN reboot_planned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployment_hosts ADD COLUMN rebooted_at TEXT;
ALTER TABLE deployment_hosts ADD COLUMN reboot_result TEXT;
-- The reason given for a gate decision (a no-go asks for one; an override has its own column).
ALTER TABLE deployment_stages ADD COLUMN decision_reason TEXT;
