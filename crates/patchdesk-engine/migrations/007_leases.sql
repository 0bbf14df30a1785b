-- Schema 7: one writer per deployment, and typed gate reasons.

-- The lease of the one process that may change a deployment right now (go, no-go, advance,
-- rollback, unpin, exclude, drill). Taken in one transaction before the operation, renewed while
-- it works, deleted when it ends; a row whose holder crashed is taken over once it has expired
-- (or at once when its process is known to be gone on this machine).
CREATE TABLE deployment_leases (
    deployment_id INTEGER PRIMARY KEY REFERENCES deployments(id) ON DELETE CASCADE,
    token TEXT NOT NULL,                -- random per acquisition: only its holder renews or frees it
    operation TEXT NOT NULL,            -- what the holder does: go | no-go | advance | rollback | …
    who TEXT NOT NULL,                  -- on whose behalf: user | auto | a person's name
    process TEXT NOT NULL,              -- the holding program (patchdesk, patchdesk-app)
    pid INTEGER NOT NULL,
    machine TEXT NOT NULL,              -- host name of the machine the holder runs on
    process_start TEXT,                 -- the holder process's start (tells a reused pid apart), when known
    acquired_at TEXT NOT NULL,
    renewed_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- Gate reasons become typed objects {"verdict": "go" | "no-go", "host", "message"} instead of
-- strings whose "NO-GO " prefix said the verdict. Stored strings are converted once, here.
UPDATE deployment_stages
SET reasons = (
    SELECT json_group_array(json_object(
        'verdict', CASE WHEN value LIKE 'NO-GO %' THEN 'no-go' ELSE 'go' END,
        'host', CASE WHEN instr(v, ': ') > 0 THEN substr(v, 1, instr(v, ': ') - 1) ELSE '' END,
        'message', CASE WHEN instr(v, ': ') > 0 THEN substr(v, instr(v, ': ') + 2) ELSE v END))
    FROM (SELECT value,
                 CASE WHEN value LIKE 'NO-GO %' THEN substr(value, 7) ELSE value END AS v
          FROM json_each(deployment_stages.reasons) ORDER BY key)
)
WHERE reasons IS NOT NULL AND json_valid(reasons) AND json_type(reasons) = 'array'
  AND json_array_length(reasons) > 0
  AND NOT EXISTS (SELECT 1 FROM json_each(deployment_stages.reasons) WHERE type <> 'text');
