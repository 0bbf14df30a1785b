//! Reboots inside a stage (issue #13): whether a host needs one (the reboot-required flag, or a
//! newer kernel installed than the one running), the plan's forecast of which hosts will, and
//! the reboot itself — announced, audited before and after, then waiting (bounded) for SSH to
//! come back and verifying the running kernel and that the host really booted again.
//!
//! Owns the `reboot_*` columns of `deployment_hosts`. Must not decide gates (it reports what it
//! found; `run` turns it into gate reasons) or touch other tables.

use super::*;
use std::time::{Duration as StdDuration, Instant};

/// Read-only: the reboot flag, the running kernel, the newest installed one, and the boot id.
pub(super) const REBOOT_STATE: &str = r#"export LC_ALL=C
if [ -f /run/reboot-required ] || [ -f /var/run/reboot-required ]; then echo "flag yes"; else echo "flag no"; fi
run=$(cat /proc/sys/kernel/osrelease 2>/dev/null || uname -r)
new=$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|.*/vmlinuz-||' | sort -V | tail -n1)
echo "running $run"
echo "newest ${new:--}"
echo "boot $(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo -)"
"#;

/// What a host says about its need for a reboot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RebootState {
    pub flag: bool,
    pub running_kernel: String,
    /// The newest kernel in /boot (`None`: none found there).
    pub newest_kernel: Option<String>,
    pub boot_id: String,
}

fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+~:-".contains(&b))
}

/// Parse [`REBOOT_STATE`]'s answer (hostile: every field validated, bounded).
pub(super) fn parse_state(out: &str) -> RebootState {
    let mut s = RebootState::default();
    for line in out.lines().take(20) {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        let v = v.trim();
        match k {
            "flag" => s.flag = v == "yes",
            "running" if valid_token(v) => s.running_kernel = v.into(),
            "newest" if v != "-" && valid_token(v) => s.newest_kernel = Some(v.into()),
            "boot" if v != "-" && valid_token(v) => s.boot_id = v.into(),
            _ => {}
        }
    }
    s
}

impl RebootState {
    /// A newer kernel is installed than the one running (Debian's version order: the same rule
    /// as `sort -V` for kernel release strings).
    pub fn newer_kernel(&self) -> bool {
        match &self.newest_kernel {
            Some(n) if !self.running_kernel.is_empty() && n != &self.running_kernel => {
                let (a, b) = (self.running_kernel.parse::<Version>(), n.parse::<Version>());
                match (a, b) {
                    (Ok(a), Ok(b)) => b > a,
                    _ => false,
                }
            }
            _ => false,
        }
    }

    pub fn needed(&self) -> bool {
        self.flag || self.newer_kernel()
    }

    pub fn why(&self) -> String {
        match (self.flag, self.newer_kernel()) {
            (_, true) => format!(
                "kernel {} is installed, {} runs",
                self.newest_kernel.clone().unwrap_or_default(),
                self.running_kernel
            ),
            (true, false) => "the update asks for a reboot (/run/reboot-required)".into(),
            _ => "no reboot needed".into(),
        }
    }
}

pub(super) async fn read_state(
    host: &HostRecord,
    ssh: &SshOptions,
) -> std::result::Result<RebootState, String> {
    let conn = connect(host, ssh).await.map_err(|e| e.to_string())?;
    let out = conn.run("sh -s", Some(REBOOT_STATE.as_bytes())).await;
    conn.close().await;
    let out = out.map_err(|e| e.to_string())?;
    Ok(parse_state(&String::from_utf8_lossy(&out.stdout)))
}

/// Package names that need a reboot to take effect (kernels, the C library, init): the plan's
/// forecast. The measurement after the apply decides.
pub(super) fn reboot_package(name: &str) -> bool {
    name.contains("linux-image")
        || name == "kernel"
        || name.starts_with("kernel-core")
        || matches!(
            name,
            "libc6" | "glibc" | "systemd" | "dbus" | "linux-firmware"
        )
}

/// The longest one attempt to read a rebooting host's state may take before the next try.
const PROBE_ATTEMPT: StdDuration = StdDuration::from_secs(5);

/// What a reboot found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rebooted {
    /// Back, booted again, running the newest kernel, no flag left: the words say what.
    Done(String),
    /// Back, but something is not as it should be (still the old kernel, the flag is still
    /// there, or it never went down).
    NotAsExpected(String),
    /// Never came back within the timeout.
    Lost(String),
}

/// Reboot a host (audited before and after), wait for it to drop and come back within
/// `timeout`, and verify it booted the newest kernel.
pub(super) async fn reboot_host(
    db: &Db<'_>,
    id: i64,
    host: &HostRecord,
    timeout: StdDuration,
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> Result<Rebooted> {
    let name = host.spec.name.clone();
    let before = match read_state(host, ssh).await {
        Ok(s) => s,
        Err(e) => {
            return Ok(Rebooted::Lost(format!(
                "cannot read its state before the reboot: {e}"
            )))
        }
    };
    emit(
        progress,
        Some(&name),
        Phase::Running,
        format!("rebooting ({})", before.why()),
    );
    db.with(|inv| set_note(inv, id, host, Some(&format!("rebooting: {}", before.why()))))?;
    // The reboot is started in the background so the command returns before the link drops.
    let cmd = format!(
        "{}sh -c {}",
        sudo(host),
        shell_quote("nohup sh -c 'sleep 1; reboot' >/dev/null 2>&1 </dev/null &")
    );
    let res = super::remote::run_audited(db, host, "reboot", &cmd, ssh).await;
    // The step's connection to this host goes down with it: the probes below, and whatever
    // follows the reboot, connect anew.
    if let Some(pool) = &ssh.pool {
        pool.forget(&host.spec);
    }
    let probe_ssh = ssh.unpooled();
    if let Err(e) = res {
        db.with(|inv| set_note(inv, id, host, None))?;
        return Ok(Rebooted::NotAsExpected(format!(
            "the reboot command failed: {e}"
        )));
    }
    let started = Instant::now();
    let mut went_down = false;
    let mut last_err = String::new();
    let after = loop {
        if started.elapsed() > timeout {
            db.with(|inv| set_note(inv, id, host, None))?;
            let msg = format!(
                "did not come back within {} s after the reboot{}",
                timeout.as_secs(),
                if last_err.is_empty() {
                    String::new()
                } else {
                    format!(" (last: {})", crate::text::clip(&last_err, 160))
                }
            );
            db.with(|inv| {
                inv.audit(
                    "patchdesk",
                    Some(&name),
                    "reboot",
                    "note",
                    None,
                    None,
                    None,
                    Some(&msg),
                )
            })?;
            return Ok(Rebooted::Lost(msg));
        }
        tokio::time::sleep(StdDuration::from_millis(500)).await;
        // One attempt never eats the whole wait: a session opened while the host went down can
        // hang until the command timeout (minutes), while a fresh one would find it back.
        let left = timeout.saturating_sub(started.elapsed());
        let attempt = left.clamp(StdDuration::from_millis(500), PROBE_ATTEMPT);
        match tokio::time::timeout(attempt, read_state(host, &probe_ssh)).await {
            Ok(Ok(s)) if s.boot_id != before.boot_id || went_down => break s,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                went_down = true;
                last_err = e;
            }
            Err(_) => {
                went_down = true;
                last_err = format!("no answer within {} s", attempt.as_secs_f32());
            }
        }
    };
    db.with(|inv| set_note(inv, id, host, None))?;
    let secs = started.elapsed().as_secs_f64();
    let booted = after.boot_id != before.boot_id;
    let words = format!(
        "back after {secs:.1} s, running kernel {}{}",
        after.running_kernel,
        if after.flag {
            ", the reboot flag is still set"
        } else {
            ""
        }
    );
    db.with(|inv| -> Result<()> {
        inv.conn().execute(
            "UPDATE deployment_hosts SET rebooted_at = ?3, reboot_result = ?4 WHERE deployment_id = ?1 AND host_id = ?2",
            params![id, host.id, inv.clock().now(), words],
        )?;
        inv.audit(
            "patchdesk",
            Some(&name),
            "reboot",
            "note",
            None,
            None,
            None,
            Some(&words),
        )?;
        Ok(())
    })?;
    Ok(if !booted {
        Rebooted::NotAsExpected(format!(
            "{words}, but its boot id did not change: it did not boot again"
        ))
    } else if after.needed() {
        Rebooted::NotAsExpected(format!("{words}: {}", after.why()))
    } else {
        Rebooted::Done(words)
    })
}

/// After a host's apply: when the deployment's reboot policy reboots inside the stage and the
/// host needs it, reboot it now; a host that does not come back, or comes back not running the
/// newest kernel, fails with the reason (a no-go at the gate).
pub(super) async fn in_stage(
    db: &Db<'_>,
    id: i64,
    host: &HostRecord,
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> Result<()> {
    let Some(c) = db.with(|inv| super::checks::host_checks(inv, id, host))? else {
        return Ok(());
    };
    if c.reboot != super::RebootPolicy::InWindow {
        return Ok(());
    }
    let state = match read_state(host, ssh).await {
        Ok(s) => s,
        Err(e) => {
            db.with(|inv| {
                set_host(
                    inv,
                    id,
                    host,
                    HostState::Failed,
                    Some(&format!("its reboot state cannot be read: {e}")),
                )
            })?;
            return Ok(());
        }
    };
    if !state.needed() {
        return Ok(());
    }
    let timeout = StdDuration::from_secs(u64::from(c.reboot_timeout_secs));
    reboot_and_record(db, id, host, timeout, ssh, progress).await?;
    Ok(())
}

/// Reboot a host and record what came of it: done, or failed with the reason (a no-go at the
/// gate). Returns whether it came back as it should.
async fn reboot_and_record(
    db: &Db<'_>,
    id: i64,
    host: &HostRecord,
    timeout: StdDuration,
    ssh: &SshOptions,
    progress: &ProgressFn,
) -> Result<bool> {
    match reboot_host(db, id, host, timeout, ssh, progress).await? {
        Rebooted::Done(w) => {
            emit(progress, Some(&host.spec.name), Phase::Done, w);
            Ok(true)
        }
        Rebooted::NotAsExpected(w) | Rebooted::Lost(w) => {
            emit(progress, Some(&host.spec.name), Phase::Failed, w.clone());
            db.with(|inv| -> Result<()> {
                inv.conn().execute(
                    "UPDATE deployment_hosts SET reboot_result = ?3 WHERE deployment_id = ?1 AND host_id = ?2",
                    params![id, host.id, w],
                )?;
                set_host(
                    inv,
                    id,
                    host,
                    HostState::Failed,
                    Some(&format!("after its reboot: {w}")),
                )
            })?;
            Ok(false)
        }
    }
}

/// The "ask at the gate" policy's action: at the current stage's waiting gate, reboot the hosts
/// that need it (all of the stage's, or only `hosts`), each announced and audited, wait for them
/// (bounded by the group's reboot timeout), then measure the stage again so the gate decides
/// on the rebooted hosts. A host that does not come back is a no-go with the reason. Holds the
/// deployment's lease.
pub async fn at_gate(
    inv: &mut Inventory,
    id: i64,
    hosts: &[String],
    who: &str,
    ssh: &SshOptions,
    on_busy: OnBusy,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let _lease = lease::acquire(inv, id, Operation::Reboot, who, on_busy, &progress).await?;
    // Before the reboot: one connection per host (its state, the audited reboot); after it,
    // one more for the measurement.
    let (ssh, pool) = super::parallel::step_ssh(ssh);
    let res = reboot_at_gate(inv, id, hosts, who, &ssh, progress).await;
    super::parallel::end_step(pool, res).await
}

async fn reboot_at_gate(
    inv: &mut Inventory,
    id: i64,
    hosts: &[String],
    who: &str,
    ssh: &SshOptions,
    progress: ProgressFn,
) -> Result<DeploymentStatus> {
    let st = stored_status(inv, id)?;
    let stage = super::run::stage_at_gate(&st, id)?;
    let idx = stage.idx;
    let in_stage: Vec<StageHost> = stage_hosts(inv, id, idx)?;
    for h in hosts {
        if !in_stage.iter().any(|s| &s.host.spec.name == h) {
            return Err(DeployError::HostNotInDeployment {
                id,
                host: h.clone(),
            }
            .into());
        }
    }
    inv.audit(
        who,
        None,
        "gate-reboot",
        "note",
        None,
        None,
        None,
        Some(&format!(
            "deployment {id} stage {}: reboot {}",
            stage.name,
            if hosts.is_empty() {
                "the hosts that need it".to_string()
            } else {
                hosts.join(", ")
            }
        )),
    )?;
    let mut rebooted = 0usize;
    for h in in_stage {
        if h.excluded
            || h.state != HostState::Applied
            || (!hosts.is_empty() && !hosts.contains(&h.host.spec.name))
        {
            continue;
        }
        let state = match read_state(&h.host, ssh).await {
            Ok(s) => s,
            Err(e) => {
                emit(
                    &progress,
                    Some(&h.host.spec.name),
                    Phase::Failed,
                    format!("its reboot state cannot be read: {e}"),
                );
                continue;
            }
        };
        if !state.needed() {
            emit(
                &progress,
                Some(&h.host.spec.name),
                Phase::Done,
                "no reboot needed".into(),
            );
            continue;
        }
        let timeout = StdDuration::from_secs(u64::from(
            super::checks::host_checks(inv, id, &h.host)?
                .map(|c| c.reboot_timeout_secs)
                .unwrap_or_else(|| super::HealthChecks::default().reboot_timeout_secs),
        ));
        reboot_and_record(&Db::new(inv), id, &h.host, timeout, ssh, &progress).await?;
        rebooted += 1;
    }
    if rebooted > 0 {
        // The gate decides on the rebooted hosts: measure the stage again.
        super::run::verify_current(inv, id, idx, ssh, &progress).await?;
    }
    status(inv, id)
}

/// The reboot line of a host's checklist, when the host was rebooted by the stage.
pub(super) fn reboot_result(inv: &Inventory, id: i64, host: &HostRecord) -> Result<Option<String>> {
    Ok(inv
        .conn()
        .query_row(
            "SELECT reboot_result FROM deployment_hosts WHERE deployment_id = ?1 AND host_id = ?2",
            params![id, host.id],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_parsed_and_a_newer_kernel_is_found() {
        let s =
            parse_state("flag no\nrunning 6.1.0-18-amd64\nnewest 6.1.0-21-amd64\nboot 3f1c-aa\n");
        assert!(!s.flag && s.newer_kernel() && s.needed());
        assert_eq!(
            s.why(),
            "kernel 6.1.0-21-amd64 is installed, 6.1.0-18-amd64 runs"
        );
        let s = parse_state("flag yes\nrunning 6.1.0-21-amd64\nnewest 6.1.0-21-amd64\nboot x\n");
        assert!(s.flag && !s.newer_kernel());
        let s = parse_state("flag no\nrunning 6.1.0-21-amd64\nnewest 6.1.0-9-amd64\nboot x\n");
        assert!(!s.needed(), "an older kernel in /boot is no reason");
        let s = parse_state("flag no\nrunning $(reboot)\nnewest -\nboot \u{1b}[2J\n");
        assert_eq!(
            (
                s.running_kernel.as_str(),
                s.newest_kernel.as_deref(),
                s.boot_id.as_str()
            ),
            ("", None, "")
        );
        assert!(!s.needed());
    }

    #[test]
    fn kernel_packages_are_forecast() {
        for p in [
            "linux-image-6.1.0-21-amd64",
            "pd-linux-image",
            "kernel-core",
            "libc6",
        ] {
            assert!(reboot_package(p), "{p}");
        }
        for p in ["nginx", "pd-hello", "kernelshark"] {
            assert!(!reboot_package(p), "{p}");
        }
    }
}
