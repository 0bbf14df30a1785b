-- Roll back a failed stage by policy, and pins left on hosts by a pin rollback.
ALTER TABLE deployments ADD COLUMN rollback_on_no_go INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployment_hosts ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
-- What a host is doing right now when it is worth saying (e.g. waiting for the dpkg lock).
ALTER TABLE deployment_hosts ADD COLUMN note TEXT;
