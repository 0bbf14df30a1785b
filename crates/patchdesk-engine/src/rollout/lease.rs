//! One writer per deployment: the lease a process takes (one row of `deployment_leases`) before
//! it changes a deployment, renewed while it works and freed when it ends, so that the app, a
//! headless service and a CLI command never advance the same deployment at once. A second
//! writer is refused with who holds it and until when ([`DeployError::Busy`]), or waits for it
//! ([`OnBusy::Wait`]). A holder that crashed is taken over: at once when it ran on this machine
//! and its process is gone, else once its lease has expired (it is renewed every
//! [`RENEW_EVERY`], and lasts [`TTL`] past its last renewal).
//!
//! Owns the `deployment_leases` table. Must not touch the other deployment tables: the
//! operations that hold a lease live in `run`, `rollback` and `drill`.

use super::*;
use std::sync::mpsc;

/// How long a lease lasts past its last renewal.
pub const TTL: Duration = Duration::seconds(60);
/// How often a held lease is renewed.
pub const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(15);
/// How often a waiting writer looks again.
const POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// What a writer does when another process holds the deployment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum OnBusy {
    /// Refuse at once with [`DeployError::Busy`].
    #[default]
    Refuse,
    /// Wait until it is free (or taken over from a crashed holder).
    Wait,
}

/// Who holds a deployment right now, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LeaseHolder {
    pub operation: Operation,
    /// On whose behalf: `user`, `auto`, a person's name.
    pub who: String,
    /// The holding program (`patchdesk`, `patchdesk-app`).
    pub process: String,
    pub pid: u32,
    pub machine: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// `patchdesk (pid 4242 on office-box) running deploy go for user since 10:01:02 UTC`
impl std::fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {} on {}), {} for {} since {}",
            self.process,
            self.pid,
            self.machine,
            self.operation,
            self.who,
            self.acquired_at.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// A held lease: renewed by a thread of its own (with its own connection to the database file)
/// until dropped, then freed. On an in-memory database (tests) there is nothing to hold: no
/// other process or connection can open it.
#[derive(Debug)]
pub struct Lease {
    id: i64,
    token: String,
    /// The database file, to free the row when no renewer runs.
    path: Option<std::path::PathBuf>,
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        // The renewer frees the row when told to stop (or when this sender is gone).
        drop(self.stop.take());
        if let Some(t) = self.renewer.take() {
            if t.join().is_err() {
                tracing::warn!("deployment {}: the lease renewer stopped badly", self.id);
            }
        } else if let Some(p) = &self.path {
            free(p, self.id, &self.token);
        }
    }
}

/// Delete a lease row by its token (its own connection: called when the lease is dropped).
fn free(path: &std::path::Path, id: i64, token: &str) {
    let res = rusqlite::Connection::open(path).and_then(|c| {
        c.busy_timeout(std::time::Duration::from_secs(10))?;
        c.execute(
            "DELETE FROM deployment_leases WHERE deployment_id = ?1 AND token = ?2",
            params![id, token],
        )
    });
    if let Err(e) = res {
        tracing::warn!("deployment {id}: the lease was not freed (it expires by itself): {e}");
    }
}

/// This process, as a lease holder sees it.
struct Me {
    process: String,
    pid: u32,
    machine: String,
    process_start: Option<String>,
}

fn me() -> Me {
    let pid = std::process::id();
    Me {
        process: std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .map(|n| crate::text::clean(&n).chars().take(64).collect())
            .unwrap_or_else(|| "patchdesk".into()),
        pid,
        machine: machine_name(),
        process_start: process_start(pid),
    }
}

/// This machine's host name (`gethostname`), or `localhost`.
fn machine_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and the length below never exceeds the buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = crate::text::clean(&String::from_utf8_lossy(&buf[..end]));
    if name.is_empty() {
        "localhost".into()
    } else {
        name.chars().take(64).collect()
    }
}

/// The start time of a process (field 22 of `/proc/PID/stat`, clock ticks since boot): tells a
/// live holder from a new process that reused its pid. `None` where /proc is not available.
fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// Whether a process of this machine is still running (and is the same process).
fn alive(pid: u32, start: Option<&str>) -> bool {
    if std::path::Path::new("/proc/self/stat").exists() {
        return match (process_start(pid), start) {
            (None, _) => false,
            (Some(now), Some(then)) => now == then,
            (Some(_), None) => true,
        };
    }
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(p, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

struct Row {
    holder: LeaseHolder,
    token: String,
    process_start: Option<String>,
}

fn current(inv: &Inventory, id: i64) -> Result<Option<Row>> {
    Ok(inv
        .conn()
        .query_row(
            "SELECT operation, who, process, pid, machine, acquired_at, expires_at, token, process_start
             FROM deployment_leases WHERE deployment_id = ?1",
            [id],
            row_of,
        )
        .optional()?)
}

/// Who holds each deployment right now (one query for a list; gone holders are left out).
pub(crate) fn holders(inv: &Inventory) -> Result<HashMap<i64, LeaseHolder>> {
    let now = inv.clock().now();
    let here = machine_name();
    let rows = inv
        .conn()
        .prepare_cached(
            "SELECT operation, who, process, pid, machine, acquired_at, expires_at, token, process_start, deployment_id
             FROM deployment_leases",
        )?
        .query_map([], |r| Ok((r.get::<_, i64>(9)?, row_of(r)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter(|(_, r)| !gone(r, &here, now))
        .map(|(id, r)| (id, r.holder))
        .collect())
}

fn row_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        holder: LeaseHolder {
            operation: r.get(0)?,
            who: r.get(1)?,
            process: r.get(2)?,
            pid: r.get(3)?,
            machine: r.get(4)?,
            acquired_at: r.get(5)?,
            expires_at: r.get(6)?,
        },
        token: r.get(7)?,
        process_start: r.get(8)?,
    })
}

/// Who holds a deployment right now (a lease whose holder is gone is not shown).
pub fn holder(inv: &Inventory, id: i64) -> Result<Option<LeaseHolder>> {
    let now = inv.clock().now();
    let here = machine_name();
    Ok(current(inv, id)?
        .filter(|r| !gone(r, &here, now))
        .map(|r| r.holder))
}

/// The holder crashed: its process is gone from this machine, or (another machine) its lease
/// expired without renewal.
fn gone(r: &Row, here: &str, now: DateTime<Utc>) -> bool {
    if r.holder.machine == here {
        !alive(r.holder.pid, r.process_start.as_deref())
    } else {
        r.holder.expires_at <= now
    }
}

fn new_token(id: i64, me: &Me, now: DateTime<Utc>) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "{id} {} {} {:?} {}",
        me.machine,
        me.pid,
        now.timestamp_nanos_opt(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    let n = TOKENS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    h.update(n.to_le_bytes());
    hex::encode(&h.finalize()[..16])
}

static TOKENS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One attempt: the lease, or who holds it.
fn try_acquire(
    inv: &Inventory,
    id: i64,
    op: Operation,
    who: &str,
) -> Result<std::result::Result<Lease, LeaseHolder>> {
    if in_memory(inv) {
        return Ok(Ok(Lease {
            id,
            token: String::new(),
            path: None,
            stop: None,
            renewer: None,
        }));
    }
    let me = me();
    loop {
        let now = inv.clock().now();
        if let Some(row) = current(inv, id)? {
            if !gone(&row, &me.machine, now) {
                return Ok(Err(row.holder));
            }
            // A crashed holder: take it over (only the row that was read: a racing writer that
            // took it over first keeps it).
            let n = inv.conn().execute(
                "DELETE FROM deployment_leases WHERE deployment_id = ?1 AND token = ?2",
                params![id, row.token],
            )?;
            if n == 1 {
                inv.audit(
                    who,
                    None,
                    "deployment-lease-taken-over",
                    "note",
                    None,
                    None,
                    None,
                    Some(&format!(
                        "deployment {id}: the lease of {} was taken over ({})",
                        row.holder,
                        if row.holder.machine == me.machine {
                            "its process is gone"
                        } else {
                            "it expired without renewal"
                        }
                    )),
                )?;
            }
            continue;
        }
        let token = new_token(id, &me, now);
        let expires = now.checked_add_signed(TTL).unwrap_or(now);
        let res = inv.conn().execute(
            "INSERT INTO deployment_leases (deployment_id, token, operation, who, process, pid, machine, process_start, acquired_at, renewed_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
            params![id, token, op, who, me.process, me.pid, me.machine, me.process_start, now, expires],
        );
        match res {
            Ok(_) => {}
            // Another writer inserted first: look again.
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation
                    && current(inv, id)?.is_some() =>
            {
                continue
            }
            Err(e) => return Err(e.into()),
        }
        return Ok(Ok(renewed(inv, id, token)));
    }
}

fn in_memory(inv: &Inventory) -> bool {
    let p = inv.path().as_os_str();
    p == ":memory:" || p.to_string_lossy().contains("mode=memory")
}

/// Start the renewer of a lease just taken.
fn renewed(inv: &Inventory, id: i64, token: String) -> Lease {
    let path = inv.path().to_path_buf();
    let (tx, rx) = mpsc::channel::<()>();
    let clock = inv.clock().clone();
    let (p, t) = (path.clone(), token.clone());
    let renewer = std::thread::Builder::new()
        .name(format!("lease-{id}"))
        .spawn(move || renew_until_stopped(&p, id, &t, clock, rx));
    match renewer {
        Ok(h) => Lease {
            id,
            token,
            path: Some(path),
            stop: Some(tx),
            renewer: Some(h),
        },
        Err(e) => {
            // No renewer: the lease holds while this process lives (for this machine) and
            // expires for others; it is freed when dropped.
            tracing::warn!("deployment {id}: the lease renewer cannot start: {e}");
            Lease {
                id,
                token,
                path: Some(path),
                stop: None,
                renewer: None,
            }
        }
    }
}

fn renew_until_stopped(
    path: &std::path::Path,
    id: i64,
    token: &str,
    clock: crate::clock::SharedClock,
    stop: mpsc::Receiver<()>,
) {
    let conn = match rusqlite::Connection::open(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("deployment {id}: the lease cannot be renewed: {e}");
            // Held until dropped all the same (for this machine), then freed.
            let _ = stop.recv();
            free(path, id, token);
            return;
        }
    };
    if let Err(e) = conn.busy_timeout(std::time::Duration::from_secs(10)) {
        tracing::warn!("deployment {id}: {e}");
    }
    // Renewed every RENEW_EVERY until told to stop (or the lease is gone with its sender).
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(RENEW_EVERY) {
        let now = clock.now();
        let expires = now.checked_add_signed(TTL).unwrap_or(now);
        if let Err(e) = conn.execute(
            "UPDATE deployment_leases SET renewed_at = ?3, expires_at = ?4 WHERE deployment_id = ?1 AND token = ?2",
            params![id, token, now, expires],
        ) {
            tracing::warn!("deployment {id}: the lease was not renewed: {e}");
        }
    }
    drop(conn);
    free(path, id, token);
}

/// Take the lease of a deployment for `op` on behalf of `who`: refused (or waited for) while
/// another live process holds it. (`&mut`: the future stays `Send` across its waits.)
pub async fn acquire(
    inv: &mut Inventory,
    id: i64,
    op: Operation,
    who: &str,
    on_busy: OnBusy,
    progress: &ProgressFn,
) -> Result<Lease> {
    let mut said = None;
    loop {
        match acquire_once(inv, id, op, who, on_busy)? {
            Ok(lease) => return Ok(lease),
            Err(h) => {
                if said.as_ref() != Some(&h) {
                    emit(
                        progress,
                        None,
                        Phase::Running,
                        format!("deployment {id} is held by {h}: waiting for it to finish"),
                    );
                    said = Some(h);
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// [`acquire`] for the synchronous operations (exclude): waits by sleeping this thread.
pub fn acquire_blocking(
    inv: &Inventory,
    id: i64,
    op: Operation,
    who: &str,
    on_busy: OnBusy,
) -> Result<Lease> {
    loop {
        match acquire_once(inv, id, op, who, on_busy)? {
            Ok(lease) => return Ok(lease),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// One attempt; a refusal is an error unless the writer waits.
fn acquire_once(
    inv: &Inventory,
    id: i64,
    op: Operation,
    who: &str,
    on_busy: OnBusy,
) -> Result<std::result::Result<Lease, LeaseHolder>> {
    let exists: bool = inv.conn().query_row(
        "SELECT EXISTS (SELECT 1 FROM deployments WHERE id = ?1)",
        [id],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(DeployError::UnknownDeployment(id).into());
    }
    match try_acquire(inv, id, op, who)? {
        Ok(lease) => Ok(Ok(lease)),
        Err(h) if on_busy == OnBusy::Wait => Ok(Err(h)),
        Err(h) => Err(DeployError::Busy {
            id,
            until: h.expires_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            holder: h.to_string(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, SharedClock};
    use std::sync::Arc;

    fn file_inv(dir: &std::path::Path, clock: &ManualClock) -> Inventory {
        let shared: SharedClock = Arc::new(clock.clone());
        let inv = Inventory::open(dir.join("pd.db"), shared).unwrap();
        inv.conn()
            .execute_batch(
                "INSERT INTO deployments (name, scope, created_at, updated_at, state, current_stage, mode, canary_soak_secs, smoke_commands, warnings, overrides)
                   VALUES ('d', 'web', '2026-11-23T12:00:00Z', '2026-11-23T12:00:00Z', 'running', 0, 'manual', 0, '[]', '[]', '{}');",
            )
            .unwrap();
        inv
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_second_writer_is_told_who_holds_it_and_until_when() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(t("2026-11-24T12:00:00Z"));
        let a = file_inv(dir.path(), &clock);
        let b = Inventory::open(dir.path().join("pd.db"), Arc::new(clock.clone())).unwrap();
        let lease = acquire_blocking(&a, 1, Operation::Go, "ana", OnBusy::Refuse).unwrap();
        let e = acquire_blocking(&b, 1, Operation::Advance, "user", OnBusy::Refuse).unwrap_err();
        assert_eq!(e.code(), "deployment_busy");
        let msg = e.to_string();
        assert!(
            msg.starts_with("deployment 1 is being changed by ")
                && msg.contains(&format!("(pid {} on ", std::process::id()))
                && msg.contains("), go for ana since 2026-11-24 12:00:00 UTC")
                && msg.contains("until 2026-11-24 12:01:00 UTC")
                && msg.contains("--wait"),
            "{msg}"
        );
        let h = holder(&b, 1).unwrap().unwrap();
        assert_eq!((h.operation, h.who.as_str()), (Operation::Go, "ana"));
        // Freed when dropped: the next writer gets it.
        drop(lease);
        assert_eq!(holder(&b, 1).unwrap(), None);
        let again = acquire_blocking(&b, 1, Operation::Advance, "user", OnBusy::Refuse).unwrap();
        assert_eq!(again.id, 1);
        assert_eq!(
            acquire_blocking(&b, 9, Operation::Go, "user", OnBusy::Refuse)
                .unwrap_err()
                .code(),
            "unknown_deployment"
        );
    }

    #[test]
    fn a_crashed_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(t("2026-11-24T12:00:00Z"));
        let inv = file_inv(dir.path(), &clock);
        let here = machine_name();
        // A holder on this machine whose process is gone (pid beyond pid_max): at once.
        inv.conn()
            .execute(
                "INSERT INTO deployment_leases (deployment_id, token, operation, who, process, pid, machine, process_start, acquired_at, renewed_at, expires_at)
                 VALUES (1, 'x', 'advance', 'auto', 'patchdesk', 99999999, ?1, '1', '2026-11-24T11:59:00Z', '2026-11-24T11:59:00Z', '2026-11-24T13:00:00Z')",
                [&here],
            )
            .unwrap();
        assert_eq!(holder(&inv, 1).unwrap(), None, "a dead holder is not shown");
        let l = acquire_blocking(&inv, 1, Operation::Go, "ana", OnBusy::Refuse).unwrap();
        let a = &inv.audit_entries(None, 1).unwrap()[0];
        assert_eq!(a.action, "deployment-lease-taken-over");
        assert!(
            a.detail.as_deref().unwrap().contains("its process is gone"),
            "{a:?}"
        );
        drop(l);
        // A holder on another machine: held until it expires without renewal.
        inv.conn()
            .execute(
                "INSERT INTO deployment_leases (deployment_id, token, operation, who, process, pid, machine, process_start, acquired_at, renewed_at, expires_at)
                 VALUES (1, 'y', 'advance', 'auto', 'patchdesk', 1, 'elsewhere', NULL, '2026-11-24T11:59:00Z', '2026-11-24T11:59:00Z', '2026-11-24T12:01:00Z')",
                [],
            )
            .unwrap();
        assert_eq!(
            acquire_blocking(&inv, 1, Operation::Go, "ana", OnBusy::Refuse)
                .unwrap_err()
                .code(),
            "deployment_busy"
        );
        clock.advance(Duration::seconds(61));
        acquire_blocking(&inv, 1, Operation::Go, "ana", OnBusy::Refuse).unwrap();
        assert!(inv.audit_entries(None, 1).unwrap()[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("it expired without renewal"));
    }

    #[test]
    fn a_held_lease_is_renewed_and_a_waiting_writer_gets_it_when_freed() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(t("2026-11-24T12:00:00Z"));
        let a = file_inv(dir.path(), &clock);
        let lease = acquire_blocking(&a, 1, Operation::Rollback, "ana", OnBusy::Refuse).unwrap();
        let path = dir.path().join("pd.db");
        let c2 = clock.clone();
        let waiter = std::thread::spawn(move || {
            let b = Inventory::open(path, Arc::new(c2)).unwrap();
            let t0 = std::time::Instant::now();
            let l = acquire_blocking(&b, 1, Operation::Go, "bo", OnBusy::Wait).unwrap();
            drop(l);
            t0.elapsed()
        });
        std::thread::sleep(std::time::Duration::from_millis(1500));
        drop(lease);
        let waited = waiter.join().unwrap();
        assert!(
            waited >= std::time::Duration::from_millis(1400),
            "it waited for the holder: {waited:?}"
        );
    }

    #[test]
    fn the_start_of_this_process_is_known() {
        let me = me();
        assert!(alive(me.pid, me.process_start.as_deref()));
        assert!(!alive(me.pid, Some("0")), "a reused pid is another process");
        assert!(!alive(99_999_999, None));
        assert!(!me.machine.is_empty());
    }
}
