//! Recording scans: one transaction per host scan, history kept (a rescan adds a row and, when
//! the package state changed, a new package snapshot; it never erases what was known before).

use super::Inventory;
use crate::error::{Error, Result};
use crate::facts::HostFacts;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

/// What a scan of one host produced.
#[derive(Debug, Clone)]
pub enum ScanOutcome {
    Ok {
        facts: Box<HostFacts>,
        bytes_received: u64,
    },
    Failed {
        code: String,
        message: String,
        /// What arrived before the failure (a hostile host's megabytes are worth recording).
        bytes_received: u64,
    },
}

/// Where a recorded scan landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredScan {
    pub scan_id: i64,
    pub set_id: Option<i64>,
    pub packages_transferred: bool,
}

impl Inventory {
    /// The state fingerprint of the package snapshot of the host's last good scan: the scan
    /// script sends no package list when the host's dpkg/apt state still has this fingerprint.
    pub fn last_state_fingerprint(&self, host: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT ps.fingerprint FROM hosts h
                 JOIN host_status st ON st.host_id = h.id
                 JOIN scans s ON s.id = st.last_ok_scan_id
                 JOIN package_sets ps ON ps.id = s.set_id
                 WHERE h.name = ?1",
                [host],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Record one host's scan, and optionally pin the host key that was accepted for it, in one
    /// transaction.
    pub fn record_scan(
        &mut self,
        host: &str,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        outcome: &ScanOutcome,
        pin: Option<(&str, &str, &str)>,
    ) -> Result<StoredScan> {
        let tx = self.conn.transaction()?;
        let host_id: i64 = tx
            .query_row("SELECT id FROM hosts WHERE name = ?1", [host], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::UnknownHost(host.to_string()))?;
        let duration_ms = (finished_at - started_at).num_milliseconds().max(0);
        let stored = match outcome {
            ScanOutcome::Failed {
                code,
                message,
                bytes_received,
            } => {
                tx.execute(
                    "INSERT INTO scans (host_id, started_at, finished_at, duration_ms, ok, error_code, error_message, bytes_received)
                     VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7)",
                    params![
                        host_id,
                        started_at,
                        finished_at,
                        duration_ms,
                        code,
                        message,
                        i64::try_from(*bytes_received).unwrap_or(i64::MAX)
                    ],
                )?;
                let scan_id = tx.last_insert_rowid();
                tx.execute(
                    "UPDATE host_status SET last_scan_id = ?2 WHERE host_id = ?1",
                    params![host_id, scan_id],
                )?;
                StoredScan {
                    scan_id,
                    set_id: None,
                    packages_transferred: false,
                }
            }
            ScanOutcome::Ok {
                facts,
                bytes_received,
            } => {
                let (set_id, transferred) = match (&facts.packages, &facts.pending) {
                    (Some(pkgs), Some(pending)) => {
                        let security = pending.iter().filter(|p| p.security).count();
                        tx.execute(
                            "INSERT INTO package_sets (host_id, fingerprint, created_at, package_count, pending_count, security_count)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            params![host_id, facts.state_fingerprint, finished_at, pkgs.len(), pending.len(), security],
                        )?;
                        let set_id = tx.last_insert_rowid();
                        {
                            let mut ins = tx.prepare_cached(
                                "INSERT INTO packages (set_id, name, arch, version, source, source_version, status)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            )?;
                            for p in pkgs {
                                ins.execute(params![
                                    set_id,
                                    p.name,
                                    p.arch,
                                    p.version,
                                    p.source,
                                    p.source_version,
                                    p.status
                                ])?;
                            }
                            let mut adv = tx.prepare_cached(
                                "INSERT OR IGNORE INTO vendor_advisories (set_id, advisory_id, package, version, severity, cve, issued_at, summary)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            )?;
                            for a in &facts.vendor_advisories {
                                adv.execute(params![
                                    set_id, a.id, a.package, a.version, a.severity, a.cve,
                                    a.issued, a.summary
                                ])?;
                            }
                            let mut ins = tx.prepare_cached(
                                "INSERT INTO pending_updates (set_id, name, arch, installed_version, candidate_version, origin, security, held)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            )?;
                            for u in pending {
                                ins.execute(params![
                                    set_id,
                                    u.name,
                                    u.arch,
                                    u.installed_version,
                                    u.candidate_version,
                                    u.origin,
                                    u.security,
                                    u.held
                                ])?;
                            }
                        }
                        (set_id, true)
                    }
                    _ => {
                        // Unchanged on the host: reuse the last snapshot, which must carry the
                        // same fingerprint (otherwise the host lied or the database changed).
                        let last: Option<(i64, String)> = tx
                            .query_row(
                                "SELECT ps.id, ps.fingerprint FROM host_status st
                                 JOIN scans s ON s.id = st.last_ok_scan_id
                                 JOIN package_sets ps ON ps.id = s.set_id
                                 WHERE st.host_id = ?1",
                                [host_id],
                                |r| Ok((r.get(0)?, r.get(1)?)),
                            )
                            .optional()?;
                        match last {
                            Some((id, fp)) if fp == facts.state_fingerprint => (id, false),
                            _ => {
                                return Err(Error::Invalid(format!(
                                    "{host}: the host reported an unchanged package state that PatchDesk does not have; scan again with --full"
                                )))
                            }
                        }
                    }
                };
                tx.execute(
                    "INSERT INTO scans (host_id, started_at, finished_at, duration_ms, ok, set_id, packages_transferred,
                       bytes_received, os_id, os_version, os_codename, os_pretty, kernel, arch, hostname, uptime_secs,
                       booted_at, reboot_required, reboot_packages, last_update_at, privilege, warnings)
                     VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
                    params![
                        host_id,
                        started_at,
                        finished_at,
                        duration_ms,
                        set_id,
                        transferred,
                        i64::try_from(*bytes_received).unwrap_or(i64::MAX),
                        facts.os_id,
                        facts.os_version,
                        facts.os_codename,
                        facts.os_pretty,
                        facts.kernel,
                        facts.arch,
                        facts.hostname,
                        facts.uptime_secs.map(|u| u as i64),
                        facts.booted_at,
                        facts.reboot_required,
                        serde_json::to_string(&facts.reboot_packages).unwrap_or_default(),
                        facts.last_update_at,
                        facts.privilege,
                        serde_json::to_string(&facts.warnings).unwrap_or_default(),
                    ],
                )?;
                let scan_id = tx.last_insert_rowid();
                tx.execute(
                    "UPDATE host_status SET last_scan_id = ?2, last_ok_scan_id = ?2 WHERE host_id = ?1",
                    params![host_id, scan_id],
                )?;
                StoredScan {
                    scan_id,
                    set_id: Some(set_id),
                    packages_transferred: transferred,
                }
            }
        };
        if let Some((key, fp, source)) = pin {
            tx.execute(
                "UPDATE hosts SET host_key = ?2, host_key_fingerprint = ?3, host_key_source = ?4,
                 host_key_pinned_at = ?5 WHERE id = ?1 AND host_key IS NULL",
                params![host_id, key, fp, source, finished_at],
            )?;
        }
        tx.commit()?;
        Ok(stored)
    }
}
