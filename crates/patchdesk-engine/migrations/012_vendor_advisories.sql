-- Schema 12: the security advisories a host's own repositories publish for its pending updates
-- (rpm hosts: dnf updateinfo — RLSA/ALSA/RHSA ids, the vendor's severity, CVE ids, issue date),
-- one row per advisory, package version and CVE, kept with the package snapshot they came with.
CREATE TABLE vendor_advisories (
    set_id INTEGER NOT NULL REFERENCES package_sets(id) ON DELETE CASCADE,
    advisory_id TEXT NOT NULL,
    package TEXT NOT NULL,              -- binary package
    version TEXT NOT NULL,              -- the version the advisory brings ([E:]V-R)
    severity TEXT NOT NULL,             -- critical | high | medium | low | unknown (feeds' scale)
    cve TEXT NOT NULL,
    issued_at TEXT,
    summary TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (set_id, advisory_id, package, cve)
) WITHOUT ROWID;
