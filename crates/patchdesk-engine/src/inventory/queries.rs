//! Read queries: what is on host X, which hosts have package P (below version V), the fleet
//! overview and scan history. All answered from indexes in milliseconds.

use super::hosts::{host_from_row, HostRecord, HOST_COLUMNS};
use super::Inventory;
use crate::error::{Error, Result};
use crate::facts::{Package, PendingUpdate};
use crate::version::Version;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row};
use serde::Serialize;

/// One row of the hosts table / `patchdesk host list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HostSummary {
    #[serde(flatten)]
    pub host: HostRecord,
    /// The latest scan (successful or not).
    pub last_scan: Option<ScanRecord>,
    /// The latest successful scan (its facts are what we know of the host).
    pub last_ok_scan: Option<ScanRecord>,
    pub package_count: i64,
    pub pending_count: i64,
    pub security_count: i64,
}

impl HostSummary {
    /// `ok`, `error` (last scan failed), or `never` scanned.
    pub fn state(&self) -> &'static str {
        match &self.last_scan {
            None => "never",
            Some(s) if s.ok => "ok",
            Some(_) => "error",
        }
    }
}

/// One scan, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ScanRecord {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub ok: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub packages_transferred: bool,
    pub bytes_received: i64,
    pub os_id: Option<String>,
    pub os_version: Option<String>,
    pub os_codename: Option<String>,
    pub os_pretty: Option<String>,
    /// The host's package-manager family, from `os_id` (`None`: one PatchDesk does not manage).
    pub family: Option<crate::pkg::Family>,
    pub kernel: Option<String>,
    pub arch: Option<String>,
    pub hostname: Option<String>,
    pub uptime_secs: Option<i64>,
    pub booted_at: Option<DateTime<Utc>>,
    pub reboot_required: Option<bool>,
    pub reboot_packages: Vec<String>,
    pub last_update_at: Option<DateTime<Utc>>,
    pub privilege: Option<String>,
    pub warnings: Vec<String>,
}

const SCAN_COLUMNS: &str = "s.id, s.started_at, s.finished_at, s.duration_ms, s.ok, s.error_code, s.error_message, s.packages_transferred, s.bytes_received, s.os_id, s.os_version, s.os_codename, s.os_pretty, s.kernel, s.arch, s.hostname, s.uptime_secs, s.booted_at, s.reboot_required, s.reboot_packages, s.last_update_at, s.privilege, s.warnings";

fn json_list(s: Option<String>) -> Vec<String> {
    s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

fn scan_from_row(r: &Row<'_>, o: usize) -> rusqlite::Result<ScanRecord> {
    let os_id: Option<String> = r.get(o + 9)?;
    Ok(ScanRecord {
        family: os_id
            .as_deref()
            .and_then(|id| crate::pkg::Family::from_os_release(id, "")),
        id: r.get(o)?,
        started_at: r.get(o + 1)?,
        finished_at: r.get(o + 2)?,
        duration_ms: r.get(o + 3)?,
        ok: r.get(o + 4)?,
        error_code: r.get(o + 5)?,
        error_message: r.get(o + 6)?,
        packages_transferred: r.get(o + 7)?,
        bytes_received: r.get(o + 8)?,
        os_id,
        os_version: r.get(o + 10)?,
        os_codename: r.get(o + 11)?,
        os_pretty: r.get(o + 12)?,
        kernel: r.get(o + 13)?,
        arch: r.get(o + 14)?,
        hostname: r.get(o + 15)?,
        uptime_secs: r.get(o + 16)?,
        booted_at: r.get(o + 17)?,
        reboot_required: r.get(o + 18)?,
        reboot_packages: json_list(r.get(o + 19)?),
        last_update_at: r.get(o + 20)?,
        privilege: r.get(o + 21)?,
        warnings: json_list(r.get(o + 22)?),
    })
}

/// Everything known about one host: "what is on host X?".
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HostDetail {
    #[serde(flatten)]
    pub summary: HostSummary,
    pub packages: Vec<Package>,
    pub pending: Vec<PendingUpdate>,
}

/// A host that has a package installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PackageHit {
    pub host: String,
    pub name: String,
    pub arch: String,
    pub version: String,
    pub source: String,
}

/// One row of the summaries queries: host columns, the last scan, the last good scan, counts.
fn summary_from_row(r: &Row<'_>) -> rusqlite::Result<HostSummary> {
    let ncols = 13;
    let host = host_from_row(r)?;
    let last_scan = match r.get::<_, Option<i64>>(ncols)? {
        Some(_) => Some(scan_from_row(r, ncols)?),
        None => None,
    };
    let o = ncols + 23;
    let last_ok_scan = match r.get::<_, Option<i64>>(o)? {
        Some(_) => Some(scan_from_row(r, o)?),
        None => None,
    };
    let c = o + 23;
    Ok(HostSummary {
        host,
        last_scan,
        last_ok_scan,
        package_count: r.get::<_, Option<i64>>(c)?.unwrap_or(0),
        pending_count: r.get::<_, Option<i64>>(c + 1)?.unwrap_or(0),
        security_count: r.get::<_, Option<i64>>(c + 2)?.unwrap_or(0),
    })
}

impl Inventory {
    fn summaries(&self, filter: Option<&str>) -> Result<Vec<HostSummary>> {
        let s1 = SCAN_COLUMNS;
        let s2 = SCAN_COLUMNS.replace("s.", "o.");
        let sql = format!(
            "SELECT {HOST_COLUMNS}, {s1}, {s2}, ps.package_count, ps.pending_count, ps.security_count
             FROM hosts h
             JOIN host_status st ON st.host_id = h.id
             LEFT JOIN scans s ON s.id = st.last_scan_id
             LEFT JOIN scans o ON o.id = st.last_ok_scan_id
             LEFT JOIN package_sets ps ON ps.id = o.set_id
             {}
             ORDER BY h.name",
            if filter.is_some() { "WHERE h.name = ?1" } else { "" }
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let map = summary_from_row;
        let mut v = match filter {
            Some(name) => stmt
                .query_map([name], map)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            None => stmt
                .query_map([], map)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
        };
        let mut recs: Vec<HostRecord> = v.iter().map(|s| s.host.clone()).collect();
        self.fill_labels(&mut recs)?;
        for (s, r) in v.iter_mut().zip(recs) {
            s.host = r;
        }
        Ok(v)
    }

    /// The fleet overview: every host with its latest facts and counts.
    pub fn host_summaries(&self) -> Result<Vec<HostSummary>> {
        self.summaries(None)
    }

    /// The fleet as it was known at `at`: every host that existed then (added by then, or scanned
    /// by then), with its last scan and last good scan finished at or before `at` (scans are
    /// history, never rewritten). With `at` = now this is [`Inventory::host_summaries`].
    pub fn host_summaries_at(&self, at: DateTime<Utc>) -> Result<Vec<HostSummary>> {
        let s1 = SCAN_COLUMNS;
        let s2 = SCAN_COLUMNS.replace("s.", "o.");
        let sql = format!(
            "SELECT {HOST_COLUMNS}, {s1}, {s2}, ps.package_count, ps.pending_count, ps.security_count
             FROM hosts h
             LEFT JOIN scans s ON s.id = (SELECT x.id FROM scans x WHERE x.host_id = h.id AND x.finished_at <= ?1 ORDER BY x.id DESC LIMIT 1)
             LEFT JOIN scans o ON o.id = (SELECT x.id FROM scans x WHERE x.host_id = h.id AND x.ok = 1 AND x.finished_at <= ?1 ORDER BY x.id DESC LIMIT 1)
             LEFT JOIN package_sets ps ON ps.id = o.set_id
             WHERE h.created_at <= ?1 OR s.id IS NOT NULL
             ORDER BY h.name"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut v = stmt
            .query_map([at], summary_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut recs: Vec<HostRecord> = v.iter().map(|s| s.host.clone()).collect();
        self.fill_labels(&mut recs)?;
        for (s, r) in v.iter_mut().zip(recs) {
            s.host = r;
        }
        Ok(v)
    }

    /// The pending updates a scan saw, each with its source package (from the same snapshot;
    /// the binary name when dpkg did not report one). Cheap: no full package list is read.
    pub fn pending_of_scan(&self, scan_id: i64) -> Result<Vec<(PendingUpdate, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT u.name, u.arch, u.installed_version, u.candidate_version, u.origin, u.security, u.held,
                    coalesce((SELECT p.source FROM packages p WHERE p.set_id = u.set_id AND p.name = u.name ORDER BY p.arch LIMIT 1), u.name)
             FROM scans s JOIN pending_updates u ON u.set_id = s.set_id
             WHERE s.id = ?1 ORDER BY u.name, u.arch",
        )?;
        let v = stmt
            .query_map([scan_id], |r| {
                Ok((
                    PendingUpdate {
                        name: r.get(0)?,
                        arch: r.get(1)?,
                        installed_version: r.get(2)?,
                        candidate_version: r.get(3)?,
                        origin: r.get(4)?,
                        security: r.get(5)?,
                        held: r.get(6)?,
                    },
                    r.get(7)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    /// What is on host X: facts, installed packages and pending updates from the last good scan.
    pub fn host_detail(&self, name: &str) -> Result<HostDetail> {
        let summary = self
            .summaries(Some(name))?
            .pop()
            .ok_or_else(|| Error::UnknownHost(name.to_string()))?;
        let set_id: Option<i64> = self
            .conn
            .query_row(
                "SELECT s.set_id FROM hosts h JOIN host_status st ON st.host_id = h.id
                 JOIN scans s ON s.id = st.last_ok_scan_id WHERE h.name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let (packages, pending) = match set_id {
            Some(id) => (self.packages_of_set(id)?, self.pending_of_set(id)?),
            None => (Vec::new(), Vec::new()),
        };
        Ok(HostDetail {
            summary,
            packages,
            pending,
        })
    }

    fn packages_of_set(&self, set_id: i64) -> Result<Vec<Package>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, version, arch, source, source_version, status FROM packages WHERE set_id = ?1 ORDER BY name, arch",
        )?;
        let v = stmt
            .query_map([set_id], |r| {
                Ok(Package {
                    name: r.get(0)?,
                    version: r.get(1)?,
                    arch: r.get(2)?,
                    source: r.get(3)?,
                    source_version: r.get(4)?,
                    status: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn pending_of_set(&self, set_id: i64) -> Result<Vec<PendingUpdate>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, arch, installed_version, candidate_version, origin, security, held FROM pending_updates WHERE set_id = ?1 ORDER BY name, arch",
        )?;
        let v = stmt
            .query_map([set_id], |r| {
                Ok(PendingUpdate {
                    name: r.get(0)?,
                    arch: r.get(1)?,
                    installed_version: r.get(2)?,
                    candidate_version: r.get(3)?,
                    origin: r.get(4)?,
                    security: r.get(5)?,
                    held: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    /// Which hosts have package `name` installed now (by their last good scan); with `below`, only
    /// those whose version sorts strictly below it in dpkg order.
    pub fn hosts_with_package(&self, name: &str, below: Option<&str>) -> Result<Vec<PackageHit>> {
        let below: Option<Version> = match below {
            Some(v) => Some(
                v.parse()
                    .map_err(|e: crate::version::VersionError| Error::Invalid(e.to_string()))?,
            ),
            None => None,
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT h.name, p.name, p.arch, p.version, p.source
             FROM packages p
             JOIN scans s ON s.set_id = p.set_id
             JOIN host_status st ON st.last_ok_scan_id = s.id
             JOIN hosts h ON h.id = st.host_id
             WHERE p.name = ?1
             ORDER BY h.name, p.arch",
        )?;
        let rows = stmt
            .query_map([name], |r| {
                Ok(PackageHit {
                    host: r.get(0)?,
                    name: r.get(1)?,
                    arch: r.get(2)?,
                    version: r.get(3)?,
                    source: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(match below {
            None => rows,
            Some(limit) => rows
                .into_iter()
                .filter(|h| {
                    h.version
                        .parse::<Version>()
                        .map(|v| v < limit)
                        .unwrap_or(false)
                })
                .collect(),
        })
    }

    /// A host's scans, newest first.
    pub fn scan_history(&self, name: &str, limit: usize) -> Result<Vec<ScanRecord>> {
        let host = self.host(name)?;
        let sql = format!(
            "SELECT {SCAN_COLUMNS} FROM scans s WHERE s.host_id = ?1 ORDER BY s.id DESC LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let v = stmt
            .query_map(rusqlite::params![host.id, limit as i64], |r| {
                scan_from_row(r, 0)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::inv;
    use super::super::ScanOutcome;
    use crate::facts::HostFacts;
    use crate::host::HostSpec;

    fn facts(fp: &str, hello: &str) -> HostFacts {
        HostFacts {
            os_id: "debian".into(),
            kernel: "6.1.0".into(),
            state_fingerprint: fp.into(),
            packages: Some(vec![crate::facts::Package {
                name: "pd-hello".into(),
                version: hello.into(),
                arch: "all".into(),
                source: "pd-hello".into(),
                source_version: hello.into(),
                status: "ii".into(),
            }]),
            pending: Some(vec![]),
            ..Default::default()
        }
    }

    #[test]
    fn history_is_kept_and_queries_see_latest() {
        let (mut inv, clock) = inv();
        inv.add_host(&HostSpec::new("a", "127.0.0.1")).unwrap();
        inv.add_host(&HostSpec::new("b", "127.0.0.2")).unwrap();
        let t = crate::clock::Clock::now(&clock);
        for (h, v) in [("a", "1.0-1"), ("b", "1:0.1-1")] {
            inv.record_scan(
                h,
                t,
                t,
                &ScanOutcome::Ok {
                    facts: Box::new(facts("aa", v)),
                    bytes_received: 10,
                },
                None,
            )
            .unwrap();
        }
        let hits = inv.hosts_with_package("pd-hello", Some("1.0-2")).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].host, "a");
        // Upgrade on a: new snapshot; the old one stays in history.
        inv.record_scan(
            "a",
            t,
            t,
            &ScanOutcome::Ok {
                facts: Box::new(facts("bb", "1.1-1")),
                bytes_received: 10,
            },
            None,
        )
        .unwrap();
        assert!(inv
            .hosts_with_package("pd-hello", Some("1.0-2"))
            .unwrap()
            .is_empty());
        // Unchanged rescan reuses the snapshot.
        let mut same = facts("bb", "");
        same.packages = None;
        same.pending = None;
        let st = inv
            .record_scan(
                "a",
                t,
                t,
                &ScanOutcome::Ok {
                    facts: Box::new(same.clone()),
                    bytes_received: 1,
                },
                None,
            )
            .unwrap();
        assert!(!st.packages_transferred);
        assert_eq!(inv.host_detail("a").unwrap().packages[0].version, "1.1-1");
        // An "unchanged" claim with an unknown fingerprint is refused, nothing stored.
        same.state_fingerprint = "cc".into();
        assert!(inv
            .record_scan(
                "a",
                t,
                t,
                &ScanOutcome::Ok {
                    facts: Box::new(same),
                    bytes_received: 1
                },
                None
            )
            .is_err());
        assert_eq!(inv.scan_history("a", 10).unwrap().len(), 3);
        // A failed scan keeps the last good facts.
        inv.record_scan(
            "a",
            t,
            t,
            &ScanOutcome::Failed {
                code: "unreachable".into(),
                message: "down".into(),
                bytes_received: 0,
            },
            None,
        )
        .unwrap();
        let d = inv.host_detail("a").unwrap();
        assert_eq!(d.summary.state(), "error");
        assert_eq!(d.packages.len(), 1);
        assert!(inv.hosts_with_package("pd-hello", Some("x y")).is_err());
    }
}
