-- Schema 2: advisory feeds, advisories, CVSS records, and per-host exposure history (time-to-patch).
CREATE TABLE advisory_sources (
    id INTEGER PRIMARY KEY,
    location TEXT NOT NULL UNIQUE,      -- file path or URL
    format TEXT NOT NULL,               -- osv | debian-tracker | nvd
    etag TEXT,
    last_modified TEXT,
    fetched_at TEXT,                    -- last attempt
    last_ok_at TEXT,                    -- last time a good copy was stored
    last_error TEXT,
    advisory_count INTEGER NOT NULL DEFAULT 0
);

-- One row per (advisory, CVE, source package, release).
CREATE TABLE advisories (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES advisory_sources(id) ON DELETE CASCADE,
    advisory_id TEXT NOT NULL,
    cve TEXT NOT NULL,
    package TEXT NOT NULL,              -- source package
    release TEXT NOT NULL,              -- "debian:12", "debian:bookworm", "ubuntu:22.04" or "" (any)
    fixed_version TEXT,                 -- NULL: not fixed yet
    cvss_vector TEXT,
    cvss_version TEXT,
    cvss_score REAL,
    vendor_severity TEXT,               -- critical | high | medium | low | negligible | unknown
    disclosed_at TEXT,
    summary TEXT NOT NULL DEFAULT '',
    UNIQUE (source_id, advisory_id, cve, package, release)
);
CREATE INDEX advisories_by_package ON advisories(package);

-- CVSS vectors and publication dates from NVD-format records.
CREATE TABLE cvss_records (
    cve TEXT PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES advisory_sources(id) ON DELETE CASCADE,
    vector TEXT NOT NULL,
    version TEXT NOT NULL,
    score REAL NOT NULL,
    published TEXT
);

-- When a scan first saw a host exposed to a CVE, and when it first saw the fix installed.
CREATE TABLE patch_exposures (
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    cve TEXT NOT NULL,
    package TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    fixed_at TEXT,
    PRIMARY KEY (host_id, cve, package)
) WITHOUT ROWID;
