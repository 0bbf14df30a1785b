//! Hosts: add, update, remove, look up, and pin host keys.

use super::Inventory;
use crate::error::{Error, Result};
use crate::host::{Auth, Environment, HostSpec};
use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::Serialize;
use std::path::PathBuf;

/// A host as stored: its spec plus the pinned key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HostRecord {
    pub id: i64,
    #[serde(flatten)]
    pub spec: HostSpec,
    pub host_key: Option<String>,
    pub host_key_fingerprint: Option<String>,
    pub host_key_source: Option<String>,
}

pub(crate) const HOST_COLUMNS: &str = "h.id, h.name, h.address, h.port, h.user, h.auth_kind, h.key_path, h.environment, h.notes, h.proxy_jump, h.host_key, h.host_key_fingerprint, h.host_key_source";

pub(crate) fn host_from_row(r: &Row<'_>) -> rusqlite::Result<HostRecord> {
    let auth_kind: String = r.get(5)?;
    let key_path: Option<String> = r.get(6)?;
    let env: String = r.get(7)?;
    Ok(HostRecord {
        id: r.get(0)?,
        spec: HostSpec {
            name: r.get(1)?,
            address: r.get(2)?,
            port: r.get(3)?,
            user: r.get(4)?,
            auth: match (auth_kind.as_str(), key_path) {
                ("key_file", Some(p)) => Auth::KeyFile {
                    path: PathBuf::from(p),
                },
                _ => Auth::Agent,
            },
            environment: env.parse().unwrap_or(Environment::Prod),
            groups: Vec::new(),
            tags: Vec::new(),
            notes: r.get(8)?,
            proxy_jump: r.get(9)?,
        },
        host_key: r.get(10)?,
        host_key_fingerprint: r.get(11)?,
        host_key_source: r.get(12)?,
    })
}

fn auth_columns(auth: &Auth) -> (&'static str, Option<String>) {
    match auth {
        Auth::Agent => ("agent", None),
        Auth::KeyFile { path } => ("key_file", Some(path.to_string_lossy().into_owned())),
    }
}

fn write_labels(tx: &Transaction<'_>, host_id: i64, spec: &HostSpec) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM host_groups WHERE host_id = ?1", [host_id])?;
    tx.execute("DELETE FROM host_tags WHERE host_id = ?1", [host_id])?;
    for g in &spec.groups {
        tx.execute(
            "INSERT OR IGNORE INTO host_groups (host_id, name) VALUES (?1, ?2)",
            params![host_id, g],
        )?;
    }
    for t in &spec.tags {
        tx.execute(
            "INSERT OR IGNORE INTO host_tags (host_id, name) VALUES (?1, ?2)",
            params![host_id, t],
        )?;
    }
    Ok(())
}

impl Inventory {
    /// Add one host. Fails if the name exists.
    pub fn add_host(&mut self, spec: &HostSpec) -> Result<i64> {
        let ids = self.add_hosts(std::slice::from_ref(spec), false)?;
        Ok(ids[0])
    }

    /// Add many hosts in one transaction: all or nothing. With `update_existing`, a host whose
    /// name exists is updated (address, auth, groups...) and keeps its history and pinned key.
    pub fn add_hosts(&mut self, specs: &[HostSpec], update_existing: bool) -> Result<Vec<i64>> {
        for s in specs {
            s.validate().map_err(Error::Invalid)?;
        }
        let now = self.clock.now();
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(specs.len());
        for s in specs {
            let existing: Option<i64> = tx
                .query_row("SELECT id FROM hosts WHERE name = ?1", [&s.name], |r| {
                    r.get(0)
                })
                .optional()?;
            let (auth_kind, key_path) = auth_columns(&s.auth);
            let id = match existing {
                Some(_) if !update_existing => return Err(Error::DuplicateHost(s.name.clone())),
                Some(id) => {
                    tx.execute(
                        "UPDATE hosts SET address = ?2, port = ?3, user = ?4, auth_kind = ?5, key_path = ?6,
                         environment = ?7, notes = ?8, proxy_jump = ?9, updated_at = ?10 WHERE id = ?1",
                        params![id, s.address, s.port, s.user, auth_kind, key_path, s.environment.as_str(), s.notes, s.proxy_jump, now],
                    )?;
                    id
                }
                None => {
                    tx.execute(
                        "INSERT INTO hosts (name, address, port, user, auth_kind, key_path, environment, notes, proxy_jump, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                        params![s.name, s.address, s.port, s.user, auth_kind, key_path, s.environment.as_str(), s.notes, s.proxy_jump, now],
                    )?;
                    let id = tx.last_insert_rowid();
                    tx.execute("INSERT INTO host_status (host_id) VALUES (?1)", [id])?;
                    id
                }
            };
            write_labels(&tx, id, s)?;
            ids.push(id);
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Remove a host and its history.
    pub fn remove_host(&mut self, name: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        let n = tx.execute("DELETE FROM hosts WHERE name = ?1", [name])?;
        if n == 0 {
            return Err(Error::UnknownHost(name.to_string()));
        }
        tx.commit()?;
        Ok(())
    }

    /// One host by name, with its groups and tags.
    pub fn host(&self, name: &str) -> Result<HostRecord> {
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts h WHERE h.name = ?1");
        let mut rec = self
            .conn
            .query_row(&sql, [name], host_from_row)
            .optional()?
            .ok_or_else(|| Error::UnknownHost(name.to_string()))?;
        self.fill_labels(std::slice::from_mut(&mut rec))?;
        Ok(rec)
    }

    /// All hosts, by name.
    pub fn hosts(&self) -> Result<Vec<HostRecord>> {
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts h ORDER BY h.name");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut v = stmt
            .query_map([], host_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        self.fill_labels(&mut v)?;
        Ok(v)
    }

    /// Names of the hosts in a group (scope).
    pub fn hosts_in_group(&self, group: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT h.name FROM host_groups g JOIN hosts h ON h.id = g.host_id WHERE g.name = ?1 ORDER BY h.name",
        )?;
        let v = stmt
            .query_map([group], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(v)
    }

    /// All group names with their host counts.
    pub fn groups(&self) -> Result<Vec<(String, i64)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, count(*) FROM host_groups GROUP BY name ORDER BY name")?;
        let v = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    pub(crate) fn fill_labels(&self, recs: &mut [HostRecord]) -> Result<()> {
        let mut g = self
            .conn
            .prepare_cached("SELECT name FROM host_groups WHERE host_id = ?1 ORDER BY name")?;
        let mut t = self
            .conn
            .prepare_cached("SELECT name FROM host_tags WHERE host_id = ?1 ORDER BY name")?;
        for rec in recs {
            rec.spec.groups = g
                .query_map([rec.id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            rec.spec.tags = t
                .query_map([rec.id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
        }
        Ok(())
    }

    /// Pin a host key (OpenSSH public key line), recording where the trust came from.
    pub fn pin_host_key(
        &mut self,
        name: &str,
        key: &str,
        fingerprint: &str,
        source: &str,
    ) -> Result<()> {
        let now = self.clock.now();
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE hosts SET host_key = ?2, host_key_fingerprint = ?3, host_key_source = ?4,
             host_key_pinned_at = ?5, updated_at = ?5 WHERE name = ?1",
            params![name, key, fingerprint, source, now],
        )?;
        if n == 0 {
            return Err(Error::UnknownHost(name.to_string()));
        }
        tx.commit()?;
        Ok(())
    }

    /// Forget a pinned key (before re-trusting a genuinely replaced host key).
    pub fn unpin_host_key(&mut self, name: &str) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE hosts SET host_key = NULL, host_key_fingerprint = NULL, host_key_source = NULL,
             host_key_pinned_at = NULL WHERE name = ?1",
            [name],
        )?;
        if n == 0 {
            return Err(Error::UnknownHost(name.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::inv;
    use super::*;

    fn spec(name: &str) -> HostSpec {
        let mut s = HostSpec::new(name, "127.0.0.1");
        s.groups = vec!["web".into(), "office".into()];
        s
    }

    #[test]
    fn add_list_update_remove() {
        let (mut inv, _) = inv();
        inv.add_host(&spec("a")).unwrap();
        inv.add_host(&spec("b")).unwrap();
        assert!(matches!(
            inv.add_host(&spec("a")),
            Err(Error::DuplicateHost(_))
        ));
        let mut a = spec("a");
        a.port = 2222;
        a.groups = vec!["db".into()];
        inv.add_hosts(&[a], true).unwrap();
        let rec = inv.host("a").unwrap();
        assert_eq!(rec.spec.port, 2222);
        assert_eq!(rec.spec.groups, vec!["db".to_string()]);
        assert_eq!(inv.hosts_in_group("web").unwrap(), vec!["b".to_string()]);
        inv.remove_host("a").unwrap();
        assert!(matches!(inv.host("a"), Err(Error::UnknownHost(_))));
        assert_eq!(inv.hosts().unwrap().len(), 1);
    }

    #[test]
    fn bad_batch_imports_nothing() {
        let (mut inv, _) = inv();
        let mut bad = spec("bad");
        bad.address = "x; reboot".into();
        let err = inv.add_hosts(&[spec("ok"), bad], false).unwrap_err();
        assert!(err.to_string().contains("not a host name"), "{err}");
        assert!(inv.hosts().unwrap().is_empty());
        // Duplicate inside a batch: the whole batch rolls back.
        inv.add_host(&spec("x")).unwrap();
        assert!(inv.add_hosts(&[spec("y"), spec("x")], false).is_err());
        assert_eq!(inv.hosts().unwrap().len(), 1);
    }
}
