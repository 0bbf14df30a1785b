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
            inv.set_setting(
                &format!("{HOOK_PREFIX}{group}"),
                &serde_json::to_string(h).expect("hook serialises"),
            )
        }
        None => {
            inv.conn().execute(
                "DELETE FROM settings WHERE key = ?1",
                [format!("{HOOK_PREFIX}{group}")],
            )?;
            Ok(())
        }
    }
}

/// What a group says about how it is patched: its maintenance window and snapshot hook.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct GroupSettings {
    pub group: String,
    pub hosts: i64,
    pub window: Option<String>,
    pub hook: Option<SnapshotHook>,
}

/// Every group with its maintenance window and snapshot hook.
pub fn group_settings(inv: &Inventory) -> Result<Vec<GroupSettings>> {
    inv.groups()?
        .into_iter()
        .map(|(group, hosts)| {
            Ok(GroupSettings {
                window: super::maintenance_window(inv, &group)?,
                hook: snapshot_hook(inv, &group)?,
                group,
                hosts,
            })
        })
        .collect()
}
