//! What the rollout does on hosts: connect with the pinned key, measure health, run audited
//! commands and hooks, build the apt command lines. Every value that reaches a shell is
//! validated upstream and quoted here.

use super::*;

pub(super) async fn connect(
    host: &HostRecord,
    ssh: &SshOptions,
) -> std::result::Result<Connection, HostError> {
    if host.host_key.is_none() {
        return Err(HostError::Unsupported(
            "its host key is not pinned yet: scan it first (or trust it)".into(),
        ));
    }
    let trust = Trust {
        pinned: host.host_key.clone(),
        accept_fingerprint: None,
    };
    Connection::open(&host.spec, trust, ssh, None).await
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

/// Run one changing command on a host, audited before and after.
pub(super) async fn run_audited(
    inv: &mut Inventory,
    host: &HostRecord,
    action: &str,
    command: &str,
    ssh: &SshOptions,
) -> std::result::Result<(), String> {
    let _ = inv.audit(
        "patchdesk",
        Some(&host.spec.name),
        action,
        "before",
        Some(command),
        None,
        None,
        None,
    );
    let res = async {
        let conn = connect(host, ssh).await.map_err(|e| e.to_string())?;
        let out = conn.run(command, None).await.map_err(|e| e.to_string());
        conn.close().await;
        out
    }
    .await;
    match res {
        Ok(out) => {
            let status = out.exit_status.map(i64::from).unwrap_or(-1);
            let mut all = out.stdout.clone();
            all.extend_from_slice(&out.stderr);
            let _ = inv.audit(
                "patchdesk",
                Some(&host.spec.name),
                action,
                "after",
                Some(command),
                Some(status),
                Some(&digest(&all)),
                None,
            );
            if status == 0 {
                Ok(())
            } else {
                let tail: String = String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .rev()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" / ");
                Err(format!("exit status {status}: {tail}"))
            }
        }
        Err(e) => {
            let _ = inv.audit(
                "patchdesk",
                Some(&host.spec.name),
                action,
                "after",
                Some(command),
                None,
                None,
                Some(&e),
            );
            Err(e)
        }
    }
}

/// Run a group's snapshot or restore hook for one host, audited like any change.
pub(super) async fn run_hook(
    inv: &mut Inventory,
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
    if hook.on == "host" {
        return run_audited(
            inv,
            host,
            which,
            &format!("{}sh -c {}", sudo(host), shell_quote(cmd)),
            ssh,
        )
        .await;
    }
    let name = host.spec.name.clone();
    let _ = inv.audit(
        "patchdesk",
        Some(&name),
        which,
        "before",
        Some(cmd),
        None,
        None,
        Some("local hook"),
    );
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("PATCHDESK_HOST", &name)
        .env("PATCHDESK_ADDRESS", &host.spec.address)
        .output()
        .await;
    match out {
        Ok(o) => {
            let mut all = o.stdout.clone();
            all.extend_from_slice(&o.stderr);
            let status = i64::from(o.status.code().unwrap_or(-1));
            let _ = inv.audit(
                "patchdesk",
                Some(&name),
                which,
                "after",
                Some(cmd),
                Some(status),
                Some(&digest(&all)),
                Some("local hook"),
            );
            if status == 0 {
                Ok(())
            } else {
                Err(format!(
                    "the {which} hook exited with status {status}: {}",
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                ))
            }
        }
        Err(e) => {
            let _ = inv.audit(
                "patchdesk",
                Some(&name),
                which,
                "after",
                Some(cmd),
                None,
                None,
                Some(&e.to_string()),
            );
            Err(format!("the {which} hook could not start: {e}"))
        }
    }
}

pub(super) fn apt_command(host: &HostRecord, pins: &[(String, String)], downgrade: bool) -> String {
    let pkgs = pins
        .iter()
        .map(|(p, v)| shell_quote(&format!("{p}={v}")))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q {} -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300 {pkgs}",
        sudo(host),
        if downgrade { "--allow-downgrades" } else { "--only-upgrade" }
    )
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

/// Installed package versions of a host, by its last scan.
pub(super) fn installed_versions(inv: &Inventory, host: &str) -> Result<BTreeMap<String, String>> {
    Ok(inv
        .host_detail(host)?
        .packages
        .into_iter()
        .map(|p| (p.name, p.version))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_commands_quote_every_value() {
        let mut rec = HostRecord {
            id: 1,
            spec: crate::host::HostSpec::new("a", "127.0.0.1"),
            host_key: None,
            host_key_fingerprint: None,
            host_key_source: None,
        };
        let c = apt_command(&rec, &[("pd-hello".into(), "1:2.0~rc1-1".into())], false);
        assert!(c.ends_with("'pd-hello=1:2.0~rc1-1'"), "{c}");
        assert!(
            c.contains("--only-upgrade")
                && c.contains("--force-confold")
                && c.contains("DPkg::Lock::Timeout")
        );
        rec.spec.user = "ops".into();
        assert!(apt_command(&rec, &[("x1".into(), "1".into())], true).starts_with("sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades"));
    }
}
