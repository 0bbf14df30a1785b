//! The SQLite inventory: the single source of truth. Owns the schema (migrations), the
//! connection settings (WAL, foreign keys, busy timeout) and every read and write of hosts,
//! scans, package snapshots and the audit log. Every state change runs in one transaction.
//!
//! It must not talk to hosts or parse host output: callers hand it typed facts.

mod hosts;
mod queries;
mod scans;

pub use hosts::HostRecord;
pub use queries::{HostDetail, HostSummary, PackageHit, ScanRecord};
pub use scans::{ScanOutcome, StoredScan};

use crate::clock::SharedClock;
use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{Migrations, M};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        M::up(include_str!("../../migrations/001_inventory.sql")),
        M::up(include_str!("../../migrations/002_advisories.sql")),
        M::up(include_str!("../../migrations/003_rollout.sql")),
        M::up(include_str!("../../migrations/004_rollout_policy.sql")),
        M::up(include_str!("../../migrations/005_deploy_transaction.sql")),
        M::up(include_str!("../../migrations/006_reports.sql")),
        M::up(include_str!("../../migrations/007_leases.sql")),
        M::up(include_str!("../../migrations/008_jobs.sql")),
        M::up(include_str!("../../migrations/009_health_checks.sql")),
        M::up(include_str!("../../migrations/010_alerts.sql")),
        M::up(include_str!("../../migrations/011_held_updates.sql")),
        M::up(include_str!("../../migrations/012_vendor_advisories.sql")),
        M::up(include_str!("../../migrations/013_host_filters.sql")),
    ])
});

/// One audit record: who did what on which host, when, the exact command, its exit status and a
/// digest of its output.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AuditEntry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub host: Option<String>,
    pub action: String,
    pub phase: String,
    pub command: Option<String>,
    pub exit_status: Option<i64>,
    pub output_digest: Option<String>,
    pub detail: Option<String>,
}

/// An open inventory database.
pub struct Inventory {
    conn: Connection,
    path: PathBuf,
    clock: SharedClock,
}

impl std::fmt::Debug for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory")
            .field("path", &self.path)
            .finish()
    }
}

/// The default database location: the platform data directory
/// (`~/.local/share/patchdesk/patchdesk.db` on Linux).
pub fn default_path() -> PathBuf {
    directories::ProjectDirs::from("org", "PatchDesk", "patchdesk")
        .map(|d| d.data_dir().join("patchdesk.db"))
        .unwrap_or_else(|| PathBuf::from("patchdesk.db"))
}

/// Create the database's directory (0700) and file (0600) if they are missing; tighten an
/// existing file and its WAL/SHM companions to 0600, and the default data directory to 0700. A
/// directory the user chose (`--db /srv/x.db`) is left as it is: it may be shared on purpose.
fn make_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let io = |what: &Path, e| Error::Io(format!("cannot secure {}", what.display()), e);
    if path.as_os_str() == ":memory:" || path.to_string_lossy().starts_with("file:") {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::Io(format!("cannot create {}", dir.display()), e))?;
        } else if default_path().parent() == Some(dir) {
            tighten(dir, 0o700);
        }
    }
    if !path.exists() {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(path, e)),
        }
    }
    Ok(())
}

/// Once the file is known to be a PatchDesk database: tighten it and its WAL/SHM companions.
fn tighten_database(path: &Path) {
    for f in [
        path.to_path_buf(),
        PathBuf::from(format!("{}-wal", path.display())),
        PathBuf::from(format!("{}-shm", path.display())),
        PathBuf::from(format!("{}-journal", path.display())),
    ] {
        if f.exists() {
            tighten(&f, 0o600);
        }
    }
}

/// Remove group/other permissions (logged, not fatal, when the file is not ours to change).
fn tighten(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(p) else {
        return;
    };
    if meta.permissions().mode() & 0o077 == 0 {
        return;
    }
    if let Err(e) = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)) {
        tracing::warn!(
            "{} is readable by others and cannot be tightened: {e}",
            p.display()
        );
    }
}

impl Inventory {
    /// Open (creating if needed) the database at `path` and bring its schema up to date.
    /// The database holds the fleet map, exposures, hook commands and the audit log: its
    /// directory is created 0700 and its files 0600, and existing ones are tightened.
    pub fn open(path: impl AsRef<Path>, clock: SharedClock) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        make_private(&path)?;
        let db_err = |source| Error::Database {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(db_err)?;
        Self::configure(&conn).map_err(db_err)?;
        MIGRATIONS
            .to_latest(&mut conn)
            .map_err(|e| Error::Migration(e.to_string()))?;
        tighten_database(&path);
        Ok(Self { conn, path, clock })
    }

    /// An in-memory inventory (tests and benchmarks).
    pub fn open_in_memory(clock: SharedClock) -> Result<Self> {
        let mut conn = Connection::open_in_memory()?;
        Self::configure(&conn)?;
        MIGRATIONS
            .to_latest(&mut conn)
            .map_err(|e| Error::Migration(e.to_string()))?;
        Ok(Self {
            conn,
            path: PathBuf::from(":memory:"),
            clock,
        })
    }

    fn configure(conn: &Connection) -> rusqlite::Result<()> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // WAL: readers (the UI) never block the writer (a scan), and a crash never corrupts.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             PRAGMA synchronous = NORMAL;
             PRAGMA temp_store = MEMORY;",
        )?;
        Ok(())
    }

    /// Refuse `p` when it is this database or one of its WAL, SHM or journal files (the same file,
    /// by device and inode: links and other spellings count). PatchDesk must never read or write
    /// them as something else (`what`: "a known_hosts file"): writing would destroy the data, and
    /// merely opening and closing one in this process drops the POSIX locks SQLite holds on it, so
    /// another process may then delete the WAL under this one.
    pub fn refuse_own_file(&self, p: &Path, what: &str) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let Ok(m) = std::fs::metadata(p) else {
            return Ok(());
        };
        let own = ["", "-wal", "-shm", "-journal"].iter().any(|suffix| {
            let mut f = self.path.clone().into_os_string();
            f.push(suffix);
            std::fs::metadata(&f).is_ok_and(|d| d.dev() == m.dev() && d.ino() == m.ino())
        });
        if own {
            return Err(Error::Invalid(format!(
                "{} is PatchDesk's own database, not {what}: choose another file",
                p.display()
            )));
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Direct access for modules that own their own tables (later: advisories, rollouts).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The schema version (number of migrations applied).
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Append one audit record (its own transaction: an audit line is never lost with a later
    /// rollback).
    #[allow(clippy::too_many_arguments)]
    pub fn audit(
        &self,
        actor: &str,
        host: Option<&str>,
        action: &str,
        phase: &str,
        command: Option<&str>,
        exit_status: Option<i64>,
        output_digest: Option<&str>,
        detail: Option<&str>,
    ) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO audit_log (at, actor, host, action, phase, command, exit_status, output_digest, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            rusqlite::params![
                self.clock.now(),
                actor,
                host,
                action,
                phase,
                command,
                exit_status,
                output_digest,
                detail
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The audit log, newest first: every change to a host, before and after.
    pub fn audit_entries(&self, host: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, at, actor, host, action, phase, command, exit_status, output_digest, detail
             FROM audit_log WHERE ?1 IS NULL OR host = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(rusqlite::params![host, limit as i64], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    host: r.get(3)?,
                    action: r.get(4)?,
                    phase: r.get(5)?,
                    command: r.get(6)?,
                    exit_status: r.get(7)?,
                    output_digest: r.get(8)?,
                    detail: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    /// Store a value as JSON under `key`.
    pub fn set_setting_json<T: serde::Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<()> {
        let json = serde_json::to_string(value)
            .map_err(|e| Error::Invalid(format!("setting {key:?} cannot be saved ({e})")))?;
        self.set_setting(key, &json)
    }

    pub fn remove_setting(&self, key: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM settings WHERE key = ?1", [key])?;
        Ok(())
    }

    /// Every setting whose key starts with `prefix`, as (rest of the key, value), ordered by key.
    pub fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT substr(key, length(?1) + 1), value FROM settings
             WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
        )?;
        let rows = stmt
            .query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;
    use crate::clock::ManualClock;
    use chrono::{TimeZone, Utc};
    use std::sync::Arc;

    pub fn clock() -> ManualClock {
        ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap())
    }

    pub fn inv() -> (Inventory, ManualClock) {
        let c = clock();
        (Inventory::open_in_memory(Arc::new(c.clone())).unwrap(), c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use chrono::Utc;
    use std::sync::Arc;

    const LATEST: i64 = 13;

    #[test]
    fn migrations_are_valid() {
        MIGRATIONS.validate().unwrap();
    }

    #[test]
    fn its_own_database_files_are_refused_as_anything_else() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("inv.db");
        let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
        let inv = Inventory::open(&p, clock).unwrap();
        inv.set_setting("k", "v").unwrap();
        let other = dir.path().join("known_hosts");
        std::fs::write(&other, "").unwrap();
        let link = dir.path().join("link");
        std::fs::hard_link(&p, &link).unwrap();
        let dotted = dir.path().join(".").join("inv.db-wal");
        for own in [&p, &link, &dotted] {
            let e = inv.refuse_own_file(own, "a known_hosts file").unwrap_err();
            assert!(
                e.to_string()
                    .contains("PatchDesk's own database, not a known_hosts file"),
                "{own:?}: {e}"
            );
        }
        inv.refuse_own_file(&other, "a known_hosts file").unwrap();
        inv.refuse_own_file(&dir.path().join("missing"), "x")
            .unwrap();
    }

    #[test]
    fn opens_file_in_wal_mode_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/inv.db");
        let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
        {
            let inv = Inventory::open(&p, clock.clone()).unwrap();
            let mode: String = inv
                .conn()
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            assert_eq!(inv.schema_version().unwrap(), LATEST);
            inv.set_setting("k", "v").unwrap();
        }
        let inv = Inventory::open(&p, clock).unwrap();
        assert_eq!(inv.setting("k").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn an_older_database_is_upgraded_in_place_with_nothing_lost() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v3.db");
        {
            let mut conn = Connection::open(&p).unwrap();
            MIGRATIONS.to_version(&mut conn, 3).unwrap();
            conn.execute_batch(
                "INSERT INTO hosts (name, address, port, user, auth_kind, environment, created_at, updated_at)
                   VALUES ('h1', '10.0.0.1', 22, 'root', 'agent', 'prod', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
                 INSERT INTO deployments (name, scope, created_at, updated_at, state, current_stage, mode, canary_soak_secs, smoke_commands, warnings, overrides)
                   VALUES ('old', 'office', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'halted', 1, 'manual', 86400, '[]', '[]', '{}');
                 INSERT INTO deployment_stages (deployment_id, idx, name, state) VALUES (1, 0, 'canary', 'failed');
                 INSERT INTO deployment_hosts (deployment_id, host_id, stage_idx, state) VALUES (1, 1, 0, 'applied');",
            )
            .unwrap();
        }
        let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
        let inv = Inventory::open(&p, clock).unwrap();
        assert_eq!(inv.schema_version().unwrap(), LATEST);
        let st = crate::rollout::status(&inv, 1).unwrap();
        assert_eq!((st.name.as_str(), st.state.as_str()), ("old", "halted"));
        assert!(!st.rollback_on_no_go);
        assert_eq!(
            st.stages[0].hosts[0].state,
            crate::rollout::HostState::Applied
        );
        assert!(!st.stages[0].hosts[0].pinned);
    }

    #[test]
    fn a_version_4_deployment_is_upgraded_in_place_and_keeps_its_targets() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v4.db");
        {
            let mut conn = Connection::open(&p).unwrap();
            MIGRATIONS.to_version(&mut conn, 4).unwrap();
            conn.execute_batch(
                "INSERT INTO hosts (name, address, port, user, auth_kind, environment, created_at, updated_at)
                   VALUES ('h1', '10.0.0.1', 22, 'root', 'agent', 'prod', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
                 INSERT INTO deployments (name, scope, created_at, updated_at, state, current_stage, mode, canary_soak_secs, smoke_commands, warnings, overrides, rollback_on_no_go)
                   VALUES ('v4', 'office', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'running', 0, 'manual', 0, '[]', '[]', '{}', 1);
                 INSERT INTO deployment_stages (deployment_id, idx, name, state, decision, reasons) VALUES (1, 0, '100%', 'gate', NULL, '[\"NO-GO h1: x\"]');
                 INSERT INTO deployment_hosts (deployment_id, host_id, stage_idx, state, pinned, note) VALUES (1, 1, 0, 'attention', 0, 'n');
                 INSERT INTO deployment_targets (deployment_id, host_id, package, from_version, to_version) VALUES (1, 1, 'pd-hello', '1.0-1', '1.1-1');",
            )
            .unwrap();
        }
        let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
        let inv = Inventory::open(&p, clock).unwrap();
        assert_eq!(inv.schema_version().unwrap(), LATEST);
        let st = crate::rollout::status(&inv, 1).unwrap();
        assert_eq!((st.name.as_str(), st.state.as_str()), ("v4", "running"));
        assert!(st.rollback_on_no_go);
        let h = &st.stages[0].hosts[0];
        assert_eq!(
            (h.state.as_str(), h.note.as_deref(), h.excluded.as_deref()),
            ("attention", Some("n"), None)
        );
        // A plan from before whole transactions were recorded: its named target is its transaction.
        assert_eq!(h.changes.len(), 1);
        assert_eq!(h.changes[0].describe(), "pd-hello 1.0-1 → 1.1-1");
        assert_eq!(h.changes[0].kind, crate::rollout::ChangeKind::Upgrade);
        assert_eq!(
            (
                st.stages[0].verdict,
                st.stages[0].override_reason.as_deref()
            ),
            (Some(crate::rollout::GateVerdict::NoGo), None)
        );
        // Its stored reason became typed (schema 7): the verdict is no longer read from text.
        assert_eq!(
            st.stages[0].reasons,
            [crate::rollout::GateReason::no_go("h1", "x")]
        );
        // The new tables and columns work on the upgraded file.
        let st = crate::rollout::exclude(
            &inv,
            1,
            "h1",
            "decommissioned",
            "user",
            crate::rollout::OnBusy::Refuse,
        )
        .unwrap();
        assert_eq!(
            st.stages[0].hosts[0].excluded.as_deref(),
            Some("decommissioned")
        );
    }

    #[test]
    fn a_database_before_reports_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v5.db");
        {
            let mut conn = Connection::open(&p).unwrap();
            MIGRATIONS.to_version(&mut conn, 5).unwrap();
            conn.execute_batch(
                "INSERT INTO hosts (name, address, port, user, auth_kind, environment, created_at, updated_at)
                   VALUES ('h1', '10.0.0.1', 22, 'root', 'agent', 'prod', '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00');
                 INSERT INTO host_status (host_id) VALUES (1);
                 INSERT INTO host_groups (host_id, name) VALUES (1, 'web');
                 INSERT INTO scans (host_id, started_at, finished_at, duration_ms, ok, error_code, error_message)
                   VALUES (1, '2026-11-24 10:00:00+00:00', '2026-11-24 10:00:01+00:00', 1000, 0, 'unreachable', 'down');
                 UPDATE host_status SET last_scan_id = 1 WHERE host_id = 1;
                 INSERT INTO settings (key, value) VALUES ('settings', '{\"concurrency\": 7}');",
            )
            .unwrap();
        }
        let clock: SharedClock = Arc::new(ManualClock::new(
            chrono::DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ));
        let inv = Inventory::open(&p, clock).unwrap();
        assert_eq!(inv.schema_version().unwrap(), LATEST);
        let s = crate::settings::Settings::load(&inv).unwrap();
        assert_eq!(
            (s.concurrency, s.reports_dir),
            (7, None),
            "old settings keep their values"
        );
        let r =
            crate::report::weekly_report(&inv, &crate::report::Scope::Group("web".into()), None)
                .unwrap();
        assert_eq!(r.summary.hosts.unreachable, 1);
        assert_eq!(r.not_scanned[0].host, "h1");
        assert!(crate::report::snapshot(&inv, &r.scope, r.week)
            .unwrap()
            .is_some());
    }

    #[test]
    fn the_database_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
        // Created: the directory 0700, the file and its WAL files 0600.
        let p = dir.path().join("new/sub/inv.db");
        {
            let inv = Inventory::open(&p, clock.clone()).unwrap();
            inv.set_setting("k", "v").unwrap();
            assert_eq!(mode(p.parent().unwrap()), 0o700);
            assert_eq!(mode(&dir.path().join("new")), 0o700);
            assert_eq!(mode(&p), 0o600);
            for ext in ["db-wal", "db-shm"] {
                assert_eq!(mode(&p.with_extension(ext)), 0o600, "{ext}");
            }
        }
        // Existing world-readable files (an older PatchDesk made them 0644) are tightened.
        let q = dir.path().join("old.db");
        drop(Inventory::open(&q, clock.clone()).unwrap());
        for f in [
            q.clone(),
            q.with_extension("db-wal"),
            q.with_extension("db-shm"),
        ] {
            if f.exists() {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let inv = Inventory::open(&q, clock.clone()).unwrap();
        inv.set_setting("k", "v").unwrap();
        assert_eq!(mode(&q), 0o600);
        assert_eq!(mode(&q.with_extension("db-wal")), 0o600);
        // A directory the user chose is theirs: not changed.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        drop(Inventory::open(&q, clock).unwrap());
        assert_eq!(mode(dir.path()), 0o755);
    }

    #[test]
    fn unwritable_path_is_a_clear_error() {
        let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
        let err = Inventory::open("/proc/nope/inv.db", clock).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/proc/nope"), "{msg}");
    }

    #[test]
    fn garbage_file_is_refused_and_left_intact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("not-a-db.db");
        std::fs::write(
            &p,
            b"this is not sqlite, it is somebody's notes\n".repeat(200),
        )
        .unwrap();
        let before = std::fs::read(&p).unwrap();
        let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
        let err = Inventory::open(&p, clock).unwrap_err();
        assert!(err.to_string().contains("not-a-db.db"), "{err}");
        assert_eq!(
            std::fs::read(&p).unwrap(),
            before,
            "the file must not be touched"
        );
    }
}
