-- PatchDesk inventory, schema 1: hosts, scans, package snapshots, audit log.
CREATE TABLE hosts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    user TEXT NOT NULL,
    auth_kind TEXT NOT NULL CHECK (auth_kind IN ('agent', 'key_file')),
    key_path TEXT,
    environment TEXT NOT NULL CHECK (environment IN ('prod', 'non-prod')),
    notes TEXT NOT NULL DEFAULT '',
    proxy_jump TEXT,
    -- The pinned SSH host key (public, OpenSSH format) and where the trust came from.
    host_key TEXT,
    host_key_fingerprint TEXT,
    host_key_source TEXT,
    host_key_pinned_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE host_groups (
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (host_id, name)
) WITHOUT ROWID;
CREATE INDEX host_groups_by_name ON host_groups(name, host_id);

CREATE TABLE host_tags (
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (host_id, name)
) WITHOUT ROWID;

-- A snapshot of a host's package state. A rescan that finds the same dpkg/apt state reuses it.
CREATE TABLE package_sets (
    id INTEGER PRIMARY KEY,
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    created_at TEXT NOT NULL,
    package_count INTEGER NOT NULL,
    pending_count INTEGER NOT NULL,
    security_count INTEGER NOT NULL
);
CREATE INDEX package_sets_by_host ON package_sets(host_id, id);

CREATE TABLE packages (
    set_id INTEGER NOT NULL REFERENCES package_sets(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    arch TEXT NOT NULL,
    version TEXT NOT NULL,
    source TEXT NOT NULL,
    source_version TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (set_id, name, arch)
) WITHOUT ROWID;
CREATE INDEX packages_by_name ON packages(name, set_id);

CREATE TABLE pending_updates (
    set_id INTEGER NOT NULL REFERENCES package_sets(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    arch TEXT NOT NULL,
    installed_version TEXT NOT NULL,
    candidate_version TEXT NOT NULL,
    origin TEXT NOT NULL,
    security INTEGER NOT NULL,
    PRIMARY KEY (set_id, name, arch)
) WITHOUT ROWID;
CREATE INDEX pending_by_name ON pending_updates(name, set_id);

CREATE TABLE scans (
    id INTEGER PRIMARY KEY,
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    error_code TEXT,
    error_message TEXT,
    set_id INTEGER REFERENCES package_sets(id),
    packages_transferred INTEGER NOT NULL DEFAULT 0,
    bytes_received INTEGER NOT NULL DEFAULT 0,
    os_id TEXT,
    os_version TEXT,
    os_codename TEXT,
    os_pretty TEXT,
    kernel TEXT,
    arch TEXT,
    hostname TEXT,
    uptime_secs INTEGER,
    booted_at TEXT,
    reboot_required INTEGER,
    reboot_packages TEXT,
    last_update_at TEXT,
    privilege TEXT,
    warnings TEXT
);
CREATE INDEX scans_by_host ON scans(host_id, id);

-- Current pointers, kept in the same transaction as each scan, so "what is on host X" is one
-- primary-key lookup away.
CREATE TABLE host_status (
    host_id INTEGER PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
    last_scan_id INTEGER REFERENCES scans(id),
    last_ok_scan_id INTEGER REFERENCES scans(id)
);

-- Every action that changes a host, written before and after it runs.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    host TEXT,
    action TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('before', 'after', 'note')),
    command TEXT,
    exit_status INTEGER,
    output_digest TEXT,
    detail TEXT
);
CREATE INDEX audit_by_host ON audit_log(host, id);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
