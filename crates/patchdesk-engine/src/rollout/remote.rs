//! What the rollout does on hosts: connect with the pinned key, measure health, run audited
//! commands and hooks. Package-manager commands come from `manager` (built by `crate::pkg`).
//! Every value that reaches a shell is validated upstream and quoted.

use super::*;

pub(super) async fn connect(
    host: &HostRecord,
    ssh: &SshOptions,
) -> std::result::Result<Session, HostError> {
    if host.host_key.is_none() {
        return Err(HostError::Unsupported(
            "its host key is not pinned yet: scan it first (or trust it)".into(),
        ));
    }
    let trust = Trust {
        pinned: host.host_key.clone(),
        accept_fingerprint: None,
    };
    Session::open(&host.spec, trust, ssh, None).await
}

pub(super) fn sudo(host: &HostRecord) -> &'static str {
    if host.spec.user == "root" {
        ""
    } else {
        "sudo -n "
    }
}

/// Health of a host, measured the same way before and after a stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub reachable: bool,
    /// `None`: not available on this host (no systemd), never a fake pass.
    pub failed_units: Option<u32>,
    pub journal_errors: Option<u32>,
    pub reboot_required: bool,
    /// (command, exit status)
    pub smoke: Vec<(String, i64)>,
    pub error: Option<String>,
}

pub(super) const HEALTH_SCRIPT: &str = r#"export LC_ALL=C
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then echo "failed_units $(systemctl --failed --no-legend --plain 2>/dev/null | wc -l)"; else echo "failed_units na"; fi
if command -v journalctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then echo "journal_errors $(journalctl -p err -b -q --no-pager 2>/dev/null | wc -l)"; else echo "journal_errors na"; fi
if [ -f /run/reboot-required ]; then echo "reboot yes"; else echo "reboot no"; fi
"#;

pub(super) async fn health(host: &HostRecord, smoke: &[String], ssh: &SshOptions) -> Health {
    let conn = match connect(host, ssh).await {
        Ok(c) => c,
        Err(e) => {
            return Health {
                reachable: false,
                error: Some(e.to_string()),
                ..Default::default()
            }
        }
    };
    let mut h = Health {
        reachable: true,
        ..Default::default()
    };
    match conn.run("sh -s", Some(HEALTH_SCRIPT.as_bytes())).await {
        Ok(out) => {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let mut it = line.split_whitespace();
                match (it.next(), it.next()) {
                    (Some("failed_units"), Some(v)) => h.failed_units = v.parse().ok(),
                    (Some("journal_errors"), Some(v)) => h.journal_errors = v.parse().ok(),
                    (Some("reboot"), Some(v)) => h.reboot_required = v == "yes",
                    _ => {}
                }
            }
        }
        Err(e) => h.error = Some(e.to_string()),
    }
    for cmd in smoke {
        let status = match conn.run(&format!("sh -c {}", shell_quote(cmd)), None).await {
            Ok(o) => o.exit_status.map(i64::from).unwrap_or(-1),
            Err(_) => -1,
        };
        h.smoke.push((cmd.clone(), status));
    }
    conn.close().await;
    h
}

pub(super) fn digest(b: &[u8]) -> String {
    hex::encode(&Sha256::digest(b)[..12])
}

/// Why a change on a host did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ChangeError {
    /// It ran past its timeout and was cut: part of it may have happened (the package database
    /// must be checked).
    TimedOut(String),
    /// It failed, or could not start.
    Failed(String),
    /// The package manager refused at once because another one holds its lock (dpkg's, rpm's):
    /// nothing was changed. `holder` says who (e.g. `held by process 812 (apt-get)`).
    Locked { holder: String, message: String },
}

impl std::fmt::Display for ChangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeError::TimedOut(m)
            | ChangeError::Failed(m)
            | ChangeError::Locked { message: m, .. } => f.write_str(m),
        }
    }
}

impl From<ChangeError> for String {
    fn from(e: ChangeError) -> String {
        e.to_string()
    }
}

impl From<String> for ChangeError {
    fn from(e: String) -> ChangeError {
        ChangeError::Failed(e)
    }
}

/// The time an apply, a rollback or a hook may take (Settings: apply timeout), not the command
/// timeout of scans and checks.
pub(super) fn apply_timeout(inv: &Inventory) -> std::time::Duration {
    std::time::Duration::from_secs(
        crate::settings::Settings::load(inv)
            .map(|s| s.apply_timeout_secs)
            .unwrap_or(3600),
    )
}

/// Run one changing command on a host, audited before and after.
pub(super) async fn run_audited(
    db: &Db<'_>,
    host: &HostRecord,
    action: &str,
    command: &str,
    ssh: &SshOptions,
) -> std::result::Result<(), ChangeError> {
    // No audit line, no change: the "before" record must exist before the command runs.
    db.with(|inv| {
        inv.audit(
            "patchdesk",
            Some(&host.spec.name),
            action,
            "before",
            Some(command),
            None,
            None,
            None,
        )
    })
    .map_err(|e| format!("the audit log cannot be written ({e}); nothing was run"))?;
    let res = async {
        let conn = connect(host, ssh)
            .await
            .map_err(|e| ChangeError::Failed(e.to_string()))?;
        let out = conn.run(command, None).await.map_err(|e| match e {
            HostError::Timeout { .. } => ChangeError::TimedOut(e.to_string()),
            e => ChangeError::Failed(e.to_string()),
        });
        conn.close().await;
        out
    }
    .await;
    match res {
        Ok(out) => {
            let status = out.exit_status.map(i64::from).unwrap_or(-1);
            let mut all = out.stdout.clone();
            all.extend_from_slice(&out.stderr);
            if let Err(e) = db.with(|inv| {
                inv.audit(
                    "patchdesk",
                    Some(&host.spec.name),
                    action,
                    "after",
                    Some(command),
                    Some(status),
                    Some(&digest(&all)),
                    None,
                )
            }) {
                tracing::warn!("audit log: the after-record was not written: {e}");
            }
            if status == 0 {
                return Ok(());
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: String =
                crate::text::clean(&stderr.lines().rev().take(3).collect::<Vec<_>>().join(" / "));
            let message = format!("exit status {status}: {tail}");
            Err(match lock_holder(&stderr) {
                Some(holder) => ChangeError::Locked { holder, message },
                None => ChangeError::Failed(message),
            })
        }
        Err(e) => {
            if let Err(e) = db.with(|inv| {
                inv.audit(
                    "patchdesk",
                    Some(&host.spec.name),
                    action,
                    "after",
                    Some(command),
                    None,
                    None,
                    Some(&e.to_string()),
                )
            }) {
                tracing::warn!("audit log: the after-record was not written: {e}");
            }
            Err(e)
        }
    }
}

/// Run a group's snapshot or restore hook for one host, audited like any change.
pub(super) async fn run_hook(
    db: &Db<'_>,
    host: &HostRecord,
    hook: &SnapshotHook,
    which: &str,
    ssh: &SshOptions,
) -> std::result::Result<(), String> {
    let cmd = if which == "snapshot" {
        &hook.snapshot
    } else {
        &hook.restore
    };
    let timeout = db.with(|inv| apply_timeout(inv));
    if hook.on == "host" {
        let ssh = SshOptions {
            command_timeout: timeout,
            ..ssh.clone()
        };
        return run_audited(
            db,
            host,
            which,
            &format!("{}sh -c {}", sudo(host), shell_quote(cmd)),
            &ssh,
        )
        .await
        .map_err(String::from);
    }
    let name = host.spec.name.clone();
    db.with(|inv| {
        inv.audit(
            "patchdesk",
            Some(&name),
            which,
            "before",
            Some(cmd),
            None,
            None,
            Some("local hook"),
        )
    })
    .map_err(|e| format!("the audit log cannot be written ({e}); nothing was run"))?;
    // With a timeout, its output streamed into the digest (only its end kept), and its whole
    // process group stopped when it overruns.
    let out = crate::local::run(
        cmd,
        &[
            ("PATCHDESK_HOST", name.as_str()),
            ("PATCHDESK_ADDRESS", host.spec.address.as_str()),
        ],
        timeout,
    )
    .await;
    match out {
        Ok(o) => {
            let status = i64::from(o.status.unwrap_or(-1));
            if let Err(e) = db.with(|inv| {
                inv.audit(
                    "patchdesk",
                    Some(&name),
                    which,
                    "after",
                    Some(cmd),
                    Some(status),
                    Some(&o.digest),
                    Some("local hook"),
                )
            }) {
                tracing::warn!("audit log: the after-record was not written: {e}");
            }
            if status == 0 {
                Ok(())
            } else {
                Err(format!(
                    "the {which} hook exited with status {status}: {}",
                    crate::text::clean(
                        String::from_utf8_lossy(&o.stderr_tail)
                            .lines()
                            .last()
                            .unwrap_or("")
                    )
                ))
            }
        }
        Err(e) => {
            if let Err(e) = db.with(|inv| {
                inv.audit(
                    "patchdesk",
                    Some(&name),
                    which,
                    "after",
                    Some(cmd),
                    None,
                    None,
                    Some(&e.to_string()),
                )
            }) {
                tracing::warn!("audit log: the after-record was not written: {e}");
            }
            Err(format!("the {which} hook failed: {e}"))
        }
    }
}

/// Run a changing command so that it finishes on the host even when this connection drops
/// (PatchDesk killed or crashed mid-apply): its output goes to files on the host, not to the SSH
/// channel, so nothing on the host dies of a broken pipe; the resume then waits for it and finds
/// the outcome. The output is sent back once the command has ended.
pub(super) fn detached(host: &HostRecord, command: &str) -> String {
    let script = format!(
        "o=$(mktemp) && e=$(mktemp) || exit 111; {command} >\"$o\" 2>\"$e\"; rc=$?; trap '' PIPE; cat \"$o\"; cat \"$e\" >&2; rm -f \"$o\" \"$e\"; exit $rc"
    );
    format!("{}sh -c {}", sudo(host), shell_quote(&script))
}

/// Close the audit record of a change cut off by a crash: when the last `before` of `action` on
/// this host has no `after`, write the `after` now that the outcome is known, saying how it was
/// established. Returns whether a record was closed.
pub(super) fn close_interrupted(
    inv: &Inventory,
    host: &HostRecord,
    action: &str,
    outcome: &str,
) -> Result<bool> {
    let open: Option<(i64, Option<String>)> = inv
        .conn()
        .query_row(
            "SELECT b.id, b.command FROM audit_log b WHERE b.host = ?1 AND b.action = ?2 AND b.phase = 'before'
               AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.host = ?1 AND a.action = ?2 AND a.phase = 'after' AND a.id > b.id)
             ORDER BY b.id DESC LIMIT 1",
            params![host.spec.name, action],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((before, command)) = open else {
        return Ok(false);
    };
    inv.audit(
        "patchdesk",
        Some(&host.spec.name),
        action,
        "after",
        command.as_deref(),
        None,
        None,
        Some(&format!("{outcome} (closes audit record {before})")),
    )?;
    Ok(true)
}

/// A full rescan of some hosts: what verification and rollback trust, never the apply's exit code.
pub(super) async fn rescan(inv: &mut Inventory, names: &[String], ssh: &SshOptions) -> Result<()> {
    let opts = ScanOptions {
        ssh: ssh.clone(),
        full: true,
        ..ScanOptions::default()
    };
    scan::scan_hosts(
        inv,
        names,
        &opts,
        crate::progress::silent(),
        CancellationToken::new(),
    )
    .await?;
    Ok(())
}

/// The installed packages of a host by name, by its last scan (one read for versions and holds).
pub(super) fn installed_packages(
    inv: &Inventory,
    host: &str,
) -> Result<BTreeMap<String, crate::facts::Package>> {
    Ok(inv
        .host_detail(host)?
        .packages
        .into_iter()
        .map(|p| (p.name.clone(), p))
        .collect())
}

/// Who holds the package lock, read from the error a package manager writes when it cannot
/// take it; `None` when it failed for another reason. The only place such messages are read:
/// callers get [`ChangeError::Locked`].
pub(super) fn lock_holder(stderr: &str) -> Option<String> {
    crate::pkg::deb::lock_holder(stderr)
        .or_else(|| crate::pkg::rpm::parse::lock_busy(stderr).map(|h| h.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host h1 on a documentation address (nothing answers there), with a pinned key or none.
    fn test_host(host_key: Option<&str>) -> HostRecord {
        HostRecord {
            id: 1,
            spec: crate::host::HostSpec::new("h1", "192.0.2.1"),
            host_key: host_key.map(Into::into),
            host_key_fingerprint: None,
            host_key_source: None,
        }
    }

    #[tokio::test]
    async fn without_an_audit_line_nothing_runs() {
        let (mut inv, _) = crate::inventory::test_util::inv();
        inv.conn()
            .execute_batch(
                "CREATE TRIGGER no_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
            )
            .unwrap();
        let host = test_host(Some("ssh-ed25519 AAAA"));
        let marker = std::env::temp_dir().join(format!("pd-audit-{}", std::process::id()));
        let hook = SnapshotHook {
            snapshot: format!("touch {}", marker.display()),
            restore: "true".into(),
            on: "local".into(),
        };
        let e = run_hook(
            &Db::new(&mut inv),
            &host,
            &hook,
            "snapshot",
            &SshOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(
            e.contains("audit log cannot be written") && e.contains("nothing was run"),
            "{e}"
        );
        assert!(!marker.exists(), "the hook did not run");
        let e = run_audited(
            &Db::new(&mut inv),
            &host,
            "apply",
            "true",
            &SshOptions::default(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("audit log cannot be written"),
            "no connection was tried: {e}"
        );
    }

    #[tokio::test]
    async fn a_local_hook_has_a_timeout_and_bounded_output() {
        let (mut inv, _) = crate::inventory::test_util::inv();
        crate::settings::Settings {
            apply_timeout_secs: 1,
            ..Default::default()
        }
        .save(&inv)
        .unwrap();
        let host = test_host(None);
        let hook = SnapshotHook {
            snapshot: "echo starting; sleep 30".into(),
            restore: "head -c 50000000 /dev/zero; echo done >&2; exit 4".into(),
            on: "local".into(),
        };
        let t = std::time::Instant::now();
        let e = run_hook(
            &Db::new(&mut inv),
            &host,
            &hook,
            "snapshot",
            &SshOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(e.contains("still running after 1 s"), "{e}");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
        let after = &inv.audit_entries(Some("h1"), 1).unwrap()[0];
        assert_eq!((after.phase.as_str(), after.exit_status), ("after", None));
        assert!(
            after.detail.as_deref().unwrap().contains("still running"),
            "{after:?}"
        );
        // 50 MB of output: digested, not kept; the last stderr line is the message.
        let e = run_hook(
            &Db::new(&mut inv),
            &host,
            &hook,
            "restore",
            &SshOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(e.ends_with("status 4: done"), "{e}");
        let after = &inv.audit_entries(Some("h1"), 1).unwrap()[0];
        assert_eq!(after.exit_status, Some(4));
        assert_eq!(after.output_digest.as_deref().map(str::len), Some(24));
    }

    #[test]
    fn a_busy_dpkg_lock_is_recognised_with_its_holder() {
        let e = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 19720 (apt-get)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?\n";
        assert_eq!(
            lock_holder(e).as_deref(),
            Some("held by process 19720 (apt-get)")
        );
        assert_eq!(
            lock_holder("E: Could not get lock /var/lib/dpkg/lock\n").as_deref(),
            Some("held by another package manager")
        );
        assert_eq!(lock_holder("E: Unable to locate package x\n"), None);
        assert_eq!(
            lock_holder("W: a package named Could not get lock was not found\n"),
            None,
            "only apt's own error lines count"
        );
    }

    #[test]
    fn a_changing_command_survives_a_dropped_connection() {
        let mut rec = HostRecord {
            id: 1,
            spec: crate::host::HostSpec::new("a", "127.0.0.1"),
            host_key: None,
            host_key_fingerprint: None,
            host_key_source: None,
        };
        let c = detached(&rec, "apt-get install -y 'pd-hello=1:2.0~rc1-1'");
        assert!(c.starts_with("sh -c '"), "{c}");
        assert!(c.contains(">\"$o\" 2>\"$e\""), "{c}");
        rec.spec.user = "ops".into();
        assert!(detached(&rec, "true").starts_with("sudo -n sh -c "));
    }

    #[tokio::test]
    async fn the_detached_wrapper_keeps_output_and_status() {
        let inner = "echo out; echo err >&2; exit 3";
        let script = detached(
            &HostRecord {
                id: 1,
                spec: crate::host::HostSpec::new("a", "127.0.0.1"),
                host_key: None,
                host_key_fingerprint: None,
                host_key_source: None,
            },
            inner,
        );
        let o = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .await
            .unwrap();
        assert_eq!(o.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
        assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    }

    #[test]
    fn an_open_before_record_is_closed_once() {
        let (inv, _) = crate::inventory::test_util::inv();
        let host = test_host(None);
        assert!(!close_interrupted(&inv, &host, "apply", "x").unwrap());
        inv.audit(
            "patchdesk",
            Some("h1"),
            "apply",
            "before",
            Some("apt-get …"),
            None,
            None,
            None,
        )
        .unwrap();
        assert!(
            close_interrupted(&inv, &host, "apply", "established on resume: completed").unwrap()
        );
        assert!(
            !close_interrupted(&inv, &host, "apply", "again").unwrap(),
            "already closed"
        );
        let e = &inv.audit_entries(Some("h1"), 1).unwrap()[0];
        assert_eq!(
            (e.phase.as_str(), e.command.as_deref()),
            ("after", Some("apt-get …"))
        );
        assert!(e
            .detail
            .as_deref()
            .unwrap()
            .starts_with("established on resume: completed"));
    }
}
