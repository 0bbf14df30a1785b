//! Snapshot hooks per group: the user's own snapshot / restore commands, stored in settings.
//! Owns the `snapshot-hook:*` settings; runs nothing itself (see `remote::run_hook`).

use super::*;

/// A group's snapshot hook: commands the user configures, run on the host (over SSH) or on this
/// machine (with `PATCHDESK_HOST` and `PATCHDESK_ADDRESS` set), whose success is required before a
/// host is patched; `restore` is the rollback path when no downgrade is possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SnapshotHook {
    pub snapshot: String,
    pub restore: String,
    /// `host` or `local`.
    pub on: String,
}

const HOOK_PREFIX: &str = "snapshot-hook:";

/// The snapshot hook of a group, if one is configured.
pub fn snapshot_hook(inv: &Inventory, group: &str) -> Result<Option<SnapshotHook>> {
    Ok(inv
        .setting(&format!("{HOOK_PREFIX}{group}"))?
        .and_then(|j| serde_json::from_str(&j).ok()))
}

/// Configure (or with `None`, remove) a group's snapshot hook.
pub fn set_snapshot_hook(inv: &Inventory, group: &str, hook: Option<&SnapshotHook>) -> Result<()> {
    crate::host::validate_label(group).map_err(Error::Invalid)?;
    match hook {
        Some(h) => {
            if h.snapshot.trim().is_empty()
                || h.restore.trim().is_empty()
                || !(h.on == "host" || h.on == "local")
            {
                return Err(Error::Invalid("a snapshot hook needs a snapshot command, a restore command, and where to run them: host or local".into()));
            }
            validate_smoke(&[h.snapshot.clone(), h.restore.clone()]).map_err(|_| {
                Error::Invalid(
                    "a hook command is one line of at most 1000 characters (no line breaks or control characters)".into(),
                )
            })?;
            inv.set_setting_json(&format!("{HOOK_PREFIX}{group}"), h)
        }
        None => inv.remove_setting(&format!("{HOOK_PREFIX}{group}")),
    }
}

const SMOKE_PREFIX: &str = "smoke:";

/// A group's smoke tests: commands run on each of its hosts after a stage (exit 0 = pass), used
/// by every plan of that scope that names none of its own.
pub fn smoke_tests(inv: &Inventory, group: &str) -> Result<Vec<String>> {
    Ok(inv
        .setting(&format!("{SMOKE_PREFIX}{group}"))?
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default())
}

/// Most smoke tests one plan or group runs on each host.
pub const MAX_SMOKE_TESTS: usize = 32;

/// Smoke tests as stored and run: trimmed, empty ones dropped, each one command line (no line
/// breaks or other control characters) of at most 1000 characters, at most
/// [`MAX_SMOKE_TESTS`]. The same rule for a group's and a plan's (they run on every host).
pub(super) fn validate_smoke(commands: &[String]) -> Result<Vec<String>> {
    let commands: Vec<String> = commands
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if let Some(c) = commands
        .iter()
        .find(|c| c.chars().any(crate::text::is_unsafe) || c.len() > 1000)
    {
        return Err(Error::Invalid(format!(
            "a smoke test is one command line of at most 1000 characters (no line breaks or control characters): {:?}",
            crate::text::clip(c, 60)
        )));
    }
    if commands.len() > MAX_SMOKE_TESTS {
        return Err(Error::Invalid(format!(
            "at most {MAX_SMOKE_TESTS} smoke tests run on each host; {} were given",
            commands.len()
        )));
    }
    Ok(commands)
}

/// Set a group's smoke tests (an empty list removes them).
pub fn set_smoke_tests(inv: &Inventory, group: &str, commands: &[String]) -> Result<()> {
    crate::host::validate_label(group).map_err(Error::Invalid)?;
    let commands = validate_smoke(commands)?;
    let key = format!("{SMOKE_PREFIX}{group}");
    if commands.is_empty() {
        return inv.remove_setting(&key);
    }
    inv.set_setting_json(&key, &commands)
}

/// What a group says about how it is patched: its maintenance window, snapshot hook and smoke
/// tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct GroupSettings {
    pub group: String,
    pub hosts: i64,
    pub window: Option<String>,
    pub hook: Option<SnapshotHook>,
    pub smoke: Vec<String>,
    /// Its health checks and reboot policy (`patchdesk deploy checks`).
    pub checks: Option<super::HealthChecks>,
}

/// Every group with its maintenance window, snapshot hook, smoke tests and health checks.
pub fn group_settings(inv: &Inventory) -> Result<Vec<GroupSettings>> {
    inv.groups()?
        .into_iter()
        .map(|(group, hosts)| {
            Ok(GroupSettings {
                window: super::maintenance_window(inv, &group)?,
                hook: snapshot_hook(inv, &group)?,
                smoke: smoke_tests(inv, &group)?,
                checks: super::health_checks(inv, &group)?,
                group,
                hosts,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::test_util::inv;

    #[test]
    fn group_smoke_tests_are_one_line_each_and_clear_when_empty() {
        let (inv, _) = inv();
        set_smoke_tests(
            &inv,
            "web",
            &["systemctl is-active nginx".into(), " ".into()],
        )
        .unwrap();
        assert_eq!(
            smoke_tests(&inv, "web").unwrap(),
            ["systemctl is-active nginx"]
        );
        assert!(set_smoke_tests(&inv, "web", &["a\nb".into()]).is_err());
        assert!(set_smoke_tests(&inv, "web", &["a\u{1b}[2Jb".into()]).is_err());
        assert!(set_smoke_tests(&inv, "web", &vec!["true".to_string(); 33]).is_err());
        assert_eq!(smoke_tests(&inv, "web").unwrap().len(), 1, "nothing lost");
        set_smoke_tests(&inv, "web", &[]).unwrap();
        assert!(smoke_tests(&inv, "web").unwrap().is_empty());
        assert!(set_smoke_tests(&inv, "bad group", &["true".into()]).is_err());
    }
}
